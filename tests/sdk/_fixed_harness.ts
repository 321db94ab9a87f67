/**
 * Builds the three fixed-point test harnesses (`tests/sdk/fixtures/fixed_harness.{c,rs}`,
 * `fixed_harness_as.ts`) and instantiates them in Deno's WebAssembly, each exporting the same functions under
 * the C names. Private to `tests/sdk/`.
 *
 * @module
 */
import { CFLAGS } from "../../modules/build.ts";
import { buildAssemblyScriptModule, RUSTC, RUSTC_FLAGS } from "../../modules/sdk/toolchains.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

/** The exports every harness has (i16 arguments and results travel as i32). */
export interface HarnessExports {
  memory: WebAssembly.Memory;
  buffer(): number;
  q15_mul(a: number, b: number): number;
  q31_mul(a: number, b: number): number;
  q15_add(a: number, b: number): number;
  q15_sub(a: number, b: number): number;
  q31_add(a: number, b: number): number;
  q31_sub(a: number, b: number): number;
  q15_abs(a: number): number;
  q15_from_q31(a: number): number;
  q31_from_q15(a: number): number;
  q15_from_f64(x: number): number;
  q31_from_f64(x: number): number;
  q15_to_f64(a: number): number;
  q31_to_f64(a: number): number;
  isqrt_u64(x: bigint): number;
  q15_mean(ptr: number, n: number): number;
  q15_rms(ptr: number, n: number): number;
  q15_peak(ptr: number, n: number): number;
  spectrum_peak_bin(ptr: number, n: number, first: number): number;
  fft_window(samples: number, dc: number, data: number): void;
  fft(data: number): number;
  fft_power(data: number, power: number): void;
  twiddle(i: number): number;
  hann(i: number): number;
}

/** One language's harness. */
export interface Harness {
  lang: "c" | "rust" | "as";
  fns: HarnessExports;
}

async function run(command: string, args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(command, {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  if (code !== 0) throw new Error(`${command} exited with ${code}:\n${new TextDecoder().decode(stderr)}`);
}

/** Stubs for whatever a harness imports (the AssemblyScript abort handler logs through `kiln.log`). */
function stubImports(module: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, () => number>> = Object.create(null);
  for (const { module: ns, name, kind } of WebAssembly.Module.imports(module)) {
    if (kind !== "function") throw new Error(`A harness imports ${kind} "${ns}.${name}"`);
    (imports[ns] ??= Object.create(null))[name] = () => 0;
  }
  return imports;
}

async function instantiate(lang: Harness["lang"], path: string): Promise<Harness> {
  const module = new WebAssembly.Module(await Deno.readFile(path));
  const instance = new WebAssembly.Instance(module, stubImports(module));
  return { lang, fns: instance.exports as unknown as HarnessExports };
}

/**
 * Builds the C (clang-19, the modules' flags), Rust (Debian's rustc, `fixed.rs` compiled as a `#![no_std]`
 * module on its own, without the rest of the `kiln` crate) and AssemblyScript (asc through
 * `modules/sdk/toolchains.ts`, with the SDK's `index.ts`) harnesses, warnings as errors for C and Rust.
 */
export async function buildHarnesses(): Promise<Harness[]> {
  const dir = await Deno.makeTempDir({ prefix: "kiln_fixed_" });
  try {
    // Warnings are errors: the helpers must build cleanly wherever a module author includes them.
    await run("clang-19", [
      ...CFLAGS,
      "-Werror",
      `${FIXTURES}fixed_harness.c`,
      "modules/sdk/kiln_fixed.c",
      "-Imodules/sdk",
      "-o",
      `${dir}/c.wasm`,
    ], ROOT);
    await run(RUSTC, [
      ...RUSTC_FLAGS,
      "--crate-type",
      "cdylib",
      "-D",
      "warnings",
      "-o",
      `${dir}/rust.wasm`,
      `${FIXTURES}fixed_harness.rs`,
    ], ROOT);
    await buildAssemblyScriptModule(`${FIXTURES}fixed_harness_as.ts`, `${dir}/as.wasm`, {
      timeoutMs: BUILD_TIMEOUT_MS,
    });
    return [
      await instantiate("c", `${dir}/c.wasm`),
      await instantiate("rust", `${dir}/rust.wasm`),
      await instantiate("as", `${dir}/as.wasm`),
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Copies `values` into the harness's scratch buffer at `offsetBytes`; returns their address. */
export function writeI16(h: Harness, offsetBytes: number, values: ArrayLike<number>): number {
  const ptr = h.fns.buffer() + offsetBytes;
  new Int16Array(h.fns.memory.buffer, ptr, values.length).set(values);
  return ptr;
}

/** Copies `values` into the harness's scratch buffer at `offsetBytes`; returns their address. */
export function writeU32(h: Harness, offsetBytes: number, values: ArrayLike<number>): number {
  const ptr = h.fns.buffer() + offsetBytes;
  new Uint32Array(h.fns.memory.buffer, ptr, values.length).set(values);
  return ptr;
}

/** A copy of `count` i16 at `ptr`. */
export function readI16(h: Harness, ptr: number, count: number): Int16Array {
  return new Int16Array(h.fns.memory.buffer, ptr, count).slice();
}

/** A copy of `count` u32 at `ptr`. */
export function readU32(h: Harness, ptr: number, count: number): Uint32Array {
  return new Uint32Array(h.fns.memory.buffer, ptr, count).slice();
}

/** A seeded PRNG (mulberry32): the same seed gives the same vectors on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
