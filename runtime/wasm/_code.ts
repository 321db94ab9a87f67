/**
 * The instruction decoder: walks a function body (or a constant expression) one instruction at a time, as
 * V8 accepts them by default (core spec §5.4 plus sign extension, non-trapping float-to-int, bulk memory,
 * reference types, multi-value, SIMD and relaxed SIMD, threads, tail calls, multi-memory and exception
 * handling). It decodes immediates and block nesting but does not type-check: V8 does that when it compiles.
 *
 * Every read goes through a bounded {@linkcode Cursor}, so a truncated instruction, an unknown opcode or a
 * malformed LEB128 immediate is a {@linkcode WasmFormatError} at its byte, and each step consumes at least
 * one byte, so decoding always ends.
 *
 * @module
 */
import { capitalize, Cursor } from "./_cursor.ts";
import { readValType } from "./_decode.ts";
import { readUnsigned } from "./_leb128.ts";
import type { CodeBody } from "./types.ts";

// Immediate shapes. A table maps each opcode to one of these.
const NONE = 0;
/** A block type: 0x40, a value type, or an s33 type index (multi-value). */
const BLOCK = 1;
/** One u32 index: local, global, label, table, tag, memory, data or element segment. */
const IDX = 2;
/** Two u32 indices: call_indirect, memory.init, memory.copy, table.init, table.copy. */
const IDX2 = 3;
/** A memory argument: alignment (bit 6 set: a memory index follows, multi-memory) and offset. */
const MEMARG = 4;
const I32 = 5;
const I64 = 6;
const F32 = 7;
const F64 = 8;
const BR_TABLE = 9;
/** `select t*`: a vector of value types. */
const SELECT_T = 10;
/** `ref.null`'s heap type. */
const HEAP = 11;
/** A function index: call, return_call, ref.func. */
const FUNC = 12;
const MEMARG_LANE = 13;
const LANE = 14;
/** 16 raw bytes: v128.const, i8x16.shuffle. */
const BYTES16 = 15;
/** A reserved zero byte: atomic.fence. */
const ZERO = 16;
/** try_table: a block type and a vector of catch clauses (exception handling with exnref). */
const TRY_TABLE = 17;
const PREFIX = 18;
/** GC and typed function references: decodable, but Kiln refuses the types they need. */
const GC = 254;
const UNKNOWN = 255;

function table(size: number, entries: readonly [from: number, to: number, kind: number][]): Uint8Array {
  const t = new Uint8Array(size).fill(UNKNOWN);
  for (const [from, to, kind] of entries) t.fill(kind, from, to + 1);
  return t;
}

/** One-byte opcodes (core spec §5.4, with the proposals' additions). */
const SINGLE = table(256, [
  [0x00, 0x01, NONE], // unreachable, nop
  [0x02, 0x04, BLOCK], // block, loop, if
  [0x05, 0x05, NONE], // else
  [0x06, 0x06, BLOCK], // try (legacy exception handling)
  [0x07, 0x09, IDX], // catch tag, throw tag, rethrow label
  [0x0a, 0x0b, NONE], // throw_ref, end
  [0x0c, 0x0d, IDX], // br, br_if
  [0x0e, 0x0e, BR_TABLE],
  [0x0f, 0x0f, NONE], // return
  [0x10, 0x10, FUNC], // call
  [0x11, 0x11, IDX2], // call_indirect type table
  [0x12, 0x12, FUNC], // return_call
  [0x13, 0x13, IDX2], // return_call_indirect
  [0x14, 0x15, GC], // call_ref, return_call_ref
  [0x18, 0x18, IDX], // delegate label
  [0x19, 0x19, NONE], // catch_all
  [0x1a, 0x1b, NONE], // drop, select
  [0x1c, 0x1c, SELECT_T],
  [0x1f, 0x1f, TRY_TABLE],
  [0x20, 0x26, IDX], // local.get/set/tee, global.get/set, table.get/set
  [0x28, 0x3e, MEMARG], // loads and stores
  [0x3f, 0x40, IDX], // memory.size, memory.grow (a memory index, 0x00 before multi-memory)
  [0x41, 0x41, I32],
  [0x42, 0x42, I64],
  [0x43, 0x43, F32],
  [0x44, 0x44, F64],
  [0x45, 0xc4, NONE], // numeric, sign extension
  [0xd0, 0xd0, HEAP], // ref.null
  [0xd1, 0xd1, NONE], // ref.is_null
  [0xd2, 0xd2, FUNC], // ref.func
  [0xd3, 0xd6, GC], // ref.eq, ref.as_non_null, br_on_null, br_on_non_null
  [0xfb, 0xfb, GC],
  [0xfc, 0xfe, PREFIX],
]);

/** 0xFC: non-trapping float-to-int (0-7), bulk memory and table instructions (8-17). */
const MISC = table(18, [
  [0, 7, NONE],
  [8, 8, IDX2], // memory.init data memory
  [9, 9, IDX], // data.drop
  [10, 10, IDX2], // memory.copy
  [11, 11, IDX], // memory.fill
  [12, 12, IDX2], // table.init elem table
  [13, 13, IDX], // elem.drop
  [14, 14, IDX2], // table.copy
  [15, 17, IDX], // table.grow, table.size, table.fill
]);

/** 0xFD: SIMD (0-255, with 20 unassigned opcodes) and relaxed SIMD (256-275). */
const SIMD = table(276, [
  [0x00, 0x0b, MEMARG], // loads, v128.store
  [0x0c, 0x0d, BYTES16], // v128.const, i8x16.shuffle
  [0x0e, 0x14, NONE], // swizzle, splats
  [0x15, 0x22, LANE], // extract_lane, replace_lane
  [0x23, 0x53, NONE],
  [0x54, 0x5b, MEMARG_LANE], // load/store lane
  [0x5c, 0x5d, MEMARG], // load32_zero, load64_zero
  [0x5e, 0xff, NONE],
  [0x100, 0x113, NONE], // relaxed SIMD
]);
for (const op of [0x9a, 0xa2, 0xa5, 0xa6, 0xaf, 0xb0, 0xb2, 0xb3, 0xb4, 0xbb, 0xc2, 0xc5, 0xc6, 0xcf, 0xd0]) {
  SIMD[op] = UNKNOWN;
}
for (const op of [0xd2, 0xd3, 0xd4, 0xe2, 0xee]) SIMD[op] = UNKNOWN;

/** 0xFE: threads (notify and waits, fence, atomic loads, stores and read-modify-writes). */
const ATOMIC = table(0x4f, [
  [0x00, 0x02, MEMARG],
  [0x03, 0x03, ZERO], // atomic.fence
  [0x10, 0x4e, MEMARG],
]);

const PREFIXED: Readonly<Record<number, Uint8Array>> = { 0xfc: MISC, 0xfd: SIMD, 0xfe: ATOMIC };

/** Value-type bytes a block type may name (core spec §5.4.1). */
const BLOCK_VAL_TYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x69]);
/** Reference-type bytes of GC and typed function references, refused as in the type section. */
const GC_TYPE_BYTES = new Set([0x63, 0x64, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x71, 0x72, 0x73, 0x74]);

/** Opcodes that open a block, closed by `end` (or `delegate` for `try`). */
export const OP_BLOCK = 0x02;
export const OP_LOOP = 0x03;
export const OP_IF = 0x04;
export const OP_ELSE = 0x05;
export const OP_TRY = 0x06;
export const OP_END = 0x0b;
export const OP_CALL = 0x10;
export const OP_RETURN_CALL = 0x12;
export const OP_DELEGATE = 0x18;
export const OP_TRY_TABLE = 0x1f;
export const OP_REF_FUNC = 0xd2;

const hex = (n: number) => `0x${n.toString(16).toUpperCase().padStart(2, "0")}`;

/**
 * Reads the instructions of one expression in order. Call {@linkcode InstructionReader.next} until it
 * returns `false`; after each call the fields describe the instruction just read.
 */
export class InstructionReader {
  readonly #c: Cursor;
  readonly #where: string;
  readonly #exact: boolean;
  /** Offset of the current instruction's opcode byte. */
  start = 0;
  /** The opcode's first byte (0xFC, 0xFD, 0xFE for prefixed instructions). */
  op = 0;
  /** The sub-opcode of a prefixed instruction, `-1` otherwise. */
  sub = -1;
  /** For `call`, `return_call` and `ref.func`: the function index; `-1` otherwise. */
  funcIndex = -1;
  /** Offset of the function index immediate (its end is {@linkcode pos} for these three). */
  funcIndexStart = 0;
  /** Blocks open after the current instruction; `-1` once the expression's final `end` was read. */
  depth = 0;
  /** Instructions read so far, the final `end` included. */
  count = 0;

  /**
   * @param bytes The module binary.
   * @param start Offset of the first instruction.
   * @param end Offset one past the last byte the expression may use.
   * @param where Names the expression in messages, e.g. `"function 7"`.
   * @param exact Whether the final `end` must be the byte before `end` (function bodies); constant
   *   expressions end wherever their `end` is.
   */
  constructor(bytes: Uint8Array, start: number, end: number, where: string, exact: boolean) {
    this.#c = new Cursor(bytes, start, end, capitalize(where), "code");
    this.#where = where;
    this.#exact = exact;
  }

  /** Offset one past the current instruction. */
  get pos(): number {
    return this.#c.pos;
  }

  /**
   * Reads the next instruction.
   *
   * @returns `false` when the expression's final `end` has already been read.
   * @throws {WasmFormatError} On a truncated instruction, an unknown opcode, a malformed immediate, or
   *   (function bodies) bytes after the final `end`.
   * @throws {WasmUnsupportedError} On GC or typed-function-reference instructions.
   */
  next(): boolean {
    if (this.depth < 0) return false;
    const c = this.#c;
    const bytes = c.bytes;
    const start = c.pos;
    this.start = start;
    this.funcIndex = -1;
    this.sub = -1;
    // Fast paths inline the cursor's bounds checks for the commonest shapes: an opcode, then nothing or
    // one single-byte LEB128 (local.get 3, i32.const 8, br_if 0). The cursor handles everything else.
    const op = start < c.end ? bytes[start]! : c.byte("an opcode");
    c.pos = start + 1;
    this.op = op;
    this.count++;
    let kind = SINGLE[op]!;
    if ((kind === IDX || kind === I32) && c.pos < c.end && bytes[c.pos]! < 0x80) {
      c.pos++;
      kind = NONE;
    }
    if (kind === PREFIX) {
      const sub = c.u32("a prefixed opcode");
      this.sub = sub;
      kind = PREFIXED[op]![sub] ?? UNKNOWN;
    }
    switch (kind) {
      case NONE:
        break;
      case BLOCK:
        this.#blockType();
        break;
      case IDX:
        c.u32("an index immediate");
        break;
      case IDX2:
        c.u32("an index immediate");
        c.u32("an index immediate");
        break;
      case MEMARG:
        this.#memarg();
        break;
      case I32:
        c.s32("an i32.const");
        break;
      case I64:
        c.skipS64("an i64.const");
        break;
      case F32:
        c.skip(4, "an f32.const");
        break;
      case F64:
        c.skip(8, "an f64.const");
        break;
      case BR_TABLE: {
        const n = c.count("br_table labels");
        for (let i = 0; i <= n; i++) c.u32("a br_table label");
        break;
      }
      case SELECT_T: {
        const n = c.count("select types");
        for (let i = 0; i < n; i++) readValType(c, "a select type");
        break;
      }
      case HEAP:
        this.#heapType();
        break;
      case FUNC:
        this.funcIndexStart = c.pos;
        this.funcIndex = c.u32("a function index");
        break;
      case MEMARG_LANE:
        this.#memarg();
        c.byte("a lane index");
        break;
      case LANE:
        c.byte("a lane index");
        break;
      case BYTES16:
        c.skip(16, "a 16-byte immediate");
        break;
      case ZERO:
        if (c.byte("the reserved byte of atomic.fence") !== 0) {
          c.fail(`The reserved byte of atomic.fence at byte ${start} in ${this.#where} is not 0`, start);
        }
        break;
      case TRY_TABLE: {
        this.#blockType();
        const n = c.count("try_table catch clauses", 2);
        for (let i = 0; i < n; i++) {
          const kindAt = c.pos;
          const clause = c.byte("a catch clause");
          if (clause > 3) {
            c.fail(`Catch clause kind ${clause} at byte ${kindAt} in ${this.#where} is not 0 to 3`, kindAt);
          }
          if (clause < 2) c.u32("a catch tag");
          c.u32("a catch label");
        }
        break;
      }
      case GC:
        c.unsupported(
          "gc",
          `Opcode ${this.#name()} at byte ${start} in ${this.#where} is a GC or typed function reference ` +
            `instruction, which Kiln does not run`,
          start,
        );
        break;
      default:
        c.fail(`Unknown opcode ${this.#name()} at byte ${start} in ${this.#where}`, start);
    }
    if (op === OP_BLOCK || op === OP_LOOP || op === OP_IF || op === OP_TRY || op === OP_TRY_TABLE) {
      this.depth++;
    } else if (op === OP_END || (op === OP_DELEGATE && this.depth > 0)) {
      // `delegate` closes its `try`; at depth 0 it would close the function, which V8 refuses anyway.
      this.depth--;
      if (this.depth < 0 && this.#exact && c.pos !== c.end) {
        c.fail(
          `${capitalize(this.#where)} has ${c.end - c.pos} bytes after its final "end" at byte ${start}`,
          c.pos,
        );
      }
    }
    return true;
  }

  #name(): string {
    return this.sub < 0 ? hex(this.op) : `${hex(this.op)} ${hex(this.sub)}`;
  }

  #blockType(): void {
    const c = this.#c;
    const at = c.pos;
    const b = c.bytes[at];
    if (b !== undefined && at < c.end && (b === 0x40 || BLOCK_VAL_TYPES.has(b))) {
      c.pos++;
      return;
    }
    if (b !== undefined && at < c.end && GC_TYPE_BYTES.has(b)) {
      c.unsupported("gc", `The block type at byte ${at} in ${this.#where} is a GC reference type`, at);
    }
    const index = c.s33("a block type");
    if (index < 0) {
      c.fail(`The block type at byte ${at} in ${this.#where} is neither a value type nor a type index`, at);
    }
  }

  #heapType(): void {
    const c = this.#c;
    const at = c.pos;
    const b = c.byte("a heap type");
    if (b === 0x70 || b === 0x6f || b === 0x69) return; // funcref, externref, exn
    if (GC_TYPE_BYTES.has(b) || (b & 0x40) === 0) {
      c.unsupported("gc", `The heap type at byte ${at} in ${this.#where} is a GC or typed reference`, at);
    }
    c.fail(`The heap type at byte ${at} in ${this.#where} is ${hex(b)}, not funcref or externref`, at);
  }

  #memarg(): void {
    const c = this.#c;
    const align = c.u32("a memory alignment");
    if (align & 0x40) c.u32("a memory index"); // multi-memory
    // The offset is a u64 since memory64 (V8 decodes it so for every memory, and accepts an over-long
    // encoding of a value that fits a 32-bit memory): check the encoding, let V8 check the value.
    const at = c.pos;
    const first = c.bytes[at];
    if (first !== undefined && first < 0x80 && at < c.end) {
      c.pos = at + 1; // most offsets are one byte
      return;
    }
    const fail = (message: string, _offset: number, truncated: boolean): never =>
      c.fail(
        truncated
          ? `${c.label} is too short: it ends at byte ${c.end} in the middle of a memory offset (at byte ${at})`
          : `${c.label}: a memory offset at byte ${at} is not a valid LEB128 integer: ${message}`,
        at,
      );
    c.pos = readUnsigned(c.bytes, at, c.end, 64, fail)[1];
  }
}

/** The outcome of decoding one function body. */
export interface DecodedBody {
  /** Index in the function index space. */
  readonly funcIndex: number;
  /** Instructions in the body, its final `end` included. */
  readonly instructions: number;
  /** Offset one past the final `end`: always the body's end. */
  readonly end: number;
}

/**
 * Decodes every instruction of one function body located by the reader.
 *
 * @throws {WasmFormatError} When the body is malformed (see {@linkcode InstructionReader.next}).
 * @throws {WasmUnsupportedError} On GC instructions.
 */
export function decodeBody(bytes: Uint8Array, body: CodeBody): DecodedBody {
  const r = new InstructionReader(bytes, body.exprStart, body.end, `function ${body.funcIndex}`, true);
  while (r.next());
  return { funcIndex: body.funcIndex, instructions: r.count, end: r.pos };
}
