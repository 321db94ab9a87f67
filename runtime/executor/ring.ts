/**
 * Channel rings: one writer and several readers share a `SharedArrayBuffer` between executor workers and pass
 * framed records (a 4-byte length, then the payload, padded to 4 bytes) without a message port. The writer
 * copies a record from its module's linear memory into the ring once; each reader copies it out once, into
 * its own module's memory, with its own cursor. Overflows follow the channel's policy, measured against the
 * slowest reader, and are counted per channel and per reader.
 *
 * Layout (all slots are little-endian u32, each group on its own 64-byte cache line so the writer's and the
 * readers' stores do not share a line):
 *
 * | line  | slots                                                                                          |
 * | ----- | ---------------------------------------------------------------------------------------------- |
 * | 0     | magic, version, capacity (bytes), readers, overflow policy, block timeout (us)                 |
 * | 1     | write position, records written, dropped, evicted, writer blocks, writer timeouts              |
 * | 2     | writer-sleeping flag, space sequence (the futex word a blocked writer waits on)                |
 * | 3 + i | reader i: read position (the only line a busy reader writes per record)                        |
 * | then  | the readers' sleeping flags, 16 a line: written when a reader goes to sleep or is woken        |
 * | then  | the records each reader lost, 16 a line: written by the writer only, so a writer counting     |
 * |       | drops at full speed does not steal the line a reader commits its position on                   |
 * | data  | `capacity` bytes of records                                                                    |
 *
 * Positions are byte counts modulo `M`, the largest multiple of the capacity not above 2^32, so they fit a
 * u32 and `position % capacity` stays the data offset across the wrap at `M`; a distance is `(a - b) mod M`
 * and is never more than the capacity. A record never straddles the end of the data area: when it does not
 * fit before the end, the writer puts a wrap marker (length `0xFFFFFFFF`) there and writes the record at
 * offset 0. The largest record is therefore half the capacity (less its 4-byte prefix), so that the marker's
 * waste and the record always fit an empty ring.
 *
 * Memory ordering (all `Atomics` operations are sequentially consistent):
 * - Publishing: the writer stores the length prefix and payload with plain stores, then `Atomics.store`s the
 *   write position. A reader `Atomics.load`s the write position before it reads the record, so the plain
 *   stores happen-before its plain loads. The position store is the only thing that publishes a record.
 * - Releasing: a reader copies the record, then moves its read position with `Atomics.compareExchange`; the
 *   writer `Atomics.load`s every read position before it reuses space, so a reader's copy happens-before the
 *   writer's overwrite.
 * - drop-oldest: the writer evicts a lagging reader's oldest record with a compare-and-swap of that reader's
 *   position (from the record's start to its end), and writes over the space only after the swap succeeded.
 *   The reader commits a record it copied with a swap from the same start position. Exactly one of the two
 *   swaps succeeds: if the reader's does, the writer had not yet evicted (so had not overwritten) the record
 *   and the copy is whole; if the writer's does, the reader's swap fails, it discards its copy (which may be
 *   torn) and retries from its new position, and the record is counted in the reader's `lost()` by the
 *   writer. A length read from a record being overwritten can be garbage, so it is bounds-checked and the
 *   position re-checked before the reader trusts it. (The swap could only be fooled if the writer moved the
 *   position a full `M` bytes, 4 GiB of traffic, during one copy.)
 * - Sleeping: a reader sets its sleeping flag, then `Atomics.wait`s on the write position with the value it
 *   last saw; the writer stores the write position, then clears set flags with a swap and, if it cleared any,
 *   calls `Atomics.notify` once for all of them. `Atomics.wait` re-reads the word atomically, so a record
 *   published between the reader's check and its wait makes the wait return at once. A blocked writer does
 *   the same on the space sequence word, which a reader bumps after releasing space when it sees the
 *   writer's flag.
 *
 * Deno allows `Atomics.wait` on the main thread (browsers forbid it there), so `block-writer` and
 * {@linkcode RingReader.wait} work anywhere; but a wait on the main thread stalls its event loop (the API,
 * the sources), so the runtime writes to `block-writer` channels and sleeps on rings only in executors.
 *
 * @example
 * ```ts
 * import { createRing, RingReader, RingWriter } from "./ring.ts";
 *
 * const buffer = createRing({ sizeBytes: 4096, readers: 1, overflow: "drop-oldest" });
 * // post `buffer` to the writer's and the reader's executors; each builds its view over it
 * const writer = new RingWriter(buffer);
 * const reader = new RingReader(buffer, 0);
 * writer.write(new Uint8Array([1, 2, 3]));
 * reader.read(); // Uint8Array [1, 2, 3]
 * ```
 *
 * The code is in three private files: `_ring_layout.ts` (the header's slots, the constants, the views both
 * ends share), `_ring_writer.ts` and `_ring_reader.ts`; this file creates rings, reads their counters and
 * is the only one other files import. An earlier measurement had a split like this about 30% slower (7.3M
 * against 5.1M write-and-read pairs of 64 bytes per second in one thread); re-measured on Deno 2.9.6 on the
 * shared 2-vCPU VM (2026-12), the split was within the noise: write-and-`readInto` pairs in one thread, the
 * median per process of 3-5 runs of 20M, 3.4-4.0M/s whole against 3.4-4.2M/s split in five alternating
 * processes each; and `deno task bench --only channels`, three runs whole and two split: p50 of a sleeping
 * reader at SCHED_FIFO 5.4-5.9 us whole, 5.1-7.8 us split; 64-byte throughput 2.1-7.1M records/s whole,
 * 4.4-4.8M split, while other processes took 0.1-1.1 cores.
 *
 * @module
 */
import {
  H_BLOCK_TIMEOUT_US,
  H_CAPACITY,
  H_MAGIC,
  H_POLICY,
  H_READERS,
  H_VERSION,
  headerBytes,
  LINE,
  MAGIC,
  MAX_RING_READERS,
  MAX_SIZE_BYTES,
  MIN_SIZE_BYTES,
  POLICIES,
  READER_BASE,
  type RingOptions,
  RingState,
  type RingStats,
  VERSION,
  W_BLOCKED,
  W_DROPPED,
  W_EVICTED,
  W_POS,
  W_TIMEOUTS,
  W_WRITTEN,
} from "./_ring_layout.ts";

export { MAX_RING_READERS } from "./_ring_layout.ts";
export type { OverflowPolicy, RingOptions, RingStats } from "./_ring_layout.ts";
export { RingWriter } from "./_ring_writer.ts";
export { RingReader } from "./_ring_reader.ts";

/**
 * Allocates a ring and writes its header; post the buffer to the executors (it is structured-clonable) and
 * build a {@linkcode RingWriter} and one {@linkcode RingReader} per reader over it.
 *
 * @throws {TypeError} `overflow` is not a policy, or a number is not an integer.
 * @throws {RangeError} `sizeBytes`, `readers`, `blockTimeoutUs` or `initialPosition` is out of range.
 */
export function createRing(options: RingOptions): SharedArrayBuffer {
  const { sizeBytes, readers, overflow, blockTimeoutUs = 1000, initialPosition = 0 } = options;
  for (const [name, value] of Object.entries({ sizeBytes, readers, blockTimeoutUs, initialPosition })) {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`Ring option "${name}" must be an integer, got ${value}`);
    }
  }
  const policy = POLICIES.indexOf(overflow);
  if (policy < 0) {
    throw new TypeError(`Ring option "overflow" must be one of ${POLICIES.join(", ")}, got "${overflow}"`);
  }
  if (sizeBytes < MIN_SIZE_BYTES || sizeBytes > MAX_SIZE_BYTES || sizeBytes % 4 !== 0) {
    throw new RangeError(
      `Ring size ${sizeBytes} bytes is out of range: it must be a multiple of 4 from ${MIN_SIZE_BYTES} to ${MAX_SIZE_BYTES}`,
    );
  }
  if (readers < 1 || readers > MAX_RING_READERS) {
    throw new RangeError(`A ring has 1 to ${MAX_RING_READERS} readers, got ${readers}`);
  }
  if (blockTimeoutUs < 0 || blockTimeoutUs > 0xffffffff) {
    throw new RangeError(`Ring block timeout ${blockTimeoutUs}us is out of range`);
  }
  const modulus = Math.floor(2 ** 32 / sizeBytes) * sizeBytes;
  if (initialPosition < 0 || initialPosition >= modulus || initialPosition % 4 !== 0) {
    throw new RangeError(`Ring initial position ${initialPosition} must be a multiple of 4 below ${modulus}`);
  }
  const buffer = new SharedArrayBuffer(headerBytes(readers) + sizeBytes);
  const u32 = new Uint32Array(buffer, 0, headerBytes(readers) / 4);
  u32[H_VERSION] = VERSION;
  u32[H_CAPACITY] = sizeBytes;
  u32[H_READERS] = readers;
  u32[H_POLICY] = policy;
  u32[H_BLOCK_TIMEOUT_US] = blockTimeoutUs;
  u32[W_POS] = initialPosition;
  for (let i = 0; i < readers; i++) u32[READER_BASE + i * LINE] = initialPosition;
  // Last, so a view never sees a half-written header; posting the buffer orders it anyway.
  Atomics.store(u32, H_MAGIC, MAGIC);
  return buffer;
}

/**
 * Reads a ring's counters, from any thread (the supervisor's reports).
 *
 * @throws {TypeError} `buffer` is not a ring.
 */
export function ringStats(buffer: SharedArrayBuffer): RingStats {
  const s = new RingState(buffer);
  const w = Atomics.load(s.u32, W_POS);
  const readers = [];
  for (let i = 0, slot = READER_BASE; i < s.readers; i++, slot += LINE) {
    readers.push({
      lost: Atomics.load(s.u32, s.lostBase + i),
      pendingBytes: s.distance(w, Atomics.load(s.u32, slot)),
    });
  }
  return {
    capacityBytes: s.capacity,
    written: Atomics.load(s.u32, W_WRITTEN),
    dropped: Atomics.load(s.u32, W_DROPPED),
    evicted: Atomics.load(s.u32, W_EVICTED),
    blocked: Atomics.load(s.u32, W_BLOCKED),
    timeouts: Atomics.load(s.u32, W_TIMEOUTS),
    readers,
  };
}
