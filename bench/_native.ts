/**
 * Building and running the native side of the wasm-vs-native benchmarks: C sources compiled with the
 * machine's gcc (and, for a Wasm twin, clang-19) into a temporary directory, and programs that print one
 * JSON object.
 *
 * @module
 */
import { ROOT } from "./_plan.ts";

/** Flags of every native build: `-ffp-contract=off` keeps gcc from fusing multiply-adds that Wasm cannot. */
export const GCC_FLAGS: readonly string[] = ["-O2", "-ffp-contract=off", "-std=c11", "-Wall", "-Wextra"];

/** Flags of a freestanding Wasm build with clang-19, as `modules/build.ts` builds the modules. */
export const CLANG_WASM_FLAGS: readonly string[] = [
  "--target=wasm32",
  "-O2",
  "-msimd128",
  "-nostdlib",
  "-ffreestanding",
  "-std=c11",
  "-Wall",
  "-Wextra",
  "-Wl,--no-entry",
  "-Wl,--strip-all",
];

/** A compiler that is not installed: the benchmark reports its figures as null with this message. */
export class CompilerMissingError extends Error {
  override readonly name = "CompilerMissingError";
}

/** The first line of `<tool> --version`, or null when the tool is not installed. */
export async function toolVersion(tool: string): Promise<string | null> {
  try {
    const { code, stdout } = await new Deno.Command(tool, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(60_000),
    })
      .output();
    return code === 0 ? new TextDecoder().decode(stdout).split("\n")[0]!.trim() : null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

let tempDir: string | null = null;

/** Where builds go: one temporary directory per benchmark process. */
async function outDir(): Promise<string> {
  tempDir ??= await Deno.makeTempDir({ prefix: "kiln-bench-native-" });
  return tempDir;
}

/**
 * Compiles `sources` (paths relative to the repository root) with `compiler` and `flags` (then `libs`) into
 * `<tmp>/<name>` and returns its path.
 *
 * @throws {CompilerMissingError} when the compiler is not installed.
 * @throws {Error} when the build fails: a broken benchmark, never a figure to leave out.
 */
export async function compile(
  compiler: "gcc" | "clang-19",
  name: string,
  options: { sources: readonly string[]; flags: readonly string[]; libs?: readonly string[] },
): Promise<string> {
  const out = `${await outDir()}/${name}`;
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(compiler, {
      args: [...options.flags, ...options.sources, ...(options.libs ?? []), "-o", out],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(300_000),
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new CompilerMissingError(`Cannot build "${name}": ${compiler} is not installed`, { cause: err });
    }
    throw err;
  }
  if (result.code !== 0) {
    const stderr = new TextDecoder().decode(result.stderr).trim();
    throw new Error(`Cannot build "${name}" with ${compiler}: ${stderr.slice(0, 2000)}`);
  }
  return out;
}

/** The CPU this thread last ran on (Linux, `/proc/thread-self/stat` field 39), or null. */
export async function currentCpu(): Promise<number | null> {
  const stat = await Deno.readTextFile("/proc/thread-self/stat").catch(() => "");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3
  const cpu = Number(fields[36]);
  return Number.isInteger(cpu) ? cpu : null;
}

/**
 * Runs a program that prints one JSON object and returns it.
 *
 * @throws {Error} when it exits with a non-zero status.
 */
export async function runJson<T>(program: string, args: readonly string[]): Promise<T> {
  const { code, stdout, stderr } = await new Deno.Command(program, {
    args: [...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(600_000),
  }).output();
  if (code !== 0) {
    throw new Error(
      `"${program}" exited with ${code}: ${new TextDecoder().decode(stderr).trim().slice(0, 2000)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(stdout)) as T;
}

/** FNV-1a (32-bit) over 16-bit values as little-endian bytes, as `bench/native/module_bench.c` hashes them. */
export function fnv1a16(values: Int16Array): number {
  let h = 2166136261;
  for (const value of values) {
    const v = value & 0xffff;
    h = Math.imul(h ^ (v & 0xff), 16777619) >>> 0;
    h = Math.imul(h ^ (v >>> 8), 16777619) >>> 0;
  }
  return h >>> 0;
}
