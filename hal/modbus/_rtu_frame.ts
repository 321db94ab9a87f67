/**
 * Modbus RTU framing on the client side: the CRC (Modbus over Serial Line v1.02 §2.5.1.2 and appendix B) and
 * finding a request's response in the bytes that come back.
 *
 * The spec delimits RTU frames by silence: 3.5 character times between frames, at most 1.5 inside one
 * (§2.5.1.1). Kiln cannot see that timing: bytes reach it through a pipe and an event loop, in chunks that
 * say nothing about the gaps on the wire. So a response is recognised by content instead, as most masters
 * on general-purpose systems do: after a request, the response is the first run of bytes that starts with
 * the request's unit and function code (or the function code with bit 7 set, an exception), has the length
 * that function's response has (§6), and ends with a valid CRC. Anything before it (noise, the tail of a
 * response that came too late, an adapter's echo of the request) is skipped and counted.
 *
 * @module
 */

/** A response is at most 256 bytes (§2.5.1: unit, PDU of at most 253, CRC). */
export const MAX_RTU_FRAME_BYTES = 256;
/** An exception response: unit, function | 0x80, exception code, CRC (§7 of the application protocol). */
const EXCEPTION_BYTES = 5;

/**
 * The CRC-16 of an RTU frame (polynomial 0xA001 reflected, initial value 0xFFFF; §2.5.1.2 and appendix B
 * of Modbus over Serial Line v1.02), computed bit by bit. The frame carries it low byte first.
 */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]!;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** True when `bytes[start, start + length)` ends with the CRC of what comes before it. */
function crcOk(bytes: Uint8Array, start: number, length: number): boolean {
  const end = start + length - 2;
  return crc16(bytes, start, end) === (bytes[end]! | (bytes[end + 1]! << 8));
}

/**
 * The length of the normal response to an RTU `request`, CRC included, or null for a function Kiln does not
 * send (only its exception response is recognised then).
 */
export function responseLength(request: Uint8Array): number | null {
  const count = request.length >= 6 ? (request[4]! << 8) | request[5]! : 0;
  switch (request[1]) {
    case 0x01: // Read Coils (§6.1) and Read Discrete Inputs (§6.2): unit, fc, byte count, bits packed in bytes
    case 0x02:
      return 3 + Math.ceil(count / 8) + 2;
    case 0x03: // Read Holding Registers (§6.3) and Read Input Registers (§6.4): two bytes a register
    case 0x04:
      return 3 + 2 * count + 2;
    case 0x05: // Write Single Coil (§6.5), Write Single Register (§6.6): an echo of the request
    case 0x06:
    case 0x0f: // Write Multiple Coils (§6.11), Write Multiple Registers (§6.12): address and quantity
    case 0x10:
      return 8;
    default:
      return null;
  }
}

/** Finds each request's response in the bytes read from the line. */
export class RtuResponseFramer {
  #unit = -1;
  #functionCode = -1;
  #length: number | null = null;
  #buffer = new Uint8Array(0);
  #skipped = 0;

  /** Starts waiting for the response to `request`, forgetting whatever came before. */
  expect(request: Uint8Array): void {
    this.#unit = request[0] ?? -1;
    this.#functionCode = request[1] ?? -1;
    this.#length = responseLength(request);
    this.#buffer = new Uint8Array(0);
    this.#skipped = 0;
  }

  /**
   * Bytes received since the last {@linkcode RtuResponseFramer.expect} that were not part of its response:
   * noise skipped before it, or bytes still waiting that do not (yet) make one.
   */
  get unframedBytes(): number {
    return this.#skipped + this.#buffer.length;
  }

  /** Takes bytes from the line; returns the response once it is complete, else null. */
  push(chunk: Uint8Array): Uint8Array | null {
    if (this.#unit < 0) {
      this.#skipped += chunk.length; // nothing was asked: noise, or a response that came too late
      return null;
    }
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    this.#buffer = joined;
    for (let i = 0; i + EXCEPTION_BYTES <= this.#buffer.length; i++) {
      if (this.#buffer[i] !== this.#unit) continue;
      const code = this.#buffer[i + 1];
      const length = code === this.#functionCode
        ? this.#length
        : code === (this.#functionCode | 0x80)
        ? EXCEPTION_BYTES
        : null;
      if (length === null || i + length > this.#buffer.length || !crcOk(this.#buffer, i, length)) continue;
      const frame = this.#buffer.slice(i, i + length);
      this.#skipped += i + (this.#buffer.length - i - length);
      this.#buffer = new Uint8Array(0);
      this.#unit = -1; // one response per request; whatever follows is noise
      return frame;
    }
    // Nothing yet: keep at most what could still hold the start of a response.
    const keep = 2 * MAX_RTU_FRAME_BYTES;
    if (this.#buffer.length > keep) {
      this.#skipped += this.#buffer.length - keep;
      this.#buffer = this.#buffer.slice(-keep);
    }
    return null;
  }
}
