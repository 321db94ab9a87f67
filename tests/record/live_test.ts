/**
 * Recording a module of a running gateway: a real `kiln run` of the demo, `kiln record anomaly --url` over
 * its API for a few hundred invocations, the trace downloaded and replayed by `kiln replay` with identical
 * hashes; a second recording of the same module refused (409) while one is under way, a restart ending it
 * (`module_stopped`), and a recording past its disk budget ending with `stop: "budget"`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readTrace } from "../../runtime/record/mod.ts";
import { AUTH, getJson, runKiln, startKiln } from "../_process.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** Polls `check` every 100 ms until it is true; fails after `timeoutMs`. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: "POST", headers: AUTH, body: JSON.stringify(body) });
}

Deno.test("a module of a running gateway is recorded over the API and replays with identical hashes", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_record_live_" });
  try {
    await using kiln = await startKiln(["--data", dir], { lifetimeMs: 240_000 });
    const record = `${kiln.base}/api/v1/modules/anomaly/record`;
    await waitFor("anomaly running", async () => {
      const m = await getJson(`${kiln.base}/api/v1/modules/anomaly`);
      return m.state === "running";
    });

    await t.step(
      "kiln record --url records 300 invocations that kiln replay replays identically",
      async () => {
        const out = join(dir, "anomaly.ktrace");
        const rec = await runKiln(
          ["record", "anomaly", "--url", kiln.base, "--invocations", "300", "--out", out],
          { timeoutMs: TOOL_TIMEOUT_MS },
        );
        assert.equal(rec.code, 0, rec.stderr);
        assert.match(rec.stdout, /recorded 300 invocations of "anomaly"/);
        const trace = readTrace(await Deno.readFile(out));
        assert.equal(trace.stop, "invocations");
        assert.equal(trace.invocations.length, 301);
        assert.notEqual(
          trace.header.start,
          null,
          "a recording of a running instance carries its memory image",
        );
        assert.ok(trace.invocations.slice(1).every((r) => r.entry === "kiln_on_record"));

        const rep = await runKiln(["replay", out, "--runs", "5"], { timeoutMs: TOOL_TIMEOUT_MS });
        assert.equal(rep.code, 0, rep.stderr + rep.stdout);
        const hashes = [...rep.stdout.matchAll(/^run \d+: ([0-9a-f]{64})$/gm)].map((m) => m[1]);
        assert.equal(hashes.length, 5);
        assert.equal(new Set(hashes).size, 1);

        const files = [...Deno.readDirSync(join(dir, "traces"))].map((e) => e.name);
        assert.ok(files.some((f) => /^anomaly-.*\.ktrace$/.test(f)), files.join(", "));
      },
    );

    await t.step("a second recording of the module is a 409, and a restart ends the first", async () => {
      const first = await post(record, { for_s: 120 });
      assert.equal(first.status, 201, await first.clone().text());
      assert.equal((await first.json()).state, "recording");
      const second = await post(record, { invocations: 10 });
      assert.equal(second.status, 409);
      assert.equal((await second.json()).error.code, "recording_active");
      await waitFor("invocations recorded", async () => (await getJson(record)).invocations as number > 0);

      const restart = await fetch(`${kiln.base}/api/v1/modules/anomaly/restart`, {
        method: "POST",
        headers: AUTH,
      });
      assert.equal(restart.status, 200, await restart.text());
      await waitFor("the recording to end", async () => (await getJson(record)).state === "done", 20_000);
      const status = await getJson(record);
      assert.equal(status.stop, "module_stopped");
      const res = await fetch(`${record}/trace`, { headers: AUTH });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      assert.equal(readTrace(new Uint8Array(await res.arrayBuffer())).stop, "module_stopped");
    });

    await t.step("a recording past its disk budget ends with stop budget, its trace within it", async () => {
      await waitFor("anomaly running again", async () => {
        const m = await getJson(`${kiln.base}/api/v1/modules/anomaly`);
        return m.state === "running";
      });
      // The budget holds the trace's header too, with the instance's memory image (about 35 KB for anomaly).
      const res = await post(record, { for_s: 120, max_bytes: 100_000 });
      assert.equal(res.status, 201, await res.text());
      await waitFor("the budget to be reached", async () => (await getJson(record)).state === "done", 60_000);
      assert.equal((await getJson(record)).stop, "budget");
      const bytes = new Uint8Array(await (await fetch(`${record}/trace`, { headers: AUTH })).arrayBuffer());
      assert.ok(bytes.length <= 100_000, `${bytes.length} bytes`);
      const trace = readTrace(bytes);
      assert.equal(trace.stop, "budget");
      assert.ok(trace.invocations.length > 1);
    });

    await t.step("bad requests are refused with the API's error body", async () => {
      const bad = await post(record, { invocations: -1 });
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).error.code, "bad_request");
      const unknown = await post(`${kiln.base}/api/v1/modules/nope/record`, {});
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
    });

    assert.equal(await kiln.stop(), 0, kiln.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
