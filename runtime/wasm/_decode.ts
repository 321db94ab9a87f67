/**
 * Decoders for the type-level pieces of the binary format that several sections share: value types,
 * limits, table/memory/global types, function types and constant expressions (core spec §5.3, §5.4.9).
 *
 * @module
 */
import type { Cursor } from "./_cursor.ts";
import type { FuncType, GlobalType, MemoryType, RefType, TableType, ValType } from "./types.ts";

/** Most 64 KiB pages a 32-bit memory can have (4 GiB), core spec §3.2.4. */
export const MAX_PAGES = 65536;

const VAL_TYPES: Readonly<Record<number, ValType>> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
  0x69: "exnref", // exception handling: what catch_ref and catch_all_ref give, throw_ref takes
};

/** Heap-type and reference-type bytes of the GC and typed function references proposals. */
const GC_TYPE_BYTES = new Set([0x63, 0x64, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x71, 0x72, 0x73, 0x74]);
/** `exnref` (and the `exn` heap type): a value type Kiln runs, but no table holds it. */
const EXNREF = 0x69;

const hex = (b: number) => `0x${b.toString(16).padStart(2, "0")}`;

function refusedRefType(c: Cursor, b: number, what: string, at: number): never {
  return c.unsupported(
    "gc",
    `${c.label}: ${what} at byte ${at} uses reference type ${hex(b)} (GC / typed function references); ` +
      `only funcref and externref are supported`,
    at,
  );
}

/** Reads a value type. */
export function readValType(c: Cursor, what: string): ValType {
  const at = c.pos;
  const b = c.byte(what);
  const t = VAL_TYPES[b];
  if (t !== undefined) return t;
  if (GC_TYPE_BYTES.has(b)) refusedRefType(c, b, what, at);
  return c.fail(`${c.label}: ${what} at byte ${at} has type byte ${hex(b)}, which is not a value type`, at);
}

/** Reads a reference type (a table's element type, an element segment's type). */
export function readRefType(c: Cursor, what: string): RefType {
  const at = c.pos;
  const b = c.byte(what);
  if (b === 0x70) return "funcref";
  if (b === 0x6f) return "externref";
  if (b === EXNREF) {
    c.unsupported(
      "exnref",
      `${c.label}: ${what} at byte ${at} is exnref; tables hold funcref or externref`,
      at,
    );
  }
  if (GC_TYPE_BYTES.has(b)) refusedRefType(c, b, what, at);
  return c.fail(
    `${c.label}: ${what} at byte ${at} has type byte ${hex(b)}, which is not a reference type`,
    at,
  );
}

/** Reads the heap type of `ref.null`: a reference type byte in Wasm 2.0, an s33 in the GC proposal. */
function readHeapType(c: Cursor, what: string): void {
  const at = c.pos;
  const b = c.bytes[at];
  if (b === 0x70 || b === 0x6f || b === EXNREF) {
    c.pos++;
    return;
  }
  if (b !== undefined && (GC_TYPE_BYTES.has(b) || (b & 0x40) === 0)) {
    c.s33(what); // a concrete type index is a non-negative s33
    refusedRefType(c, b, what, at);
  }
  readRefType(c, what); // fails with the right message
}

/** Reads a function type: `0x60 vec(valtype) vec(valtype)`. */
export function readFuncType(c: Cursor, index: number): FuncType {
  const at = c.pos;
  const what = `type ${index}`;
  const form = c.byte(what);
  if (form !== 0x60) {
    if (form === 0x4e || form === 0x50 || form === 0x4f || form === 0x5f || form === 0x5e) {
      c.unsupported(
        "gc",
        `${c.label}: ${what} at byte ${at} is a GC type (form ${
          hex(form)
        }); only function types are supported`,
        at,
      );
    }
    c.fail(`${c.label}: ${what} at byte ${at} has form ${hex(form)}, expected 0x60 (function type)`, at);
  }
  const params: ValType[] = [];
  const paramCount = c.count(`parameters of ${what}`);
  for (let i = 0; i < paramCount; i++) params.push(readValType(c, `parameter ${i} of ${what}`));
  const results: ValType[] = [];
  const resultCount = c.count(`results of ${what}`);
  for (let i = 0; i < resultCount; i++) results.push(readValType(c, `result ${i} of ${what}`));
  return { params, results };
}

/** Reads a table type: `reftype limits` (core spec §5.3.9). */
export function readTableType(c: Cursor, what: string): TableType {
  const element = readRefType(c, `the element type of ${what}`);
  const at = c.pos;
  const flags = c.byte(`the limits of ${what}`);
  if (flags === 0x04 || flags === 0x05) {
    c.unsupported("memory64", `${c.label}: ${what} at byte ${at} is a 64-bit table (memory64 proposal)`, at);
  }
  if (flags > 0x01) {
    c.fail(`${c.label}: ${what} at byte ${at} has limits flags ${hex(flags)}, expected 0x00 or 0x01`, at);
  }
  const min = c.u32(`the minimum size of ${what}`);
  const max = flags === 0x01 ? c.u32(`the maximum size of ${what}`) : null;
  if (max !== null && max < min) {
    c.fail(`${c.label}: ${what} at byte ${at} has maximum ${max} below its minimum ${min}`, at);
  }
  return { element, min, max };
}

/**
 * Reads a memory type's limits (core spec §5.3.8). Flags: bit 0 a maximum follows, bit 1 shared (threads),
 * bit 2 64-bit addresses (memory64, refused: V8 needs a flag for it on the gateways Kiln targets).
 */
export function readMemoryType(c: Cursor, what: string): MemoryType {
  const at = c.pos;
  const flags = c.byte(`the limits of ${what}`);
  if (flags & 0x04 && flags <= 0x07) {
    c.unsupported(
      "memory64",
      `${c.label}: ${what} at byte ${at} is a 64-bit memory (memory64 proposal), which Kiln does not run`,
      at,
    );
  }
  if (flags > 0x03) {
    c.fail(`${c.label}: ${what} at byte ${at} has limits flags ${hex(flags)}, expected 0x00 to 0x03`, at);
  }
  const shared = (flags & 0x02) !== 0;
  const min = c.u32(`the minimum size of ${what}`);
  const max = flags & 0x01 ? c.u32(`the maximum size of ${what}`) : null;
  if (min > MAX_PAGES) {
    c.fail(
      `${c.label}: ${what} at byte ${at} declares ${min} initial pages, more than ${MAX_PAGES} (4 GiB)`,
      at,
    );
  }
  if (max !== null && max > MAX_PAGES) {
    c.fail(
      `${c.label}: ${what} at byte ${at} declares ${max} maximum pages, more than ${MAX_PAGES} (4 GiB)`,
      at,
    );
  }
  if (max !== null && max < min) {
    c.fail(`${c.label}: ${what} at byte ${at} has maximum ${max} pages below its minimum ${min}`, at);
  }
  if (shared && max === null) {
    c.fail(`${c.label}: ${what} at byte ${at} is shared but declares no maximum`, at);
  }
  return { min, max, shared };
}

/** Reads a global type: `valtype mut`. */
export function readGlobalType(c: Cursor, what: string): GlobalType {
  const type = readValType(c, `the type of ${what}`);
  const at = c.pos;
  const mut = c.byte(`the mutability of ${what}`);
  if (mut > 1) {
    c.fail(`${c.label}: ${what} at byte ${at} has mutability ${hex(mut)}, expected 0x00 or 0x01`, at);
  }
  return { type, mutable: mut === 1 };
}

/** How many functions and globals a constant expression may refer to. */
export interface ConstExprScope {
  functions: number;
  globals: number;
}

/**
 * Checks and skips a constant expression up to and including its `end` (core spec §3.3.10, with the
 * extended-const proposal's `i32`/`i64` `add`, `sub`, `mul`). Each instruction takes at least one byte, so
 * the loop ends within the section.
 */
export function skipConstExpr(c: Cursor, what: string, scope: ConstExprScope): void {
  for (;;) {
    const at = c.pos;
    const op = c.byte(what);
    switch (op) {
      case 0x0b: // end
        return;
      case 0x41: // i32.const
        c.s32(`an i32.const in ${what}`);
        break;
      case 0x42: // i64.const
        c.skipS64(`an i64.const in ${what}`);
        break;
      case 0x43: // f32.const
        c.skip(4, `an f32.const in ${what}`);
        break;
      case 0x44: // f64.const
        c.skip(8, `an f64.const in ${what}`);
        break;
      case 0x23: { // global.get
        const g = c.u32(`a global index in ${what}`);
        if (g >= scope.globals) c.fail(`${c.label}: ${what} reads global ${g}, which does not exist`, at);
        break;
      }
      case 0xd0: // ref.null
        readHeapType(c, `a ref.null in ${what}`);
        break;
      case 0xd2: { // ref.func
        const f = c.u32(`a function index in ${what}`);
        if (f >= scope.functions) {
          c.fail(`${c.label}: ${what} refers to function ${f}, which does not exist`, at);
        }
        break;
      }
      case 0x6a: // i32.add
      case 0x6b: // i32.sub
      case 0x6c: // i32.mul
      case 0x7c: // i64.add
      case 0x7d: // i64.sub
      case 0x7e: // i64.mul
        break;
      case 0xfd: { // SIMD prefix: only v128.const (12) is constant
        const sub = c.u32(`a SIMD opcode in ${what}`);
        if (sub !== 12) {
          c.fail(`${c.label}: ${what} uses SIMD opcode ${sub} at byte ${at}, which is not constant`, at);
        }
        c.skip(16, `a v128.const in ${what}`);
        break;
      }
      case 0xfb:
        c.unsupported("gc", `${c.label}: ${what} uses a GC instruction at byte ${at}`, at);
        break;
      default:
        c.fail(
          `${c.label}: ${what} has opcode ${hex(op)} at byte ${at}, which is not a constant instruction`,
          at,
        );
    }
  }
}
