/**
 * What to do next, for the import and export problems people hit writing their first module: a misspelled
 * import or handler ("did you mean"), a function from libm or libc that modules do not link, a `kiln`
 * function declared without its import module, the exports `kiln_rt.c` (or an SDK) provides. Each hint is
 * appended to the loader's plain reason (`loader.ts`), so the reason stays what tests and scripts match.
 *
 * @module
 */
import { closest } from "./_near.ts";

/** libm functions with a Wasm instruction behind a compiler builtin: `sqrt` → `__builtin_sqrt` (f64.sqrt). */
const WASM_MATH = new Set([
  "sqrt",
  "sqrtf",
  "fabs",
  "fabsf",
  "floor",
  "floorf",
  "ceil",
  "ceilf",
  "trunc",
  "truncf",
  "nearbyint",
  "nearbyintf",
  "rint",
  "rintf",
  "fmin",
  "fminf",
  "fmax",
  "fmaxf",
  "copysign",
  "copysignf",
]);

/** libm functions without one: `kmath.h` has small versions (C), the fixed-point helpers integer ones. */
const LIBM = new Set([
  "sin",
  "sinf",
  "cos",
  "cosf",
  "tan",
  "tanf",
  "exp",
  "expf",
  "exp2",
  "log",
  "logf",
  "log2",
  "log2f",
  "log10",
  "log10f",
  "pow",
  "powf",
  "fmod",
  "fmodf",
  "atan",
  "atan2",
  "atan2f",
  "asin",
  "acos",
  "hypot",
  "round",
  "roundf",
  "lround",
  "tanh",
]);

const ALLOCATOR = new Set(["malloc", "free", "calloc", "realloc", "aligned_alloc", "posix_memalign"]);
const MEMORY = new Set(["memcpy", "memset", "memmove", "memcmp", "strlen"]);
const STDIO = new Set(["printf", "puts", "putchar", "fprintf", "sprintf", "snprintf", "fputs", "write"]);
const LINKER = new Set(["__linear_memory", "__stack_pointer", "__indirect_function_table", "__memory_base"]);

/** The exports `kiln_rt.c` defines for a C module, and the Rust and AssemblyScript SDKs export themselves. */
const RUNTIME_EXPORTS = new Set(["kiln_abi_version", "kiln_alloc"]);

/**
 * The hint for an import of a `kiln` function the ABI does not have: the nearest name, if any.
 *
 * @param name the imported name.
 * @param known the ABI's function names.
 */
export function unknownFunctionHint(name: string, known: Iterable<string>): string {
  const near = closest(name, known);
  return near === null ? "" : `; did you mean "${near}"?`;
}

/**
 * The hint for an import from a namespace Kiln does not provide (`env` for an undefined C or Rust symbol):
 * the function's real home and what to use instead, or "" when there is nothing more useful to say.
 *
 * @param namespace the import's module name.
 * @param name the import's field name.
 * @param hostFunctions the `kiln` ABI's function names (a `kiln` function imported from `env`, under its
 *   name or with C's `kiln_` prefix, was declared without its import module).
 */
export function foreignImportHint(
  namespace: string,
  name: string,
  hostFunctions: ReadonlySet<string>,
): string {
  // C's kiln_log is the import "log": a declaration without KILN_IMPORT imports "env.kiln_log".
  const bare = name.startsWith("kiln_") ? name.slice("kiln_".length) : name;
  if (hostFunctions.has(bare)) {
    return `: "${bare}" is a kiln function declared without its import module; declare it with ` +
      `KILN_IMPORT(${bare}) in C (include kiln.h), #[link(wasm_import_module = "kiln")] in Rust or ` +
      `@external("kiln", "${bare}") in AssemblyScript, or use the SDK's binding`;
  }
  if (namespace !== "env") return "";
  if (WASM_MATH.has(name)) {
    return `: "${name}" comes from libm, which modules do not link; ` +
      `use __builtin_${name}() in C (one Wasm instruction) or the same method on f32/f64 in Rust`;
  }
  if (LIBM.has(name)) {
    return `: "${name}" comes from libm, which modules do not link; ` +
      `use kmath.h's kmath_sin/kmath_cos/kmath_log2 in C, or the fixed-point helpers (docs/fixed_point.md)`;
  }
  if (ALLOCATOR.has(name)) {
    return `: modules link no libc allocator; use kiln_alloc (kiln_rt.c's bump allocator) or a static buffer`;
  }
  if (MEMORY.has(name)) {
    return `: modules link no libc; compile with -mbulk-memory so clang emits memory.copy and memory.fill, ` +
      `or write the loop`;
  }
  if (STDIO.has(name)) {
    return `: a module has no stdout; log with kiln_log (kiln.h), or build a WASI module (fd_write)`;
  }
  if (name === "abort") {
    return `: AssemblyScript imports env.abort unless built with the SDK's options (docs/sdk.md)`;
  }
  if (LINKER.has(name)) {
    return `: this is a relocatable object, not a module; link it with wasm-ld (not -r or -shared)`;
  }
  return `: an undefined symbol becomes an "env" import; define "${name}" or link the file that does`;
}

/**
 * The hint for a required export the module lacks: where the runtime exports come from, or the nearest
 * name the module does export.
 *
 * @param name the missing export.
 * @param exported the names the module exports.
 */
export function missingExportHint(name: string, exported: Iterable<string>): string {
  const near = closest(name, exported);
  if (near !== null) return `; the module exports "${near}": did you mean "${name}"?`;
  if (RUNTIME_EXPORTS.has(name)) {
    return ` (kiln_rt.c defines it: add modules/sdk/kiln_rt.c to the build; ` +
      `the Rust and AssemblyScript SDKs export it for you)`;
  }
  return "";
}
