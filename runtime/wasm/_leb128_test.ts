import assert from "node:assert/strict";
import { encodeUnsigned, type LebFailure, readSigned, readUnsigned } from "./_leb128.ts";

class LebError extends Error {
  constructor(message: string, readonly truncated: boolean) {
    super(message);
  }
}
const fail: LebFailure = (message, _offset, truncated) => {
  throw new LebError(message, truncated);
};
const u32 = (bytes: number[]) => readUnsigned(new Uint8Array(bytes), 0, bytes.length, 32, fail);
const s32 = (bytes: number[]) => readSigned(new Uint8Array(bytes), 0, bytes.length, 32, fail);
const s33 = (bytes: number[]) => readSigned(new Uint8Array(bytes), 0, bytes.length, 33, fail);
const s64 = (bytes: number[]) => readSigned(new Uint8Array(bytes), 0, bytes.length, 64, fail);

Deno.test("unsigned LEB128 decodes what encodeUnsigned writes, across widths", () => {
  for (const n of [0, 1, 127, 128, 300, 16383, 16384, 65536, 70000, 2 ** 21, 2 ** 28, 2 ** 31, 2 ** 32 - 1]) {
    const bytes = encodeUnsigned(n);
    assert.deepEqual(u32(bytes), [n, bytes.length]);
  }
  assert.equal(encodeUnsigned(2 ** 32 - 1).length, 5);
});

Deno.test("unsigned LEB128 accepts padded encodings up to five bytes", () => {
  assert.deepEqual(u32([0x80, 0x80, 0x80, 0x80, 0x00]), [0, 5]);
  assert.deepEqual(u32([0x81, 0x00]), [1, 2]);
});

Deno.test("an unsigned LEB128 of six bytes is refused", () => {
  assert.throws(
    () => u32([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    (e) => e instanceof LebError && !e.truncated,
  );
});

Deno.test("an unsigned LEB128 whose fifth byte carries more than 32 bits is refused", () => {
  assert.throws(() => u32([0xff, 0xff, 0xff, 0xff, 0x1f]), (e) => e instanceof LebError && !e.truncated);
  assert.deepEqual(u32([0xff, 0xff, 0xff, 0xff, 0x0f]), [2 ** 32 - 1, 5]);
});

Deno.test("a LEB128 cut off by the end of its region is reported as truncated", () => {
  assert.throws(() => u32([0x80, 0x80]), (e) => e instanceof LebError && e.truncated);
  assert.throws(() => u32([]), (e) => e instanceof LebError && e.truncated);
  assert.throws(() => s64([0xff]), (e) => e instanceof LebError && e.truncated);
});

Deno.test("signed LEB128 decodes negative values and checks the sign bits of the last byte", () => {
  assert.deepEqual(s32([0x7f]), [-1, 1]);
  assert.deepEqual(s32([0x80, 0x7f]), [-128, 2]);
  assert.deepEqual(s32([0xff, 0xff, 0xff, 0xff, 0x07]), [2 ** 31 - 1, 5]);
  assert.deepEqual(s32([0x80, 0x80, 0x80, 0x80, 0x78]), [-(2 ** 31), 5]);
  assert.deepEqual(s32([0xff, 0xff, 0xff, 0xff, 0x7f]), [-1, 5]);
  assert.throws(() => s32([0xff, 0xff, 0xff, 0xff, 0x0f]), LebError); // 2^31 - 1 + 2^31 overflows
  assert.throws(() => s32([0x80, 0x80, 0x80, 0x80, 0x70]), LebError);
  assert.deepEqual(s33([0x40]), [-64, 1]);
  assert.deepEqual(s33([0xff, 0xff, 0xff, 0xff, 0x0f]), [2 ** 32 - 1, 5]);
  assert.deepEqual(s64([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])[1], 10);
  assert.deepEqual(s64([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])[1], 10);
  assert.throws(() => s64([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), LebError);
  assert.throws(() => s64([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), LebError);
});

Deno.test("encodeUnsigned refuses values outside u32", () => {
  assert.throws(() => encodeUnsigned(-1), RangeError);
  assert.throws(() => encodeUnsigned(2 ** 32), RangeError);
  assert.throws(() => encodeUnsigned(1.5), RangeError);
});
