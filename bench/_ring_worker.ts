/**
 * Worker entry for `bench/channels.ts`: one end of a ring (a paced or flooding writer, a polling or sleeping
 * reader), or one side of the clock check between two workers. Each job posts `"ready"` once it is about to
 * run, then its result.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { enterRealtime } from "../runtime/executor/realtime_thread.ts";
import { RingReader, RingWriter } from "../runtime/executor/ring.ts";

/** What the bench posts to this worker. */
export type RingBenchJob =
  | { role: "clock"; side: 0 | 1; flags: SharedArrayBuffer; rounds: number }
  | { role: "paced-write"; buffer: SharedArrayBuffer; records: number; rateHz: number }
  | {
    role: "timed-read";
    buffer: SharedArrayBuffer;
    records: number;
    sleeping: boolean;
    /** Put this reader's thread at SCHED_FIFO with this priority first (needs FFI and CAP_SYS_NICE). */
    fifo?: number;
  }
  | { role: "flood-write"; buffer: SharedArrayBuffer; recordBytes: number; durationMs: number }
  | { role: "flood-read"; buffer: SharedArrayBuffer }
  | { role: "bare-write"; words: SharedArrayBuffer; records: number; rateHz: number }
  | { role: "bare-read"; words: SharedArrayBuffer; records: number; sleeping: boolean };

const END = 0xffffffff;
/** Latency records: the send time (ms since the epoch, f64), the sequence number (u32), padding to 64. */
const STAMPED_BYTES = 64;
/** How long before a paced record is due the writer stops sleeping and spins: Linux's timer slack is 50 us. */
const SPIN_MS = 0.06;

/** The clock both ends stamp with: each worker has its own `timeOrigin`, so `now()` alone is not shared. */
const epochMs = () => performance.timeOrigin + performance.now();

/**
 * One side of a ping-pong on two flag words: side 0 stamps, flips flag 0, waits for side 1's flip of flag 1
 * and stamps again; side 1 stamps when it sees flag 0. Side 0 returns the offset of side 1's clock (us) from
 * the rounds with the shortest round trip.
 */
function clock(
  side: 0 | 1,
  flags: SharedArrayBuffer,
  rounds: number,
): { offsetUs: number; rttUs: number } | null {
  const f = new Int32Array(flags, 0, 2);
  const stamp = new Float64Array(flags, 8, 1);
  const samples: { rttUs: number; offsetUs: number }[] = [];
  for (let k = 1; k <= rounds; k++) {
    if (side === 1) {
      while (Atomics.load(f, 0) !== k);
      stamp[0] = epochMs();
      Atomics.store(f, 1, k);
      continue;
    }
    const sent = epochMs();
    Atomics.store(f, 0, k);
    while (Atomics.load(f, 1) !== k);
    const back = epochMs();
    samples.push({ rttUs: (back - sent) * 1000, offsetUs: (stamp[0]! - (sent + back) / 2) * 1000 });
  }
  if (side === 1) return null;
  samples.sort((a, b) => a.rttUs - b.rttUs);
  return samples[0]!;
}

/** Sleeps until shortly before `next` (a `performance.now()` time), then spins until it. */
function pace(next: number, pause: Int32Array): void {
  const idleMs = next - performance.now() - SPIN_MS;
  if (idleMs > 0) Atomics.wait(pause, 0, 0, idleMs);
  while (performance.now() < next);
}

/**
 * Sends `records` stamped records at `rateHz`, then the end record. Between records it sleeps (`Atomics.wait`)
 * until shortly before the next is due and spins the rest: a writer spinning the whole period would hold a
 * core, and on a two-core machine a busy-polling reader would then lose its core to every other thread that
 * wakes up. Sleeping may make a record late, which changes the rate a little but not the latency measured
 * from its stamp.
 */
function pacedWrite(buffer: SharedArrayBuffer, records: number, rateHz: number): { dropped: number } {
  const writer = new RingWriter(buffer);
  const record = new Uint8Array(STAMPED_BYTES);
  const view = new DataView(record.buffer);
  const periodMs = 1000 / rateHz;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let dropped = 0;
  let next = performance.now();
  for (let seq = 0; seq < records; seq++) {
    next += periodMs;
    pace(next, pause);
    // Late by more than a period (preempted): start the schedule again rather than send a burst.
    if (performance.now() - next > periodMs) next = performance.now();
    view.setFloat64(0, epochMs(), true);
    view.setUint32(8, seq, true);
    if (writer.write(record) === "dropped") dropped++;
  }
  view.setUint32(8, END, true);
  while (writer.write(record) === "dropped");
  return { dropped };
}

/** Receives stamped records until the end record; returns each one's latency in microseconds, in order. */
function timedRead(buffer: SharedArrayBuffer, records: number, sleeping: boolean): Float64Array {
  const reader = new RingReader(buffer, 0);
  const target = new Uint8Array(STAMPED_BYTES);
  const view = new DataView(target.buffer);
  const latencies = new Float64Array(records);
  let received = 0;
  for (;;) {
    if (reader.readInto(target, 0) < 0) {
      if (sleeping) reader.wait(1000);
      continue;
    }
    const at = epochMs();
    if (view.getUint32(8, true) === END) break;
    if (received < records) latencies[received++] = (at - view.getFloat64(0, true)) * 1000;
  }
  return latencies.subarray(0, received);
}

/** Writes `recordBytes`-byte records as fast as it can for `durationMs`, then the end record. */
function floodWrite(
  buffer: SharedArrayBuffer,
  recordBytes: number,
  durationMs: number,
): { attempted: number; dropped: number } {
  const writer = new RingWriter(buffer);
  const record = new Uint8Array(recordBytes).fill(0xa5);
  const view = new DataView(record.buffer);
  const until = performance.now() + durationMs;
  let attempted = 0;
  let dropped = 0;
  while (performance.now() < until) {
    for (let k = 0; k < 256; k++, attempted++) {
      view.setUint32(0, attempted, true);
      if (writer.write(record) === "dropped") dropped++;
    }
  }
  view.setUint32(0, END, true);
  while (writer.write(record) === "dropped");
  return { attempted, dropped };
}

/** Busy-polls records until the end record; counts them and the time from the first to the end. */
function floodRead(buffer: SharedArrayBuffer): { received: number; elapsedMs: number } {
  const reader = new RingReader(buffer, 0);
  const target = new Uint8Array(reader.maxRecordBytes);
  const view = new DataView(target.buffer);
  let received = 0;
  let first = 0;
  for (;;) {
    const length = reader.readInto(target, 0);
    if (length < 0) continue;
    if (received === 0) first = performance.now();
    if (view.getUint32(0, true) === END) return { received, elapsedMs: performance.now() - first };
    received++;
  }
}

/**
 * The machine's floor, without a ring: the writer stores a stamp and bumps a counter (the same pacing and the
 * same sleeping-flag protocol as the ring), the reader polls or waits on the counter. Shows how much of the
 * ring's latency is the machine's (scheduling, wake-ups) at the time of the run.
 */
function bareWrite(words: SharedArrayBuffer, records: number, rateHz: number): null {
  const counter = new Int32Array(words, 0, 1);
  const stamp = new Float64Array(words, 64, 1);
  const sleeping = new Int32Array(words, 128, 1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const periodMs = 1000 / rateHz;
  let next = performance.now();
  for (let seq = 1; seq <= records; seq++) {
    next += periodMs;
    pace(next, pause);
    if (performance.now() - next > periodMs) next = performance.now();
    stamp[0] = epochMs();
    Atomics.store(counter, 0, seq);
    if (Atomics.load(sleeping, 0) !== 0 && Atomics.compareExchange(sleeping, 0, 1, 0) === 1) {
      Atomics.notify(counter, 0);
    }
  }
  return null;
}

/** The reading side of the baseline: latencies in microseconds of the counter bumps it saw. */
function bareRead(words: SharedArrayBuffer, records: number, sleep: boolean): Float64Array {
  const counter = new Int32Array(words, 0, 1);
  const stamp = new Float64Array(words, 64, 1);
  const sleeping = new Int32Array(words, 128, 1);
  const latencies = new Float64Array(records);
  let received = 0;
  let seen = 0;
  while (seen < records) {
    let seq = Atomics.load(counter, 0);
    if (seq === seen) {
      if (!sleep) continue;
      Atomics.store(sleeping, 0, 1);
      Atomics.wait(counter, 0, seen, 1000);
      Atomics.store(sleeping, 0, 0);
      seq = Atomics.load(counter, 0);
      if (seq === seen) continue;
    }
    const at = epochMs();
    // A stamp overwritten by the next record before it was read would understate; at 10 kHz that is rare.
    latencies[received++] = (at - stamp[0]!) * 1000;
    seen = seq;
  }
  return latencies.subarray(0, received);
}

function run(job: RingBenchJob): unknown {
  switch (job.role) {
    case "clock":
      return clock(job.side, job.flags, job.rounds);
    case "paced-write":
      return pacedWrite(job.buffer, job.records, job.rateHz);
    case "timed-read": {
      if (job.fifo !== undefined) {
        const s = enterRealtime(job.fifo);
        if (s.policy !== "fifo") throw new Error(`SCHED_FIFO for the reader: ${s.error}`);
      }
      return timedRead(job.buffer, job.records, job.sleeping);
    }
    case "flood-write":
      return floodWrite(job.buffer, job.recordBytes, job.durationMs);
    case "flood-read":
      return floodRead(job.buffer);
    case "bare-write":
      return bareWrite(job.words, job.records, job.rateHz);
    case "bare-read":
      return bareRead(job.words, job.records, job.sleeping);
  }
}

self.onmessage = (event: MessageEvent<RingBenchJob>) => {
  self.postMessage("ready");
  self.postMessage(run(event.data));
};
