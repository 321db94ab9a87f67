/**
 * What a module cannot compute itself (the clock, random bytes) is recorded and fed back on replay, so a
 * module that outputs them replays identically; a recording started on a running module replays from its
 * memory image.
 */
import assert from "node:assert/strict";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { planDeployment } from "../../runtime/mod.ts";
import { createReplayer, readTrace, recordInProcess } from "../../runtime/record/mod.ts";
import { deploymentPlan, modulePlan, wat, writeFixture } from "../_helpers.ts";
import { ROOT } from "../_process.ts";

/** Outputs `now_us`, 8 random bytes (as a float) and the window's first sample, every window. */
const CLOCK_AND_RANDOM = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "now_us" (func $now (result i64)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "t")
  (data (i32.const 17) "r")
  (data (i32.const 18) "s")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "kiln_on_samples") (param $ptr i32) (param $n i32) (result i32)
    (drop (call $output (i32.const 16) (i32.const 1) (f64.convert_i64_s (call $now))))
    (drop (call $random (i32.const 64) (i32.const 8)))
    (drop (call $output (i32.const 17) (i32.const 1) (f64.convert_i64_u (i64.load (i32.const 64)))))
    (drop (call $output (i32.const 18) (i32.const 1) (f64.convert_i32_s (i32.load16_s (local.get $ptr)))))
    (i32.const 0)))`;

Deno.test("the recorded clock and random bytes are fed back, so every replay matches the recording", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_fed_" });
  try {
    const wasm = await writeFixture(dir, "clock.wasm", wat(CLOCK_AND_RANDOM));
    const plan = deploymentPlan([modulePlan({ name: "clock", wasm, capabilities: ["read:sim:vib"] })]);
    const { bytes } = await recordInProcess(plan, "clock", { invocations: 50 });
    const trace = readTrace(bytes);
    const nows = trace.invocations.slice(1).map((i) => i.calls.find((c) => c.name === "kiln.now_us")!.result);
    assert.equal(new Set(nows).size, 50, "the live clock moved between windows");
    const random = trace.invocations[1]!.calls.find((c) => c.name === "wasi.random_get")!;
    assert.equal(random.out?.length, 8);

    const replayer = await createReplayer(trace);
    const runs = [replayer.run(), replayer.run(), replayer.run()];
    for (const run of runs) assert.equal(run.divergence, null);
    assert.equal(new Set(runs.map((r) => r.hash)).size, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a recording started on a running module replays from its memory image", async () => {
  const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
  // The fault starts before the recording, so the module's debounce state at the start matters.
  const { bytes } = await recordInProcess(plan, "anomaly", {
    startAfter: 120,
    invocations: 100,
    faultAtMs: 2200,
  });
  const trace = readTrace(bytes);
  assert.ok(trace.header.start !== null);
  assert.equal(trace.invocations[0]!.entry, "init");
  assert.equal(trace.invocations[0]!.calls.length, 0);
  assert.equal(trace.invocations.length, 101);
  const replayer = await createReplayer(trace);
  const a = replayer.run(), b = replayer.run();
  assert.equal(a.divergence, null);
  assert.equal(a.invocations, 101);
  assert.equal(a.hash, b.hash);
  // Without the image, the module starts from kiln_init and its debounce state differs: the replay diverges.
  const fresh = await createReplayer({ ...trace, header: { ...trace.header, start: null } });
  assert.ok(fresh.run().divergence !== null);
});

Deno.test("the demo's periodic modules record their inputs and effects and replay identically", async (t) => {
  const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
  await t.step("temperature: an overheat trips it, its channel write is recorded", async () => {
    const { bytes } = await recordInProcess(plan, "temperature", { invocations: 600, faultAtMs: 1000 });
    const trace = readTrace(bytes);
    const reads = trace.invocations.slice(1).flatMap((i) => i.calls.filter((c) => c.name === "kiln.input"));
    assert.equal(reads.length, 600);
    assert.ok(reads.every((c) => c.out?.length === 16));
    assert.deepEqual(trace.invocations[1]!.args, [0n]); // the first tick at simulated time 0
    const trips = trace.invocations.filter((i) => i.calls.some((c) => c.name === "kiln.channel_write"));
    assert.ok(trips.length >= 1, "the overheat crosses trip_c");
    const replayer = await createReplayer(trace);
    const runs = Array.from({ length: 20 }, () => replayer.run());
    assert.ok(runs.every((r) => r.divergence === null));
    assert.equal(new Set(runs.map((r) => r.hash)).size, 1);
  });
  await t.step("aggregator: its MQTT publishes are recorded with their payloads", async () => {
    const { bytes } = await recordInProcess(plan, "aggregator", { simulatedMs: 30_000 });
    const trace = readTrace(bytes);
    assert.equal(trace.stop, "duration");
    const publishes = trace.invocations.flatMap((i) => i.calls.filter((c) => c.name === "kiln.publish"));
    assert.ok(publishes.length >= 25);
    assert.equal(publishes[0]!.args[0], "kiln/summary/temperature");
    assert.ok(publishes[0]!.args[1] instanceof Uint8Array);
    const replayer = await createReplayer(trace);
    const [a, b] = [replayer.run(), replayer.run()];
    assert.equal(a.divergence, null);
    assert.equal(a.hash, b.hash);
  });
});
