/**
 * Trace events over the API: `GET /api/v1/modules/:name/traces` in process, and the stream's
 * `traces/<module>` frames on a real WebSocket.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp, StreamFeed, StreamHub } from "../../api/mod.ts";
import { waitFor } from "../_helpers.ts";
import { Client, serve } from "../api/_stream_client.ts";
import { runtimeWith, STEPS_WAT, TICKER_WAT, TRAP_TICK } from "./_fixtures.ts";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

Deno.test("GET /api/v1/modules/:name/traces pages a module's trace events by since_seq and limit", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, STEPS_WAT);
    await rt.start();
    await waitFor("the trap's trace event", () => rt.traces.list("steps").some((e) => e.outcome === "trap"));
    const app = createApp(apiPorts(rt));

    await t.step("a page: the events after since_seq, at most limit, in snake_case", async () => {
      const res = await app.request("/api/v1/modules/steps/traces?since_seq=2&limit=3");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.module, "steps");
      assert.equal(body.next_seq, TRAP_TICK + 1);
      assert.deepEqual(body.traces.map((e: { seq: number }) => e.seq), [3, 4, 5]);
      const e = body.traces[0];
      assert.deepEqual(Object.keys(e).sort(), [
        "alloc_bytes",
        "code",
        "duration_us",
        "end_at",
        "handler",
        "instructions",
        "invocation",
        "load",
        "module",
        "outcome",
        "seq",
        "start_at",
        "start_unix_us",
        "uses",
      ]);
      assert.match(e.start_at, RFC3339);
      assert.match(e.end_at, RFC3339);
      assert.ok(Date.parse(e.end_at) >= Date.parse(e.start_at));
      assert.equal(e.alloc_bytes, 65_536, "the third call grew memory by a page");
      assert.deepEqual(e.uses, { "read:gpio:pin_1": 1 });
      assert.equal(typeof e.instructions, "number");
      assert.equal(body.store.received, TRAP_TICK);
    });

    await t.step("the last page ends with the trap", async () => {
      const body = await (await app.request("/api/v1/modules/steps/traces?since_seq=7")).json();
      assert.deepEqual(body.traces.map((e: { outcome: string; code: string }) => [e.outcome, e.code]), [
        ["trap", "unreachable"],
      ]);
    });

    await t.step("an unknown module is 404, a bad limit 400", async () => {
      const missing = await app.request("/api/v1/modules/nobody/traces");
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).error.code, "module_unknown");
      const bad = await app.request("/api/v1/modules/steps/traces?limit=0");
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).error.code, "bad_request");
      const negative = await app.request("/api/v1/modules/steps/traces?since_seq=-1");
      assert.equal(negative.status, 400);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stream subscriber to traces/<module> gets each traced call in seq order; others get none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, TICKER_WAT, { name: "ticker", periodUs: 4_000 });
    await rt.start();
    await using hub = new StreamHub();
    await using feed = new StreamFeed(apiPorts(rt), hub);
    feed.start();
    await using srv = serve(hub);
    await using tracing = await Client.open(srv.url);
    await using other = await Client.open(srv.url);
    await tracing.subscribe("traces/ticker");
    await other.subscribe("outputs/#", "status");
    await tracing.until("ten trace frames", () => tracing.of("traces/ticker").length >= 10);
    const frames = tracing.of("traces/ticker");
    const seqs = frames.map((f) => f.data.seq as number);
    assert.ok(seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1), `contiguous seq: ${seqs}`);
    assert.ok(frames.every((f) => f.data.handler === "kiln_on_tick" && f.data.outcome === "ok"));
    assert.ok(
      frames.every((f) => RFC3339.test(f.at) && f.at === f.data.start_at),
      "the frame's at: the start",
    );
    assert.equal(other.frames.filter((f) => f.topic.startsWith("traces/")).length, 0, "opt-in only");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
