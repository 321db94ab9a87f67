/**
 * Lateness of a 1 kHz periodic module through the real runtime (executor timing loop), idle and while the
 * demo's streaming pipeline (FFT + anomaly on a 25.6 kHz sensor, and a second 10 kHz one) loads the other
 * executor. Lateness is when a tick starts minus its deadline.
 *
 * Run: `deno run -A bench/periodic.ts [--seconds N]`; writes bench/results/periodic.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime, type ModulePlan, type ThreadCpus } from "../runtime/mod.ts";
import {
  acrossRounds,
  inRounds,
  machine,
  module,
  ONE_CPU,
  plan,
  vibrationPipeline,
  watFile,
  writeResult,
} from "./_plan.ts";

const SECONDS = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 3);
const tickWat = `(module (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

const ticker: ModulePlan = module({
  name: "ticker",
  wasm: await watFile("tick", tickWat),
  schedule: { mode: "periodic", periodUs: 1_000, priority: 90 },
  budgetUs: 5_000,
});
const stream: ModulePlan[] = vibrationPipeline("vibration_1");
const sim = [{ id: "vibration_1", kind: "vibration" as const, rateHz: 25_600, seed: 1 }];

/**
 * Runs the ticker beside `modules`, the realtime executor at SCHED_FIFO `fifo` or the normal policy, with
 * threads pinned to `cpus` or not.
 */
async function measure(modules: ModulePlan[], fifo?: number, cpus?: ThreadCpus) {
  const rt = await createRuntime({
    plan: {
      ...plan(sim, modules),
      ...(fifo !== undefined && { realtimeFifoPriority: fifo }),
      ...(cpus && { cpus }),
    },
    version: "bench",
    log: () => {},
  });
  await rt.start();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = rt.getModule("ticker")!;
  const realtime = (await rt.listExecutors()).find((e) => e.name === "realtime");
  const result = {
    realtime_policy: realtime?.scheduling.policy ?? "normal",
    realtime_cpus: realtime?.scheduling.cpus ?? null,
    lateness_us: m.lateness_us,
    ticks: m.invocations,
    expected_ticks: Math.round(elapsed * 1000),
    deadline_misses: m.deadline_misses,
    stream_invocations: rt.listModules().filter((x) => x.mode === "stream").reduce(
      (a, x) => a + x.invocations,
      0,
    ),
    /** Of one core, the whole process (all threads). */
    cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 1000) / 10,
  };
  rt.close();
  return result;
}

const FIFO_PRIORITY = 50;
const ROUNDS = 3;
/** The rounds of one configuration as one result: lateness percentiles across rounds, counts summed. */
function combine(rounds: Awaited<ReturnType<typeof measure>>[]) {
  return {
    realtime_policy: rounds.every((r) => r.realtime_policy === "fifo") ? "fifo" : "normal",
    realtime_cpus: rounds.at(-1)!.realtime_cpus,
    lateness_us: acrossRounds(rounds.map((r) => r.lateness_us)),
    ticks: rounds.reduce((a, r) => a + r.ticks, 0),
    expected_ticks: rounds.reduce((a, r) => a + r.expected_ticks, 0),
    deadline_misses: rounds.reduce((a, r) => a + r.deadline_misses, 0),
    stream_invocations: rounds.reduce((a, r) => a + r.stream_invocations, 0),
    cpu_percent: Math.round(rounds.reduce((a, r) => a + r.cpu_percent, 0) / rounds.length * 10) / 10,
  };
}
const runs = await inRounds(ROUNDS, {
  idle: () => measure([ticker], FIFO_PRIORITY),
  loaded: () => measure([ticker, ...stream], FIFO_PRIORITY),
  idle_one_cpu: () => measure([ticker], FIFO_PRIORITY, ONE_CPU),
  loaded_one_cpu: () => measure([ticker, ...stream], FIFO_PRIORITY, ONE_CPU),
  idle_normal_policy: () => measure([ticker]),
  loaded_normal_policy: () => measure([ticker, ...stream]),
});
const report = {
  machine: await machine(),
  method:
    `${ROUNDS} rounds, each configuration once per round in rotating order; per run a 1 kHz tick module ` +
    `(priority 90, realtime executor) for ${SECONDS} s, lateness over its last 1024 ticks; p50 and p99 are the ` +
    "median of the rounds' own, max the worst round's; the realtime executor at SCHED_FIFO " +
    `${FIFO_PRIORITY} (scheduling.realtime_fifo_priority), and at the normal policy; the _one_cpu runs also ` +
    "pin the runtime's thread and both executors to CPU 1 (scheduling.cpus)",
  idle: combine(runs.idle),
  loaded: combine(runs.loaded),
  idle_one_cpu: combine(runs.idle_one_cpu),
  loaded_one_cpu: combine(runs.loaded_one_cpu),
  idle_normal_policy: combine(runs.idle_normal_policy),
  loaded_normal_policy: combine(runs.loaded_normal_policy),
};
await writeResult("periodic", report);
await Deno.writeTextFile(
  new URL("results/periodic.json", import.meta.url),
  JSON.stringify(report, null, 2) + "\n",
);
console.log(JSON.stringify(report, null, 2));
