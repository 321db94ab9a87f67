/**
 * Channel latency between two executors, through the real runtime: a 1 kHz periodic module in the `normal`
 * executor writes a record stamped with `kiln.now_us` to a channel; a reader module of priority 90 (so in the
 * `realtime` executor, asleep on its doorbell between records) subtracts the stamp from its own `now_us` and
 * hands its latencies out with `kiln.output_array` every 500 records. Both clocks are the runtime's clock
 * (`performance.timeOrigin + performance.now()` in each worker, from one origin). Run with the realtime
 * executor at SCHED_FIFO 50 with every Kiln thread pinned to CPU 1 (`scheduling.cpus`), the same with the
 * runtime's thread on CPU 0, at SCHED_FIFO 50 unpinned, and at the normal policy, in interleaved rounds.
 *
 * Run: `deno run -A bench/executor_channels.ts [--seconds N]`; writes bench/results/executor_channels.json.
 *
 * @module
 */
import { createRuntime, type ThreadCpus } from "../runtime/mod.ts";
import {
  acrossRounds,
  distribution,
  inRounds,
  machine,
  module,
  ONE_CPU,
  plan,
  SPLIT,
  watFile,
  writeResult,
} from "./_plan.ts";

const SECONDS = Number(Deno.args[Deno.args.indexOf("--seconds") + 1] || 4);
const ROUNDS = 3;
const WARM_UP_MS = 2_000;
const BATCH = 500;

const writer = await watFile(
  "stamp_writer",
  `(module
  (import "kiln" "channel_write" (func $cw (param i32 i32 i32) (result i32)))
  (import "kiln" "now_us" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i64.store (i32.const 64) (call $now))
    (drop (call $cw (i32.const 0) (i32.const 64) (i32.const 8)))
    (i32.const 0)))`,
);

// Latencies (f32, us) at 1024.., the batch number as output "batch", the array as output "lat".
const reader = await watFile(
  "stamp_reader",
  `(module
  (import "kiln" "now_us" (func $now (result i64)))
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (import "kiln" "output_array" (func $arr (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $n (mut i32) (i32.const 0))
  (global $batch (mut i32) (i32.const 0))
  (data (i32.const 0) "lat")
  (data (i32.const 8) "batch")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $size i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size))) (local.get $p))
  (func (export "kiln_on_record") (param $ptr i32) (param $len i32) (result i32)
    (f32.store
      (i32.add (i32.const 1024) (i32.shl (global.get $n) (i32.const 2)))
      (f32.convert_i64_s (i64.sub (call $now) (i64.load (local.get $ptr)))))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (global.get $n) (i32.const ${BATCH}))
      (then
        (drop (call $arr (i32.const 0) (i32.const 3) (i32.const 1024) (i32.const ${BATCH})))
        (global.set $batch (i32.add (global.get $batch) (i32.const 1)))
        (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_s (global.get $batch))))
        (global.set $n (i32.const 0))))
    (i32.const 0)))`,
);

/** One run: the latencies of every full batch the reader handed out, in microseconds. */
async function measure(
  fifo?: number,
  cpus?: ThreadCpus,
  seconds = SECONDS,
): Promise<{ latencies: number[]; policy: string; cpus: (number[] | null)[] }> {
  const p = plan([], [
    module({
      name: "writer",
      wasm: writer,
      schedule: { mode: "periodic", periodUs: 1_000, priority: 50 },
      capabilities: ["write:channel:stamps"],
    }),
    module({
      name: "reader",
      wasm: reader,
      schedule: { mode: "stream", source: "channel:stamps", window: 8, hop: 8, priority: 90 },
      capabilities: ["read:channel:stamps"],
    }),
  ]);
  p.channels = [{
    id: "stamps",
    writer: "writer",
    readers: ["reader"],
    sizeBytes: 64 * 1024,
    overflow: "drop-oldest",
    blockTimeoutUs: null,
  }];
  const rt = await createRuntime({
    plan: { ...p, ...(fifo !== undefined && { realtimeFifoPriority: fifo }), ...(cpus && { cpus }) },
    version: "bench",
    log: () => {},
  });
  await rt.start();
  // Warm up: V8 tiers up the executors' loops and host glue in the first seconds. Batches handed out
  // before the end of it are not counted.
  await new Promise((r) => setTimeout(r, WARM_UP_MS));
  const latencies: number[] = [];
  let seen = rt.getModule("reader")!.outputs.batch ?? 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    const batch = rt.getModule("reader")!.outputs.batch ?? 0;
    if (batch !== seen) {
      // Reports come every 100 ms and a batch takes 500 ms: each batch is seen once, none is skipped.
      if (batch !== seen + 1) throw new Error(`Batches ${seen + 1}..${batch - 1} were not seen`);
      latencies.push(...rt.getModuleArrays("reader")!.lat!);
      seen = batch;
    }
  }
  const executors = await rt.listExecutors();
  const policy = executors.find((e) => e.name === "realtime")?.scheduling.policy ?? "normal";
  const pinned = [rt.runtimeThread.cpus, ...executors.map((e) => e.scheduling.cpus)];
  rt.close();
  return { latencies, policy, cpus: pinned };
}

/**
 * One configuration's latencies: `latency_us` as the other latency benches give theirs (p50 and p99 the
 * median of the rounds' own, p99.9 and max the worst round's), and every record pooled.
 */
function latencies(rounds: { latencies: number[] }[]) {
  return {
    latency_us: acrossRounds(rounds.map((r) => distribution(r.latencies))),
    pooled_latency_us: distribution(rounds.flatMap((r) => r.latencies)),
  };
}

// The process's first runtime starts slower than the rest (V8 compiles the runtime's code for the first
// time): one short run, not counted, before the rounds.
await measure(50, ONE_CPU, 1);
const runs = await inRounds(ROUNDS, {
  one_cpu: () => measure(50, ONE_CPU),
  split: () => measure(50, SPLIT),
  fifo: () => measure(50),
  normal: () => measure(),
});
const pinnedAsAsked = runs.one_cpu.every((r) =>
  JSON.stringify(r.cpus) === JSON.stringify([ONE_CPU.runtime, ONE_CPU.realtime, ONE_CPU.normal])
);
const report = {
  machine: await machine(),
  method: `${ROUNDS} rounds, each configuration once per round; per run a 1 kHz periodic writer (normal ` +
    `executor) stamps 8-byte records with kiln.now_us into a channel read by a priority-90 stream module ` +
    `(realtime executor, asleep on its doorbell between records) for ${SECONDS} s after ` +
    `${WARM_UP_MS / 1000} s of warm-up; ` +
    "latency is the reader's now_us minus the stamp; latency_us has p50 and p99 the median of the rounds' " +
    "own, p99.9 and max the worst round's, pooled_latency_us every record of every round (one uncounted " +
    "1 s run first). Configurations: " +
    "realtime executor at SCHED_FIFO 50 with scheduling.cpus {runtime: [1], realtime: [1], normal: [1]} " +
    "(one_cpu); the same with the runtime's thread on CPU 0 (split); at SCHED_FIFO 50 unpinned; at the " +
    "normal policy unpinned",
  sched_fifo_one_cpu: {
    realtime_policy: runs.one_cpu.every((r) => r.policy === "fifo") ? "fifo" : "normal",
    pinned_as_asked: pinnedAsAsked,
    ...latencies(runs.one_cpu),
  },
  sched_fifo_split: latencies(runs.split),
  sched_fifo: {
    realtime_policy: runs.fifo.every((r) => r.policy === "fifo") ? "fifo" : "normal",
    ...latencies(runs.fifo),
  },
  normal_policy: latencies(runs.normal),
};
await writeResult("executor_channels", report);
console.log(JSON.stringify(report, null, 2));
