/**
 * LEB128 encoding as the WebAssembly binary format uses it (core spec §5.2.2): little-endian base-128,
 * at most ceil(N / 7) bytes for an N-bit integer, unused bits of the last byte zero (unsigned) or a sign
 * extension (signed). Decoders return the value and the offset after it, or throw via `fail`.
 *
 * @module
 */

/**
 * Reports a bad encoding: a message, the offset of its first byte, and whether it was merely cut off by
 * `end` (`truncated`) rather than malformed. Must throw.
 */
export type LebFailure = (message: string, offset: number, truncated: boolean) => never;

/** Decodes an unsigned LEB128 of at most `bits` bits (≤ 32) at `pos`, reading no byte at or past `end`. */
export function readUnsigned(
  bytes: Uint8Array,
  pos: number,
  end: number,
  bits: number,
  fail: LebFailure,
): [value: number, next: number] {
  const maxBytes = Math.ceil(bits / 7);
  let result = 0;
  let shift = 0;
  for (let i = 0; i < maxBytes; i++) {
    if (pos + i >= end) fail(`it is cut off after ${i} byte(s)`, pos, true);
    const b = bytes[pos + i]!;
    if (i === maxBytes - 1) {
      if (b & 0x80) fail(`it is longer than ${maxBytes} bytes (u${bits})`, pos, false);
      // The last byte may only carry the bits that still fit in the type.
      const spare = bits - shift;
      if (spare < 7 && b >> spare !== 0) fail(`it overflows u${bits}`, pos, false);
    }
    // Multiplication instead of `<<` keeps bit 31 from turning the value negative.
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) return [result, pos + i + 1];
  }
  // Unreachable: the last byte either ended the integer or failed above.
  return fail("it is malformed", pos, false);
}

/**
 * Checks a signed LEB128 of `bits` bits (32, 33 or 64) at `pos` and returns its value and the offset after
 * it. The value is exact for 32 and 33 bits; for 64 bits it is not meaningful (only checked and skipped).
 */
export function readSigned(
  bytes: Uint8Array,
  pos: number,
  end: number,
  bits: number,
  fail: LebFailure,
): [value: number, next: number] {
  const maxBytes = Math.ceil(bits / 7);
  let result = 0;
  let shift = 0;
  for (let i = 0; i < maxBytes; i++) {
    if (pos + i >= end) fail(`it is cut off after ${i} byte(s)`, pos, true);
    const b = bytes[pos + i]!;
    if (i === maxBytes - 1) {
      if (b & 0x80) fail(`it is longer than ${maxBytes} bytes (s${bits})`, pos, false);
      // The unused high bits of the last byte must all equal the sign bit.
      const spare = bits - shift; // value bits this byte still carries, sign bit included
      if (spare < 7) {
        const high = b >> (spare - 1); // the sign bit and the unused bits above it
        const ones = (1 << (8 - spare)) - 1; // all of those bits set
        if (high !== 0 && high !== ones) fail(`it overflows s${bits}`, pos, false);
      }
    }
    if (shift < 32) result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(b & 0x80)) {
      if (shift < 53 && b & 0x40) result -= 2 ** shift; // sign-extend
      return [result, pos + i + 1];
    }
  }
  return fail("it is malformed", pos, false);
}

/** Encodes `value` (an integer in 0 … 2^32 - 1) as an unsigned LEB128 of the fewest bytes. */
export function encodeUnsigned(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`Cannot encode ${value} as u32 LEB128: it is not an integer in 0 to 4294967295`);
  }
  const out: number[] = [];
  let v = value;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}
