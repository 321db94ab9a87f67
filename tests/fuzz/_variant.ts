/**
 * What the fuzz does with one module, derived from its seed alone: the random bytes binaryen's
 * translate-to-fuzz turns into a module, the features it may use, the harness's edits of the result, and the
 * limits it runs under. So `deno task fuzz --seed S --count 1` rebuilds module S exactly.
 *
 * @module
 */

/** A feature set and what Kiln must do with its modules. */
export type Profile =
  /** Features Kiln runs: must pass validation and instrumentation. */
  | "supported"
  /** Supported features around `seeds/hostile.wat` (runaway loops, catch_all, grow, recursion). */
  | "hostile"
  /** Threads around `seeds/atomics.wat`, memory made unshared: atomics run, a wait traps. */
  | "atomics"
  /** Binaryen 108's reference types, which predate the final proposal: V8 refuses most (invalid). */
  | "reftypes"
  /** Threads as binaryen emits them: a shared memory, which Kiln refuses. */
  | "threads"
  /** GC types: refused. */
  | "gc"
  /** A supported module whose memory the harness marks 64-bit: refused. */
  | "memory64"
  /** A supported module given a second memory by the harness: refused. */
  | "multi-memory"
  /** A supported module whose memory the harness marks shared: refused. */
  | "shared";

/** How the harness edits binaryen's output before Kiln sees it. */
export interface Edits {
  /** Set binaryen's hang-limit global to 2^31 - 1 (and never call `hangLimitInitializer`). */
  defuse: boolean;
  /** Drop the memory's maximum, so that only Kiln's cap bounds `memory.grow`. */
  dropMemoryMax: boolean;
  /** Memory flag edits: clear shared, set shared, set 64-bit, add a second memory. */
  memory: "unshare" | "share" | "memory64" | "add" | null;
}

/** Everything the fuzz decides about one module. */
export interface Variant {
  seed: number;
  profile: Profile;
  /** `wasm-opt` feature flags, after `-mvp`. */
  features: string[];
  /** The initial content file under `seeds/` (`--initial-fuzz`), or null. */
  initial: string | null;
  /** Random bytes fed to translate-to-fuzz. */
  inputBytes: number;
  edits: Edits;
  /** Memory cap (the manifest's `limits.max_memory_mb`). */
  maxMemoryMb: number;
  /** The call budget (`budget_us`); calls after the first are interrupted at 1.5x it. */
  budgetUs: number;
  /** Instructions per call (`limits.fuel`), or null for no fuel metering. */
  fuel: number | null;
}

/** The features Kiln runs that binaryen 108's translate-to-fuzz can emit (its flag names). */
export const SUPPORTED_FLAGS: readonly string[] = [
  "sign-ext",
  "mutable-globals",
  "nontrapping-float-to-int",
  "simd",
  "relaxed-simd",
  "bulk-memory",
  "exception-handling",
  "tail-call",
  "multivalue",
  "extended-const",
];

/** The features `seeds/hostile.wat` uses. */
const HOSTILE_FLAGS = ["exception-handling", "tail-call", "bulk-memory", "sign-ext", "mutable-globals"];

/** Profiles by weight (out of 100). */
const PROFILES: readonly [Profile, number][] = [
  ["supported", 55],
  ["hostile", 12],
  ["atomics", 5],
  ["reftypes", 5],
  ["threads", 8],
  ["gc", 5],
  ["memory64", 3],
  ["multi-memory", 4],
  ["shared", 3],
];

/**
 * A seeded generator of 32-bit values: a Weyl sequence passed through MurmurHash3's 32-bit finaliser.
 * Statistically plenty for picking inputs; not for anything secret.
 */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** The next value in 0 to 2^32 - 1. */
  u32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
    }
    return out;
  }
}

/** The seed of the `index`th module of a run started at `runSeed`. */
export function moduleSeed(runSeed: number, index: number): number {
  return (runSeed + index) >>> 0;
}

/**
 * Derives a module's variant from its seed; `budgetUs` is the run's call budget. The random input bytes
 * come from {@linkcode inputOf} with the same seed.
 */
export function variantOf(seed: number, budgetUs: number): Variant {
  const r = new Random(seed);
  let roll = r.int(0, 99);
  let profile: Profile = "supported";
  for (const [p, weight] of PROFILES) {
    if (roll < weight) {
      profile = p;
      break;
    }
    roll -= weight;
  }
  const some = SUPPORTED_FLAGS.filter((f) => f !== "relaxed-simd" && r.chance(0.7));
  if (some.includes("simd") && r.chance(0.5)) some.push("relaxed-simd");
  const edits: Edits = { defuse: false, dropMemoryMax: false, memory: null };
  let features = some;
  let initial: string | null = null;
  switch (profile) {
    case "supported":
      edits.defuse = r.chance(0.3);
      break;
    case "hostile":
      features = [...new Set([...some, ...HOSTILE_FLAGS])];
      initial = "hostile";
      edits.defuse = r.chance(0.9);
      edits.dropMemoryMax = r.chance(0.5);
      break;
    case "atomics":
      features = ["threads", "bulk-memory", "sign-ext"];
      initial = "atomics";
      edits.defuse = true;
      edits.memory = "unshare";
      break;
    case "reftypes":
      features = [...some, "reference-types"];
      break;
    case "threads":
      features = [...some, "threads"];
      break;
    case "gc":
      features = [...some, "reference-types", "gc"];
      break;
    case "memory64":
      edits.memory = "memory64";
      break;
    case "multi-memory":
      edits.memory = "add";
      break;
    case "shared":
      edits.memory = "share";
      break;
  }
  return {
    seed,
    profile,
    features,
    initial,
    inputBytes: r.int(256, 6144),
    edits,
    maxMemoryMb: r.pick([1, 2, 4]),
    budgetUs,
    fuel: r.chance(0.2) ? r.pick([10_000, 1_000_000]) : null,
  };
}

/** The bytes translate-to-fuzz reads for `variant` (a stream of its own, apart from the choices above). */
export function inputOf(variant: Variant): Uint8Array {
  return new Random(variant.seed ^ 0x5bd1e995).bytes(variant.inputBytes);
}

/** The `wasm-opt` arguments that generate `variant` from `input` into `output`. */
export function wasmOptArgs(variant: Variant, input: string, output: string, seedsDir: string): string[] {
  const args = [input, "--translate-to-fuzz", "-mvp", ...variant.features.map((f) => `--enable-${f}`)];
  if (variant.initial) args.push("--initial-fuzz", `${seedsDir}/${variant.initial}.wasm`);
  args.push("-o", output);
  return args;
}
