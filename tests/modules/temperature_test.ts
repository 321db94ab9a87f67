import assert from "node:assert/strict";
import { SimTemperatureSensor } from "../../hal/sim/mod.ts";
import { createMiniHost, type MiniHost } from "./_mini_host.ts";
import { readModule } from "./_paths.ts";

const PERIOD_US = 1_000_000;

async function temperatureHost(params: Record<string, number> = {}): Promise<MiniHost> {
  const host = await createMiniHost(await readModule("temperature/temperature.wasm"), {
    params: { "kiln.period_us": PERIOD_US, ...params },
  });
  host.inputs[0] = { value: 45, quality: 0 };
  return host;
}

/** Ticks once per period with the given temperatures, continuing from `host.nowUs`. */
function feed(host: MiniHost, temperatures: number[], quality: 0 | 1 | 2 = 0): void {
  for (const value of temperatures) {
    host.inputs[0] = { value, quality };
    assert.equal(host.tick(host.nowUs + BigInt(PERIOD_US)), 0);
  }
}

Deno.test("a warning above warn_c and a critical above trip_c are raised once each, with hysteresis", async () => {
  const host = await temperatureHost({ max_trend_c_per_min: 1e9 });
  const severities = () => host.alerts.map((a) => a.severity);
  feed(host, [50, 60, 69.9]);
  assert.deepEqual(severities(), []);
  assert.equal(host.outputs.get("temperature_c"), 69.9);
  feed(host, [70.5, 72, 71]);
  assert.deepEqual(severities(), [1]);
  feed(host, [86, 90, 84, 83.5]); // 84 and 83.5 are within the 2 °C hysteresis of trip_c
  assert.deepEqual(severities(), [1, 2]);
  feed(host, [85.5]);
  assert.deepEqual(severities(), [1, 2], "re-raised inside the hysteresis band");
  feed(host, [82, 86]); // below 83 re-arms the critical alert
  assert.deepEqual(severities(), [1, 2, 2]);
  feed(host, [69, 71]); // 69 is inside the warning's hysteresis: no re-arm
  assert.deepEqual(severities(), [1, 2, 2]);
  feed(host, [67, 71]);
  assert.deepEqual(severities(), [1, 2, 2, 1]);
});

Deno.test("warn_c and trip_c params move the limits", async () => {
  const host = await temperatureHost({ warn_c: 50, trip_c: 55, max_trend_c_per_min: 1e9 });
  feed(host, [51, 56]);
  assert.deepEqual(host.alerts.map((a) => a.severity), [1, 2]);
});

Deno.test("the trend is the least-squares slope in °C per minute and a fast rise warns once", async () => {
  const host = await temperatureHost({ max_trend_c_per_min: 5 });
  feed(host, Array.from({ length: 40 }, (_, i) => 40 + i / 6)); // 10 °C per minute
  assert.ok(Math.abs(host.outputs.get("trend_c_per_min")! - 10) < 1e-6);
  assert.equal(host.alerts.length, 1);
  assert.equal(host.alerts[0]!.severity, 1);
  assert.match(host.alerts[0]!.message, /rising/);
  feed(host, Array.from({ length: 20 }, (_, i) => 46.5 + i / 6));
  assert.equal(host.alerts.length, 1, "warned twice for one rise");
  feed(host, Array.from({ length: 60 }, () => 50));
  assert.ok(Math.abs(host.outputs.get("trend_c_per_min")!) < 1e-9);
  assert.ok(host.logs.some((l) => /trend back to normal/.test(l.message)));
});

Deno.test("no trend alert before half a trend window of history", async () => {
  const host = await temperatureHost({ max_trend_c_per_min: 5 });
  feed(host, Array.from({ length: 29 }, (_, i) => 40 + i / 6));
  assert.ok(host.outputs.get("trend_c_per_min")! > 5);
  assert.deepEqual(host.alerts, []);
});

Deno.test("bad-quality input raises no alert and logs one warning until it recovers", async () => {
  const host = await temperatureHost();
  feed(host, [45]);
  feed(host, [120, 130, 140], 2);
  assert.deepEqual(host.alerts, []);
  assert.equal(host.outputs.get("temperature_c"), 45);
  assert.equal(host.logs.filter((l) => l.level === 2).length, 1);
  feed(host, [46]);
  assert.ok(host.logs.some((l) => l.level === 1 && /recovered/.test(l.message)));
  feed(host, [47], 2);
  assert.equal(host.logs.filter((l) => l.level === 2).length, 2);
});

Deno.test("a missing input makes the tick return KILN_ENOENT", async () => {
  const host = await createMiniHost(await readModule("temperature/temperature.wasm"));
  assert.equal(host.tick(1_000_000n), -2);
});

Deno.test("a simulated overheat warns on the trend, then crosses warn_c and trip_c", async () => {
  const host = await temperatureHost();
  const sensor = new SimTemperatureSensor({ id: "t", seed: 5 });
  const read = (seconds: number) => {
    for (let i = 0; i < seconds; i++) feed(host, [sensor.read(Number(host.nowUs / 1000n) + 1000)]);
  };
  read(120);
  assert.equal(host.alerts.length, 0);
  sensor.fault = "overheat";
  read(60);
  const kinds = host.alerts.map((a) => `${a.severity}:${/rising/.test(a.message) ? "trend" : "level"}`);
  assert.deepEqual(kinds, ["1:trend", "1:level", "2:level"]);
});

/** The trip records the module wrote: temperature_c, trip_c, at_us. */
function tripRecords(host: MiniHost): [number, number, bigint][] {
  return host.records.map(({ index, bytes }) => {
    assert.equal(index, 0);
    assert.equal(bytes.length, 24);
    const view = new DataView(bytes.buffer, bytes.byteOffset, 24);
    return [view.getFloat64(0, true), view.getFloat64(8, true), view.getBigInt64(16, true)];
  });
}

Deno.test("each upward crossing of trip_c writes exactly one trip record to channel 0", async () => {
  const host = await createMiniHost(await readModule("temperature/temperature.wasm"), {
    channels: 1,
    params: { "kiln.period_us": PERIOD_US, max_trend_c_per_min: 1e9 },
  });
  feed(host, [45, 80, 84.9]);
  assert.deepEqual(host.records, []);
  feed(host, [86.5, 90, 84, 85.5]); // 84 and 85.5 stay within the 2 °C hysteresis: one crossing
  assert.deepEqual(tripRecords(host), [[86.5, 85, 4_000_000n]]);
  feed(host, [82, 87.25]); // below 83 re-arms
  assert.deepEqual(tripRecords(host), [[86.5, 85, 4_000_000n], [87.25, 85, 9_000_000n]]);
  assert.equal(host.alerts.filter((a) => a.severity === 2).length, 2, "one record per critical alert");
  assert.equal(host.outputs.get("channel_errors"), 0);
});

Deno.test("a refused trip record is counted in channel_errors and logged; without a channel nothing is written", async (t) => {
  await t.step("refused", async () => {
    const host = await createMiniHost(await readModule("temperature/temperature.wasm"), {
      channels: 1,
      params: { "kiln.period_us": PERIOD_US },
    });
    host.channelStatus = -4;
    feed(host, [90]);
    assert.equal(host.outputs.get("channel_errors"), 1);
    assert.ok(host.logs.some((l) => l.level === 3 && /trip record/.test(l.message)));
    assert.equal(host.alerts.length, 1, "the critical alert is raised anyway");
  });
  await t.step("no channel", async () => {
    const host = await temperatureHost();
    feed(host, [90]);
    assert.equal(host.outputs.get("channel_errors"), 0);
    assert.ok(!host.logs.some((l) => l.level >= 2));
  });
});
