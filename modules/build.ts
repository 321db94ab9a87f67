/**
 * Builds the example modules' `.wasm` next to their sources, and records their SHA-256 in
 * `modules/hashes.json`: C with Debian's clang-19 and wasm-ld-19, Rust with Debian's rustc and AssemblyScript
 * with npm `assemblyscript` (both through `modules/sdk/toolchains.ts`). The output is deterministic: no debug
 * info, no custom sections (`--strip-all` keeps exports, which are not debug info; rustc's
 * `-C strip=symbols`), relative source paths (`--remap-path-prefix` for rustc).
 *
 * Usage (the `build:modules` task):
 *
 *   deno run --allow-read --allow-write --allow-run modules/build.ts           # build, write hashes.json
 *   deno run --allow-read --allow-write --allow-run modules/build.ts --check   # rebuild in a temp dir, compare
 *
 * `--check --hashes=PATH` compares with another hashes file (tests use it). `--check` exits 1 naming every module whose rebuild or committed `.wasm` differs from `hashes.json`, and 2
 * when clang-19 or wasm-ld-19 is missing (`apt-get install clang-19 lld-19`), the WASI sysroot of
 * `wasi_demo` is (`apt-get install wasi-libc libclang-rt-19-dev-wasm32`), rustc or its wasm32 standard
 * library is (`apt-get install rustc libstd-rust-dev-wasm32`), or npm `assemblyscript` cannot be fetched.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import {
  buildAssemblyScriptModule,
  buildRustModule,
  CLANG_FLAGS,
  ToolchainBuildError,
  ToolchainMissingError,
} from "./sdk/toolchains.ts";

/** One module: its output path and its sources, relative to `modules/`. */
export interface ModuleBuild {
  output: string;
  /**
   * C: every source to compile and link. Rust: the crate root, built against the `kiln` crate
   * (`modules/sdk/rust`). AssemblyScript: the entry file, built with the SDK's `assembly/`.
   */
  sources: readonly string[];
  /** The language. @default "c" */
  lang?: "c" | "rust" | "as";
  /** Compiler and linker flags (C only). @default CFLAGS */
  flags?: readonly string[];
}

/**
 * Flags of modules built against Debian's wasi-libc (headers in `/usr/include/wasm32-wasi`, libraries in
 * `/usr/lib/wasm32-wasi`, which `--sysroot=/usr` finds) as a WASI reactor: no `main`, `_initialize` runs the
 * libc constructors before `kiln_init`. Linking needs compiler-rt's wasm32 builtins as well.
 */
export const WASI_CFLAGS: readonly string[] = [
  "--target=wasm32-wasi",
  "--sysroot=/usr",
  "-mexec-model=reactor",
  "-O2",
  "-std=c11",
  "-Wall",
  "-Wextra",
  "-Isdk",
  "-Wl,--strip-all",
];

/** Every module this script builds. */
export const MODULE_BUILDS: readonly ModuleBuild[] = [
  {
    output: "fft/fft.wasm",
    sources: ["fft/fft.c", "sdk/spectral_features.c", "sdk/fft_q15.c", "sdk/kiln_rt.c"],
  },
  {
    output: "anomaly/anomaly.wasm",
    sources: [
      "anomaly/anomaly.c",
      "anomaly/ae_kernel.c",
      "sdk/spectral_features.c",
      "sdk/fft_q15.c",
      "sdk/kiln_rt.c",
    ],
  },
  { output: "temperature/temperature.wasm", sources: ["temperature/temperature.c", "sdk/kiln_rt.c"] },
  { output: "safety/safety.wasm", sources: ["safety/safety.c", "sdk/kiln_rt.c"] },
  { output: "aggregator/aggregator.wasm", sources: ["aggregator/aggregator.c", "sdk/kiln_rt.c"] },
  { output: "wasi_demo/wasi_demo.wasm", sources: ["wasi_demo/wasi_demo.c"], flags: WASI_CFLAGS },
  // The SDK example, the same module in three languages (modules/vibration_rms/README.md).
  {
    output: "vibration_rms/c/vibration_rms.wasm",
    sources: ["vibration_rms/c/vibration_rms.c", "sdk/kiln_fixed.c", "sdk/fft_q15.c", "sdk/kiln_rt.c"],
  },
  {
    output: "vibration_rms/rust/vibration_rms.wasm",
    sources: ["vibration_rms/rust/vibration_rms.rs"],
    lang: "rust",
  },
  {
    output: "vibration_rms/as/vibration_rms.wasm",
    sources: ["vibration_rms/as/vibration_rms.ts"],
    lang: "as",
  },
];

/**
 * Flags of the freestanding modules, built from this folder: the SDK's (`sdk/toolchains.ts`: wasm32 with the
 * features ABI v1 allows) with `-Isdk`.
 */
export const CFLAGS: readonly string[] = [...CLANG_FLAGS, "-Isdk"];

const MODULES_DIR = new URL(".", import.meta.url).pathname;
const HASHES_FILE = `${MODULES_DIR}hashes.json`;

/** Why a build could not run or failed. */
export class ModuleBuildError extends KilnError {
  readonly code = "module_build_failed";
  readonly kind = "failed";
  constructor(message: string, readonly exitCode: number, options?: ErrorOptions) {
    super(message, options);
  }
}

async function toolVersion(name: string): Promise<string | null> {
  try {
    const { code, stdout } = await new Deno.Command(name, {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    return code === 0 ? new TextDecoder().decode(stdout).split("\n")[0]! : null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/**
 * Checks that clang-19 and wasm-ld-19 run; returns clang's version line. clang-19 links with the wasm-ld of
 * its own LLVM install, the binary `wasm-ld-19` names.
 *
 * @throws {ModuleBuildError} when either is missing.
 */
export async function findToolchain(): Promise<string> {
  const clang = await toolVersion("clang-19");
  const wasmLd = await toolVersion("wasm-ld-19");
  if (clang === null || wasmLd === null) {
    const missing = [clang === null ? "clang-19" : null, wasmLd === null ? "wasm-ld-19" : null].filter(
      Boolean,
    );
    throw new ModuleBuildError(
      `Cannot build modules: ${
        missing.join(" and ")
      } not found on PATH (install with "apt-get install clang-19 lld-19")`,
      2,
    );
  }
  return clang;
}

/** True when `path` names an existing file. */
async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Asks clang-19 where it would take a file from with `flags`; the bare name when it has none. */
async function clangPrint(flags: readonly string[], query: string): Promise<string> {
  const { stdout } = await new Deno.Command("clang-19", {
    args: [...flags.filter((f) => f.startsWith("--target=") || f.startsWith("--sysroot=")), query],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout).trim();
}

/**
 * Checks that the WASI sysroot is installed: wasi-libc (`libc.a`, the reactor start file) and compiler-rt's
 * wasm32 builtins, which clang-19 links into every WASI program.
 *
 * @throws {ModuleBuildError} when a part is missing.
 */
export async function findWasiSysroot(flags: readonly string[] = WASI_CFLAGS): Promise<void> {
  const wanted = [
    [await clangPrint(flags, "-print-file-name=libc.a"), "wasi-libc"],
    [await clangPrint(flags, "-print-file-name=crt1-reactor.o"), "wasi-libc"],
    [await clangPrint(flags, "-print-libgcc-file-name"), "libclang-rt-19-dev-wasm32"],
  ] as const;
  const missing = new Set<string>();
  for (const [path, pkg] of wanted) if (!path.startsWith("/") || !(await exists(path))) missing.add(pkg);
  if (missing.size > 0) {
    throw new ModuleBuildError(
      `Cannot build WASI modules: the wasm32-wasi sysroot is incomplete (install with "apt-get install ${
        [...missing].join(" ")
      }")`,
      2,
    );
  }
}

/** SHA-256 of `bytes` as lowercase hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Builds a Rust or AssemblyScript module with `modules/sdk/toolchains.ts` into `out`; returns its bytes.
 *
 * @throws {ModuleBuildError} exit code 2 when the toolchain is missing, 1 when the compile fails.
 */
async function buildWithToolchain(build: ModuleBuild, out: string): Promise<Uint8Array> {
  const source = `${MODULES_DIR}${build.sources[0]}`;
  try {
    return build.lang === "rust"
      ? await buildRustModule(source, out)
      : await buildAssemblyScriptModule(source, out);
  } catch (err) {
    if (err instanceof ToolchainMissingError) throw new ModuleBuildError(err.message, 2, { cause: err });
    if (err instanceof ToolchainBuildError) {
      throw new ModuleBuildError(`Cannot build "${build.output}": ${err.message}`, 1, { cause: err });
    }
    throw err;
  }
}

/**
 * Builds every module into `outDir` (mirroring `fft/fft.wasm` etc.) and returns their hashes by output path.
 *
 * @throws {ModuleBuildError} when the toolchain is missing or a compile fails.
 */
export async function buildModules(outDir: string): Promise<Record<string, string>> {
  await findToolchain();
  if (MODULE_BUILDS.some((b) => b.flags === WASI_CFLAGS)) await findWasiSysroot();
  const hashes: Record<string, string> = {};
  // One at a time: the gateway-class build machines have two cores and each compile is well under a second.
  for (const build of MODULE_BUILDS) {
    const out = `${outDir}/${build.output}`;
    await Deno.mkdir(out.slice(0, out.lastIndexOf("/")), { recursive: true });
    if (build.lang === "rust" || build.lang === "as") {
      hashes[build.output] = await sha256Hex(await buildWithToolchain(build, out));
      continue;
    }
    const args = [...(build.flags ?? CFLAGS), ...build.sources, "-o", out];
    const { code, stderr } = await new Deno.Command("clang-19", {
      args,
      cwd: MODULES_DIR,
      stdout: "inherit",
      stderr: "piped",
    })
      .output();
    const diagnostics = new TextDecoder().decode(stderr).trim();
    if (code !== 0) {
      throw new ModuleBuildError(
        `Cannot build "${build.output}": clang-19 exited with ${code}\n${diagnostics}`,
        1,
      );
    }
    if (diagnostics) console.error(diagnostics);
    hashes[build.output] = await sha256Hex(await Deno.readFile(out));
  }
  return hashes;
}

async function readHashes(path: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (err) {
    throw new ModuleBuildError(`Cannot read "${path}": ${(err as Error).message}`, 1, { cause: err });
  }
}

/**
 * Rebuilds into a temporary folder and lists every difference from the committed hashes (`hashesFile`,
 * default `modules/hashes.json`); empty when all match.
 *
 * @throws {ModuleBuildError} when the toolchain is missing, a compile fails or the hashes cannot be read.
 */
export async function checkModules(hashesFile: string = HASHES_FILE): Promise<string[]> {
  const committed = await readHashes(hashesFile);
  const label = hashesFile === HASHES_FILE ? "modules/hashes.json" : hashesFile;
  const tmp = await Deno.makeTempDir({ prefix: "kiln_modules_" });
  try {
    const rebuilt = await buildModules(tmp);
    const problems: string[] = [];
    for (const [output, hash] of Object.entries(rebuilt)) {
      const expected = committed[output];
      if (expected === undefined) {
        problems.push(`"${output}" has no entry in ${label}`);
        continue;
      }
      if (hash !== expected) problems.push(`"${output}" rebuilds to ${hash}, ${label} says ${expected}`);
      let onDisk: string | null = null;
      try {
        onDisk = await sha256Hex(await Deno.readFile(`${MODULES_DIR}${output}`));
      } catch {
        problems.push(`"${output}" is missing: run the build:modules task and commit it`);
      }
      if (onDisk !== null && onDisk !== expected) {
        problems.push(`"${output}" on disk is ${onDisk}, ${label} says ${expected}`);
      }
    }
    for (const output of Object.keys(committed)) {
      if (!(output in rebuilt)) problems.push(`${label} lists "${output}", which no longer builds`);
    }
    return problems;
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

async function main(args: string[]): Promise<number> {
  try {
    if (args.includes("--check")) {
      const hashesArg = args.find((a) => a.startsWith("--hashes="));
      const problems = await checkModules(hashesArg ? hashesArg.slice("--hashes=".length) : HASHES_FILE);
      if (problems.length > 0) {
        console.error(`Module build is not reproducible:\n  ${problems.join("\n  ")}`);
        return 1;
      }
      console.log(`All ${MODULE_BUILDS.length} modules rebuild to the committed hashes`);
      return 0;
    }
    const hashes = await buildModules(MODULES_DIR.replace(/\/$/, ""));
    const sorted = Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => a.localeCompare(b)));
    await Deno.writeTextFile(HASHES_FILE, JSON.stringify(sorted, null, 2) + "\n");
    for (const [output, hash] of Object.entries(sorted)) console.log(`${hash}  modules/${output}`);
    return 0;
  } catch (err) {
    if (err instanceof ModuleBuildError) {
      console.error(err.message);
      return err.exitCode;
    }
    throw err;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
