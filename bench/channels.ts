/**
 * Channel rings (`runtime/executor/ring.ts`) between two workers: one-way latency of a record sent at a steady rate, to
 * a busy-polling reader and to a sleeping reader (`Atomics.wait`, woken by the writer's `Atomics.notify`), and
 * throughput of 64-byte and 4 KiB records with the writer going as fast as it can (drop-newest).
 *
 * The writer stamps each record with `performance.timeOrigin + performance.now()` and the reader subtracts it
 * from its own on receipt; the two workers' clocks are compared first with a ping-pong on shared memory and
 * the offset is reported (it is not subtracted). A baseline runs the same handoff without a ring (a stamp and
 * a counter in shared memory), so that the ring's numbers can be read against the machine's floor at the
 * time: on a shared two-core VM the tail is mostly scheduling. Seen there (2026-11): the sleeping reader's p99
 * depends on whether the woken reader lands on the core where the writer spins towards its next send (the
 * writer sleeps until 60 us before each send, then spins); with a writer that only sleeps, the ring and the
 * baseline both measured about 65 us.
 *
 * Run: `deno run -A bench/channels.ts [--records N] [--rate-hz N] [--rounds N]`; writes bench/results/channels.json.
 *
 * @module
 */
import { machine } from "./_plan.ts";
import { createRing } from "../runtime/executor/ring.ts";
import type { RingBenchJob } from "./_ring_worker.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const RECORDS = arg("--records", 100_000);
const RATE_HZ = arg("--rate-hz", 10_000);
const ROUNDS = arg("--rounds", 5);
const WARMUP_RECORDS = 5_000; // 0.5 s at 10 kHz: past the optimizing compiler and the other worker's start
const FLOOD_MS = 2_000;

/** Starts a worker on `job`; resolves `ready` when it is about to run and `result` when it has. */
function start<T>(job: RingBenchJob): { ready: Promise<void>; result: Promise<T> } {
  const worker = new Worker(new URL("./_ring_worker.ts", import.meta.url), { type: "module" });
  let ready!: () => void;
  const readyP = new Promise<void>((resolve) => (ready = resolve));
  const result = new Promise<T>((resolve, reject) => {
    worker.onmessage = (e) => {
      if (e.data === "ready") return ready();
      worker.terminate();
      resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(`Bench worker failed: ${e.message}`));
    };
  });
  worker.postMessage(job);
  return { ready: readyP, result };
}

/** Runs the reader's job, then, once it is ready, the writer's. */
async function pair<R, W>(reader: RingBenchJob, writer: RingBenchJob): Promise<[R, W]> {
  const r = start<R>(reader);
  await r.ready;
  const w = start<W>(writer);
  return await Promise.all([r.result, w.result]);
}

const round = (x: number, digits = 1) => Number(x.toFixed(digits));

function percentiles(samples: Float64Array) {
  const sorted = samples.slice().sort();
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: round(sorted.at(-1)!) };
}

async function clockOffset() {
  const flags = new SharedArrayBuffer(16);
  const b = start<null>({ role: "clock", side: 1, flags, rounds: 2000 });
  await b.ready;
  const a = start<{ offsetUs: number; rttUs: number }>({ role: "clock", side: 0, flags, rounds: 2000 });
  const [{ offsetUs, rttUs }] = await Promise.all([a.result, b.result]);
  return { offset_us: round(offsetUs, 2), round_trip_us: round(rttUs, 2) };
}

/** Records the writer dropped in the latency runs because the ring was full. */
let latencyDropped = 0;

/** One run of `records` latency samples (after the warm-up) through a ring. */
async function latency(sleeping: boolean, records: number, fifo?: number): Promise<Float64Array> {
  const buffer = createRing({ sizeBytes: 64 * 1024, readers: 1, overflow: "drop-newest" });
  const total = WARMUP_RECORDS + records;
  const [latencies, { dropped }] = await pair<Float64Array, { dropped: number }>(
    { role: "timed-read", buffer, records: total, sleeping, ...(fifo !== undefined && { fifo }) },
    { role: "paced-write", buffer, records: total, rateHz: RATE_HZ },
  );
  // A reader stalled for the whole ring (about 100 ms at this rate) makes the writer drop: counted, reported.
  latencyDropped += dropped;
  return latencies.subarray(Math.min(WARMUP_RECORDS, latencies.length));
}

/** The same without a ring. */
async function baseline(sleeping: boolean, records: number): Promise<Float64Array> {
  const words = new SharedArrayBuffer(192);
  const total = WARMUP_RECORDS + records;
  const [latencies] = await pair<Float64Array, null>(
    { role: "bare-read", words, records: total, sleeping },
    { role: "bare-write", words, records: total, rateHz: RATE_HZ },
  );
  return latencies.subarray(WARMUP_RECORDS);
}

type Variant = "polling" | "sleeping" | "sleeping_fifo" | "baseline_polling" | "baseline_sleeping";
const VARIANTS: Record<Variant, (records: number) => Promise<Float64Array>> = {
  polling: (n) => latency(false, n),
  sleeping: (n) => latency(true, n),
  // The reader's thread at SCHED_FIFO, as a realtime executor runs with scheduling.realtime_fifo_priority.
  sleeping_fifo: (n) => latency(true, n, 50),
  baseline_polling: (n) => baseline(false, n),
  baseline_sleeping: (n) => baseline(true, n),
};

/**
 * All latency variants in `ROUNDS` rounds of `RECORDS / ROUNDS` samples each, the order rotating every
 * round, so that a change in the machine's load over the run hits every variant alike.
 */
async function latencies(): Promise<Record<Variant, ReturnType<typeof percentiles>>> {
  const names = Object.keys(VARIANTS) as Variant[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as Float64Array[]])) as Record<
    Variant,
    Float64Array[]
  >;
  const perRound = Math.ceil(RECORDS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length]!;
      samples[name].push(await VARIANTS[name](perRound));
    }
  }
  const joined = (parts: Float64Array[]) => {
    const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (all.set(p, at), at += p.length);
    return all;
  };
  return Object.fromEntries(names.map((n) => [n, percentiles(joined(samples[n]))])) as Record<
    Variant,
    ReturnType<typeof percentiles>
  >;
}

async function throughput(recordBytes: number) {
  const buffer = createRing({ sizeBytes: 1024 * 1024, readers: 1, overflow: "drop-newest" });
  const [read, written] = await pair<
    { received: number; elapsedMs: number },
    { attempted: number; dropped: number }
  >(
    { role: "flood-read", buffer },
    { role: "flood-write", buffer, recordBytes, durationMs: FLOOD_MS },
  );
  return {
    records_per_s: Math.round(read.received / (read.elapsedMs / 1000)),
    attempted_per_s: Math.round(written.attempted / (FLOOD_MS / 1000)),
    dropped: written.dropped,
  };
}

/** Busy CPU time of the machine and of this process (its workers included), in clock ticks; Linux only. */
async function cpuTicks(): Promise<{ busy: number; own: number }> {
  const stat = await Deno.readTextFile("/proc/stat").catch(() => "");
  // cpu  user nice system idle iowait irq softirq steal ...
  const all = (stat.split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = all.reduce((a, b) => a + b, 0) - (all[3] ?? 0) - (all[4] ?? 0);
  const self = await Deno.readTextFile("/proc/self/stat").catch(() => "");
  const fields = self.slice(self.lastIndexOf(")") + 2).split(" "); // from field 3, state
  return { busy, own: Number(fields[11] ?? 0) + Number(fields[12] ?? 0) }; // utime, stime
}

/**
 * Runs one phase and measures the CPU other processes used meanwhile, in cores: on a shared machine a
 * spinning writer or reader that loses its core shows up in the tail, so the load goes in the results.
 */
async function phase<T>(run: () => Promise<T>): Promise<[T, number]> {
  const ticksPerS = 100; // USER_HZ on Linux
  const t0 = performance.now();
  const c0 = await cpuTicks();
  const result = await run();
  const c1 = await cpuTicks();
  const seconds = (performance.now() - t0) / 1000;
  const other = Math.max(0, c1.busy - c0.busy - (c1.own - c0.own)) / ticksPerS / seconds;
  return [result, round(other, 2)];
}

const clock = await clockOffset();
const [latency_us, latencyLoad] = await phase(latencies);
const {
  polling,
  sleeping,
  sleeping_fifo: sleepingFifo,
  baseline_polling: barePolling,
  baseline_sleeping: bareSleeping,
} = latency_us;
const [small, smallLoad] = await phase(() => throughput(64));
const [large, largeLoad] = await phase(() => throughput(4096));
const otherLoad = { latency: latencyLoad, "64B": smallLoad, "4KiB": largeLoad };

const results = {
  machine: await machine(),
  method: [
    `one writer worker and one reader worker;`,
    `latency: ${RECORDS} 64-byte records at ${RATE_HZ} Hz per variant, in ${ROUNDS} rounds rotating the order`,
    `of the variants, each run after ${WARMUP_RECORDS} warm-up records; 64 KiB ring; the writer sleeps, then`,
    `spins to each send time; baseline: a stamp and a counter instead of a ring; throughput: the writer floods`,
    `a 1 MiB drop-newest ring for ${FLOOD_MS} ms, the reader busy-polls, records/s counted at the reader`,
  ].join(" "),
  clock,
  other_load_cores: otherLoad,
  latency_us: { polling, sleeping, sleeping_fifo: sleepingFifo },
  // Records that never reached the reader (the ring was full): not in the latencies above.
  latency_dropped_records: latencyDropped,
  // The same handoff without a ring (a stamp and a counter): the machine's floor during this run.
  baseline_latency_us: { polling: barePolling, sleeping: bareSleeping },
  records_per_s: { "64B": small.records_per_s, "4KiB": large.records_per_s },
  flood: { "64B": small, "4KiB": large },
};

await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("./results/channels.json", import.meta.url),
  JSON.stringify(results, null, 2) + "\n",
);

console.log(`clock offset between workers ${clock.offset_us} us (round trip ${clock.round_trip_us} us)`);
console.log(`CPU used by other processes meanwhile, in cores: ${JSON.stringify(otherLoad)}\n`);
console.table({
  "polling reader (us)": polling,
  "sleeping reader (us)": sleeping,
  "sleeping reader, SCHED_FIFO (us)": sleepingFifo,
  "baseline, polling (us)": barePolling,
  "baseline, sleeping (us)": bareSleeping,
});
console.table({
  "64 B records": { "records/s": small.records_per_s, "writer attempts/s": small.attempted_per_s },
  "4 KiB records": { "records/s": large.records_per_s, "writer attempts/s": large.attempted_per_s },
});
