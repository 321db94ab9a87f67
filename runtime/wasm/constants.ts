/**
 * The names and values instrumentation shares with the host that runs instrumented modules. Kept apart
 * from the instrumenter so that an executor worker loads these few lines, not the binary tooling.
 *
 * @module
 */

/** The import every instrumented module calls when its countdown or its fuel runs out. */
export const CHECK_IMPORT: Readonly<{ module: "kiln"; name: "__check" }> = {
  module: "kiln",
  name: "__check",
};

/** The exported i64 global holding the fuel left, with `fuel: true`. */
export const FUEL_EXPORT = "__kiln_fuel";

/**
 * The exported i32 countdown to the next `__check`: the host sets it to 0 when a host call finds the call
 * past its deadline, so that the very next check site interrupts it.
 */
export const COUNTDOWN_EXPORT = "__kiln_countdown";

/** Every name the rewrite exports starts with this; a module's own exports may not. */
export const RESERVED_EXPORT_PREFIX = "__kiln_";

/**
 * Prefix of the exports the rewrite adds for the module's own mutable globals (`__kiln_global_<index>`, by
 * global index), so that a snapshot can read and restore them: clang keeps `__stack_pointer` in one, and
 * a restored memory is useless without it.
 */
export const GLOBAL_EXPORT_PREFIX = "__kiln_global_";

/** The fuel global's initial value (2^63 - 1): the start function never runs out of fuel. */
export const INITIAL_FUEL: bigint = 0x7fff_ffff_ffff_ffffn;

/**
 * Check sites (function entries and loop iterations) between two calls of `kiln.__check` by default: the
 * initial countdown.
 */
export const DEFAULT_CHECK_INTERVAL = 1000;
