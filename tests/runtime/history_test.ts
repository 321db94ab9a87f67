/**
 * The output history (issue #21, `runtime/history/`): a bounded ring per module and output key, one point per
 * 250 ms bucket, the last 300 s, at most 64 keys a module and 16 array keys; non-finite values read as null;
 * a removed module's history goes. Then through a real runtime, with a module shaped like the demo's fft (a
 * level and a spectrum), and the process's own figures.
 */
import assert from "node:assert/strict";
import {
  HISTORY_BUCKET_MS,
  HISTORY_MAX_ARRAY_KEYS,
  HISTORY_MAX_KEYS,
  HISTORY_POINTS,
  OutputHistory,
  ProcessSampler,
  SeriesRing,
} from "../../runtime/history/mod.ts";
import { createRuntime, Telemetry } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/** A null-prototype record, as the runtime's telemetry carries outputs. */
function rec<T>(entries: [string, T][]): Record<string, T> {
  const r = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) r[k] = v;
  return r;
}

const T0 = 1_700_000_000_000; // a bucket boundary (divisible by 250)

Deno.test("a ring keeps the last value of each 250 ms bucket, at that value's time, in order", () => {
  const ring = new SeriesRing(HISTORY_POINTS, HISTORY_BUCKET_MS);
  assert.ok(ring.push(T0 + 10, 1));
  assert.ok(ring.push(T0 + 200, 2)); // same bucket: replaces
  assert.ok(ring.push(T0 + 250, 3)); // next bucket
  assert.ok(ring.push(T0 + 900, 4)); // a bucket later, a gap between
  assert.equal(ring.push(T0 + 100, 9), false, "older than the newest bucket: ignored");
  assert.deepEqual(ring.since(0), { t: [T0 + 200, T0 + 250, T0 + 900], v: [2, 3, 4] });
  assert.deepEqual(ring.since(T0 + 250), { t: [T0 + 250, T0 + 900], v: [3, 4] });
  assert.deepEqual(ring.since(T0 + 901), { t: [], v: [] });
});

Deno.test("a full ring evicts its oldest points and never holds more than its capacity in typed arrays", () => {
  const ring = new SeriesRing(HISTORY_POINTS, HISTORY_BUCKET_MS);
  assert.equal(HISTORY_POINTS, 1200);
  assert.ok(ring.allocatedBytes < HISTORY_POINTS * 16, "allocated as points come, not all at once");
  const n = HISTORY_POINTS + 345;
  for (let i = 0; i < n; i++) ring.push(T0 + i * HISTORY_BUCKET_MS, i);
  assert.equal(ring.size, HISTORY_POINTS);
  assert.equal(ring.allocatedBytes, HISTORY_POINTS * 16);
  const all = ring.since(0);
  assert.equal(all.v.length, HISTORY_POINTS);
  assert.equal(all.v[0], 345, "the oldest 345 were evicted");
  assert.equal(all.v.at(-1), n - 1);
  assert.equal(all.t[0], T0 + 345 * HISTORY_BUCKET_MS);
  // The last 10 s across the ring's wrap: 40 buckets.
  const last = ring.since(T0 + (n - 40) * HISTORY_BUCKET_MS);
  assert.deepEqual(last.v, Array.from({ length: 40 }, (_, i) => n - 40 + i));
});

Deno.test("non-finite outputs are kept as null points", () => {
  const history = new OutputHistory();
  history.recordOutputs("m", T0, rec([["x", NaN]]));
  history.recordOutputs("m", T0 + 250, rec([["x", Infinity]]));
  history.recordOutputs("m", T0 + 500, rec([["x", -Infinity]]));
  history.recordOutputs("m", T0 + 750, rec([["x", 1.5]]));
  const h = history.query("m", { nowMs: T0 + 1000 });
  assert.deepEqual(h.outputs.get("x"), { t: [T0, T0 + 250, T0 + 500, T0 + 750], v: [null, null, null, 1.5] });
});

Deno.test("a query returns the last `seconds` of the asked keys, and each array's latest value", () => {
  const history = new OutputHistory();
  for (let i = 0; i < 400; i++) history.recordOutputs("fft", T0 + i * 1000, rec([["rms", i], ["peak", -i]]));
  const spectrum = new Float32Array([1, 2, 3]);
  history.recordArrays("fft", T0 + 5, rec([["spectrum", spectrum]]));
  history.recordArrays("fft", T0 + 9, rec([["spectrum", spectrum]])); // the same buffer: not newer
  const now = T0 + 399_000;
  const all = history.query("fft", { nowMs: now });
  assert.deepEqual([...all.outputs.keys()], ["rms", "peak"]);
  assert.equal(all.outputs.get("rms")!.t[0], now - 300_000, "300 s by default");
  assert.equal(all.outputs.get("rms")!.v.length, 301);
  assert.equal(all.bucketMs, 250);
  assert.equal(all.nowMs, now);
  assert.deepEqual(all.arrays.get("spectrum"), { t: T0 + 5, v: spectrum });

  const some = history.query("fft", { nowMs: now, seconds: 10, keys: new Set(["rms", "nope"]) });
  assert.deepEqual([...some.outputs.keys()], ["rms"], "unknown keys are left out");
  assert.deepEqual(some.outputs.get("rms")!.v, [389, 390, 391, 392, 393, 394, 395, 396, 397, 398, 399]);
  assert.equal(some.arrays.size, 0, "keys select arrays too");

  const fresh = new Float32Array([4]);
  history.recordArrays("fft", T0 + 20, rec([["spectrum", fresh]]));
  assert.deepEqual(history.query("fft").arrays.get("spectrum"), { t: T0 + 20, v: fresh });
  assert.equal(history.query("unknown").outputs.size, 0);
  for (const seconds of [0, 301, 1.5]) {
    assert.throws(() => history.query("fft", { seconds }), RangeError);
  }
});

Deno.test("keys past 64 scalars or 16 arrays a module are counted as dropped, once each, and not stored", () => {
  const history = new OutputHistory();
  const many = rec(Array.from({ length: HISTORY_MAX_KEYS + 3 }, (_, i) => [`k${i}`, i] as [string, number]));
  history.recordOutputs("m", T0, many);
  history.recordOutputs("m", T0 + 250, many); // the same refused keys again
  const arrays = rec(
    Array.from({ length: HISTORY_MAX_ARRAY_KEYS + 2 }, (_, i) => [`a${i}`, new Float32Array([i])]),
  );
  history.recordArrays("m", T0, arrays);
  const h = history.query("m", { nowMs: T0 + 500 });
  assert.equal(h.outputs.size, HISTORY_MAX_KEYS);
  assert.equal(h.outputs.has(`k${HISTORY_MAX_KEYS}`), false);
  assert.equal(h.arrays.size, HISTORY_MAX_ARRAY_KEYS);
  assert.equal(h.droppedKeys, 3 + 2);
  assert.equal(history.query("other").droppedKeys, 0, "counted per module");
  assert.equal(history.stats().keys, HISTORY_MAX_KEYS);
  assert.ok(history.stats().allocated_bytes <= HISTORY_MAX_KEYS * HISTORY_POINTS * 16);
});

Deno.test("a module's keys are data: __proto__ and constructor are ordinary keys", () => {
  const history = new OutputHistory();
  const outputs = rec([["__proto__", 1], ["constructor", 2], ["hasOwnProperty", 3]]);
  history.recordOutputs("m", T0, outputs);
  const h = history.query("m", { nowMs: T0 + 1 });
  assert.deepEqual([...h.outputs.keys()], ["__proto__", "constructor", "hasOwnProperty"]);
  assert.deepEqual(h.outputs.get("__proto__")!.v, [1]);
  assert.equal(Object.getPrototypeOf({}), Object.prototype, "nothing polluted");
});

Deno.test("the history follows a telemetry bus: outputs and arrays are recorded, a removed module forgotten", () => {
  const bus = new Telemetry();
  const history = new OutputHistory();
  {
    using _ = history.subscribe(bus);
    bus.emit({ type: "outputs", module: "a", at: T0, outputs: rec([["x", 1]]) });
    bus.emit({ type: "outputs", module: "b", at: T0, outputs: rec([["y", 2]]) });
    bus.emit({ type: "arrays", module: "a", at: T0, arrays: rec([["s", new Float32Array([1])]]) });
    assert.ok(history.has("a") && history.has("b"));
    bus.emit({ type: "removed", module: "a", at: T0 + 1 });
    assert.equal(history.has("a"), false);
    assert.equal(history.query("a", { nowMs: T0 + 2 }).arrays.size, 0);
    assert.deepEqual(history.query("b", { nowMs: T0 + 2 }).outputs.get("y")!.v, [2]);
  }
  assert.equal(bus.active, false, "unsubscribed when disposed");
});

Deno.test("the process sampler averages CPU time over the last ~5 s of samples, null until a second is sampled", () => {
  let now = 0;
  let cpu = 0;
  const sampler = new ProcessSampler({ nowMs: () => now, cpuUs: () => cpu });
  assert.equal(sampler.cpuPercent(), null);
  sampler.sample();
  assert.equal(sampler.cpuPercent(), null, "no time has passed");
  for (let i = 0; i < 10; i++) {
    now += 1000;
    cpu += i < 5 ? 100_000 : 500_000; // 10% of a core for 5 s, then 50%
    sampler.sample();
  }
  assert.equal(sampler.cpuPercent(), 50, "only the last 5 s count");
  const figures = sampler.figures();
  assert.ok(figures.rssBytes > 0 && figures.heapUsedBytes > 0);
  assert.equal(figures.cpuPercent, 50);
});

/**
 * Shaped like the demo's fft: every 20 ms a level `rms_g` (its call count / 10), a `bad` output that is not
 * finite (f64 NaN), and a 4-bin `spectrum` array.
 */
const FFT_LIKE = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "output_array" (func $output_array (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut f64) (f64.const 0))
  (data (i32.const 16) "rms_g")
  (data (i32.const 32) "bad")
  (data (i32.const 48) "spectrum")
  (data (i32.const 64) "\\00\\00\\80\\3f\\00\\00\\00\\40\\00\\00\\40\\40\\00\\00\\80\\40")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $calls (f64.add (global.get $calls) (f64.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.div (global.get $calls) (f64.const 10))))
    (drop (call $output (i32.const 32) (i32.const 3) (f64.const nan)))
    (drop (call $output_array (i32.const 48) (i32.const 8) (i32.const 64) (i32.const 4)))
    (i32.const 0)))`;

Deno.test("a running module's outputs fill its history, one point per bucket, and go when it is removed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wasm = await writeFixture(dir, "fft_like.wasm", wat(FFT_LIKE));
    await using runtime = await createRuntime({
      plan: deploymentPlan([
        modulePlan({ name: "fft", wasm, schedule: { mode: "periodic", periodUs: 20_000, priority: 50 } }),
      ]),
      version: "test",
      log: () => {},
    });
    await runtime.start();
    const h = await waitFor("eight buckets of rms_g", () => {
      const h = runtime.history.query("fft");
      return (h.outputs.get("rms_g")?.t.length ?? 0) >= 8 && h;
    }, 30_000);
    const rms = h.outputs.get("rms_g")!;
    const buckets = rms.t.map((t) => Math.floor(t / HISTORY_BUCKET_MS));
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i]! > buckets[i - 1]!, `one point per bucket, in order: ${buckets.join(",")}`);
      assert.ok(rms.v[i]! > rms.v[i - 1]!, "the level rises with the calls");
    }
    assert.ok(rms.t.every((t) => t <= h.nowMs && t >= h.nowMs - 300_000));
    assert.ok(h.outputs.get("bad")!.v.every((v) => v === null), "NaN is null");
    assert.deepEqual(Array.from(h.arrays.get("spectrum")!.v), [1, 2, 3, 4]);
    assert.equal(h.droppedKeys, 0);

    await waitFor("a CPU share", () => runtime.processFigures().cpuPercent !== null, 30_000);
    const p = runtime.processFigures();
    assert.ok(p.cpuPercent! >= 0 && p.rssBytes > p.heapUsedBytes);

    await runtime.removeModule("fft");
    assert.equal(runtime.history.has("fft"), false);
    assert.equal(runtime.history.query("fft").outputs.size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
