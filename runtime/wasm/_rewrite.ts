/**
 * The module rewriter behind `instrument()` (instrument.ts): re-encodes the sections that hold function indices or
 * gain entries (type, import, table, global, export, start, element, code, the `name` section), inserts
 * the sections the module lacks, adds the branch hint section, and copies everything else byte for byte.
 *
 * @module
 */
import { SECTION_RANK } from "./reader.ts";
import {
  CHECK_IMPORT,
  COUNTDOWN_EXPORT,
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  INITIAL_FUEL,
} from "./constants.ts";
import { Cursor } from "./_cursor.ts";
import { InstructionReader } from "./_code.ts";
import { CodeRewriter } from "./_instrument_code.ts";
import { ByteWriter } from "./_writer.ts";
import { WasmFormatError } from "./errors.ts";
import type { InstrumentResult } from "./_instrument_result.ts";
import type { SectionInfo, WasmModuleInfo } from "./types.ts";

const utf8 = new TextEncoder();

/** The branch hinting proposal's custom section. */
const BRANCH_HINT_SECTION = "metadata.code.branch_hint";

/** One instrumentation run over a module the reader has checked. */
export class ModuleRewriter {
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
  /** Global indices of the module's own mutable globals, exported for snapshots. */
  readonly #mutableGlobals: number[];
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
    // An exnref cannot cross into JavaScript (exception handling's JS API), so such a global is not exported:
    // a snapshot does not hold it.
    this.#mutableGlobals = info.globals.flatMap((g, i) =>
      g.mutable && g.type !== "exnref" ? [importedGlobals + i] : []
    );
    this.#out = new ByteWriter(bytes.length + (bytes.length >> 2) + 256);
  }

  run(): InstrumentResult {
    const out = this.#out;
    out.copy(this.#bytes, 0, 8);
    // Sections the rewrite needs but the module lacks, by id; each is written before the first section
    // that must follow it.
    const missing = new Set([1, 2, 6, 7]);
    for (const s of this.#info.sections) missing.delete(s.id);
    const flushMissing = (beforeRank: number) => {
      for (const id of [...missing]) {
        if (SECTION_RANK[id]! < beforeRank) {
          missing.delete(id);
          this.#section(id, null);
        }
      }
    };
    let counts = { functions: 0, leaves: 0, bulk: 0, loops: 0, fuelSegments: 0 };
    for (const s of this.#info.sections) {
      if (s.id !== 0) flushMissing(SECTION_RANK[s.id]!);
      if (s.id === 10) counts = this.#code();
      else this.#section(s.id, s);
    }
    flushMissing(Infinity);
    return {
      bytes: out.toBytes(),
      sites: counts.functions - counts.leaves + counts.loops + counts.bulk,
      functions: counts.functions,
      leafFunctions: counts.leaves,
      bulkSites: counts.bulk,
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
        if (this.#appendType) w.bytes(Uint8Array.of(0x60, 0x00, 0x01, 0x7f)); // () -> i32
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
    const extra = 1 + (this.#fuel ? 1 : 0) + this.#mutableGlobals.length;
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
    this.#name(w, COUNTDOWN_EXPORT);
    w.byte(0x03); // global
    w.u32(this.#countdown);
    if (this.#fuel) {
      this.#name(w, FUEL_EXPORT);
      w.byte(0x03); // global
      w.u32(this.#fuelGlobal);
    }
    for (const g of this.#mutableGlobals) {
      this.#name(w, `${GLOBAL_EXPORT_PREFIX}${g}`);
      w.byte(0x03); // global
      w.u32(g);
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

  #code(): { functions: number; leaves: number; bulk: number; loops: number; fuelSegments: number } {
    const w = this.#scratch;
    w.reset();
    const info = this.#info;
    const imported = this.#check;
    const rewriter = new CodeRewriter(this.#bytes, {
      check: this.#check,
      countdown: this.#countdown,
      fuel: this.#fuelGlobal,
      paramsOf: (funcIndex) => info.types[info.functions[funcIndex - imported]!]!.params.length,
    });
    w.u32(this.#info.code.length);
    for (const body of this.#info.code) rewriter.rewrite(body, w);
    this.#branchHints(rewriter.hints);
    this.#out.byte(10);
    this.#out.u32(w.length);
    this.#out.append(w);
    return rewriter.counts;
  }

  /**
   * Writes a `metadata.code.branch_hint` section (branch hinting proposal, shipped in V8) marking every
   * inserted `if` unlikely, so V8 moves the `__check` call out of the hot path (with it, a loop's registers
   * need not be saved around a call that almost never happens). Hints change no behaviour. It must precede
   * the code section.
   */
  #branchHints(hints: readonly (readonly [funcIndex: number, offsets: readonly number[]])[]): void {
    const w = new ByteWriter(1024);
    this.#name(w, BRANCH_HINT_SECTION);
    w.u32(hints.length);
    for (const [funcIndex, offsets] of hints) {
      w.u32(funcIndex);
      w.u32(offsets.length);
      for (const offset of offsets) {
        w.u32(offset);
        w.u32(1); // hint size
        w.byte(0x00); // unlikely
      }
    }
    this.#out.byte(0);
    this.#out.u32(w.length);
    this.#out.append(w);
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
