/**
 * Sustained streaming through the FFT and anomaly modules: N simulated 25.6 kHz sensors, each analysed by
 * both modules (FFT windows of 1024 with hop 512, anomaly windows of 1024), through the real runtime. Reports
 * the samples per second the modules consumed, the samples dropped because an executor fell behind (counted,
 * never silent), and the process's CPU use.
 *
 * Run: `deno run -A bench/stream.ts [--seconds N]`; writes bench/results/stream.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime } from "../runtime/mod.ts";
import { machine, plan, vibrationPipeline, writeResult } from "./_plan.ts";

const SECONDS = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 10);
const RATE_HZ = 25_600;

async function measure(sensors: number) {
  const ids = Array.from({ length: sensors }, (_, i) => `vibration_${i + 1}`);
  const rt = await createRuntime({
    plan: plan(
      ids.map((id, i) => ({ id, kind: "vibration" as const, rateHz: RATE_HZ, seed: i + 1 })),
      ids.flatMap(vibrationPipeline),
    ),
    version: "bench",
    log: () => {},
  });
  await rt.start();
  await new Promise((r) => setTimeout(r, 1000)); // warm up
  // Counters arrive in the executors' reports (every 100 ms): start and end the window as a report lands,
  // so that the count and the time cover the same span (a stale count at either end was a 1-2% error).
  const consumed = (ms: ReturnType<typeof rt.listModules>) =>
    ms.filter((m) => m.name.startsWith("fft_")).reduce((a, m) => a + m.samples_in, 0);
  const fresh = async () => {
    const seen = consumed(rt.listModules());
    for (;;) {
      const ms = rt.listModules();
      if (consumed(ms) !== seen) return { ms, t: performance.now() };
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  const { ms: before, t: t0 } = await fresh();
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const { ms: after, t: t1 } = await fresh();
  const elapsed = (t1 - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const delta = (f: (m: (typeof after)[number]) => number, filter: (name: string) => boolean) =>
    after.filter((m) => filter(m.name)).reduce((a, m) => a + f(m), 0) -
    before.filter((m) => filter(m.name)).reduce((a, m) => a + f(m), 0);
  const isFft = (n: string) => n.startsWith("fft_");
  const result = {
    sensors,
    offered_samples_per_s: sensors * RATE_HZ,
    // Each sensor feeds two modules; count a sample once, through its FFT module.
    samples_per_s: Math.round(delta((m) => m.samples_in, isFft) / elapsed),
    invocations_per_s: Math.round(delta((m) => m.invocations, () => true) / elapsed),
    dropped_samples: delta((m) => m.dropped_samples, () => true),
    cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 1000) / 10,
    states: [...new Set(after.map((m) => m.state))],
  };
  rt.close();
  return result;
}

const runs = [];
for (const n of [1, 4, 12]) runs.push(await measure(n));
const report = {
  machine: await machine(),
  method:
    `${SECONDS} s per run after 1 s of warm-up, from one executor report to another; cpu_percent is the whole ` +
    "process (all threads) as a percentage of one core",
  runs,
  target: "12 sensors x 25.6 kHz = 307,200 samples/s using under one core",
};
await writeResult("stream", report);
console.log(JSON.stringify(report, null, 2));
