/**
 * The layout both ends of a channel ring share: the header's slots, the constants, and the views over a ring's
 * buffer. The layout, the wrap rule and the memory ordering are described in `ring.ts`, the public entry;
 * this file is private to `runtime/executor/`.
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

export const MAGIC = 0x4b524e47; // "KRNG"
export const VERSION = 1;
export const LINE = 16; // u32 slots per 64-byte cache line
export const WRAP = 0xffffffff;
export const MIN_SIZE_BYTES = 64;
export const MAX_SIZE_BYTES = 2 ** 30;
/** Records up to this size are copied out byte by byte; larger ones through a subarray view. */
export const SMALL_COPY_BYTES = 128;
export const POLICIES: readonly OverflowPolicy[] = ["drop-oldest", "drop-newest", "block-writer"];
// Policy codes in the header are indexes into POLICIES; drop-newest (1) is what the others are not.
export const DROP_OLDEST = 0;
export const BLOCK_WRITER = 2;

// line 0: constants
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_CAPACITY = 2;
export const H_READERS = 3;
export const H_POLICY = 4;
export const H_BLOCK_TIMEOUT_US = 5;
// line 1: written by the writer
export const W_POS = LINE;
export const W_WRITTEN = LINE + 1;
export const W_DROPPED = LINE + 2;
export const W_EVICTED = LINE + 3;
export const W_BLOCKED = LINE + 4;
export const W_TIMEOUTS = LINE + 5;
// line 2: the blocked writer's futex, written by readers
export const W_SLEEPING = 2 * LINE;
export const W_SPACE_SEQ = 2 * LINE + 1;
// line 3 + i: reader i's position
export const READER_BASE = 3 * LINE;
// then reader i's sleeping flag at sleepBase + i, and its lost records at lostBase + i
export const groupLines = (readers: number) => Math.ceil(readers / LINE);
export const sleepBase = (readers: number) => (3 + readers) * LINE;
export const lostBase = (readers: number) => sleepBase(readers) + groupLines(readers) * LINE;

export const headerBytes = (readers: number) => (lostBase(readers) + groupLines(readers) * LINE) * 4;

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
