/**
 * Channel rings: one writer and several readers share a `SharedArrayBuffer` between executor workers and pass
 * framed records (a 4-byte length, then the payload, padded to 4 bytes) without a message port. The writer
 * copies a record from its module's linear memory into the ring once; each reader copies it out once, into
 * its own module's memory, with its own cursor. Overflows follow the channel's policy, measured against the
 * slowest reader, and are counted per channel and per reader.
 *
 * The buffer's layout (a header of u32 slots, each group on its own cache line, then the data area) and the
 * position arithmetic are described in `_ring_layout.ts`, which also holds {@linkcode createRing} and
 * {@linkcode ringStats}; the writing end is in `_ring_writer.ts` and the reading ends in `_ring_reader.ts`.
 * This file re-exports all of them, so import them from here.
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
 *   position a full `M` bytes (see `_ring_layout.ts`), 4 GiB of traffic, during one copy.)
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
 * @module
 */
export {
  createRing,
  MAX_RING_READERS,
  type OverflowPolicy,
  type RingOptions,
  type RingStats,
  ringStats,
} from "./_ring_layout.ts";
export { RingReader } from "./_ring_reader.ts";
export { RingWriter } from "./_ring_writer.ts";
