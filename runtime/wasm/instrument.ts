/**
 * Load-time instrumentation for CPU budgets. A module runs synchronously in its executor, where no JS
 * timer can stop a Wasm loop, so the binary itself is rewritten to call back into the host at bounded
 * intervals, as Wasmtime's epoch interruption and fuel do:
 *
 * - A new function import `kiln.__check: () -> i32` is appended after the module's function imports, and a
 *   mutable i32 global `countdown` (initialised to `checkInterval`) after its globals.
 * - Every function entry (except in leaf functions: no loop, no call, so each instruction runs at most once
 *   and the time they take is bounded by their size) and every loop header decrements `countdown`; so does
 *   every bulk memory or table instruction, by one more per 64 bytes (elements) it moves, since one such
 *   instruction can copy a whole memory; when it reaches 0 the module calls
 *   `__check`, which either throws (a JS exception unwinds the Wasm stack: the invocation is interrupted) or
 *   returns the next countdown. Straight-line code is bounded and recursion passes function entries, so
 *   the time between two checks is bounded by `checkInterval` times the longest loop-free path.
 * - With `fuel`, an exported mutable i64 global `__kiln_fuel` (initially {@linkcode INITIAL_FUEL}) is
 *   charged at the start of every straight-line segment with the segment's instruction count, and
 *   `__check` is called after every charge that leaves it below 0 (so the host should throw, or refill
 *   it, there); `__check`'s result still becomes the countdown.
 * - `__check` returns 0 to interrupt: the inserted code then executes `unreachable`, a trap that Wasm
 *   exception handlers cannot catch (only host-thrown exceptions can be caught), so an interrupt always ends
 *   the whole call. The countdown is exported as `__kiln_countdown` so that a host call that finds the call
 *   past its deadline can set it to 0 and the next check site interrupts at once.
 * - The module must have been validated first (`validateModule`): an invalid module could name the globals
 *   appended here. The code rewrite also refuses any instruction naming a global past the module's own.
 * - Every mutable global the module defines is exported as `__kiln_global_<global index>`, so snapshots
 *   can save and restore it (clang's `__stack_pointer` lives in one).
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
 * initialisers and the `name` section. Every other section is copied byte for byte, except the module's own
 * `metadata.code.*` custom sections (branch hints), which locate instructions by byte offsets that the
 * rewrite invalidates and are dropped; DWARF `.debug_*` sections are copied and go stale the same way. A new
 * `metadata.code.branch_hint` section, just before the code section, marks every inserted `if` unlikely:
 * without it V8 lays the rarely taken `__check` call out in the hot path (measured on the FFT module: fuel
 * metering cost about 60% instead of about 25%, the interrupt checks up to 15% instead of 6-10%).
 *
 * @module
 */
import { KilnError } from "../../errors.ts";
import type { InstrumentResult } from "./_instrument_result.ts";
import { ModuleRewriter } from "./_rewrite.ts";
import { CHECK_IMPORT, DEFAULT_CHECK_INTERVAL, RESERVED_EXPORT_PREFIX } from "./constants.ts";
import { readModule } from "./reader.ts";

export {
  CHECK_IMPORT,
  COUNTDOWN_EXPORT,
  DEFAULT_CHECK_INTERVAL,
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  INITIAL_FUEL,
  RESERVED_EXPORT_PREFIX,
} from "./constants.ts";
export type { InstrumentResult } from "./_instrument_result.ts";

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

/** A module already has the import or export the instrumenter adds, e.g. it was instrumented before. */
export class InstrumentConflictError extends KilnError {
  readonly code = "wasm_instrumented";
  readonly kind = "rejected";
  constructor(
    /** `"import"` or `"export"` (not `kind`: a Kiln error's `kind` is its `ErrorKind`). */
    readonly declaredAs: "import" | "export",
    /** The conflicting name, e.g. `"kiln.__check"`. */
    readonly field: string,
  ) {
    super(`Cannot instrument the module: it already ${declaredAs}s "${field}", which the instrumenter adds`);
  }
}

/**
 * Rewrites a module so that it calls `kiln.__check` at bounded intervals, and with `fuel` meters its
 * instructions (see the module documentation for the exact rewrite and the fuel accounting rule).
 *
 * @param bytes The module binary.
 * @param options Fuel metering and the check interval.
 * @returns The new binary and counts of what was inserted; `bytes` is not modified.
 * @throws {InstrumentConflictError} When the module imports a `kiln.__` name (the hook the instrumenter
 *   adds) or exports a name starting `__kiln_` (the names it exports).
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
  const hook = info.imports.find((i) => i.module === CHECK_IMPORT.module && i.name.startsWith("__"));
  if (hook) throw new InstrumentConflictError("import", `${hook.module}.${hook.name}`);
  const taken = info.exports.find((e) => e.name.startsWith(RESERVED_EXPORT_PREFIX));
  if (taken) throw new InstrumentConflictError("export", taken.name);
  return new ModuleRewriter(bytes, info, options.fuel ?? false, interval).run();
}
