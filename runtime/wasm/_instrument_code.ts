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
import type { CodeBody } from "./types.ts";

/** Indices the inserted code refers to. */
export interface CodeRewriteIndices {
  /** Imported functions before instrumenting: the index of `kiln.__check`, where renumbering starts. */
  check: number;
  /** The countdown global. */
  countdown: number;
  /** The fuel global, or `-1` without fuel metering. */
  fuel: number;
}

/** Counters of what was inserted. */
export interface CodeRewriteCounts {
  functions: number;
  loops: number;
  fuelSegments: number;
}

// Kinds of edit points.
const CHECK = 0;
const FUEL = 1;
const PATCH = 2;

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

/** Rewrites the bodies of one code section, reusing its buffers from body to body. */
export class CodeRewriter {
  readonly #bytes: Uint8Array;
  readonly #check: number;
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
  readonly counts: CodeRewriteCounts = { functions: 0, loops: 0, fuelSegments: 0 };
  /**
   * The inserted `if`s of each rewritten function, for branch hints: its new index and their offsets from
   * the start of its body (its local declarations), in order.
   */
  readonly hints: [funcIndex: number, offsets: number[]][] = [];

  constructor(bytes: Uint8Array, indices: CodeRewriteIndices) {
    this.#bytes = bytes;
    this.#check = indices.check;
    this.#fuel = indices.fuel >= 0;
    const w = new ByteWriter(64);
    const callCheckAndStore = () => {
      w.byte(0x04); // if
      w.byte(0x40); // empty block type
      w.byte(0x10); // call $__check
      w.u32(indices.check);
      w.byte(0x24); // global.set $countdown
      w.u32(indices.countdown);
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
    points.push(body.exprStart, CHECK, 0, 0);
    counts.functions++;
    const r = new InstructionReader(bytes, body.exprStart, body.end, `function ${body.funcIndex}`, true);
    while (r.next()) {
      segmentCount++;
      const op = r.op;
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

    const w = this.#body;
    w.reset();
    w.copy(bytes, body.bodyStart, body.exprStart); // local declarations
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
