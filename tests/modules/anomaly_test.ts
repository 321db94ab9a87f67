import assert from "node:assert/strict";
import { SimVibrationSensor } from "../../hal/sim/mod.ts";
import { createMiniHost, type MiniHost } from "./_mini_host.ts";
import { readModule } from "./_paths.ts";

const RATE_HZ = 25_600;

async function anomalyHost(params: Record<string, number> = {}): Promise<MiniHost> {
  const weights = await readModule("anomaly/weights.bin");
  return await createMiniHost(await readModule("anomaly/anomaly.wasm"), {
    window: 1024,
    data: { weights },
    params: { "kiln.sample_rate_hz": RATE_HZ, "kiln.full_scale": 16, "kiln.window": 1024, ...params },
  });
}

/** Feeds `windows` windows of `sensor`; returns the score of each. */
function feed(host: MiniHost, sensor: SimVibrationSensor, windows: number): number[] {
  const window = new Int16Array(1024);
  const scores: number[] = [];
  for (let i = 0; i < windows; i++) {
    sensor.fill(window);
    assert.equal(host.pushWindow(window), 0);
    scores.push(host.outputs.get("score")!);
  }
  return scores;
}

Deno.test("healthy simulated windows score below the threshold and raise no alert", async () => {
  const host = await anomalyHost();
  for (const seed of [7, 8]) {
    const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed });
    const scores = feed(host, sensor, 200);
    const threshold = host.outputs.get("threshold")!;
    assert.ok(Math.max(...scores) < threshold, `max healthy score ${Math.max(...scores)} >= ${threshold}`);
  }
  assert.deepEqual(host.alerts, []);
});

Deno.test("a bearing fault crosses the threshold and alerts once after the debounce", async () => {
  const host = await anomalyHost();
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 11 });
  feed(host, sensor, 20);
  sensor.fault = "bearing";
  const threshold = host.outputs.get("threshold")!;
  const scores = feed(host, sensor, 2);
  assert.ok(scores.every((s) => s > threshold), `fault scores ${scores} vs threshold ${threshold}`);
  assert.equal(host.alerts.length, 0, "alerted before the default debounce of 3 windows");
  feed(host, sensor, 1);
  assert.equal(host.alerts.length, 1);
  assert.equal(host.alerts[0]!.severity, 2);
  feed(host, sensor, 30);
  assert.equal(host.alerts.length, 1, "alerted again while still above the threshold");
});

Deno.test("the alert re-arms only after the score has stayed below the threshold", async () => {
  const host = await anomalyHost({ debounce: 2 });
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 12 });
  sensor.fault = "bearing";
  feed(host, sensor, 5);
  sensor.fault = "none";
  feed(host, sensor, 1);
  sensor.fault = "bearing";
  feed(host, sensor, 5);
  assert.equal(host.alerts.length, 1, "one healthy window must not re-arm with debounce 2");
  sensor.fault = "none";
  feed(host, sensor, 2);
  assert.ok(host.logs.some((l) => /cleared/.test(l.message)));
  sensor.fault = "bearing";
  feed(host, sensor, 2);
  assert.equal(host.alerts.length, 2);
});

Deno.test("the threshold param overrides the one trained into the weights", async () => {
  const host = await anomalyHost({ threshold: 1000, debounce: 1 });
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 13 });
  sensor.fault = "bearing";
  feed(host, sensor, 5);
  assert.equal(host.outputs.get("threshold"), 1000);
  assert.deepEqual(host.alerts, []);
});

Deno.test("kiln_init fails without the weights blob or with a corrupt one", async (t) => {
  const wasm = await readModule("anomaly/anomaly.wasm");
  await t.step("missing", async () => {
    const host = await createMiniHost(wasm, { window: 1024, skipInit: true });
    assert.notEqual(host.init(), 0);
    assert.ok(host.logs.some((l) => l.level === 3));
  });
  await t.step("bad magic", async () => {
    const weights = (await readModule("anomaly/weights.bin")).slice();
    weights[0] = 0x58;
    const host = await createMiniHost(wasm, { window: 1024, data: { weights }, skipInit: true });
    assert.notEqual(host.init(), 0);
  });
  await t.step("truncated", async () => {
    const weights = (await readModule("anomaly/weights.bin")).slice(0, 1000);
    const host = await createMiniHost(wasm, { window: 1024, data: { weights }, skipInit: true });
    assert.notEqual(host.init(), 0);
  });
});

Deno.test("the exported kernel scores features the same way the handler does", async () => {
  const host = await anomalyHost();
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 14 });
  sensor.fault = "bearing";
  const window = new Int16Array(1024);
  sensor.fill(window);
  host.pushWindow(window);
  const samplesPtr = host.alloc(2048), featuresPtr = host.alloc(1024);
  new Int16Array(host.memory.buffer, samplesPtr, 1024).set(window);
  host.call("ae_features", samplesPtr, featuresPtr);
  const score = host.call("ae_score", featuresPtr);
  assert.equal(Math.fround(score), Math.fround(host.outputs.get("score")!));
});

/** The fft module, writing its feature records to channel 0 of the mini host. */
async function fftHost(): Promise<MiniHost> {
  return await createMiniHost(await readModule("fft/fft.wasm"), {
    window: 1024,
    channels: 1,
    params: { "kiln.sample_rate_hz": RATE_HZ, "kiln.full_scale": 16, "kiln.window": 1024 },
  });
}

/** The anomaly module reading feature records, as from a `channel:<id>` stream. */
async function recordHost(params: Record<string, number> = {}): Promise<MiniHost> {
  return await createMiniHost(await readModule("anomaly/anomaly.wasm"), {
    recordBytes: 32_764,
    data: { weights: await readModule("anomaly/weights.bin") },
    params: { "kiln.window": 1024, ...params },
  });
}

Deno.test("a feature record from the fft module scores exactly as the raw window does", async () => {
  const raw = await anomalyHost(), fromRecords = await recordHost(), fft = await fftHost();
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 15 });
  const window = new Int16Array(1024);
  const run = (windows: number) =>
    Array.from({ length: windows }, () => {
      sensor.fill(window);
      assert.equal(raw.pushWindow(window), 0);
      assert.equal(fft.pushWindow(window), 0);
      assert.equal(fromRecords.pushRecord(fft.records.at(-1)!.bytes), 0);
      assert.equal(fromRecords.outputs.get("score"), raw.outputs.get("score"));
      return fromRecords.outputs.get("score")!;
    });
  const healthy = run(40);
  const threshold = raw.outputs.get("threshold")!;
  assert.ok(Math.max(...healthy) < threshold, `healthy scores up to ${Math.max(...healthy)}`);
  assert.deepEqual(fromRecords.alerts, []);
  sensor.fault = "bearing";
  const faulty = run(5);
  assert.ok(faulty.every((s) => s > threshold), `fault scores ${faulty}`);
  assert.equal(fromRecords.outputs.get("threshold"), raw.outputs.get("threshold"));
  assert.deepEqual(fromRecords.alerts, raw.alerts, "the same debounce and alert");
  assert.equal(fromRecords.alerts.length, 1);
});

Deno.test("a record that is not 1024 bytes of finite features is refused with KILN_EINVAL", async (t) => {
  const host = await recordHost();
  for (const len of [0, 4, 1020, 1028, 2048]) {
    await t.step(`${len} bytes`, () => assert.equal(host.pushRecord(new Uint8Array(len)), -5));
  }
  await t.step("a NaN feature", () => {
    const features = new Float32Array(256).fill(10);
    features[17] = NaN;
    assert.equal(host.pushRecord(new Uint8Array(features.buffer)), -5);
  });
  assert.equal(host.outputs.size, 0, "nothing was scored");
});
