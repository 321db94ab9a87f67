/**
 * Rewrites function bodies for {@linkcode instrument}: inserts the interrupt check at each function entry and
 * loop header, the fuel charge at the start of each straight-line segment, and renumbers function indices
 * (`call`, `return_call`, `ref.func`) past the new import. Everything else is copied byte for byte.
 *
 * @module
 */
import {
  InstructionReader,
  OP_BLOCK,
  OP_DELEGATE,
  OP_ELSE,
  OP_END,
  OP_IF,
  OP_LOOP,
  OP_TRY,
  OP_TRY_TABLE,
} from "./_code.ts";
import { ByteWriter } from "./_writer.ts";
import { WasmFormatError } from "./errors.ts";
import type { CodeBody } from "./types.ts";

/** Indices the inserted code refers to. */
export interface CodeRewriteIndices {
  /** Imported functions before instrumenting: the index of `kiln.__check`, where renumbering starts. */
  check: number;
  /** The countdown global. */
  countdown: number;
  /** The fuel global, or `-1` without fuel metering. */
  fuel: number;
  /** The number of parameters of function `funcIndex` (its locals are numbered after them). */
  paramsOf: (funcIndex: number) => number;
}

/** Counters of what was inserted. */
export interface CodeRewriteCounts {
  functions: number;
  /** Functions without loops or calls, whose entry check was left out. */
  leaves: number;
  /** Bulk memory and table instructions charged by their length. */
  bulk: number;
  loops: number;
  fuelSegments: number;
}

// Kinds of edit points.
const CHECK = 0;
const FUEL = 1;
const PATCH = 2;
/** Before a bulk memory or table instruction: charge its length, then a check. */
const BULK = 4;
/** An entry check found unnecessary: nothing is inserted. */
const SKIP = 3;

/**
 * Opcodes that make a function need its entry check: calls (a chain of calls, recursion, can run without
 * end) and `loop`. A function with none of them runs each instruction at most once (its branches only go
 * forward) and returns, so the time it runs is bounded by its size and it needs no check of its own: the
 * checks of its callers' loops and entries bound it. Leaving it out matters for small helpers called in hot
 * loops.
 */
const NEEDS_ENTRY_CHECK = new Uint8Array(256);
for (const op of [OP_LOOP, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15]) NEEDS_ENTRY_CHECK[op] = 1;

/**
 * Single-byte opcodes after which a new straight-line segment starts: control instructions (block
 * boundaries, branches, calls, returns, throws). A branch can only land just after one of them (after a
 * `loop`, after a block's `end`, after `else`/`catch`), so a segment is only ever entered at its start.
 */
const ENDS_SEGMENT = new Uint8Array(256);
for (
  const op of [
    0x00, // unreachable
    OP_BLOCK,
    OP_LOOP,
    OP_IF,
    OP_ELSE,
    OP_TRY,
    0x07, // catch
    0x08, // throw
    0x09, // rethrow
    0x0a, // throw_ref
    OP_END,
    0x0c, // br
    0x0d, // br_if
    0x0e, // br_table
    0x0f, // return
    0x10, // call
    0x11, // call_indirect
    0x12, // return_call
    0x13, // return_call_indirect
    OP_DELEGATE,
    0x19, // catch_all
    OP_TRY_TABLE,
  ]
) ENDS_SEGMENT[op] = 1;

/**
 * 0xFC sub-opcodes whose cost grows with an operand: `memory.init`, `memory.copy`, `memory.fill`,
 * `table.init`, `table.copy`, `table.fill`. Each takes its length `n` as its last (top) i32 operand. Counted
 * as one check site, a loop of them would run 1000 fills of the whole memory between two checks, seconds on
 * a 64 MiB module; so each charges the countdown `n >> BULK_SHIFT` more (one site per 64 bytes: a few
 * nanoseconds of copying, about what a site costs) and is itself a check site.
 */
const BULK_SUBS = new Set([8, 10, 11, 12, 14, 17]);
const BULK_SHIFT = 6;
const OP_PREFIX_MISC = 0xfc;

const OP_GLOBAL_GET = 0x23;
const OP_GLOBAL_SET = 0x24;

/** The global index immediate at `at` (the reader has already checked it is a well-formed u32). */
function globalIndexAt(bytes: Uint8Array, at: number): number {
  let value = 0;
  for (let shift = 0, i = at; shift < 35; shift += 7, i++) {
    const b = bytes[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
  }
  return value;
}

/** The offset just past the LEB128 count at `at` (the reader has already checked it). */
function afterCount(bytes: Uint8Array, at: number): number {
  let i = at;
  while (bytes[i]! & 0x80) i++;
  return i + 1;
}

/** Rewrites the bodies of one code section, reusing its buffers from body to body. */
export class CodeRewriter {
  readonly #bytes: Uint8Array;
  readonly #check: number;
  readonly #countdown: number;
  readonly #fuel: boolean;
  /** `global.get $countdown; i32.const 1; i32.sub; …; if; call $__check; global.set $countdown; end`. */
  readonly #checkSeq: Uint8Array;
  /** `global.get $fuel; i64.const` — the segment's instruction count follows. */
  readonly #fuelHead: Uint8Array;
  /** `i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; if; call; global.set; end`. */
  readonly #fuelTail: Uint8Array;
  /** Offset of the `if` in the check sequence and in the fuel charge's tail. */
  readonly #checkIfAt: number;
  readonly #fuelIfAt: number;
  /** Edit points of the current body, 4 numbers each: offset, kind, value, end of replaced bytes. */
  readonly #points: number[] = [];
  readonly #body = new ByteWriter(4096);
  readonly counts: CodeRewriteCounts = { functions: 0, leaves: 0, bulk: 0, loops: 0, fuelSegments: 0 };
  readonly #paramsOf: (funcIndex: number) => number;
  /**
   * The inserted `if`s of each rewritten function, for branch hints: its new index and their offsets from
   * the start of its body (its local declarations), in order.
   */
  readonly hints: [funcIndex: number, offsets: number[]][] = [];

  constructor(bytes: Uint8Array, indices: CodeRewriteIndices) {
    this.#bytes = bytes;
    this.#check = indices.check;
    this.#countdown = indices.countdown;
    this.#paramsOf = indices.paramsOf;
    this.#fuel = indices.fuel >= 0;
    const w = new ByteWriter(64);
    // `__check` returns the next countdown, or 0 to interrupt: the code then executes `unreachable`. A
    // trap, unlike an exception thrown by the host, is caught by no `catch_all` or `try_table` (exception
    // handling proposal: traps are not exceptions), so the interrupt always unwinds the whole call.
    const callCheckAndStore = () => {
      w.byte(0x04); // if
      w.byte(0x40); // empty block type
      w.byte(0x10); // call $__check
      w.u32(indices.check);
      w.byte(0x24); // global.set $countdown
      w.u32(indices.countdown);
      w.byte(0x23); // global.get $countdown
      w.u32(indices.countdown);
      w.byte(0x45); // i32.eqz
      w.byte(0x04); // if
      w.byte(0x40); // empty block type
      w.byte(0x00); // unreachable
      w.byte(0x0b); // end
      w.byte(0x0b); // end
    };
    w.byte(0x23); // global.get $countdown
    w.u32(indices.countdown);
    w.byte(0x41); // i32.const 1
    w.byte(0x01);
    w.byte(0x6b); // i32.sub
    w.byte(0x24); // global.set $countdown
    w.u32(indices.countdown);
    w.byte(0x23); // global.get $countdown
    w.u32(indices.countdown);
    w.byte(0x41); // i32.const 0
    w.byte(0x00);
    w.byte(0x4c); // i32.le_s
    this.#checkIfAt = w.length;
    callCheckAndStore();
    this.#checkSeq = w.toBytes();
    w.reset();
    w.byte(0x23); // global.get $fuel
    w.u32(Math.max(indices.fuel, 0));
    w.byte(0x42); // i64.const
    this.#fuelHead = w.toBytes();
    w.reset();
    w.byte(0x7d); // i64.sub
    w.byte(0x24); // global.set $fuel
    w.u32(Math.max(indices.fuel, 0));
    w.byte(0x23); // global.get $fuel
    w.u32(Math.max(indices.fuel, 0));
    w.byte(0x42); // i64.const 0
    w.byte(0x00);
    w.byte(0x53); // i64.lt_s
    this.#fuelIfAt = w.length;
    callCheckAndStore();
    this.#fuelTail = w.toBytes();
  }

  /**
   * Appends `body` instrumented to `out`: its new size, its local declarations unchanged, then its
   * instructions with the checks inserted and function indices renumbered.
   *
   * @throws {WasmFormatError} When an instruction is malformed.
   * @throws {WasmUnsupportedError} On GC instructions.
   */
  rewrite(body: CodeBody, out: ByteWriter): void {
    const bytes = this.#bytes;
    const points = this.#points;
    const fuel = this.#fuel;
    const check = this.#check;
    const counts = this.counts;
    points.length = 0;
    let segment = -1; // index in `points` of the open segment's FUEL point
    let segmentCount = 0;
    if (fuel) {
      segment = 0;
      points.push(body.exprStart, FUEL, 0, 0);
      counts.fuelSegments++;
    }
    const entry = points.length;
    points.push(body.exprStart, CHECK, 0, 0);
    counts.functions++;
    let needsEntryCheck = false;
    let bulk = false;
    const r = new InstructionReader(bytes, body.exprStart, body.end, `function ${body.funcIndex}`, true);
    const countdown = this.#countdown;
    while (r.next()) {
      segmentCount++;
      const op = r.op;
      // Defence in depth behind validateModule(): no original instruction may name the globals the
      // rewrite appends (the countdown, the fuel), whatever validated the module before.
      if ((op === OP_GLOBAL_GET || op === OP_GLOBAL_SET) && globalIndexAt(bytes, r.start + 1) >= countdown) {
        throw new WasmFormatError(
          `Function ${body.funcIndex} names global ${
            globalIndexAt(bytes, r.start + 1)
          } at byte ${r.start}, which the module does not declare`,
          { offset: r.start, section: "code" },
        );
      }
      if (NEEDS_ENTRY_CHECK[op] === 1) needsEntryCheck = true;
      if (op === OP_PREFIX_MISC && BULK_SUBS.has(r.sub)) {
        points.push(r.start, BULK, 0, 0);
        counts.bulk++;
        bulk = true;
      }
      if (r.funcIndex >= check) points.push(r.funcIndexStart, PATCH, r.funcIndex + 1, r.pos);
      if (fuel && ENDS_SEGMENT[op] === 1 && r.depth >= 0) {
        points[segment + 2] = segmentCount;
        segment = points.length;
        segmentCount = 0;
        points.push(r.pos, FUEL, 0, 0);
        counts.fuelSegments++;
      }
      if (op === OP_LOOP) {
        points.push(r.pos, CHECK, 0, 0);
        counts.loops++;
      }
    }
    if (fuel) points[segment + 2] = segmentCount;
    if (!needsEntryCheck) {
      points[entry + 1] = SKIP;
      counts.leaves++;
    }

    const w = this.#body;
    w.reset();
    // Local declarations, plus one i32 scratch local where a bulk instruction's length must be read.
    let scratch = -1;
    if (bulk) {
      scratch = this.#paramsOf(body.funcIndex) + body.localCount;
      w.u32(body.localDeclCount + 1);
      w.copy(bytes, afterCount(bytes, body.bodyStart), body.exprStart);
      w.byte(0x01);
      w.byte(0x7f); // one i32
    } else {
      w.copy(bytes, body.bodyStart, body.exprStart);
    }
    let from = body.exprStart;
    const hints: number[] = [];
    for (let i = 0; i < points.length; i += 4) {
      const at = points[i]!;
      w.copy(bytes, from, at);
      from = at;
      switch (points[i + 1]) {
        case CHECK:
          hints.push(w.length + this.#checkIfAt);
          w.bytes(this.#checkSeq);
          break;
        case SKIP:
          break;
        case BULK:
          // [..., n] -> [..., n]: countdown -= n >> BULK_SHIFT; then a check site.
          w.byte(0x22); // local.tee $scratch
          w.u32(scratch);
          w.byte(0x23); // global.get $countdown
          w.u32(this.#countdown);
          w.byte(0x20); // local.get $scratch
          w.u32(scratch);
          w.byte(0x41); // i32.const BULK_SHIFT
          w.byte(BULK_SHIFT);
          w.byte(0x76); // i32.shr_u
          w.byte(0x6b); // i32.sub
          w.byte(0x24); // global.set $countdown
          w.u32(this.#countdown);
          hints.push(w.length + this.#checkIfAt);
          w.bytes(this.#checkSeq);
          break;
        case FUEL:
          w.bytes(this.#fuelHead);
          w.s32(points[i + 2]!);
          hints.push(w.length + this.#fuelIfAt);
          w.bytes(this.#fuelTail);
          break;
        default: // PATCH
          w.u32(points[i + 2]!);
          from = points[i + 3]!;
      }
    }
    w.copy(bytes, from, body.end);
    this.hints.push([body.funcIndex + 1, hints]);
    out.u32(w.length);
    out.append(w);
  }
}
