/**
 * A bounded reader over part of a module binary. Every read checks against `end` (the end of the section
 * being read, or of the file), so a hostile size or count becomes a {@linkcode WasmFormatError} naming the
 * section and byte, never a read past the buffer or a loop over billions of entries.
 *
 * @module
 */
import { WasmFormatError, WasmUnsupportedError } from "./errors.ts";
import { readSigned, readUnsigned } from "./_leb128.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads bytes `[pos, end)` of `bytes`; `label` names the region in messages, e.g. `"Section 5 (memory)"`. */
export class Cursor {
  pos: number;

  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
    readonly label: string,
    /** Section name put on errors, e.g. `"memory"`; absent for the module header. */
    readonly section?: string,
  ) {
    this.pos = start;
  }

  /** Bytes left before `end`. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws a {@linkcode WasmFormatError} located at `offset` in this cursor's section. */
  fail(message: string, offset: number = this.pos): never {
    throw new WasmFormatError(
      message,
      this.section === undefined ? { offset } : { offset, section: this.section },
    );
  }

  /** Throws a {@linkcode WasmUnsupportedError} for `feature` located at `offset`. */
  unsupported(feature: string, message: string, offset: number = this.pos): never {
    throw new WasmUnsupportedError(
      feature,
      message,
      this.section === undefined ? { offset } : { offset, section: this.section },
    );
  }

  #short(what: string, offset: number): never {
    return this.fail(
      `${this.label} is too short: it ends at byte ${this.end} in the middle of ${what} (at byte ${offset})`,
      offset,
    );
  }

  /** Reads one byte; `what` names it in the error when none is left. */
  byte(what: string): number {
    if (this.pos >= this.end) this.#short(what, this.pos);
    return this.bytes[this.pos++]!;
  }

  /** Reads an unsigned LEB128 u32. */
  u32(what: string): number {
    return this.#leb(what, 32, false);
  }

  /** Reads a signed LEB128 s32. */
  s32(what: string): number {
    return this.#leb(what, 32, true);
  }

  /** Reads a signed LEB128 s33 (block and heap types). */
  s33(what: string): number {
    return this.#leb(what, 33, true);
  }

  /** Checks and skips a signed LEB128 s64. */
  skipS64(what: string): void {
    this.#leb(what, 64, true);
  }

  #leb(what: string, bits: number, signed: boolean): number {
    const start = this.pos;
    // Fast path: most integers in a module are single-byte.
    const first = this.bytes[start];
    if (first !== undefined && first < 0x80 && start < this.end) {
      this.pos = start + 1;
      return signed && first & 0x40 ? first - 0x80 : first;
    }
    const fail = (message: string, _offset: number, truncated: boolean): never =>
      truncated ? this.#short(what, start) : this.fail(
        `${this.label}: ${what} at byte ${start} is not a valid LEB128 integer: ${message}`,
        start,
      );
    const [value, next] = (signed ? readSigned : readUnsigned)(this.bytes, start, this.end, bits, fail);
    this.pos = next;
    return value;
  }

  /** Skips `n` bytes, failing when fewer remain. */
  skip(n: number, what: string): void {
    if (n > this.remaining) this.#short(what, this.pos);
    this.pos += n;
  }

  /**
   * Reads a vector length and checks it against the bytes left: each entry takes at least `minBytes`, so a
   * count the section cannot hold is refused before any loop runs (a 10-byte section declaring 2^31 entries).
   */
  count(what: string, minBytes = 1): number {
    const start = this.pos;
    const n = this.u32(`the number of ${what}`);
    if (n * minBytes > this.remaining) {
      this.fail(
        `${this.label} declares ${n} ${what} at byte ${start} but only ${this.remaining} bytes remain`,
        start,
      );
    }
    return n;
  }

  /** Reads a byte-vector length (`vec(byte)`) and checks it against the bytes left. */
  length(what: string): number {
    const start = this.pos;
    const n = this.u32(`the size of ${what}`);
    if (n > this.remaining) {
      this.fail(
        `${capitalize(what)} at byte ${start} declares ${n} bytes but only ${this.remaining} remain`,
        start,
      );
    }
    return n;
  }

  /** Reads a `name`: a byte vector that must be valid UTF-8 (core spec §5.2.4). */
  name(what: string): string {
    const n = this.length(what);
    const start = this.pos;
    this.pos += n;
    try {
      return utf8.decode(this.bytes.subarray(start, start + n));
    } catch {
      return this.fail(`${capitalize(what)} at byte ${start} is not valid UTF-8`, start);
    }
  }
}

/** `"data segment 0"` → `"Data segment 0"`. */
export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
