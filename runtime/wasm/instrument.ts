/**
 * Load-time instrumentation for CPU budgets. A module runs synchronously in its executor, where no JS
 * timer can stop a Wasm loop, so the binary itself is rewritten to call back into the host at bounded
 * intervals, as Wasmtime's epoch interruption and fuel do:
 *
 * - A new function import `kiln.__check: () -> i32` is appended after the module's function imports, and a
 *   mutable i32 global `countdown` (initialised to `checkInterval`) after its globals.
 * - Every function entry and every loop header decrements `countdown`; when it reaches 0 the module calls
 *   `__check`, which either throws (a JS exception unwinds the Wasm stack: the invocation is interrupted) or
 *   returns the next countdown. Straight-line code is bounded and recursion passes function entries, so
 *   the time between two checks is bounded by `checkInterval` times the longest loop-free path.
 * - With `fuel`, an exported mutable i64 global `__kiln_fuel` is charged at the start of every straight-line
 *   segment with the segment's instruction count, and `__check` is called when it drops below 0.
 *
 * **Fuel accounting.** A segment is a maximal run of instructions that control enters only at its first
 * instruction: it ends after every control instruction (`block`, `loop`, `if`, `else`, `end`, `br`,
 * `br_if`, `br_table`, `return`, `unreachable`, calls, and the exception-handling instructions). Each
 * decoded instruction counts 1, the control instruction ending the segment and a function's final `end`
 * included. The whole segment is charged when it is entered, so a segment left early by a trap is charged in
 * full; a `br` out of a block skips that block's `end`, which is then not charged. The count depends only on
 * the path taken, so the same inputs give the same count. Inserted instructions are not counted.
 *
 * Function indices at or above the old imported-function count shift by one; they are renumbered in code
 * (`call`, `return_call`, `ref.func`), exports, the start section, element segments, global and table
 * initialisers and the `name` section. Every other section is copied byte for byte, except
 * `metadata.code.*` custom sections (branch hints), which locate instructions by byte offsets that the
 * rewrite invalidates and are dropped; DWARF `.debug_*` sections are copied and go stale the same way.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";
import { Cursor } from "./_cursor.ts";
import { InstructionReader } from "./_code.ts";
import { CodeRewriter } from "./_instrument_code.ts";
import { ByteWriter } from "./_writer.ts";
import { WasmFormatError } from "./errors.ts";
import { readModule } from "./reader.ts";
import type { SectionInfo, WasmModuleInfo } from "./types.ts";

/** The import every instrumented module calls when its countdown or its fuel runs out. */
export const CHECK_IMPORT: Readonly<{ module: "kiln"; name: "__check" }> = {
  module: "kiln",
  name: "__check",
};

/** The exported i64 global holding the fuel left, with `fuel: true`. */
export const FUEL_EXPORT = "__kiln_fuel";

/** The fuel global's initial value (2^63 - 1): the start function never runs out of fuel. */
export const INITIAL_FUEL: bigint = 0x7fff_ffff_ffff_ffffn;

/** Options of {@linkcode instrument}. */
export interface InstrumentOptions {
  /**
   * Also meter executed instructions in the exported i64 global `__kiln_fuel`; the host sets it before an
   * invocation and reads it after (executed instructions = before - after).
   * @default false
   */
  fuel?: boolean;
  /**
   * Check sites (function entries and loop iterations) between two calls of `kiln.__check`: the initial
   * countdown. `__check` returns the next one.
   * @default 1000
   */
  checkInterval?: number;
}

/** What {@linkcode instrument} returns. */
export interface InstrumentResult {
  /** The instrumented binary. */
  bytes: Uint8Array<ArrayBuffer>;
  /** Interrupt checks inserted: one per function entry plus one per loop header. */
  sites: number;
  /** Defined functions instrumented. */
  functions: number;
  /** Loop headers instrumented. */
  loops: number;
  /** Fuel charges inserted (straight-line segments); 0 without `fuel`. */
  fuelSegments: number;
}

/** A module already has the import or export the instrumenter adds, e.g. it was instrumented before. */
export class InstrumentConflictError extends KilnError {
  readonly code = "wasm_instrumented";
  constructor(
    /** `"import"` or `"export"`. */
    readonly kind: "import" | "export",
    /** The conflicting name, e.g. `"kiln.__check"`. */
    readonly field: string,
  ) {
    super(`Cannot instrument the module: it already ${kind}s "${field}", which the instrumenter adds`);
  }
}

/** The default of {@linkcode InstrumentOptions.checkInterval}. */
export const DEFAULT_CHECK_INTERVAL = 1000;

/** Section ranks in the required order (core spec §5.5.16), for placing sections the module lacks. */
const RANK: Readonly<Record<number, number>> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

const utf8 = new TextEncoder();

/**
 * Rewrites a module so that it calls `kiln.__check` at bounded intervals, and with `fuel` meters its
 * instructions (see the module documentation for the exact rewrite and the fuel accounting rule).
 *
 * @param bytes The module binary.
 * @param options Fuel metering and the check interval.
 * @returns The new binary and counts of what was inserted; `bytes` is not modified.
 * @throws {InstrumentConflictError} When the module already imports `kiln.__check` or exports
 *   `__kiln_fuel`.
 * @throws {WasmFormatError} When the binary or an instruction is malformed, e.g. an unknown opcode.
 * @throws {WasmUnsupportedError} When the module uses a feature Kiln refuses (memory64, GC).
 * @throws {RangeError} When `checkInterval` is not an integer from 1 to 2^31 - 1.
 *
 * @example Interrupt a module after a deadline
 * ```ts ignore
 * const { bytes } = instrument(await Deno.readFile("filter.wasm"), { checkInterval: 1000 });
 * let deadline = 0;
 * const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
 *   kiln: {
 *     ...hostImports,
 *     __check: () => {
 *       if (performance.now() > deadline) throw new Error("budget exceeded");
 *       return 1000;
 *     },
 *   },
 * });
 * ```
 */
export function instrument(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentResult {
  const interval = options.checkInterval ?? DEFAULT_CHECK_INTERVAL;
  if (!Number.isInteger(interval) || interval < 1 || interval > 0x7fff_ffff) {
    throw new RangeError(
      `Cannot instrument with checkInterval ${interval}: expected an integer from 1 to 2^31 - 1`,
    );
  }
  const info = readModule(bytes);
  if (info.imports.some((i) => i.module === CHECK_IMPORT.module && i.name === CHECK_IMPORT.name)) {
    throw new InstrumentConflictError("import", `${CHECK_IMPORT.module}.${CHECK_IMPORT.name}`);
  }
  if (info.exports.some((e) => e.name === FUEL_EXPORT)) {
    throw new InstrumentConflictError("export", FUEL_EXPORT);
  }
  return new Instrumenter(bytes, info, options.fuel ?? false, interval).run();
}

/** One instrumentation run. */
class Instrumenter {
  readonly #bytes: Uint8Array;
  readonly #info: WasmModuleInfo;
  readonly #fuel: boolean;
  readonly #interval: number;
  /** Imported functions before the rewrite: `__check`'s index, and where renumbering starts. */
  readonly #check: number;
  /** Index of an existing `() -> i32` type, or of the one appended. */
  readonly #checkType: number;
  readonly #appendType: boolean;
  readonly #countdown: number;
  readonly #fuelGlobal: number;
  readonly #out: ByteWriter;
  readonly #scratch = new ByteWriter(1024);

  constructor(bytes: Uint8Array, info: WasmModuleInfo, fuel: boolean, interval: number) {
    this.#bytes = bytes;
    this.#info = info;
    this.#fuel = fuel;
    this.#interval = interval;
    let importedGlobals = 0;
    let importedFunctions = 0;
    for (const i of info.imports) {
      if (i.kind === "function") importedFunctions++;
      else if (i.kind === "global") importedGlobals++;
    }
    this.#check = importedFunctions;
    const existing = info.types.findIndex((t) =>
      t.params.length === 0 && t.results.length === 1 && t.results[0] === "i32"
    );
    this.#appendType = existing < 0;
    this.#checkType = existing < 0 ? info.types.length : existing;
    this.#countdown = importedGlobals + info.globals.length;
    this.#fuelGlobal = fuel ? this.#countdown + 1 : -1;
    this.#out = new ByteWriter(bytes.length + (bytes.length >> 2) + 256);
  }

  run(): InstrumentResult {
    const out = this.#out;
    out.copy(this.#bytes, 0, 8);
    // Sections the rewrite needs but the module lacks, by id; each is written before the first section
    // that must follow it.
    const missing = new Set([1, 2, 6]);
    if (this.#fuel) missing.add(7);
    for (const s of this.#info.sections) missing.delete(s.id);
    const flushMissing = (beforeRank: number) => {
      for (const id of [...missing]) {
        if (RANK[id]! < beforeRank) {
          missing.delete(id);
          this.#section(id, null);
        }
      }
    };
    let counts = { functions: 0, loops: 0, fuelSegments: 0 };
    for (const s of this.#info.sections) {
      if (s.id !== 0) flushMissing(RANK[s.id]!);
      if (s.id === 10) counts = this.#code(s);
      else this.#section(s.id, s);
    }
    flushMissing(Infinity);
    return {
      bytes: out.toBytes(),
      sites: counts.functions + counts.loops,
      functions: counts.functions,
      loops: counts.loops,
      fuelSegments: counts.fuelSegments,
    };
  }

  /** Writes section `id`: `s` rewritten, a new one when `s` is `null`, or `s` copied when unchanged. */
  #section(id: number, s: SectionInfo | null): void {
    const w = this.#scratch;
    w.reset();
    switch (id) {
      case 0:
        if (!this.#custom(s!, w)) return;
        break;
      case 1:
        this.#vector(s, w, this.#appendType ? 1 : 0);
        if (this.#appendType) w.copy(Uint8Array.of(0x60, 0x00, 0x01, 0x7f), 0, 4); // () -> i32
        break;
      case 2:
        this.#vector(s, w, 1);
        this.#name(w, CHECK_IMPORT.module);
        this.#name(w, CHECK_IMPORT.name);
        w.byte(0x00); // function
        w.u32(this.#checkType);
        break;
      case 4:
        this.#tables(s!, w);
        break;
      case 6:
        this.#globals(s, w);
        break;
      case 7:
        this.#exports(s, w);
        break;
      case 8:
        w.u32(this.#renumber(this.#info.start!));
        break;
      case 9:
        this.#elements(s!, w);
        break;
      default:
        this.#out.copy(this.#bytes, s!.start, s!.end);
        return;
    }
    this.#out.byte(id);
    this.#out.u32(w.length);
    this.#out.append(w);
  }

  #renumber(funcIndex: number): number {
    return funcIndex >= this.#check ? funcIndex + 1 : funcIndex;
  }

  #name(w: ByteWriter, s: string): void {
    const b = utf8.encode(s);
    w.u32(b.length);
    w.bytes(b);
  }

  #cursor(s: SectionInfo): Cursor {
    return new Cursor(this.#bytes, s.payloadStart, s.end, `Section ${s.id} (${s.name})`, s.name);
  }

  /** Writes a vector section's count plus `extra` and copies its entries; the caller appends the extras. */
  #vector(s: SectionInfo | null, w: ByteWriter, extra: number): void {
    if (s === null) {
      w.u32(extra);
      return;
    }
    const c = this.#cursor(s);
    w.u32(c.u32("the entry count") + extra);
    w.copy(this.#bytes, c.pos, s.end);
  }

  /**
   * Copies a constant expression from `c.pos` to its `end` with `ref.func` indices renumbered, leaving
   * `c.pos` after it.
   */
  #expr(c: Cursor, w: ByteWriter, where: string): void {
    const r = new InstructionReader(this.#bytes, c.pos, c.end, where, false);
    let from = c.pos;
    while (r.next()) {
      if (r.funcIndex >= this.#check) {
        w.copy(this.#bytes, from, r.funcIndexStart);
        w.u32(r.funcIndex + 1);
        from = r.pos;
      }
    }
    w.copy(this.#bytes, from, r.pos);
    c.pos = r.pos;
  }

  /** Tables: only the function-references form `0x40 0x00 tabletype expr` holds a function index. */
  #tables(s: SectionInfo, w: ByteWriter): void {
    const c = this.#cursor(s);
    const bytes = this.#bytes;
    const n = c.u32("the table count");
    w.u32(n);
    let from = c.pos;
    for (let i = 0; i < n; i++) {
      const withInit = bytes[c.pos] === 0x40;
      if (withInit) c.skip(2, "a table's prefix");
      c.byte("a table's element type");
      const flags = c.byte("a table's limits");
      c.u32("a table's minimum");
      if (flags & 0x01) c.u32("a table's maximum");
      if (withInit) {
        w.copy(bytes, from, c.pos);
        this.#expr(c, w, `the initializer of table ${i}`);
        from = c.pos;
      }
    }
    w.copy(bytes, from, s.end);
  }

  #globals(s: SectionInfo | null, w: ByteWriter): void {
    const added = this.#fuel ? 2 : 1;
    const bytes = this.#bytes;
    if (s === null) {
      w.u32(added);
    } else {
      const c = this.#cursor(s);
      w.u32(c.u32("the global count") + added);
      let from = c.pos;
      const imported = this.#countdown - this.#info.globals.length;
      this.#info.globals.forEach((g, i) => {
        w.copy(bytes, from, g.initStart); // type and mutability
        c.pos = g.initStart;
        this.#expr(c, w, `the initializer of global ${imported + i}`);
        from = c.pos;
      });
      w.copy(bytes, from, s.end);
    }
    w.byte(0x7f); // i32
    w.byte(0x01); // mutable
    w.byte(0x41); // i32.const
    w.s32(this.#interval);
    w.byte(0x0b);
    if (this.#fuel) {
      w.byte(0x7e); // i64
      w.byte(0x01); // mutable
      w.byte(0x42); // i64.const
      w.s64(INITIAL_FUEL);
      w.byte(0x0b);
    }
  }

  #exports(s: SectionInfo | null, w: ByteWriter): void {
    const extra = this.#fuel ? 1 : 0;
    if (s === null) {
      w.u32(extra);
    } else {
      const c = this.#cursor(s);
      const n = c.u32("the export count");
      w.u32(n + extra);
      for (let i = 0; i < n; i++) {
        const at = c.pos;
        c.name("an export name");
        const kind = c.byte("an export kind");
        const indexAt = c.pos;
        const index = c.u32("an export index");
        w.copy(this.#bytes, at, indexAt);
        w.u32(kind === 0x00 ? this.#renumber(index) : index);
      }
    }
    if (this.#fuel) {
      this.#name(w, FUEL_EXPORT);
      w.byte(0x03); // global
      w.u32(this.#fuelGlobal);
    }
  }

  /** Element segments (core spec §5.5.12): flags 0-7; bit 0 passive/declarative, bit 1 table or kind,
   * bit 2 expressions instead of function indices. */
  #elements(s: SectionInfo, w: ByteWriter): void {
    const c = this.#cursor(s);
    const bytes = this.#bytes;
    const n = c.u32("the element segment count");
    w.u32(n);
    let from = c.pos;
    for (let i = 0; i < n; i++) {
      const what = `element segment ${i}`;
      const flags = c.u32(`the flags of ${what}`);
      const active = (flags & 0x01) === 0;
      const exprs = (flags & 0x04) !== 0;
      if (active) {
        if (flags & 0x02) c.u32(`the table of ${what}`);
        w.copy(bytes, from, c.pos);
        this.#expr(c, w, `the offset of ${what}`);
        from = c.pos;
      }
      if (!active || flags & 0x02) c.byte(`the element kind of ${what}`);
      const count = c.u32(`the element count of ${what}`);
      for (let j = 0; j < count; j++) {
        w.copy(bytes, from, c.pos);
        if (exprs) {
          this.#expr(c, w, `element ${j} of ${what}`);
        } else {
          w.u32(this.#renumber(c.u32(`element ${j} of ${what}`)));
        }
        from = c.pos;
      }
    }
    w.copy(bytes, from, s.end);
  }

  #code(s: SectionInfo): { functions: number; loops: number; fuelSegments: number } {
    const w = this.#scratch;
    w.reset();
    const rewriter = new CodeRewriter(this.#bytes, {
      check: this.#check,
      countdown: this.#countdown,
      fuel: this.#fuelGlobal,
    });
    w.u32(this.#info.code.length);
    for (const body of this.#info.code) rewriter.rewrite(body, w);
    this.#out.byte(10);
    this.#out.u32(w.length);
    this.#out.append(w);
    return rewriter.counts;
  }

  /** Writes a custom section into `w`; returns `false` to drop it. */
  #custom(s: SectionInfo, w: ByteWriter): boolean {
    const custom = this.#info.customSections.find((cs) => cs.start === s.start)!;
    if (custom.name.startsWith("metadata.code.")) return false;
    w.copy(this.#bytes, s.payloadStart, custom.contentStart);
    if (custom.name !== "name") {
      w.copy(this.#bytes, custom.contentStart, s.end);
      return true;
    }
    return this.#nameSection(custom.contentStart, s.end, w);
  }

  /**
   * The `name` section (core spec §7.4.1) with function indices renumbered in its function names (1), local
   * names (2) and label names (3) subsections; other subsections are copied. A section this cannot parse is
   * dropped rather than left naming the wrong functions.
   */
  #nameSection(start: number, end: number, w: ByteWriter): boolean {
    const bytes = this.#bytes;
    const c = new Cursor(bytes, start, end, 'Custom section "name"', "custom");
    const sub = new ByteWriter(256);
    try {
      while (c.pos < c.end) {
        const id = c.byte("a name subsection id");
        const size = c.length(`name subsection ${id}`);
        const subEnd = c.pos + size;
        if (id < 1 || id > 3) {
          w.byte(id);
          w.u32(size);
          w.copy(bytes, c.pos, subEnd);
          c.pos = subEnd;
          continue;
        }
        const sc = new Cursor(bytes, c.pos, subEnd, `Name subsection ${id}`, "custom");
        sub.reset();
        const n = sc.u32("a name count");
        sub.u32(n);
        let from = sc.pos;
        for (let i = 0; i < n; i++) {
          const at = sc.pos;
          const index = sc.u32("a function index");
          sub.copy(bytes, from, at);
          sub.u32(this.#renumber(index));
          from = sc.pos;
          if (id === 1) {
            sc.name("a function name");
          } else {
            const m = sc.u32("a name count");
            for (let j = 0; j < m; j++) {
              sc.u32("an index");
              sc.name("a name");
            }
          }
        }
        if (sc.pos !== subEnd) return false;
        sub.copy(bytes, from, subEnd);
        w.byte(id);
        w.u32(sub.length);
        w.append(sub);
        c.pos = subEnd;
      }
    } catch (e) {
      // Names are a debugging aid (core spec §7.4): drop what cannot be renumbered.
      if (e instanceof WasmFormatError) return false;
      throw e;
    }
    return true;
  }
}
