/**
 * The SDK example module, `modules/vibration_rms/`, built from C, Rust and AssemblyScript: the three committed
 * `.wasm` run side by side in one Kiln runtime (the example's own manifest) on the same simulated vibration
 * sensor, a bearing fault is injected and cleared, and the three must give the same outputs for every window,
 * the same alert at the same window and the same all-clear. The first (healthy) windows are also checked against values computed
 * here from the simulator's samples, so a bug the three share fails too.
 */
import assert from "node:assert/strict";
import { SimVibrationSensor } from "../../hal/sim/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime } from "../../runtime/mod.ts";
import { planDeployment } from "../../runtime/plan.ts";
import { waitFor } from "../_helpers.ts";

/** The example's manifest: the three modules on one simulated sensor, with the same params. */
const MANIFEST = new URL("../../modules/vibration_rms/vibration_rms.yaml", import.meta.url).pathname;
const LANGS = ["c", "rust", "as"] as const;
const N = 1024;
// What the manifest declares: sensor vibration_1 at 25.6 kHz, seed 1, 16 g full scale; rms_alert_g 0.27 (healthy
// windows of the simulated machine are 0.19-0.23 g RMS, with a bearing fault 0.31-0.39 g), raise_after 3,
// clear_after 5.
const SENSOR = "vibration_1";
const RATE_HZ = 25_600;
const ALERT_G = 0.27;
const RAISE_AFTER = 3;
const CLEAR_AFTER = 5;
const WAIT_MS = 60_000; // a bound against a hang on a busy machine, not a measure

const nameOf = (lang: string) => `vibration_rms_${lang}`;

/** `floor(sqrt(sum(x^2) / n) + 1/2)`, by its defining inequality, with BigInt. */
function exactRms(samples: Int16Array): number {
  let s = 0n;
  for (const v of samples) s += BigInt(v) ** 2n;
  const n = BigInt(samples.length);
  let r = BigInt(Math.round(Math.sqrt(Number(s) / samples.length)));
  while ((2n * r + 1n) ** 2n * n <= 4n * s) r++;
  while (r > 0n && (2n * r - 1n) ** 2n * n > 4n * s) r--;
  return Number(r);
}

/** The strongest bin from 1 to N/2 - 1 of the mean-removed, Hann-windowed window, in doubles, with the runner-up. */
function spectrumPeak(samples: Int16Array): { bin: number; ratio: number } {
  const mean = samples.reduce((a, v) => a + v, 0) / N;
  const x = Array.from(samples, (v, n) => (v - mean) * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N)));
  const power: number[] = [];
  for (let k = 0; k < N / 2; k++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < N; n++) {
      const a = (-2 * Math.PI * ((k * n) % N)) / N;
      re += x[n]! * Math.cos(a);
      im += x[n]! * Math.sin(a);
    }
    power.push(re * re + im * im);
  }
  const bins = power.map((p, k) => ({ p, k })).slice(1).sort((a, b) => b.p - a.p);
  return { bin: bins[0]!.k, ratio: bins[0]!.p / bins[1]!.p };
}

Deno.test("the vibration RMS example gives the same outputs, alert and all-clear in C, Rust and AssemblyScript under Kiln", async () => {
  const outputs = new Map<string, Map<number, Record<string, number>>>(
    LANGS.map((l) => [nameOf(l), new Map()]),
  );
  const cleared = new Map<string, string[]>(LANGS.map((l) => [nameOf(l), []]));
  await using rt = await createRuntime({
    plan: planDeployment(await loadManifest(MANIFEST), { listen: "127.0.0.1:0" }),
    version: "test",
    log: () => {},
  });
  using _sub = rt.telemetry.subscribe((e) => {
    if (e.type === "outputs" && outputs.has(e.module)) {
      outputs.get(e.module)!.set(e.outputs.windows!, { ...e.outputs });
    }
    if (e.type === "log" && cleared.has(e.line.module) && e.line.message.includes("cleared")) {
      cleared.get(e.line.module)!.push(`${e.line.level} ${e.line.message}`);
    }
  });
  const windowsOf = (name: string) => Math.max(0, ...outputs.get(name)!.keys());
  const alertsOf = (name: string) => rt.listAlerts().filter((a) => a.module === name);

  await rt.start();
  await waitFor(
    "8 healthy windows in every module",
    () => LANGS.every((l) => windowsOf(nameOf(l)) >= 8),
    WAIT_MS,
  );
  rt.plant.setFault(SENSOR, "bearing");
  await waitFor(
    "the alert in every module",
    () => LANGS.every((l) => alertsOf(nameOf(l)).length > 0),
    WAIT_MS,
  );
  rt.plant.setFault(SENSOR, "none");
  await waitFor(
    "the all-clear in every module",
    () => LANGS.every((l) => cleared.get(nameOf(l))!.length > 0),
    WAIT_MS,
  );

  for (const lang of LANGS) {
    const status = rt.getModule(nameOf(lang))!;
    assert.equal(status.state, "running", `${lang}: ${JSON.stringify(status.last_error)}`);
    assert.equal(status.dropped_samples, 0, `${lang} dropped samples, so its windows are not the others'`);
    assert.equal(status.errors, 0, `${lang}: ${JSON.stringify(status.last_error)}`);
  }

  // Every window every module has reported so far, compared across the three.
  const last = Math.min(...LANGS.map((l) => windowsOf(nameOf(l))));
  const [c, ...others] = LANGS.map((l) => outputs.get(nameOf(l))!);
  for (let w = 1; w <= last; w++) {
    assert.ok(c!.has(w), `c reported window ${w}`);
    for (const [i, other] of others.entries()) {
      assert.deepEqual(other.get(w), c!.get(w), `window ${w}: ${LANGS[i + 1]} differs from c`);
    }
  }

  // The alert fired once, the same in each, at the window its message names, after RAISE_AFTER windows above.
  const alerts = LANGS.map((l) => alertsOf(nameOf(l)));
  for (const a of alerts) {
    assert.deepEqual(a.map((x) => [x.severity, x.message]), alerts[0]!.map((x) => [x.severity, x.message]));
  }
  assert.equal(alerts[0]!.length, 1);
  assert.equal(alerts[0]![0]!.severity, "warning");
  const threshold = Math.round((ALERT_G / 16) * 32768); // q15_from_f64(0.27 / 16): 552.96 rounds to 553
  const raised = /^Vibration RMS above (\d+) \(Q15\) for (\d+) windows: (\d+) at window (\d+)$/.exec(
    alerts[0]![0]!.message,
  );
  assert.ok(raised, alerts[0]![0]!.message);
  const [, thr, after, rms, at] = raised.map(Number);
  assert.deepEqual([thr, after], [threshold, RAISE_AFTER]);
  for (let w = at! - RAISE_AFTER + 1; w <= at!; w++) {
    assert.ok(c!.get(w)!.rms_q15! > threshold, `window ${w} above`);
  }
  assert.equal(c!.get(at!)!.rms_q15, rms);
  assert.equal(c!.get(at!)!.alarm, 1);
  assert.equal(c!.get(at! - 1)!.alarm, 0);

  // The all-clear: the same log line in each, after CLEAR_AFTER windows at or below the threshold.
  const lines = LANGS.map((l) => cleared.get(nameOf(l))!);
  for (const l of lines) assert.deepEqual(l, lines[0]);
  const clear =
    /^info Vibration RMS alert cleared: at or below (\d+) \(Q15\) for (\d+) windows, at window (\d+)$/
      .exec(lines[0]![0]!);
  assert.ok(clear, lines[0]![0]!);
  const clearedAt = Number(clear[3]);
  assert.deepEqual([Number(clear[1]), Number(clear[2])], [threshold, CLEAR_AFTER]);
  assert.ok(clearedAt > at!);
  for (let w = clearedAt - CLEAR_AFTER + 1; w <= clearedAt; w++) {
    assert.ok(c!.get(w)!.rms_q15! <= threshold, `window ${w} at or below`);
  }
  assert.equal(c!.get(clearedAt)!.alarm, 0);
  assert.equal(c!.get(clearedAt - 1)!.alarm, 1);

  // The healthy windows, recomputed from the simulator's samples (the same sensor, seed and order).
  const sensor = new SimVibrationSensor({
    id: SENSOR,
    rateHz: RATE_HZ,
    shaftHz: 29.5,
    fullScaleG: 16,
    seed: 1,
  });
  const window = new Int16Array(N);
  for (let w = 1; w <= 5; w++) {
    sensor.fill(window);
    const got = c!.get(w)!;
    const rmsQ15 = exactRms(window);
    const maxAbs = Math.max(...Array.from(window, Math.abs));
    assert.deepEqual(
      [got.rms_q15, got.rms_g, got.max_abs_q15, got.alarm, got.rms_alert_q15],
      [rmsQ15, (rmsQ15 * 16) / 32768, maxAbs, 0, threshold],
      `window ${w}`,
    );
    const peak = spectrumPeak(window);
    if (peak.ratio > 1.5) assert.equal(got.peak_bin, peak.bin, `window ${w}: spectrum peak`);
    assert.equal(got.peak_hz, (got.peak_bin! * RATE_HZ) / N);
  }
});
