/**
 * Builds a Kiln module from Rust or AssemblyScript, reproducibly (the same sources give the same bytes, in
 * any folder): `modules/build.ts` builds the example modules with it, and the projects `kiln new` writes
 * print the same commands in their `build.sh`.
 *
 * - **Rust**: Debian's `/usr/bin/rustc` (1.63, package `rustc`) with the wasm32 standard library (package
 *   `libstd-rust-dev-wasm32`); no cargo. The `kiln` crate (`modules/sdk/rust/src/lib.rs`) is compiled to an
 *   rlib in a temporary folder, then the module as a `cdylib` against it: see {@link RUSTC_FLAGS}.
 * - **C**: Debian's `clang-19` and `lld-19`, freestanding (no libc), with `kiln.h` and `kiln_rt.c`: see
 *   {@link CLANG_FLAGS} (the flags `modules/build.ts` builds the demo modules with).
 * - **AssemblyScript**: the npm package `assemblyscript` at the version `deno.json` pins
 *   ({@link ASSEMBLYSCRIPT}), its `asc` run by this Deno: see {@link ascFlags}.
 *
 * @example
 * ```ts
 * import { buildRustModule } from "./toolchains.ts";
 *
 * const wasm = await buildRustModule("tests/sdk/fixtures/bindings/rust/module.rs", "/tmp/module.wasm");
 * ```
 *
 * @module
 */
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { KilnError } from "../../errors.ts";

/** Debian's rustc, by full path: a rustup `rustc` earlier on PATH may lack the wasm32 target. */
export const RUSTC = "/usr/bin/rustc";

/** The npm specifier of the AssemblyScript compiler; `deno.json` imports the same version. */
export const ASSEMBLYSCRIPT = "npm:assemblyscript@0.28.20";

/** The C SDK's folder in this repository (`kiln.h`, `kiln_rt.c`). */
export const C_SDK_DIR: string = new URL(".", import.meta.url).pathname;

/** The Rust `kiln` crate's source folder in this repository. */
export const RUST_SDK_DIR: string = new URL("./rust", import.meta.url).pathname;

/** The AssemblyScript bindings' folder in this repository (`assembly/index.ts` inside). */
export const ASSEMBLYSCRIPT_SDK_DIR: string = new URL("./assemblyscript", import.meta.url).pathname;

/** A toolchain build's default bound: a cold rustc or a first `asc` download, not a measure. */
export const DEFAULT_BUILD_TIMEOUT_MS = 300_000;

/**
 * clang-19 flags of a freestanding module: wasm32 with the features ABI v1 allows (bulk memory, SIMD), no
 * libc, no entry point, stripped (exports stay). Add `-I<sdk>` and the sources, `kiln_rt.c` among them.
 */
export const CLANG_FLAGS: readonly string[] = [
  "--target=wasm32",
  "-O2",
  "-std=c11",
  "-nostdlib",
  "-ffreestanding",
  "-mbulk-memory",
  "-msimd128",
  "-Wall",
  "-Wextra",
  "-Wl,--no-entry",
  "-Wl,--strip-all",
];

/**
 * rustc flags of both the `kiln` rlib and a module: wasm32 without a runtime, optimized, aborting on panic,
 * without debug info. Reproducibility: `--remap-path-prefix` (added per build) removes the folders.
 */
export const RUSTC_FLAGS: readonly string[] = [
  "--edition",
  "2021",
  "--target",
  "wasm32-unknown-unknown",
  "-C",
  "opt-level=3",
  "-C",
  "panic=abort",
  "-C",
  "debuginfo=0",
];

/**
 * rustc flags a module adds to {@link RUSTC_FLAGS}: strip the symbol names (`-C strip=symbols`, stable since
 * 1.59) and a 64 KiB stack like clang's, instead of rustc's 1 MiB, so a module fits a small
 * `limits.max_memory_mb`.
 */
export const RUSTC_MODULE_FLAGS: readonly string[] = [
  "--crate-type",
  "cdylib",
  "-C",
  "strip=symbols",
  "-C",
  "link-arg=-zstack-size=65536",
];

/**
 * `asc` flags of a module, with `abortPath` the global path (`<file without .ts>/kiln_abort`, relative to the
 * folder asc runs in) of the SDK's abort handler: asc's incremental garbage collector (with `--runtime stub`
 * nothing is ever freed, so a handler that builds a string per call would run out of memory; `kiln_alloc`
 * takes raw blocks the collector never frees, as the ABI wants), optimized, and `abort` mapped to the SDK's
 * `kiln_abort` (logs the message at error level, then traps), so the module imports no `env.abort`, which
 * the gateway refuses.
 */
export function ascFlags(abortPath: string): string[] {
  return ["--runtime", "incremental", "-O3", "--noColors", "--use", `abort=${abortPath}`];
}

/** A toolchain a build needs is not installed. */
export class ToolchainMissingError extends KilnError {
  readonly code = "toolchain_missing";
  readonly kind = "unavailable";
  /**
   * @param tool What is missing (`/usr/bin/rustc`, `the wasm32 standard library`).
   * @param install The command that installs it.
   */
  constructor(readonly tool: string, readonly install: string, options?: ErrorOptions) {
    super(`Cannot build the module: ${tool} is missing (install it with "${install}")`, options);
  }
}

/** A compiler ran and refused the sources, or did not finish in time. */
export class ToolchainBuildError extends KilnError {
  readonly code = "toolchain_build_failed";
  readonly kind = "failed";
  /**
   * @param tool The compiler (`rustc`, `asc`).
   * @param output What it printed (stderr then stdout), cut to 8 KiB.
   */
  constructor(readonly tool: string, readonly source: string, readonly output: string, reason: string) {
    super(`Cannot build "${source}" with ${tool}: ${reason}${output === "" ? "" : `\n${output}`}`);
  }
}

/** Options of {@link buildCModule}. */
export interface CBuildOptions {
  /** The folder with `kiln.h` and `kiln_rt.c`. @default C_SDK_DIR */
  sdkDir?: string;
  /** Bound of the clang run, in milliseconds. @default DEFAULT_BUILD_TIMEOUT_MS */
  timeoutMs?: number;
  /** Flags added after {@link CLANG_FLAGS}. @default [] */
  extraFlags?: readonly string[];
}

/** Options of {@link buildRustModule}. */
export interface RustBuildOptions {
  /** The rustc to run. @default RUSTC */
  rustc?: string;
  /** The `kiln` crate's folder (with `src/lib.rs`). @default RUST_SDK_DIR */
  sdkDir?: string;
  /** Bound of each rustc run, in milliseconds. @default DEFAULT_BUILD_TIMEOUT_MS */
  timeoutMs?: number;
  /** Flags added after the module flags (`-C`, `--cfg`...). @default [] */
  extraFlags?: readonly string[];
}

/** Options of {@link buildAssemblyScriptModule}. */
export interface AssemblyScriptBuildOptions {
  /** The bindings' folder (with `assembly/index.ts`). @default ASSEMBLYSCRIPT_SDK_DIR */
  sdkDir?: string;
  /** Bound of the asc run, in milliseconds. @default DEFAULT_BUILD_TIMEOUT_MS */
  timeoutMs?: number;
  /** Flags added after the module flags. @default [] */
  extraFlags?: readonly string[];
}

interface RunResult {
  code: number;
  output: string;
}

/** Runs a compiler with a bound; `null` when the binary does not exist. */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; timeoutMs: number; tool: string; source: string },
): Promise<RunResult | null> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(command, {
      args: [...args],
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(options.timeoutMs),
      env: { NO_COLOR: "1" },
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) {
      throw new ToolchainBuildError(
        options.tool,
        options.source,
        "",
        `no result after ${options.timeoutMs}ms`,
      );
    }
    throw err;
  }
  const text = new TextDecoder().decode(result.stderr) + new TextDecoder().decode(result.stdout);
  return { code: result.signal === null ? result.code : -1, output: text.slice(0, 8192).trimEnd() };
}

/**
 * Builds a C module with clang-19 ({@link CLANG_FLAGS}): `sources` (paths; `kiln_rt.c` of the SDK is added)
 * compiled and linked in the folder of the first, with the SDK on the include path, written to `output`.
 *
 * @returns The module's bytes, as written to `output`.
 * @throws {ToolchainMissingError} when clang-19 or wasm-ld-19 is not installed.
 * @throws {ToolchainBuildError} when clang refuses the sources, or runs past `timeoutMs`.
 */
export async function buildCModule(
  sources: readonly string[],
  output: string,
  options: CBuildOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const sdkDir = resolve(options.sdkDir ?? C_SDK_DIR);
  const paths = sources.map((s) => resolve(s));
  const cwd = dirname(paths[0] ?? join(sdkDir, "kiln_rt.c"));
  const source = paths[0] ?? "";
  const temp = await Deno.makeTempDir({ prefix: "kiln_c_" });
  try {
    const built = join(temp, "module.wasm");
    const result = await run("clang-19", [
      ...CLANG_FLAGS,
      `-I${relative(cwd, sdkDir) || "."}`,
      ...(options.extraFlags ?? []),
      ...paths.map((p) => relative(cwd, p)),
      relative(cwd, join(sdkDir, "kiln_rt.c")),
      "-o",
      built,
    ], { cwd, timeoutMs: options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS, tool: "clang-19", source });
    if (result === null) throw new ToolchainMissingError("clang-19", "apt-get install clang-19 lld-19");
    if (result.code !== 0) {
      if (/wasm-ld-19|unable to execute command|invalid linker/.test(result.output)) {
        throw new ToolchainMissingError("wasm-ld-19", "apt-get install lld-19");
      }
      throw new ToolchainBuildError("clang-19", source, result.output, `exit code ${result.code}`);
    }
    const bytes = await Deno.readFile(built);
    await Deno.mkdir(dirname(resolve(output)), { recursive: true });
    await Deno.writeFile(resolve(output), bytes);
    return bytes;
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
}

/**
 * Checks Debian's rustc and its wasm32 standard library; returns rustc's version line (`rustc 1.63.0`).
 *
 * @throws {ToolchainMissingError} when either is missing, naming the Debian package.
 */
export async function findRustToolchain(rustc: string = RUSTC, timeoutMs: number = 30_000): Promise<string> {
  const version = await run(rustc, ["--version"], { cwd: "/", timeoutMs, tool: "rustc", source: "" });
  if (version === null || version.code !== 0) {
    throw new ToolchainMissingError(rustc, "apt-get install rustc libstd-rust-dev-wasm32");
  }
  const sysroot = await run(rustc, ["--print", "sysroot"], {
    cwd: "/",
    timeoutMs,
    tool: "rustc",
    source: "",
  });
  const libDir = join(sysroot?.output.trim() ?? "/usr", "lib/rustlib/wasm32-unknown-unknown/lib");
  let hasCore = false;
  try {
    for await (const entry of Deno.readDir(libDir)) {
      if (entry.name.startsWith("libcore-") && entry.name.endsWith(".rlib")) hasCore = true;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (!hasCore) {
    throw new ToolchainMissingError(
      `the wasm32 standard library of rustc (${libDir})`,
      "apt-get install libstd-rust-dev-wasm32",
    );
  }
  return version.output.split("\n")[0]!;
}

/**
 * Builds a Rust module: the `kiln` crate to an rlib in a temporary folder, then `source` (a crate root with
 * `#![no_std]`, using `kiln::` and its handler macros) as a `cdylib` against it, written to `output`.
 * Reproducible: folders are remapped (`--remap-path-prefix`), symbols stripped, no debug info.
 *
 * @returns The module's bytes, as written to `output`.
 * @throws {ToolchainMissingError} when rustc or its wasm32 standard library is not installed.
 * @throws {ToolchainBuildError} when rustc refuses the crate or the module, or runs past `timeoutMs`.
 */
export async function buildRustModule(
  source: string,
  output: string,
  options: RustBuildOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const rustc = options.rustc ?? RUSTC;
  await findRustToolchain(rustc);
  const sdkDir = resolve(options.sdkDir ?? RUST_SDK_DIR);
  const timeoutMs = options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS;
  const sourcePath = resolve(source);
  const outputPath = resolve(output);
  const temp = await Deno.makeTempDir({ prefix: "kiln_rust_" });
  try {
    const rlib = join(temp, "libkiln.rlib");
    const lib = await run(rustc, [
      ...RUSTC_FLAGS,
      "--crate-type",
      "rlib",
      "--crate-name",
      "kiln",
      `--remap-path-prefix=${sdkDir}=kiln`,
      "-o",
      rlib,
      join(sdkDir, "src", "lib.rs"),
    ], { cwd: sdkDir, timeoutMs, tool: "rustc", source: join(sdkDir, "src", "lib.rs") });
    if (lib === null) throw new ToolchainMissingError(rustc, "apt-get install rustc libstd-rust-dev-wasm32");
    if (lib.code !== 0) {
      throw new ToolchainBuildError("rustc", join(sdkDir, "src/lib.rs"), lib.output, `exit code ${lib.code}`);
    }
    const built = join(temp, "module.wasm");
    const module = await run(rustc, [
      ...RUSTC_FLAGS,
      ...RUSTC_MODULE_FLAGS,
      "--crate-name",
      "module",
      `--remap-path-prefix=${dirname(sourcePath)}=.`,
      `--remap-path-prefix=${temp}=kiln`,
      "--extern",
      `kiln=${rlib}`,
      ...(options.extraFlags ?? []),
      "-o",
      built,
      basename(sourcePath),
    ], { cwd: dirname(sourcePath), timeoutMs, tool: "rustc", source: sourcePath });
    if (module === null) {
      throw new ToolchainMissingError(rustc, "apt-get install rustc libstd-rust-dev-wasm32");
    }
    if (module.code !== 0) {
      throw new ToolchainBuildError("rustc", sourcePath, module.output, `exit code ${module.code}`);
    }
    return await keepOutput(built, outputPath);
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
}

/** The deepest folder holding both paths. */
function commonFolder(a: string, b: string): string {
  const pa = a.split(sep);
  const pb = b.split(sep);
  let n = 0;
  while (n < pa.length && n < pb.length && pa[n] === pb[n]) n++;
  return pa.slice(0, n).join(sep) || sep;
}

/**
 * Builds an AssemblyScript module: `asc` (npm `assemblyscript`, {@link ASSEMBLYSCRIPT}) compiles `entry`
 * (which re-exports `kiln_abi_version` and `kiln_alloc` from the SDK and exports its handlers) with
 * {@link ascFlags}, in the deepest folder holding both the entry and the SDK so that the file names asc
 * keeps (abort messages) are relative ones. The first run downloads the package into Deno's cache (from the
 * npm registry); later ones run offline.
 *
 * @returns The module's bytes, as written to `output`.
 * @throws {ToolchainMissingError} when the package cannot be fetched or run.
 * @throws {ToolchainBuildError} when asc refuses the sources, or runs past `timeoutMs`.
 */
export async function buildAssemblyScriptModule(
  entry: string,
  output: string,
  options: AssemblyScriptBuildOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const sdkDir = resolve(options.sdkDir ?? ASSEMBLYSCRIPT_SDK_DIR);
  const entryPath = resolve(entry);
  const outputPath = resolve(output);
  const cwd = commonFolder(dirname(entryPath), sdkDir);
  const abortPath = `${relative(cwd, join(sdkDir, "assembly", "index")).split(sep).join("/")}/kiln_abort`;
  const temp = await Deno.makeTempDir({ prefix: "kiln_asc_" });
  try {
    const built = join(temp, "module.wasm");
    const result = await run(Deno.execPath(), [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      `${ASSEMBLYSCRIPT}/asc`,
      relative(cwd, entryPath),
      "-o",
      built,
      ...ascFlags(abortPath),
      ...(options.extraFlags ?? []),
    ], { cwd, timeoutMs: options.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS, tool: "asc", source: entryPath });
    if (result === null) throw new ToolchainMissingError("deno", "npm install -g deno");
    if (result.code !== 0) {
      if (/Import .*assemblyscript.* failed|Could not find npm package|registry/i.test(result.output)) {
        throw new ToolchainMissingError(
          `the npm package ${ASSEMBLYSCRIPT.slice(4)} (${result.output.split("\n")[0]})`,
          `deno cache ${ASSEMBLYSCRIPT}/asc`,
        );
      }
      throw new ToolchainBuildError("asc", entryPath, result.output, `exit code ${result.code}`);
    }
    return await keepOutput(built, outputPath);
  } finally {
    await Deno.remove(temp, { recursive: true });
  }
}

/** Copies a build's output from its temporary folder to `outputPath` (folders made); returns its bytes. */
async function keepOutput(built: string, outputPath: string): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await Deno.readFile(built);
  await Deno.mkdir(dirname(outputPath), { recursive: true });
  await Deno.writeFile(outputPath, bytes);
  return bytes;
}
