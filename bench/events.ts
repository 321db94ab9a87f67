/**
 * Event trigger to actuator write: an API event to an event module (realtime executor) that writes a GPIO
 * pin, timed from the trigger to the runtime carrying out the write, idle and while streaming pipelines
 * (FFT + anomaly on four 25.6 kHz sensors) load the normal executor.
 *
 * Run: `deno run -A bench/events.ts [--events N]`; writes bench/results/events.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime, type ThreadCpus } from "../runtime/mod.ts";
import {
  acrossRounds,
  inRounds,
  machine,
  module,
  ONE_CPU,
  plan,
  SPLIT,
  vibrationPipeline,
  watFile,
  writeResult,
} from "./_plan.ts";

const EVENTS = Number(Deno.args[Deno.args.indexOf("--events") + 1] || 400);
const INTERVAL_MS = 5;

const estop = await watFile(
  "estop",
  `(module
  (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (drop (call $w (i32.const 8) (i32.load8_u (local.get $ptr))))
    (i32.const 0)))`,
);

/**
 * Runs the events with `sensors` streaming pipelines loading the normal executor, at `fifo` priority or not,
 * with threads pinned to `cpus` or not.
 */
async function measure(sensors: number, fifo?: number, cpus?: ThreadCpus) {
  const ids = Array.from({ length: sensors }, (_, i) => `vibration_${i + 1}`);
  const rt = await createRuntime({
    plan: {
      ...plan(
        ids.map((id, i) => ({ id, kind: "vibration" as const, rateHz: 25_600, seed: i + 1 })),
        [
          module({
            name: "estop",
            wasm: estop,
            schedule: { mode: "event", trigger: "api", priority: 90 },
            capabilities: ["write:gpio:pin_8"],
          }),
          ...ids.flatMap(vibrationPipeline),
        ],
      ),
      ...(fifo !== undefined && { realtimeFifoPriority: fifo }),
      ...(cpus && { cpus }),
    },
    version: "bench",
    log: () => {},
  });
  await rt.start();
  await new Promise((r) => setTimeout(r, 500)); // warm up the pipelines
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < EVENTS; i++) {
    rt.triggerEvent("estop", new Uint8Array([i % 2]));
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
  }
  await new Promise((r) => setTimeout(r, 200));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = rt.getModule("estop")!;
  const streams = rt.listModules().filter((x) => x.mode === "stream");
  const realtime = (await rt.listExecutors()).find((e) => e.name === "realtime");
  const result = {
    sensors,
    realtime_policy: realtime?.scheduling.policy ?? "normal",
    realtime_cpus: realtime?.scheduling.cpus ?? null,
    events: m.events,
    trigger_to_actuator_us: m.event_latency_us,
    stream_invocations_per_s: Math.round(streams.reduce((a, x) => a + x.invocations, 0) / elapsed),
    dropped_samples: streams.reduce((a, x) => a + x.dropped_samples, 0),
    cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 1000) / 10,
  };
  rt.close();
  return result;
}

const FIFO_PRIORITY = 50;
const ROUNDS = 4;
/** The rounds of one configuration as one result: latency percentiles across rounds, counts summed. */
function combine(rounds: Awaited<ReturnType<typeof measure>>[]) {
  const last = rounds.at(-1)!;
  return {
    sensors: last.sensors,
    realtime_policy: rounds.every((r) => r.realtime_policy === "fifo") ? "fifo" : "normal",
    realtime_cpus: last.realtime_cpus,
    events: rounds.reduce((a, r) => a + r.events, 0),
    trigger_to_actuator_us: acrossRounds(rounds.map((r) => r.trigger_to_actuator_us)),
    stream_invocations_per_s: Math.round(
      rounds.reduce((a, r) => a + r.stream_invocations_per_s, 0) / rounds.length,
    ),
    dropped_samples: rounds.reduce((a, r) => a + r.dropped_samples, 0),
    cpu_percent: Math.round(rounds.reduce((a, r) => a + r.cpu_percent, 0) / rounds.length * 10) / 10,
  };
}
const runs = await inRounds(ROUNDS, {
  idle: () => measure(0, FIFO_PRIORITY),
  loaded: () => measure(4, FIFO_PRIORITY),
  loaded_one_cpu: () => measure(4, FIFO_PRIORITY, ONE_CPU),
  loaded_split: () => measure(4, FIFO_PRIORITY, SPLIT),
  idle_one_cpu: () => measure(0, FIFO_PRIORITY, ONE_CPU),
  idle_normal_policy: () => measure(0),
  loaded_normal_policy: () => measure(4),
});
const report = {
  machine: await machine(),
  method:
    `${ROUNDS} rounds, each configuration once per round in rotating order; per run ${EVENTS} API events, one ` +
    `every ${INTERVAL_MS} ms, to an event module (priority 90, realtime executor) that drives a simulated GPIO ` +
    "pin from its executor; latency from triggerEvent to the pin driven; p50 and p99 are the median of the " +
    "rounds' own, p99.9 and max the worst round's; the realtime executor at SCHED_FIFO " +
    `${FIFO_PRIORITY} (scheduling.realtime_fifo_priority) and at the normal policy; the _one_cpu runs also pin ` +
    "the runtime's thread and both executors to CPU 1 (scheduling.cpus), loaded_split pins the executors to " +
    "CPU 1 and the runtime's thread to CPU 0",
  idle: combine(runs.idle),
  loaded: combine(runs.loaded),
  loaded_one_cpu: combine(runs.loaded_one_cpu),
  loaded_split: combine(runs.loaded_split),
  idle_one_cpu: combine(runs.idle_one_cpu),
  idle_normal_policy: combine(runs.idle_normal_policy),
  loaded_normal_policy: combine(runs.loaded_normal_policy),
};
await writeResult("events", report);
console.log(JSON.stringify(report, null, 2));
