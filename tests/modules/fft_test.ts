import assert from "node:assert/strict";
import { SimVibrationSensor } from "../../hal/sim/mod.ts";
import { createMiniHost, type MiniHost } from "./_mini_host.ts";
import { readModule } from "./_paths.ts";

const RATE_HZ = 25_600;
const FULL_SCALE_G = 16;
const BIN_HZ = RATE_HZ / 1024;

async function fftHost(): Promise<MiniHost> {
  return await createMiniHost(await readModule("fft/fft.wasm"), {
    window: 1024,
    params: { "kiln.sample_rate_hz": RATE_HZ, "kiln.full_scale": FULL_SCALE_G, "kiln.window": 1024 },
  });
}

function sine(hz: number, amplitudeG: number, phase = 0.3): Int16Array {
  return Int16Array.from(
    { length: 1024 },
    (_, n) =>
      Math.round((amplitudeG / FULL_SCALE_G) * 32767 * Math.sin((2 * Math.PI * hz * n) / RATE_HZ + phase)),
  );
}

function output(host: MiniHost, key: string): number {
  const v = host.outputs.get(key);
  assert.ok(v !== undefined, `no output "${key}"`);
  return v;
}

Deno.test("a pure sine gives its frequency within one bin and its amplitude and RMS within a few percent", async (t) => {
  const host = await fftHost();
  for (const [hz, g] of [[1000, 1], [3210.7, 0.5], [11_987, 4], [180.3, 0.2]] as const) {
    await t.step(`${hz} Hz at ${g} g`, () => {
      assert.equal(host.pushWindow(sine(hz, g)), 0);
      assert.ok(Math.abs(output(host, "peak_hz") - hz) < BIN_HZ, `peak_hz ${output(host, "peak_hz")}`);
      assert.ok(Math.abs(output(host, "peak_g") / g - 1) < 0.02, `peak_g ${output(host, "peak_g")}`);
      assert.ok(
        Math.abs(output(host, "rms_g") / (g / Math.SQRT2) - 1) < 0.03,
        `rms_g ${output(host, "rms_g")}`,
      );
    });
  }
});

Deno.test("band RMS values put a tone's energy in its band", async () => {
  const host = await fftHost();
  const cases: [number, string][] = [[250, "band_0"], [1200, "band_1"], [3000, "band_2"], [8000, "band_3"]];
  for (const [hz, band] of cases) {
    host.pushWindow(sine(hz, 1));
    assert.ok(
      Math.abs(output(host, band) / Math.SQRT1_2 - 1) < 0.03,
      `${band} ${output(host, band)} at ${hz} Hz`,
    );
    for (const other of ["band_0", "band_1", "band_2", "band_3"].filter((b) => b !== band)) {
      assert.ok(output(host, other) < 0.01, `${other} ${output(host, other)} at ${hz} Hz`);
    }
  }
});

Deno.test("the spectrum has 256 amplitude bins peaking where the tone is", async () => {
  const host = await fftHost();
  host.pushWindow(sine(5000, 2));
  const spectrum = host.arrays.get("spectrum");
  assert.ok(spectrum);
  assert.equal(spectrum.length, 256);
  const top = spectrum.indexOf(Math.max(...spectrum));
  assert.equal(top, Math.floor(5000 / BIN_HZ / 2));
  assert.ok(Math.abs(spectrum[top]! - 2) < 0.4);
});

Deno.test("on the simulated machine the peak is at the shaft frequency", async () => {
  const host = await fftHost();
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 7 });
  const window = new Int16Array(1024);
  for (let i = 0; i < 10; i++) {
    sensor.fill(window);
    host.pushWindow(window);
    const peak = output(host, "peak_hz");
    assert.ok(Math.abs(peak - sensor.shaftHz) <= BIN_HZ, `peak_hz ${peak} on window ${i}`);
  }
});

Deno.test("a bearing fault raises the 2-5 kHz band energy where the resonance is", async () => {
  const host = await fftHost();
  const mean2to5kHz = (fault: "none" | "bearing") => {
    const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 3 });
    sensor.fault = fault;
    const window = new Int16Array(1024);
    let sum = 0;
    for (let i = 0; i < 20; i++) {
      sensor.fill(window);
      host.pushWindow(window);
      sum += output(host, "band_2");
    }
    return sum / 20;
  };
  const healthy = mean2to5kHz("none"), faulty = mean2to5kHz("bearing");
  assert.ok(faulty > 10 * healthy, `band_2 healthy ${healthy} g, faulty ${faulty} g`);
});

Deno.test("a batch that is not 1024 samples is refused with KILN_EINVAL", async () => {
  const host = await fftHost();
  const ptr = host.alloc(512 * 2);
  assert.equal(host.call("kiln_on_samples", ptr, 512), -5);
});

Deno.test("the exported kernel transforms a unit impulse into a flat spectrum", async () => {
  const host = await fftHost();
  const ptr = host.alloc(2048 * 2);
  const data = new Int16Array(host.memory.buffer, ptr, 2048);
  data.fill(0);
  data[0] = 16384;
  const exponent = host.call("fft_q15_1024", ptr);
  const out = new Int16Array(host.memory.buffer, ptr, 2048);
  for (let k = 0; k < 1024; k++) {
    assert.ok(Math.abs(out[2 * k]! * 2 ** exponent - 16384) <= 2 ** exponent * 2, `bin ${k}: ${out[2 * k]}`);
    assert.ok(Math.abs(out[2 * k + 1]!) <= 2);
  }
});

/** A window whose sum is `sum` exactly: a ramp with a DC offset, for the DC removal's rounding. */
function windowWithSum(sum: number): Int16Array {
  const w = Int16Array.from({ length: 1024 }, (_, n) => Math.round(3000 * Math.sin(n / 7)) + 40);
  const delta = sum - w.reduce((a, b) => a + b, 0);
  for (let n = 0; n < Math.abs(delta); n++) w[n % 1024]! += Math.sign(delta);
  return w;
}

Deno.test("each window's channel record is the anomaly module's ae_features of the same window, bit for bit", async () => {
  const host = await createMiniHost(await readModule("fft/fft.wasm"), {
    window: 1024,
    channels: 1,
    params: { "kiln.sample_rate_hz": RATE_HZ, "kiln.full_scale": FULL_SCALE_G, "kiln.window": 1024 },
  });
  const anomaly = await createMiniHost(await readModule("anomaly/anomaly.wasm"), { skipInit: true });
  const samplesPtr = anomaly.alloc(2048), featuresPtr = anomaly.alloc(1024);
  const aeFeatures = (w: Int16Array) => {
    new Int16Array(anomaly.memory.buffer, samplesPtr, 1024).set(w);
    anomaly.call("ae_features", samplesPtr, featuresPtr);
    return new Uint8Array(anomaly.memory.buffer.slice(featuresPtr, featuresPtr + 1024));
  };
  const sensor = new SimVibrationSensor({ id: "v", rateHz: RATE_HZ, seed: 21 });
  const windows: Int16Array[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === 4) sensor.fault = "bearing";
    const w = new Int16Array(1024);
    sensor.fill(w);
    windows.push(w);
  }
  // Means of exactly ±x.5 counts, where a different rounding of the DC removal would show.
  windows.push(
    windowWithSum(512),
    windowWithSum(-512),
    windowWithSum(1024 * 7 + 512),
    windowWithSum(-1024 * 7 - 512),
  );
  windows.push(sine(1000, 1), new Int16Array(1024), new Int16Array(1024).fill(-32768));
  for (const [i, w] of windows.entries()) {
    assert.equal(host.pushWindow(w), 0);
    const record = host.records.at(-1);
    assert.equal(host.records.length, i + 1, `window ${i} wrote no record`);
    assert.equal(record!.index, 0);
    assert.deepEqual(record!.bytes, aeFeatures(w), `window ${i}`);
  }
  assert.equal(output(host, "channel_errors"), 0);
});

Deno.test("a refused channel write is counted in channel_errors and logged once per spell; no channel is fine", async (t) => {
  const params = { "kiln.sample_rate_hz": RATE_HZ, "kiln.full_scale": FULL_SCALE_G, "kiln.window": 1024 };
  await t.step("refused", async () => {
    const host = await createMiniHost(await readModule("fft/fft.wasm"), {
      window: 1024,
      channels: 1,
      params,
    });
    host.channelStatus = -4;
    assert.equal(host.pushWindow(sine(1000, 1)), 0, "the window itself succeeds");
    assert.equal(host.pushWindow(sine(1000, 1)), 0);
    assert.equal(output(host, "channel_errors"), 2);
    assert.equal(host.logs.filter((l) => l.level === 2).length, 1);
    host.channelStatus = 0;
    host.pushWindow(sine(1000, 1));
    assert.equal(output(host, "channel_errors"), 2);
    assert.equal(host.records.length, 1);
  });
  await t.step("no channel (KILN_ENOENT)", async () => {
    const host = await createMiniHost(await readModule("fft/fft.wasm"), {
      window: 1024,
      channels: 0,
      params,
    });
    assert.equal(host.pushWindow(sine(1000, 1)), 0);
    assert.equal(output(host, "channel_errors"), 0);
    assert.deepEqual(host.logs, []);
  });
});
