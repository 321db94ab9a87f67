/**
 * Validation before instrumentation: a module is checked as the WebAssembly specification defines (by V8,
 * the engine that will run it) **and** against the explicit list of features Kiln runs, on the binary its
 * author wrote, before a single byte is rewritten.
 *
 * Why before: the instrumenter appends state of its own (the countdown and fuel globals, the `__check`
 * import). Code that names a global or function index the original module does not declare is invalid, but
 * it becomes valid once those are appended, and would then reset the countdown or refill the fuel. A module
 * that passes here addresses only its own index spaces, so nothing it runs can reach what Kiln adds.
 *
 * Features (names as the WebAssembly proposals spell them):
 *
 * | feature | Kiln |
 * |---|---|
 * | MVP, mutable globals, sign extension, non-trapping float-to-int, multi-value, bulk memory, reference types, extended constant expressions | runs |
 * | fixed-width SIMD, relaxed SIMD, tail calls | runs |
 * | exception handling (legacy `try`/`catch`, `try_table`, `exnref` values) | runs: the budget interrupt is a trap, which no handler catches (a table of `exnref` is refused) |
 * | threads: atomic instructions on an unshared memory | runs (an atomic wait on an unshared memory traps) |
 * | threads: a `shared` memory | refused: `memory.atomic.wait` on it would park the executor's thread |
 * | multi-memory (more than one memory) | refused: a module has one memory, capped by `max_memory_mb` |
 * | memory64, GC and typed function references, stringref, stack switching | refused |
 *
 * @module
 */
import { KilnError } from "../../errors.ts";
import { InstructionReader } from "./_code.ts";
import { readModule } from "./reader.ts";
import { WasmUnsupportedError } from "./errors.ts";
import type { WasmModuleInfo } from "./types.ts";

/** The features Kiln runs, by proposal name (see the module documentation). */
export const SUPPORTED_FEATURES: readonly string[] = Object.freeze([
  "mvp",
  "mutable-globals",
  "sign-extension",
  "nontrapping-float-to-int",
  "multi-value",
  "bulk-memory",
  "reference-types",
  "extended-const",
  "simd",
  "relaxed-simd",
  "tail-call",
  "exception-handling",
  "threads (atomic instructions on an unshared memory)",
]);

/** A module binary the specification does not accept: V8's validation message says where. */
export class WasmInvalidError extends KilnError {
  readonly code = "wasm_invalid";
  readonly kind = "rejected";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Validates a module binary before it is instrumented: decodes it (every section, every instruction
 * shape), refuses the features Kiln does not run, and has V8 validate it as the specification defines
 * (types, index spaces, stack discipline of every function).
 *
 * @param bytes The module binary exactly as deployed.
 * @param info The decoded module when the caller already has it.
 * @returns The decoded module.
 * @throws {WasmFormatError} When the binary is malformed.
 * @throws {WasmUnsupportedError} When the module uses a feature Kiln refuses (`feature` names it).
 * @throws {WasmInvalidError} When the module is well formed but invalid, e.g. it names a global it does not
 *   declare.
 */
export function validateModule(bytes: Uint8Array, info: WasmModuleInfo = readModule(bytes)): WasmModuleInfo {
  const memorySection = info.sections.find((s) => s.name === "memory");
  const at = { offset: memorySection?.start ?? 0, section: "memory" };
  if (info.memories.length > 1) {
    throw new WasmUnsupportedError(
      "multi-memory",
      `The module defines ${info.memories.length} memories; Kiln runs modules with one memory, capped by ` +
        `limits.max_memory_mb`,
      at,
    );
  }
  const shared = info.memories.findIndex((m) => m.shared);
  if (shared >= 0) {
    throw new WasmUnsupportedError(
      "threads",
      `Memory ${shared} is declared shared; Kiln refuses shared memories, on which memory.atomic.wait ` +
        `would block the executor's thread`,
      at,
    );
  }
  // Kiln's own decoder over every function body: V8 accepts GC and typed function references (a block
  // type `structref`, the 0xFB instructions), which the decoder refuses with the feature named.
  for (const body of info.code) {
    const r = new InstructionReader(bytes, body.exprStart, body.end, `function ${body.funcIndex}`, true);
    while (r.next()) { /* each instruction's shape is checked as it is read */ }
  }
  const view = bytes as Uint8Array<ArrayBuffer>;
  if (!WebAssembly.validate(view)) {
    // `validate` says only yes or no; compiling gives V8's reason, with the function and byte offset.
    let reason = "WebAssembly.validate refused it";
    try {
      new WebAssembly.Module(view);
    } catch (err) {
      reason = (err as Error).message.replace(/^WebAssembly\.Module\(\): /, "");
    }
    throw new WasmInvalidError(`The module is not valid WebAssembly: ${reason}`);
  }
  return info;
}
