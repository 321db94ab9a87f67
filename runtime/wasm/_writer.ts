/**
 * A growable byte buffer for re-encoding sections: appends bytes, copies ranges of the input binary and
 * writes LEB128 integers (core spec §5.2.2) in their shortest form.
 *
 * @module
 */

/** Appends bytes to a buffer that doubles as it fills. */
export class ByteWriter {
  #buf: Uint8Array<ArrayBuffer>;
  /** Bytes written so far. */
  length = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
  }

  #reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): void {
    this.length = 0;
  }

  byte(b: number): void {
    this.#reserve(1);
    this.#buf[this.length++] = b;
  }

  /** Appends `src[start, end)`. */
  copy(src: Uint8Array, start: number, end: number): void {
    if (end <= start) return;
    this.#reserve(end - start);
    this.#buf.set(src.subarray(start, end), this.length);
    this.length += end - start;
  }

  /** Appends every byte of `src`. */
  bytes(src: Uint8Array): void {
    this.copy(src, 0, src.length);
  }

  /** Appends what `other` holds. */
  append(other: ByteWriter): void {
    this.copy(other.#buf, 0, other.length);
  }

  /** Appends an unsigned LEB128 of `value` (0 to 2^32 - 1). */
  u32(value: number): void {
    this.#reserve(5);
    let v = value >>> 0;
    for (;;) {
      const b = v & 0x7f;
      v >>>= 7;
      if (v === 0) {
        this.#buf[this.length++] = b;
        return;
      }
      this.#buf[this.length++] = b | 0x80;
    }
  }

  /** Appends a signed LEB128 of `value` (-2^31 to 2^31 - 1), e.g. an `i32.const` or a small `i64.const`. */
  s32(value: number): void {
    this.#reserve(5);
    let v = value | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7; // arithmetic shift: keeps the sign
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.#buf[this.length++] = b;
        return;
      }
      this.#buf[this.length++] = b | 0x80;
    }
  }

  /** Appends a signed LEB128 of `value` (-2^63 to 2^63 - 1). */
  s64(value: bigint): void {
    let v = value;
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n; // arithmetic shift: keeps the sign
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return;
    }
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.length);
  }
}

/** The bytes of a signed LEB128 of `value`. */
export function encodeS64(value: bigint): Uint8Array<ArrayBuffer> {
  const w = new ByteWriter(16);
  w.s64(value);
  return w.toBytes();
}

/** The bytes of an unsigned LEB128 of `value` (0 to 2^32 - 1). */
export function encodeU32(value: number): Uint8Array<ArrayBuffer> {
  const w = new ByteWriter(16);
  w.u32(value);
  return w.toBytes();
}
