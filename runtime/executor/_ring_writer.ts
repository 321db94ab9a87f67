/**
 * The writing end of a channel ring (see `ring.ts` for the layout and the memory ordering); private to
 * `runtime/executor/`, exported through `ring.ts`.
 *
 * @module
 */
import {
  BLOCK_WRITER,
  DROP_OLDEST,
  LINE,
  READER_BASE,
  recordBytes,
  RingState,
  W_BLOCKED,
  W_DROPPED,
  W_EVICTED,
  W_POS,
  W_SLEEPING,
  W_SPACE_SEQ,
  W_TIMEOUTS,
  W_WRITTEN,
  WRAP,
} from "./_ring_layout.ts";

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
