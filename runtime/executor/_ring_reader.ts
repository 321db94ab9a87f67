/**
 * A reading end of a channel ring (see `ring.ts` for the layout and the memory ordering); private to
 * `runtime/executor/`, exported through `ring.ts`.
 *
 * @module
 */
import {
  LINE,
  READER_BASE,
  recordBytes,
  RingState,
  SMALL_COPY_BYTES,
  W_POS,
  W_SLEEPING,
  W_SPACE_SEQ,
  WRAP,
} from "./_ring_layout.ts";

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
