import assert from "node:assert/strict";
import { OVERHEAT_MAX_C, SimTemperatureSensor } from "./temperature.ts";

/** Reads every `stepMs` from `fromMs` to `toMs` inclusive; returns the last reading. */
function readUntil(sensor: SimTemperatureSensor, fromMs: number, toMs: number, stepMs = 100): number {
  let value = NaN;
  for (let t = fromMs; t <= toMs; t += stepMs) value = sensor.read(t);
  return value;
}

Deno.test("the same seed gives the same readings", () => {
  const a = new SimTemperatureSensor({ id: "t", seed: 11 });
  const b = new SimTemperatureSensor({ id: "t", seed: 11 });
  for (let t = 0; t < 10_000; t += 1000) assert.equal(a.read(t), b.read(t));
});

Deno.test("a healthy reading stays within a few degrees of ambient", () => {
  const sensor = new SimTemperatureSensor({ id: "t", ambientC: 40, seed: 3 });
  for (let t = 0; t < 3_600_000; t += 10_000) {
    const c = sensor.read(t);
    assert.ok(Math.abs(c - 40) < 2.5, `read ${c} at ${t} ms`);
  }
});

Deno.test("an overheat ramps up about 1 °C/s to at most 60 °C above healthy and cools when cleared", () => {
  const sensor = new SimTemperatureSensor({ id: "t", seed: 4, noiseC: 0 });
  const before = sensor.read(0);
  sensor.fault = "overheat";
  const at30s = readUntil(sensor, 100, 30_000);
  assert.ok(Math.abs(at30s - before - 30) < 2.5, `rose ${at30s - before} °C in 30 s`);
  readUntil(sensor, 30_100, 120_000);
  assert.equal(sensor.excessC, OVERHEAT_MAX_C);
  sensor.setFault("none");
  readUntil(sensor, 120_100, 240_000);
  assert.ok(sensor.excessC < 0.2, `still ${sensor.excessC} °C above healthy after 2 minutes`);
});

Deno.test("a read at an earlier time than the last one advances no fault state", () => {
  const sensor = new SimTemperatureSensor({ id: "t", seed: 4, noiseC: 0 });
  sensor.read(10_000);
  sensor.fault = "overheat";
  sensor.read(5_000);
  assert.equal(sensor.excessC, 0);
  sensor.read(12_000);
  assert.ok(Math.abs(sensor.excessC - 2) < 1e-9);
});

Deno.test("invalid options and times are refused with RangeError", () => {
  assert.throws(() => new SimTemperatureSensor({ id: "t", noiseC: -1 }), RangeError);
  assert.throws(() => new SimTemperatureSensor({ id: "t", seed: 1 }).read(NaN), RangeError);
});
