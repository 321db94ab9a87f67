import assert from "node:assert/strict";
import { RESONANCE_HZ, SimVibrationSensor } from "./vibration.ts";

const RATE_HZ = 25_600;

function samples(sensor: SimVibrationSensor, n: number): Int16Array {
  const out = new Int16Array(n);
  sensor.fill(out);
  return out;
}

/** Power of a Hann-windowed signal at `hz` (Goertzel), in Q15 counts squared. */
function powerAt(x: Int16Array, hz: number, rateHz: number): number {
  const w = (2 * Math.PI * hz) / rateHz;
  const coeff = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let n = 0; n < x.length; n++) {
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / x.length);
    const s = x[n]! * hann + coeff * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return s1 * s1 + s2 * s2 - coeff * s1 * s2;
}

/** Summed power over `[loHz, hiHz)` on a grid of `stepHz`. */
function bandPower(x: Int16Array, loHz: number, hiHz: number, stepHz: number): number {
  let sum = 0;
  for (let f = loHz; f < hiHz; f += stepHz) sum += powerAt(x, f, RATE_HZ);
  return sum;
}

Deno.test("the same seed gives the same samples and another seed does not", () => {
  const a = samples(new SimVibrationSensor({ id: "a", rateHz: RATE_HZ, seed: 42 }), 4096);
  const b = samples(new SimVibrationSensor({ id: "b", rateHz: RATE_HZ, seed: 42 }), 4096);
  const c = samples(new SimVibrationSensor({ id: "c", rateHz: RATE_HZ, seed: 43 }), 4096);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("fill continues the stream across calls and counts samples written", () => {
  const whole = samples(new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 5 }), 1024);
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 5 });
  const parts = new Int16Array(1024);
  sensor.fill(parts.subarray(0, 300));
  sensor.fill(parts.subarray(300));
  assert.deepEqual(parts, whole);
  assert.equal(sensor.samplesWritten, 1024);
});

Deno.test("the strongest line below 1 kHz is the shaft frequency", () => {
  const shaftHz = 29.5;
  const x = samples(new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, shaftHz, seed: 1 }), 8192);
  let bestHz = 0, best = -1;
  for (let f = 5; f < 1000; f += 0.5) {
    const p = powerAt(x, f, RATE_HZ);
    if (p > best) [best, bestHz] = [p, f];
  }
  assert.ok(Math.abs(bestHz - shaftHz) <= RATE_HZ / 8192, `peak at ${bestHz} Hz`);
  // 2x is the next harmonic and clearly present.
  assert.ok(powerAt(x, 2 * shaftHz, RATE_HZ) > 100 * powerAt(x, 1.5 * shaftHz, RATE_HZ));
});

Deno.test("a bearing fault raises the energy around the structural resonance", () => {
  const healthy = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 9 });
  const faulty = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 9 });
  faulty.setFault("bearing");
  assert.equal(faulty.fault, "bearing");
  const lo = RESONANCE_HZ - 500, hi = RESONANCE_HZ + 500;
  const eHealthy = bandPower(samples(healthy, 8192), lo, hi, 12.5);
  const eFaulty = bandPower(samples(faulty, 8192), lo, hi, 12.5);
  assert.ok(eFaulty > 20 * eHealthy, `fault/healthy energy ratio ${eFaulty / eHealthy}`);
});

Deno.test("samples are clamped to ±32767 when the signal exceeds full scale", () => {
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, fullScaleG: 0.1, seed: 2 });
  const x = samples(sensor, 4096);
  let max = -Infinity, min = Infinity;
  for (const v of x) [max, min] = [Math.max(max, v), Math.min(min, v)];
  assert.equal(max, 32767);
  assert.equal(min, -32767);
});

Deno.test("out-of-range options are refused with RangeError", () => {
  assert.throws(() => new SimVibrationSensor({ id: "v", rateHz: 51_200 }), RangeError);
  assert.throws(() => new SimVibrationSensor({ id: "v", rateHz: 0 }), RangeError);
  assert.throws(() => new SimVibrationSensor({ id: "v", rateHz: 1000, shaftHz: 600 }), RangeError);
  assert.throws(() => new SimVibrationSensor({ id: "v", rateHz: 1000, fullScaleG: 0 }), RangeError);
});
