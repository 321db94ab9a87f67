/**
 * Shadow validation over the HTTP API, on a gateway built from a manifest whose module publishes to a real
 * Mosquitto: a candidate that publishes elsewhere, writes another pin level, other channel records and
 * another value of one output diverges, and nothing of it reaches the broker's subscriber, the GPIO bank or
 * the channel's reader; an identical candidate matches every invocation; a promotion deploys the candidate
 * through the deploy path and the module then runs its sha256.
 */
import assert from "node:assert/strict";
import { startMosquitto, startSub, tempDir } from "../hal/_mosquitto.ts";
import { waitFor } from "../_helpers.ts";
import { mintPki } from "../signing/_pki.ts";
import { sign } from "../signing/_fixture.ts";
import { writerWasm } from "./_fixtures.ts";
import { startGateway } from "./_gateway.ts";

const TIMEOUT_MS = 30_000;
const SPEC = `capabilities: [write:channel:features, write:gpio:pin_8, "write:mqtt:shadow/#"]
limits: { budget_us: 100000, max_memory_mb: 1 }
schedule: { mode: periodic, period_us: 5000 }
`;

function form(wasm: Uint8Array, spec?: string): FormData {
  const f = new FormData();
  f.set("wasm", new File([wasm as Uint8Array<ArrayBuffer>], "candidate.wasm"));
  if (spec !== undefined) f.set("spec", spec);
  return f;
}

Deno.test("a shadow candidate over the API: its effects never reach MQTT, GPIO or a channel, and it can be promoted", async (t) => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path, { lifetimeMs: 120_000 });
  await using gw = await startGateway(dir.path, broker.port);
  const json = async (path: string, init?: RequestInit) => {
    const res = await gw.request(path, init);
    return { status: res.status, body: await res.json() };
  };
  await waitFor("w running and publishing", () => gw.rt.getModule("w")?.state === "running", TIMEOUT_MS);
  const shadow = "/api/v1/modules/w/shadow";

  await t.step("a diverging candidate is compared, and none of its effects are carried out", async () => {
    // Subscribed before the candidate runs: 60 messages on shadow/# while it runs beside w.
    await using sub = await startSub(broker, "shadow/#", 60);
    const candidate = writerWasm({ topic: "candidate", pinLevel: 1, recordOffset: 1000, k: 2 });
    const attached = await json(shadow, { method: "POST", body: form(candidate) });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const again = await json(shadow, { method: "POST", body: form(candidate) });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "shadow_active");
    const s = await waitFor("50 invocations", async () => {
      const s = (await json(shadow)).body;
      return s.invocations >= 50 && s;
    }, TIMEOUT_MS);
    assert.equal(s.state, "running");
    assert.equal(s.matched, 0);
    assert.equal(s.diverged, s.invocations);
    assert.equal(s.largest_difference.k, 1);
    assert.equal(s.largest_difference.rc, 0);
    assert.equal(s.first_divergence.invocation, 1);
    assert.equal(s.first_divergence.call, "kiln.channel_write");
    // Its topic is longer: the static data differs, which the status points out.
    assert.equal(s.start, "image");
    assert.match(
      s.layout_difference,
      /^its data segment \d+ is 16 bytes at 128, the live build.s 11 bytes at 128$/,
    );
    assert.ok(s.time_per_call_us.candidate.p50 > 0 && s.time_per_call_us.live.calls > 0);

    const messages = await sub.messages;
    assert.equal(messages.length, 60);
    assert.deepEqual([...new Set(messages.map((m) => m.topic))], ["shadow/live"]);
    // The uplink's envelope carries the module's payload bytes as a string: the record's number, little-endian.
    const values = messages.map((m) => {
      const bytes = JSON.parse(new TextDecoder().decode(m.payload)).payload as string;
      return [...bytes].reduceRight((n, ch) => n * 256 + ch.charCodeAt(0), 0);
    });
    assert.ok(values.every((v) => v > 0 && v < 1000), `payloads ${values.join(",")}`);
    assert.equal(gw.rt.plant.listGpio()[8]!.value, 0, "the candidate's pin level did not reach the bank");
    const r = gw.rt.getModule("r")!;
    assert.ok((r.outputs.count ?? 0) > 0);
    assert.equal(r.outputs.gaps, 0, "no record of the candidate reached the reader");
    assert.ok((r.outputs.last ?? 0) < 1000);

    const dropped = await json(shadow, { method: "DELETE" });
    assert.equal(dropped.status, 200);
    assert.equal(dropped.body.state, "stopped");
    assert.equal(dropped.body.reason, "dropped");
    assert.equal((await json(shadow)).status, 404);
  });

  await t.step(
    "a candidate started from its own kiln_init: its init's effects never reach MQTT, GPIO or a channel",
    async () => {
      await using sub = await startSub(broker, "shadow/#", 40);
      const pin = gw.rt.plant.listGpio()[8]!;
      const f = form(writerWasm({ topic: "candidate", initEffects: true }));
      f.set("start", "init");
      f.set("warmup", "5");
      const attached = await json(shadow, { method: "POST", body: f });
      assert.equal(attached.status, 201, JSON.stringify(attached.body));
      assert.equal(attached.body.start, "init");
      assert.equal(attached.body.warmup_invocations, 5);
      const s = await waitFor("30 counted invocations", async () => {
        const s = (await json(shadow)).body;
        return (s.invocations >= 30 || s.state === "stopped") && s;
      }, TIMEOUT_MS);
      assert.equal(s.state, "running", JSON.stringify(s));
      assert.equal(s.warmup, 5);
      assert.equal(s.invocations, s.matched + s.diverged);
      assert.equal(s.first_divergence.invocation, 6, "the first divergence counted is after the warm-up");
      const messages = await sub.messages;
      assert.deepEqual([...new Set(messages.map((m) => m.topic))], ["shadow/live"]);
      assert.equal(gw.rt.plant.listGpio()[8]!.changedAt, pin.changedAt, "pin 8 has not changed level");
      assert.equal(gw.rt.getModule("r")!.outputs.gaps, 0, "no record of the candidate reached the reader");
      assert.equal((await json(shadow, { method: "DELETE" })).status, 200);
    },
  );

  await t.step("a start mode or a warm-up that is not a whole number is refused", async () => {
    for (
      const [name, value] of [["start", "snapshot"], ["warmup", "-1"], ["warmup", "1.5"], ["warmup", "x"]]
    ) {
      const f = form(writerWasm());
      f.set(name!, value!);
      const res = await json(shadow, { method: "POST", body: f });
      assert.equal(res.status, 400, `${name}=${value}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error.message, new RegExp(`Field "${name}"`));
    }
    assert.equal((await json(shadow)).status, 404, "nothing is attached");
  });

  await t.step("an identical candidate matches every invocation", async () => {
    const attached = await json(shadow, { method: "POST", body: form(writerWasm({ topic: "live" })) });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const s = await waitFor("50 invocations", async () => {
      const s = (await json(shadow)).body;
      return s.invocations >= 50 && s;
    }, TIMEOUT_MS);
    assert.equal(s.diverged, 0);
    assert.equal(s.matched, s.invocations);
    assert.equal(s.first_divergence, null);
    assert.equal(s.candidate_sha256, s.live_sha256);
    const promote = await json(`${shadow}/promote`, { method: "POST" });
    assert.equal(promote.status, 400, "a candidate attached without a spec cannot be promoted");
    assert.equal((await json(shadow, { method: "DELETE" })).status, 200);
  });

  await t.step("a promotion deploys the candidate, and the module runs its sha256", async () => {
    const candidate = writerWasm({ topic: "live", k: 3 });
    const attached = await json(shadow, { method: "POST", body: form(candidate, SPEC) });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const sha = attached.body.candidate_sha256;
    assert.notEqual(sha, attached.body.live_sha256);
    await waitFor("a compared invocation", async () => (await json(shadow)).body.invocations > 0, TIMEOUT_MS);
    const promoted = await json(`${shadow}/promote`, { method: "POST" });
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(promoted.body.shadow.reason, "promoted");
    assert.equal(promoted.body.module.sha256, sha);
    assert.equal((await json(shadow)).status, 404, "the promoted shadow is gone");
    const m = await waitFor("w running the candidate", async () => {
      const m = (await json("/api/v1/modules/w")).body;
      return m.state === "running" && m.sha256 === sha && m;
    }, TIMEOUT_MS);
    await waitFor("the candidate's k output", () => gw.rt.getModule("w")!.outputs.k === 3, TIMEOUT_MS);
    assert.equal(m.name, "w");
  });

  await t.step("errors: an unknown module, a module without shadow, a body without wasm", async () => {
    assert.equal(
      (await json("/api/v1/modules/nope/shadow", { method: "POST", body: form(writerWasm()) })).status,
      404,
    );
    const none = await json(`${shadow}/promote`, { method: "POST" });
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, "shadow_not_found");
    const bad = await json(shadow, { method: "POST", body: new FormData() });
    assert.equal(bad.status, 400);
  });
});

Deno.test("a shadow candidate is checked against the gateway's signature policy, as a deploy is", async () => {
  await using dir = await tempDir();
  const pki = await mintPki(`${dir.path}/pki`);
  await using broker = await startMosquitto(dir.path, { lifetimeMs: 120_000 });
  await using gw = await startGateway(dir.path, broker.port, { trustedRoot: pki.root.certPath });
  await waitFor("w running", () => gw.rt.getModule("w")?.state === "running", TIMEOUT_MS);
  // A signature of another build: the policy refuses a candidate whose signature does not verify.
  const signedOther = await sign(pki, writerWasm({ topic: "live", k: 9 }), { name: "w" });
  const f = form(writerWasm({ topic: "live", k: 5 }));
  f.set("signature", new File([signedOther], "candidate.wasm.sig"));
  const res = await gw.request("/api/v1/modules/w/shadow", { method: "POST", body: f });
  const body = await res.json();
  assert.equal(res.status, 422, JSON.stringify(body));
  assert.equal(body.error.code, "signature_invalid");
  assert.equal(gw.rt.shadows.status("w"), null, "nothing is attached");
  // Unsigned, under `mode: optional`: accepted, as a deploy would be.
  const ok = await gw.request("/api/v1/modules/w/shadow", { method: "POST", body: form(writerWasm()) });
  assert.equal(ok.status, 201, await ok.text());
});
