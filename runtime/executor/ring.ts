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
 * One file, although past the 500 lines the house style splits at: split into a layout module, a writer and
 * a reader (with the slot constants imported across modules), a write and read of a 64-byte record measured
 * about 30% slower in one thread (7.3M against 5.1M pairs/s, Deno 2.9.6). The hot paths keep their
 * constants module-local.
 *
 * @module
 */

/** What a full channel does with a new record: evict the oldest unread, refuse the new one, or wait. */
export type OverflowPolicy = "drop-oldest" | "drop-newest" | "block-writer";

/** Options of {@linkcode createRing}; the names follow the manifest's `channels` entries. */
export interface RingOptions {
  /**
   * Bytes of the data area (the header comes on top): a multiple of 4 from 64 to 2^30. The largest record
   * is half of it less 4 bytes.
   */
  sizeBytes: number;
  /** Number of readers, each with its own cursor: 1 to {@linkcode MAX_RING_READERS}. */
  readers: number;
  /** What a write does when the slowest reader leaves too little room. */
  overflow: OverflowPolicy;
  /**
   * How long a `block-writer` write waits for room before it drops the record, in microseconds.
   * @default {1000}
   */
  blockTimeoutUs?: number;
  /**
   * Where the write and read positions start, in bytes: a multiple of 4 below the position modulus. Only
   * tests of the position wraparound need it.
   * @default {0}
   */
  initialPosition?: number;
}

/** Counters of one ring, as the supervisor reports them; each is a u32 that wraps at 2^32. */
export interface RingStats {
  /** Bytes of the data area. */
  capacityBytes: number;
  /** Records written into the ring. */
  written: number;
  /** Records the writer refused: `drop-newest` with no room, or `block-writer` timeouts. */
  dropped: number;
  /** `drop-oldest`: records overwritten before at least one reader read them. */
  evicted: number;
  /** `block-writer`: writes that had to wait for room. */
  blocked: number;
  /** `block-writer`: writes that waited `blockTimeoutUs` and were dropped. */
  timeouts: number;
  /** Per reader: records it lost to an overflow, and bytes waiting for it. */
  readers: { lost: number; pendingBytes: number }[];
}

/** The largest number of readers a ring has. */
export const MAX_RING_READERS = 64;

const MAGIC = 0x4b524e47; // "KRNG"
const VERSION = 1;
const LINE = 16; // u32 slots per 64-byte cache line
const WRAP = 0xffffffff;
const MIN_SIZE_BYTES = 64;
const MAX_SIZE_BYTES = 2 ** 30;
/** Records up to this size are copied out byte by byte; larger ones through a subarray view. */
const SMALL_COPY_BYTES = 128;
const POLICIES: readonly OverflowPolicy[] = ["drop-oldest", "drop-newest", "block-writer"];
// Policy codes in the header are indexes into POLICIES; drop-newest (1) is what the others are not.
const DROP_OLDEST = 0;
const BLOCK_WRITER = 2;

// line 0: constants
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;
const H_READERS = 3;
const H_POLICY = 4;
const H_BLOCK_TIMEOUT_US = 5;
// line 1: written by the writer
const W_POS = LINE;
const W_WRITTEN = LINE + 1;
const W_DROPPED = LINE + 2;
const W_EVICTED = LINE + 3;
const W_BLOCKED = LINE + 4;
const W_TIMEOUTS = LINE + 5;
// line 2: the blocked writer's futex, written by readers
const W_SLEEPING = 2 * LINE;
const W_SPACE_SEQ = 2 * LINE + 1;
// line 3 + i: reader i's position
const READER_BASE = 3 * LINE;
// then reader i's sleeping flag at sleepBase + i, and its lost records at lostBase + i
const groupLines = (readers: number) => Math.ceil(readers / LINE);
const sleepBase = (readers: number) => (3 + readers) * LINE;
const lostBase = (readers: number) => sleepBase(readers) + groupLines(readers) * LINE;

const headerBytes = (readers: number) => (lostBase(readers) + groupLines(readers) * LINE) * 4;

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

/** The views and geometry both ends share. */
class RingState {
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly data8: Uint8Array;
  readonly data32: Uint32Array;
  readonly capacity: number;
  readonly modulus: number;
  readonly readers: number;
  readonly policy: number;
  readonly blockTimeoutUs: number;
  readonly maxRecordBytes: number;
  /** Slot of reader 0's sleeping flag. */
  readonly sleepBase: number;
  /** Slot of reader 0's lost-records counter. */
  readonly lostBase: number;

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new TypeError("A ring view needs the ring's SharedArrayBuffer");
    }
    const head = new Uint32Array(buffer, 0, Math.min(LINE, buffer.byteLength >> 2));
    if (head.length < LINE || Atomics.load(head, H_MAGIC) !== MAGIC || head[H_VERSION] !== VERSION) {
      throw new TypeError("The buffer is not a ring made by createRing (version 1)");
    }
    this.capacity = head[H_CAPACITY]!;
    this.readers = head[H_READERS]!;
    this.policy = head[H_POLICY]!;
    this.blockTimeoutUs = head[H_BLOCK_TIMEOUT_US]!;
    const header = headerBytes(this.readers);
    if (buffer.byteLength !== header + this.capacity) {
      throw new TypeError("The buffer's size does not match its ring header");
    }
    this.u32 = new Uint32Array(buffer, 0, header / 4);
    this.i32 = new Int32Array(buffer, 0, header / 4);
    this.data8 = new Uint8Array(buffer, header, this.capacity);
    this.data32 = new Uint32Array(buffer, header, this.capacity / 4);
    this.modulus = Math.floor(2 ** 32 / this.capacity) * this.capacity;
    this.maxRecordBytes = (Math.floor(this.capacity / 2) & ~3) - 4;
    this.sleepBase = sleepBase(this.readers);
    this.lostBase = lostBase(this.readers);
  }

  /** `p + n` modulo the position modulus; `n` is at most the capacity. */
  advance(p: number, n: number): number {
    const q = p + n;
    return q >= this.modulus ? q - this.modulus : q;
  }

  /** Bytes from `from` forward to `to`: `(to - from)` modulo the position modulus. */
  distance(to: number, from: number): number {
    return to >= from ? to - from : to - from + this.modulus;
  }
}

/** Bytes a record of `length` payload bytes takes: its prefix and the payload padded to 4. */
const recordBytes = (length: number) => 4 + ((length + 3) & ~3);

/**
 * The writing end of a ring: one per ring, in the writer module's executor. Not safe to use from two
 * threads at once.
 *
 * @example
 * ```ts ignore
 * const view = new Uint8Array(memory.buffer, ptr, len); // a record in the module's linear memory
 * writer.write(view); // "ok" | "dropped"
 * ```
 */
export class RingWriter {
  readonly #s: RingState;
  // Free bytes as of the last check, less what was written since: a lower bound (readers only ever make
  // room), so while it covers a record the writer need not load the readers' positions (their cache lines)
  // again. Valid only while the write position is still #freeAt, the position this writer left it at.
  #freeBytes = 0;
  #freeAt = -1;
  /** The current write's `untilMs`: `block-writer` waits no later. */
  #untilMs = Number.POSITIVE_INFINITY;

  /** @throws {TypeError} `buffer` is not a ring. */
  constructor(buffer: SharedArrayBuffer) {
    this.#s = new RingState(buffer);
  }

  /** The largest payload a record can have, in bytes: half the capacity less the 4-byte prefix. */
  get maxRecordBytes(): number {
    return this.#s.maxRecordBytes;
  }

  /** Bytes of the data area. */
  get capacityBytes(): number {
    return this.#s.capacity;
  }

  /**
   * Copies `bytes` into the ring as one record and wakes sleeping readers. With no room for it (against the
   * slowest reader) the channel's policy decides: `drop-newest` drops this record, `drop-oldest` evicts the
   * oldest records a lagging reader has not read, `block-writer` waits up to `blockTimeoutUs` (blocking the
   * thread) and drops it after that. A dropped record is counted for the channel and for each reader that
   * had no room.
   *
   * @param bytes The record.
   * @param untilMs `block-writer` waits no later than this (epoch ms, as `nowMs()`): a module's write waits
   *   at most until its call's deadline, whatever `blockTimeoutUs` says.
   * @throws {RangeError} the record is longer than {@linkcode RingWriter.maxRecordBytes}.
   */
  write(bytes: Uint8Array, untilMs: number = Number.POSITIVE_INFINITY): "ok" | "dropped" {
    const s = this.#s;
    this.#untilMs = untilMs;
    const length = bytes.length;
    if (length > s.maxRecordBytes) {
      throw new RangeError(
        `Cannot write a record of ${length} bytes: the ring's largest record is ${s.maxRecordBytes} bytes`,
      );
    }
    const size = recordBytes(length);
    let w = Atomics.load(s.u32, W_POS);
    let offset = w % s.capacity;
    const waste = offset + size > s.capacity ? s.capacity - offset : 0;
    const need = waste + size;
    if (w !== this.#freeAt || this.#freeBytes < need) {
      if (!this.#makeRoom(w, need)) return "dropped";
      this.#freeBytes = this.#free(w);
    }
    this.#freeBytes -= need;
    if (waste > 0) {
      s.data32[offset >> 2] = WRAP;
      w = s.advance(w, waste);
      offset = 0;
    }
    s.data32[offset >> 2] = length;
    s.data8.set(bytes, offset + 4);
    // Publishes the record: the plain stores above happen-before any reader's load that sees this position.
    this.#freeAt = s.advance(w, size);
    Atomics.store(s.u32, W_POS, this.#freeAt);
    Atomics.add(s.u32, W_WRITTEN, 1);
    this.#wakeReaders();
    return "ok";
  }

  /** Notifies once if any reader flagged that it sleeps, clearing the flags it saw (later writes skip it). */
  #wakeReaders(): void {
    const s = this.#s;
    let sleeping = false;
    for (let slot = s.sleepBase, end = s.sleepBase + s.readers; slot < end; slot++) {
      if (Atomics.load(s.i32, slot) !== 0 && Atomics.compareExchange(s.i32, slot, 1, 0) === 1) {
        sleeping = true;
      }
    }
    if (sleeping) Atomics.notify(s.i32, W_POS);
  }

  /** Free bytes before the slowest reader's position, seen from write position `w`. */
  #free(w: number): number {
    const s = this.#s;
    let used = 0;
    for (let i = 0, slot = READER_BASE; i < s.readers; i++, slot += LINE) {
      const d = s.distance(w, Atomics.load(s.u32, slot));
      if (d > used) used = d;
    }
    return s.capacity - used;
  }

  /** Makes `need` bytes free from `w` as the policy says; false when the record is to be dropped. */
  #makeRoom(w: number, need: number): boolean {
    const s = this.#s;
    if (this.#free(w) >= need) return true;
    if (s.policy === DROP_OLDEST) {
      this.#evict(w, need);
      return true;
    }
    if (s.policy === BLOCK_WRITER && this.#block(w, need)) return true;
    // Dropped: blame every reader that still has no room for it.
    for (let i = 0, slot = READER_BASE; i < s.readers; i++, slot += LINE) {
      if (s.capacity - s.distance(w, Atomics.load(s.u32, slot)) < need) {
        Atomics.add(s.u32, s.lostBase + i, 1);
      }
    }
    Atomics.add(s.u32, W_DROPPED, 1);
    return false;
  }

  /**
   * drop-oldest: moves each lagging reader past whole records until `need` bytes are free. Each step is a
   * compare-and-swap of the reader's position, so a reader committing the same record at the same time wins
   * or loses as a whole (see the module notes).
   */
  #evict(w: number, need: number): void {
    const s = this.#s;
    let evicted = 0;
    for (let i = 0, slot = READER_BASE; i < s.readers; i++, slot += LINE) {
      let lost = 0;
      for (;;) {
        const r = Atomics.load(s.u32, slot);
        if (s.capacity - s.distance(w, r) >= need) break;
        // [r, w) is unread by this reader, so the writer has not reused it: the prefix at r is intact.
        const offset = r % s.capacity;
        const length = s.data32[offset >> 2]!;
        const next = s.advance(r, length === WRAP ? s.capacity - offset : recordBytes(length));
        if (Atomics.compareExchange(s.u32, slot, r, next) === r && length !== WRAP) lost++;
      }
      if (lost > 0) Atomics.add(s.u32, s.lostBase + i, lost);
      // Every reader skips a prefix of the same record sequence up to the same point, so the most any reader
      // lost is the number of records evicted.
      if (lost > evicted) evicted = lost;
    }
    if (evicted > 0) Atomics.add(s.u32, W_EVICTED, evicted);
  }

  /** block-writer: waits until `need` bytes are free or the timeout passes; false on timeout. */
  #block(w: number, need: number): boolean {
    const s = this.#s;
    Atomics.add(s.u32, W_BLOCKED, 1);
    const deadline = Math.min(
      performance.now() + s.blockTimeoutUs / 1000,
      this.#untilMs - performance.timeOrigin,
    );
    for (;;) {
      const seq = Atomics.load(s.i32, W_SPACE_SEQ);
      Atomics.store(s.i32, W_SLEEPING, 1);
      // After the flag store: a reader that releases space later sees the flag and bumps the sequence.
      if (this.#free(w) >= need) {
        Atomics.store(s.i32, W_SLEEPING, 0);
        return true;
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        Atomics.store(s.i32, W_SLEEPING, 0);
        Atomics.add(s.u32, W_TIMEOUTS, 1);
        return false;
      }
      Atomics.wait(s.i32, W_SPACE_SEQ, seq, left);
    }
  }
}

/**
 * A reading end of a ring: reader `index` of the channel, with its own cursor, in that reader module's
 * executor. Not safe to use from two threads at once.
 *
 * @example
 * ```ts ignore
 * const length = reader.readInto(new Uint8Array(memory.buffer), ptr); // -1: none, -2: does not fit
 * ```
 */
export class RingReader {
  readonly #s: RingState;
  readonly #pos: number;
  readonly #lost: number;
  readonly #sleeping: number;
  // The write position as last loaded: records before it are published, so the reader reloads the writer's
  // cache line only once it has caught up with it.
  #w = -1;
  // The record #locate found: its position, offset in the data area, length, and the position after it.
  #r = 0;
  #offset = 0;
  #length = 0;
  #end = 0;

  /**
   * @throws {TypeError} `buffer` is not a ring.
   * @throws {RangeError} the ring has no reader `index`.
   */
  constructor(buffer: SharedArrayBuffer, index: number) {
    this.#s = new RingState(buffer);
    if (!Number.isInteger(index) || index < 0 || index >= this.#s.readers) {
      throw new RangeError(`The ring has readers 0 to ${this.#s.readers - 1}, got ${index}`);
    }
    this.#pos = READER_BASE + index * LINE;
    this.#lost = this.#s.lostBase + index;
    this.#sleeping = this.#s.sleepBase + index;
  }

  /** The largest payload a record can have, in bytes. */
  get maxRecordBytes(): number {
    return this.#s.maxRecordBytes;
  }

  /** Copies the next record out into a new array and consumes it; `null` when there is none. */
  read(): Uint8Array | null {
    const s = this.#s;
    for (;;) {
      if (!this.#locate()) return null;
      const start = this.#offset + 4;
      const copy = s.data8.slice(start, start + this.#length);
      if (this.#commit()) return copy;
    }
  }

  /**
   * Copies the next record into `target` at `offset` (a module's memory, say) and consumes it. Returns the
   * record's length, `-1` when there is none, or `-2` when it does not fit before the end of `target` (the
   * record stays). With `drop-oldest`, bytes of `target` past the returned length, or all of them on `-1`,
   * may have been written with a record that was evicted while it was copied.
   */
  readInto(target: Uint8Array, offset: number): number {
    const s = this.#s;
    for (;;) {
      if (!this.#locate()) return -1;
      if (this.#length > target.length - offset) {
        if (Atomics.load(s.u32, this.#pos) !== this.#r) continue;
        return -2;
      }
      const start = this.#offset + 4;
      const length = this.#length;
      if (length <= SMALL_COPY_BYTES) {
        // A loop instead of `set(subarray)`: the subarray view is an allocation per record, and garbage makes
        // the young-generation collector run in the middle of a reader's hot loop.
        const data8 = s.data8;
        for (let k = 0; k < length; k++) target[offset + k] = data8[start + k]!;
      } else {
        target.set(s.data8.subarray(start, start + length), offset);
      }
      if (this.#commit()) return length;
    }
  }

  /** The next record's length in bytes without consuming it, or `-1` when there is none. */
  peekLength(): number {
    for (;;) {
      if (!this.#locate()) return -1;
      // Re-checked so a length read from an evicted record is never reported.
      if (Atomics.load(this.#s.u32, this.#pos) === this.#r) return this.#length;
    }
  }

  /** Bytes written and not yet read by this reader (records, their prefixes and padding). */
  available(): number {
    const s = this.#s;
    return s.distance(Atomics.load(s.u32, W_POS), Atomics.load(s.u32, this.#pos));
  }

  /** Records this reader lost to overflows: evicted before it read them, or dropped while it had no room. */
  lost(): number {
    return Atomics.load(this.#s.u32, this.#lost);
  }

  /**
   * Blocks the thread until a record is available or `timeoutMs` passes; true when one is. It flags that
   * this reader sleeps so the writer notifies it, and only then.
   */
  wait(timeoutMs: number): boolean {
    const s = this.#s;
    Atomics.store(s.i32, this.#sleeping, 1);
    const w = Atomics.load(s.i32, W_POS);
    if (w >>> 0 !== Atomics.load(s.u32, this.#pos)) {
      Atomics.store(s.i32, this.#sleeping, 0);
      return true;
    }
    // Returns at once if the writer published after the load above; otherwise the writer saw the flag.
    Atomics.wait(s.i32, W_POS, w, timeoutMs);
    Atomics.store(s.i32, this.#sleeping, 0);
    return this.available() > 0;
  }

  /** Finds the next record and stores its whereabouts in the private fields; false when there is none. */
  #locate(): boolean {
    const s = this.#s;
    for (;;) {
      const r = Atomics.load(s.u32, this.#pos);
      // Zero pending means caught up; more than the capacity means drop-oldest moved r past the cached position.
      const pending = this.#w < 0 ? 0 : s.distance(this.#w, r);
      if (pending === 0 || pending > s.capacity) {
        this.#w = Atomics.load(s.u32, W_POS);
        if (r === this.#w) return false;
      }
      let offset = r % s.capacity;
      let skip = 0;
      let length = s.data32[offset >> 2]!;
      if (length === WRAP) {
        // The writer publishes a wrap marker together with the record it wrote at offset 0.
        skip = s.capacity - offset;
        offset = 0;
        length = s.data32[0]!;
      }
      if (length > s.maxRecordBytes || offset + 4 + length > s.capacity) {
        // drop-oldest: the record was overwritten under us, or a bug wrote into the ring.
        if (Atomics.load(s.u32, this.#pos) !== r) continue;
        throw new Error(
          `Ring record at position ${r} has an impossible length ${length}: the ring is corrupted`,
        );
      }
      this.#r = r;
      this.#offset = offset;
      this.#length = length;
      this.#end = s.advance(r, skip + recordBytes(length));
      return true;
    }
  }

  /** Consumes the located record; false when the writer evicted it meanwhile (the copy is not to be used). */
  #commit(): boolean {
    const s = this.#s;
    if (Atomics.compareExchange(s.u32, this.#pos, this.#r, this.#end) !== this.#r) return false;
    // After the position store: a blocked writer that set its flag before it is seen here.
    if (Atomics.load(s.i32, W_SLEEPING) !== 0 && Atomics.compareExchange(s.i32, W_SLEEPING, 1, 0) === 1) {
      Atomics.add(s.i32, W_SPACE_SEQ, 1);
      Atomics.notify(s.i32, W_SPACE_SEQ);
    }
    return true;
  }
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
