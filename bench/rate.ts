/**
 * Throughput and CPU against the sample rate: simulated vibration sensors through the FFT and anomaly modules
 * (as bench/stream.ts runs them), from one 1 kHz sensor up, doubling the number of 25.6 kHz sensors (the
 * simulator's highest rate) until a point is not sustained: an executor dropped samples (the runtime counts
 * every sample it drops when an executor falls more than 8 batches, 160 ms, behind), a module stopped
 * running, or under 90% of the offered samples were counted (a gross check only: executors report their
 * counters every 100 ms, so a count over a few seconds runs a few percent short with nothing dropped; bench/
 * stream.ts's 12-sensor run counts about 1% under the offered rate). The last sustained point is the maximum.
 *
 * Run: `deno run -A bench/rate.ts [--seconds N]`; writes bench/results/rate.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime } from "../runtime/mod.ts";
import { machine, plan, vibrationPipeline, writeResult } from "./_plan.ts";

const SECONDS = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 3);
const WARMUP_MS = 1000;
const SUSTAINED_FRACTION = 0.9;
const MAX_SENSORS = 256;
const STEPS: { sensors: number; rateHz: number }[] = [
  { sensors: 1, rateHz: 1_000 },
  { sensors: 1, rateHz: 5_000 },
  { sensors: 1, rateHz: 10_000 },
];
for (let sensors = 1; sensors <= MAX_SENSORS; sensors *= 2) STEPS.push({ sensors, rateHz: 25_600 });

async function measure(sensors: number, rateHz: number) {
  const ids = Array.from({ length: sensors }, (_, i) => `vibration_${i + 1}`);
  await using rt = await createRuntime({
    plan: plan(
      ids.map((id, i) => ({ id, kind: "vibration" as const, rateHz, seed: i + 1 })),
      ids.flatMap(vibrationPipeline),
    ),
    version: "bench",
    log: () => {},
  });
  await rt.start();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const before = rt.listModules();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const after = rt.listModules();
  const sum = (list: typeof after, f: (m: (typeof after)[number]) => number, only = (_: string) => true) =>
    list.filter((m) => only(m.name)).reduce((a, m) => a + f(m), 0);
  // Each sensor feeds two modules; count a sample once, through its FFT module.
  const isFft = (name: string) => name.startsWith("fft_");
  const offered = sensors * rateHz;
  const consumed = Math.round(
    (sum(after, (m) => m.samples_in, isFft) - sum(before, (m) => m.samples_in, isFft)) / elapsed,
  );
  const dropped = sum(after, (m) => m.dropped_samples) - sum(before, (m) => m.dropped_samples);
  const states = [...new Set(after.map((m) => m.state))];
  return {
    sensors,
    rate_hz: rateHz,
    offered_samples_per_s: offered,
    samples_per_s: consumed,
    dropped_samples: dropped,
    cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 1000) / 10,
    states,
    errors: [...new Set(after.flatMap((m) => (m.last_error ? [`${m.name}: ${m.last_error}`] : [])))].slice(
      0,
      5,
    ),
    sustained: consumed >= SUSTAINED_FRACTION * offered && dropped === 0 &&
      states.every((s) => s === "running"),
  };
}

const points = [];
for (const step of STEPS) {
  const p = await measure(step.sensors, step.rateHz);
  points.push(p);
  console.log(JSON.stringify(p));
  if (!p.sustained) break;
}
const sustained = points.filter((p) => p.sustained);
const best = sustained.at(-1) ?? null;
const report = {
  machine: await machine(),
  method: [
    `each point a fresh runtime: ${WARMUP_MS} ms warm-up, then ${SECONDS} s measured; sensors x rate_hz samples/s`,
    `offered (FFT window 1024 hop 512 and anomaly window 1024 on each sensor); samples_per_s counted at the FFT`,
    `modules; sustained = none dropped, all modules running and at least ${
      SUSTAINED_FRACTION * 100
    }% counted`,
    `(the counters are reported every 100 ms); cpu_percent is the whole process (all threads) as a percentage of`,
    `one core; stops at the first point not sustained or at ${MAX_SENSORS} sensors`,
  ].join(" "),
  max_sustained_samples_per_s: best?.samples_per_s ?? null,
  max_sustained_offered_samples_per_s: best?.offered_samples_per_s ?? null,
  /** True when the run stopped at MAX_SENSORS with every point sustained: the maximum is higher. */
  limited_by_steps: points.every((p) => p.sustained),
  points,
};
await writeResult("rate", report);
console.log(JSON.stringify(report, null, 2));
