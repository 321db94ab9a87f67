/**
 * Module ABI v1 as data: the host imports Kiln provides, the exports it calls, and their exact signatures.
 * `modules/ABI.md` is the prose contract; this table is what loading and linking check against.
 *
 * @module
 */

/** The ABI version this host implements; modules export `kiln_abi_version` returning it. */
export const ABI_VERSION = 1;

/** The import namespace of Kiln's host functions. */
export const HOST_NAMESPACE = "kiln";

/** A value type as the binary format names it. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref" | "exnref";

/** A function signature: parameter and result types. */
export interface FuncSig {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** One host import of the `kiln` namespace. */
export interface HostImport extends FuncSig {
  /**
   * The capability class a granted capability must cover for the import to be linked, e.g. `"read:sim:*"`;
   * `null` for core imports every module gets (logging, time, its own outputs).
   */
  readonly capability: string | null;
}

const sig = (params: ValType[], results: ValType[]) => ({ params, results });

/**
 * A frozen lookup table without a prototype: indexed by names a module chooses (its imports and exports),
 * so `"constructor"` or `"__proto__"` must find nothing rather than a member of `Object.prototype`.
 */
export function nameTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

/** The `kiln` host imports of ABI v1, by name. */
export const HOST_IMPORTS: Readonly<Record<string, HostImport>> = nameTable({
  log: { ...sig(["i32", "i32", "i32"], ["i32"]), capability: null },
  now_us: { ...sig([], ["i64"]), capability: null },
  param_f64: { ...sig(["i32", "i32", "f64"], ["f64"]), capability: null },
  data: { ...sig(["i32", "i32", "i32"], ["i32"]), capability: null },
  input: { ...sig(["i32", "i32"], ["i32"]), capability: "read:*:*" },
  output: { ...sig(["i32", "i32", "f64"], ["i32"]), capability: null },
  output_array: { ...sig(["i32", "i32", "i32", "i32"], ["i32"]), capability: null },
  alert: { ...sig(["i32", "i32", "i32"], ["i32"]), capability: null },
  gpio_read: { ...sig(["i32"], ["i32"]), capability: "read:gpio:*" },
  gpio_write: { ...sig(["i32", "i32"], ["i32"]), capability: "write:gpio:*" },
  publish: { ...sig(["i32", "i32", "i32", "i32"], ["i32"]), capability: "write:mqtt:*" },
  channel_write: { ...sig(["i32", "i32", "i32"], ["i32"]), capability: "write:channel:*" },
  actuate: { ...sig(["i32", "f64"], ["i32"]), capability: "write:*:*" },
});

/** The exports Kiln calls, with their required signatures. */
export const MODULE_EXPORTS: Readonly<Record<string, FuncSig>> = nameTable({
  kiln_abi_version: sig([], ["i32"]),
  kiln_alloc: sig(["i32"], ["i32"]),
  kiln_init: sig([], ["i32"]),
  kiln_on_samples: sig(["i32", "i32"], ["i32"]),
  kiln_on_tick: sig(["i64"], ["i32"]),
  kiln_on_event: sig(["i32", "i32", "i32"], ["i32"]),
  kiln_on_record: sig(["i32", "i32"], ["i32"]),
});

/** Status codes host functions return to modules (negative, errno-like). */
export const Status = {
  OK: 0,
  EFAULT: -1,
  ENOENT: -2,
  EDENIED: -3,
  ELIMIT: -4,
  EINVAL: -5,
} as const;

/** Formats a signature the way `kiln inspect` and error messages print it: `(i32, i32) -> i32`. */
export function formatSig(s: FuncSig): string {
  const results = s.results.length === 0
    ? "()"
    : s.results.length === 1
    ? s.results[0]
    : `(${s.results.join(", ")})`;
  return `(${s.params.join(", ")}) -> ${results}`;
}

/** True when two signatures are identical. */
export function sameSig(a: FuncSig, b: FuncSig): boolean {
  return a.params.length === b.params.length && a.results.length === b.results.length &&
    a.params.every((t, i) => t === b.params[i]) && a.results.every((t, i) => t === b.results[i]);
}
