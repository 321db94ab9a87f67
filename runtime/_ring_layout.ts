/**
 * The layout of a channel ring's `SharedArrayBuffer`: the header slots, {@linkcode createRing} that writes
 * the header, the views both ends build over it, and {@linkcode ringStats} that reads its counters; with
 * the options and counters types those take and return. Private to `runtime/`: import these from `ring.ts`.
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
/** u32 slots per 64-byte cache line. */
export const LINE = 16;
/** The length prefix of a wrap marker: the record that follows is at offset 0. */
export const WRAP = 0xffffffff;
const MIN_SIZE_BYTES = 64;
const MAX_SIZE_BYTES = 2 ** 30;
const POLICIES: readonly OverflowPolicy[] = ["drop-oldest", "drop-newest", "block-writer"];
// Policy codes in the header are indexes into POLICIES; drop-newest (1) is what the others are not.
/** Header code of the `drop-oldest` policy. */
export const DROP_OLDEST = 0;
/** Header code of the `block-writer` policy. */
export const BLOCK_WRITER = 2;

// line 0: constants
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;
const H_READERS = 3;
const H_POLICY = 4;
const H_BLOCK_TIMEOUT_US = 5;
// line 1: written by the writer
/** Slot of the write position. */
export const W_POS = LINE;
/** Slot of the records-written counter. */
export const W_WRITTEN = LINE + 1;
/** Slot of the dropped-records counter. */
export const W_DROPPED = LINE + 2;
/** Slot of the evicted-records counter. */
export const W_EVICTED = LINE + 3;
/** Slot of the counter of writes that waited for room. */
export const W_BLOCKED = LINE + 4;
/** Slot of the counter of writes that timed out waiting for room. */
export const W_TIMEOUTS = LINE + 5;
// line 2: the blocked writer's futex, written by readers
/** Slot of the writer-sleeping flag. */
export const W_SLEEPING = 2 * LINE;
/** Slot of the space sequence, the futex word a blocked writer waits on. */
export const W_SPACE_SEQ = 2 * LINE + 1;
// line 3 + i: reader i's position
/** Slot of reader 0's position; reader i's is `LINE * i` slots further. */
export const READER_BASE = 3 * LINE;
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
export class RingState {
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
export const recordBytes = (length: number) => 4 + ((length + 3) & ~3);

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
