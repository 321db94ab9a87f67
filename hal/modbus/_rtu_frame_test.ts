import assert from "node:assert/strict";
import { crc16, responseLength, RtuResponseFramer } from "./_rtu_frame.ts";

/** `bytes` followed by their CRC, low byte first. */
function frame(...bytes: number[]): Uint8Array {
  const body = Uint8Array.from(bytes);
  const crc = crc16(body);
  return Uint8Array.from([...body, crc & 0xff, crc >> 8]);
}

Deno.test("the RTU CRC matches frames from the spec's examples and other implementations", () => {
  // Read Holding Registers of unit 1, 10 registers from 0: a frame quoted in countless device manuals.
  assert.deepEqual([...frame(0x01, 0x03, 0x00, 0x00, 0x00, 0x0a)].slice(-2), [0xc5, 0xcd]);
  // Read one register of unit 1 from 0.
  assert.deepEqual([...frame(0x01, 0x03, 0x00, 0x00, 0x00, 0x01)].slice(-2), [0x84, 0x0a]);
  assert.equal(crc16(new Uint8Array(0)), 0xffff);
});

Deno.test("the expected response length follows each function's response (§6)", () => {
  assert.equal(responseLength(frame(1, 0x03, 0, 0, 0, 2)), 9); // unit, fc, count, 4 data bytes, CRC
  assert.equal(responseLength(frame(1, 0x04, 0, 0, 0, 125)), 255);
  assert.equal(responseLength(frame(1, 0x01, 0, 0, 0, 9)), 7); // 9 bits take 2 bytes
  assert.equal(responseLength(frame(1, 0x02, 0, 0, 0, 8)), 6);
  for (const fc of [0x05, 0x06, 0x0f, 0x10]) assert.equal(responseLength(frame(1, fc, 0, 0, 0, 1)), 8);
  assert.equal(responseLength(frame(1, 0x2b, 0x0e, 1, 0)), null);
});

Deno.test("a response split over chunks is passed on whole, once", () => {
  const framer = new RtuResponseFramer();
  framer.expect(frame(17, 0x03, 0, 10, 0, 1));
  const response = frame(17, 0x03, 2, 0x12, 0x34);
  assert.equal(framer.push(response.subarray(0, 3)), null);
  assert.equal(framer.unframedBytes, 3, "waiting bytes count until they make a response");
  assert.deepEqual(framer.push(response.subarray(3)), response);
  assert.equal(framer.unframedBytes, 0);
  assert.equal(framer.push(response), null, "one response per request");
});

Deno.test("an exception response is recognised by its function code with bit 7 set", () => {
  const framer = new RtuResponseFramer();
  framer.expect(frame(1, 0x06, 0, 200, 0, 1));
  const exception = frame(1, 0x86, 0x02);
  assert.deepEqual(framer.push(exception), exception);
});

Deno.test("noise, another unit's reply and a bad CRC before the response are skipped and counted", () => {
  const framer = new RtuResponseFramer();
  framer.expect(frame(1, 0x03, 0, 0, 0, 1));
  const response = frame(1, 0x03, 2, 0xab, 0xcd);
  const corrupt = Uint8Array.from(response);
  corrupt[4] = corrupt[4]! ^ 0x01;
  const noise = Uint8Array.of(0x00, 0xff, 0x01); // starts like a response of unit 1, then goes wrong
  const other = frame(2, 0x03, 2, 0xab, 0xcd);
  assert.equal(framer.push(noise), null);
  assert.equal(framer.push(other), null);
  assert.equal(framer.push(corrupt), null);
  assert.deepEqual(framer.push(response), response);
  assert.equal(framer.unframedBytes, noise.length + other.length + corrupt.length);
});

Deno.test("pure garbage never makes a response, and every byte of it is counted", () => {
  const framer = new RtuResponseFramer();
  framer.expect(frame(1, 0x03, 0, 0, 0, 1));
  let state = 0x2545f491;
  const random = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state & 0xff;
  };
  let total = 0;
  for (let i = 0; i < 100; i++) {
    const chunk = new Uint8Array(37).map(random).map((b) => b === 1 ? 2 : b); // never unit 1
    total += chunk.length;
    assert.equal(framer.push(chunk), null);
  }
  assert.equal(framer.unframedBytes, total);
});

Deno.test("bytes that arrive while nothing was asked are counted, not taken as the next response", () => {
  const framer = new RtuResponseFramer();
  const late = frame(1, 0x03, 2, 0, 1);
  assert.equal(framer.push(late), null);
  framer.expect(frame(1, 0x03, 0, 0, 0, 1));
  assert.equal(framer.unframedBytes, 0, "a new request starts a new count");
  assert.deepEqual(framer.push(late), late);
});
