/**
 * `kiln record` and `kiln replay` as a user runs them (`deno task kiln` flags): a recording of the demo's
 * anomaly module to a file, replays with identical hashes (exit 0), another module's build refused, a trace
 * over its disk budget stopped and marked, wrong usage exit 2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readTrace } from "../../runtime/record/mod.ts";
import { runKiln } from "../_process.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

Deno.test("kiln record writes a trace that kiln replay --runs replays with identical hashes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_record_cli_" });
  try {
    const out = join(dir, "anomaly.ktrace");
    const rec = await runKiln(
      ["record", "anomaly", "--manifest", "examples/demo.yaml", "--invocations", "60", "--out", out],
      { timeoutMs: TOOL_TIMEOUT_MS },
    );
    assert.equal(rec.code, 0, rec.stderr);
    assert.match(rec.stdout, /recorded 60 invocations of "anomaly"/);
    assert.equal(readTrace(await Deno.readFile(out)).invocations.length, 61);

    const rep = await runKiln(["replay", out, "--runs", "5"], { timeoutMs: TOOL_TIMEOUT_MS });
    assert.equal(rep.code, 0, rep.stderr);
    const hashes = [...rep.stdout.matchAll(/^run \d+: ([0-9a-f]{64})$/gm)].map((m) => m[1]);
    assert.equal(hashes.length, 5);
    assert.equal(new Set(hashes).size, 1);
    assert.match(rep.stdout, /5 runs: identical to the recording, all output hashes identical/);

    const json = await runKiln(["replay", out, "--json"], { timeoutMs: TOOL_TIMEOUT_MS });
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout);
    assert.equal(body.identical, true);
    assert.equal(body.runs[0].hash, hashes[0]);

    const other = await runKiln(["replay", out, "--module", "modules/temperature/temperature.wasm"], {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /was refused/);

    const small = join(dir, "small.ktrace");
    const budget = await runKiln(
      [
        "record",
        "anomaly",
        "--manifest",
        "examples/demo.yaml",
        "--for",
        "10s",
        "--max-bytes",
        "60000",
        "--out",
        small,
      ],
      { timeoutMs: TOOL_TIMEOUT_MS },
    );
    assert.equal(budget.code, 0, budget.stderr);
    const cut = readTrace(await Deno.readFile(small));
    assert.equal(cut.stop, "budget");
    assert.ok((await Deno.stat(small)).size <= 60_000);
    assert.ok(cut.invocations.length > 1);

    for (const args of [["replay"], ["replay", out, "--runs", "0"], ["record", "anomaly"]]) {
      const bad = await runKiln(args, { timeoutMs: TOOL_TIMEOUT_MS });
      assert.equal(bad.code, 2, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
