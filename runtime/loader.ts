/**
 * Loading a module: read, hash-check, decode, check against ABI v1, cap its memory, compile. Everything a
 * module can be refused for is found here, before any of its code runs.
 *
 * @module
 */
import { formatSig, HOST_IMPORTS, HOST_NAMESPACE, MODULE_EXPORTS, sameSig } from "./abi.ts";
import { ChecksumMismatchError, ModuleNotFoundError, ModuleRejectedError } from "./errors.ts";
import { GrantSet } from "./executor/grants.ts";
import type { FunctionNames } from "./executor/protocol.ts";
import type { ModuleSignature } from "./signatures.ts";
import type { ModulePlan } from "./plan.ts";
import {
  capMemory,
  footprintOf,
  formatMib,
  instrument,
  LimitExceededError,
  readModule,
  validateModule,
  type WasmModuleInfo,
} from "./wasm/mod.ts";
import { WASI_FUNCTIONS, WASI_NAMESPACE } from "./executor/host_wasi.ts";
import { foreignImportHint, missingExportHint, unknownFunctionHint } from "./_abi_hints.ts";
import { span } from "./_startup_marks.ts";

/** Bytes in one WebAssembly page (core spec §2.3.8, memory types). */
export const PAGE_BYTES = 65536;

/** The largest `.wasm` file Kiln loads, in bytes; a bigger one is refused before it is decoded. */
export const MAX_MODULE_BYTES = 32 * 1024 * 1024;

/**
 * The most elements a module's table may ever hold. V8 allows 10 million (80 MB of references); analytics
 * modules need a few hundred. A defined table must declare a maximum within this, so `table.grow` is bounded.
 */
export const MAX_TABLE_ELEMENTS = 65_536;

/**
 * Tables, globals and element segments up to this many bytes come free with a module's memory cap; what
 * goes beyond is taken from `max_memory_mb` (in whole pages). A typical module's few globals and one small
 * table fit, so its memory gets the whole cap; 100,000 globals or a 65,536-element table do not.
 */
export const FOOTPRINT_ALLOWANCE_BYTES = 65_536;

/** A verified, compiled module ready to instantiate. */
export interface LoadedModule {
  plan: ModulePlan;
  /** sha256 of the file as deployed (before the memory cap is applied), hex. */
  sha256: string;
  sizeBytes: number;
  /** The module with its memory maximum lowered to the cap. */
  module: WebAssembly.Module;
  info: WasmModuleInfo;
  /** Data blobs by name, hash-checked. */
  data: Map<string, Uint8Array>;
  /** The memory cap in pages: `max_memory_mb` less what the module's tables and globals are counted for. */
  maxPages: number;
  /**
   * Bytes an instance may hold besides its linear memory (tables at their maximum, globals, element
   * segments), counted against `max_memory_mb` (`footprintOf`).
   */
  reservedBytes: number;
  /** What the CPU-budget instrumentation inserted. */
  instrumentation: { sites: number; loops: number; fuelSegments: number };
  /**
   * Each function body's byte range in the binary V8 runs, with its name (the name section's, else its
   * export name, else `func[<index>]`), in order: a trap's stack gives the byte offset.
   */
  functionNames: FunctionNames;
  /**
   * What its signature says, when it was verified (`signatures.ts`); null or absent for an unsigned module
   * (absent: loaded without a verifier, as tests and benchmarks do).
   */
  signature?: ModuleSignature | null;
}

/** Options of {@linkcode loadModule}. */
export interface LoadOptions {
  /**
   * Checks the binary as read, before anything else is done with it (the gateway's signature check): what
   * it returns is the module's `signature`; what it throws refuses the module.
   */
  verify?: (plan: ModulePlan, wasm: Uint8Array) => Promise<ModuleSignature | null>;
}

/** Hex sha256 of some bytes. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readFile(module: string, path: string): Promise<Uint8Array> {
  try {
    const stat = await Deno.stat(path);
    if (stat.isFile && stat.size > MAX_MODULE_BYTES * 4) {
      // Data blobs may be larger than modules, but never read an arbitrarily large file into memory.
      throw new ModuleRejectedError(module, [`"${path}" is ${stat.size} bytes, more than Kiln reads`]);
    }
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof ModuleRejectedError) throw err;
    throw new ModuleNotFoundError(module, path, { cause: err });
  }
}

const HOST_FUNCTION_NAMES: ReadonlySet<string> = new Set(Object.keys(HOST_IMPORTS));

/** The memory cap in whole 64 KiB pages: `max_memory_mb` rounded up to the next page. */
export function capPages(maxMemoryMb: number): number {
  return Math.max(1, Math.ceil((maxMemoryMb * 1024 * 1024) / PAGE_BYTES));
}

/**
 * Checks a decoded module against ABI v1 and returns every reason to refuse it (empty when it is fine).
 * `mode` names the schedule so the handler it needs can be required.
 */
export function abiProblems(info: WasmModuleInfo, schedule: ModulePlan["schedule"] | null): string[] {
  const mode = schedule?.mode ?? null;
  const fromChannel = schedule?.mode === "stream" && schedule.source.startsWith("channel:");
  const problems: string[] = [];
  for (const imp of info.imports) {
    const where = `import "${imp.module}.${imp.name}"`;
    if (imp.kind === "memory") {
      problems.push(`${where}: modules must define and export their own memory, not import one`);
      continue;
    }
    if (imp.module === WASI_NAMESPACE) {
      const wasi = WASI_FUNCTIONS[imp.name];
      if (!wasi) {
        problems.push(
          `${where}: not a function of ${WASI_NAMESPACE}${
            unknownFunctionHint(imp.name, Object.keys(WASI_FUNCTIONS))
          }`,
        );
      } else if (imp.kind !== "function") problems.push(`${where}: must be a function ${formatSig(wasi)}`);
      else if (!sameSig(imp.type, wasi)) {
        problems.push(
          `${where}: has signature ${formatSig(imp.type)}, ${WASI_NAMESPACE} declares ${formatSig(wasi)}`,
        );
      }
      continue;
    }
    if (imp.module !== HOST_NAMESPACE) {
      problems.push(
        `${where}: unknown import namespace "${imp.module}" (Kiln provides "kiln" and "${WASI_NAMESPACE}")` +
          foreignImportHint(imp.module, imp.name, HOST_FUNCTION_NAMES),
      );
      continue;
    }
    const host = HOST_IMPORTS[imp.name];
    if (!host) {
      problems.push(
        `${where}: the host has no function "${imp.name}" in ABI v1` +
          unknownFunctionHint(imp.name, HOST_FUNCTION_NAMES),
      );
    } else if (imp.kind !== "function") {
      problems.push(`${where}: must be a function ${formatSig(host)}`);
    } else if (!sameSig(imp.type, host)) {
      problems.push(`${where}: has signature ${formatSig(imp.type)}, ABI v1 declares ${formatSig(host)}`);
    }
  }
  info.tables.forEach((t, i) => {
    if (t.max === null || t.max > MAX_TABLE_ELEMENTS) {
      problems.push(
        `table ${i}: declares ${t.max === null ? "no maximum" : `a maximum of ${t.max} elements`}; ` +
          `tables must declare a maximum of at most ${MAX_TABLE_ELEMENTS}`,
      );
    }
  });
  const exports = new Map(info.exports.map((e) => [e.name, e]));
  if (exports.get("memory")?.kind !== "memory") {
    problems.push(`export "memory": the module must export its memory`);
  }
  const required = ["kiln_abi_version"];
  if (mode === "stream") required.push("kiln_alloc", fromChannel ? "kiln_on_record" : "kiln_on_samples");
  if (mode === "periodic") required.push("kiln_on_tick");
  if (mode === "event") required.push("kiln_alloc", "kiln_on_event");
  for (const name of required) {
    if (!exports.has(name)) {
      problems.push(
        `export "${name}": required${mode ? ` in ${mode} mode` : ""} but missing` +
          missingExportHint(name, exports.keys()),
      );
    }
  }
  for (const [name, want] of Object.entries(MODULE_EXPORTS)) {
    const e = exports.get(name);
    if (!e) continue;
    if (e.kind !== "function" || !e.type) {
      problems.push(`export "${name}": must be a function ${formatSig(want)}`);
    } else if (!sameSig(e.type, want)) {
      problems.push(
        `export "${name}": has signature ${formatSig(e.type)}, ABI v1 declares ${formatSig(want)}`,
      );
    }
  }
  return problems;
}

/**
 * The linking check: every gated `kiln` import needs a granted capability of its class. Returns a reason for
 * each import the module was not granted, naming the capability it would need.
 */
export function linkProblems(info: WasmModuleInfo, capabilities: readonly string[]): string[] {
  const grants = new GrantSet(capabilities);
  const problems: string[] = [];
  for (const imp of info.imports) {
    if (imp.module !== HOST_NAMESPACE || imp.kind !== "function") continue;
    const needed = HOST_IMPORTS[imp.name]?.capability;
    if (needed && !grants.coversClass(needed)) {
      const [op, type] = needed.split(":");
      const example = type === "*" ? `${op}:<type>:<resource>` : `${op}:${type}:<resource>`;
      problems.push(
        `import "${imp.module}.${imp.name}" needs a capability "${example}" ("${needed}" class), ` +
          `which the module was not granted: add one to its capabilities`,
      );
    }
  }
  return problems;
}

/**
 * Loads one module of a deployment plan.
 *
 * @throws {ModuleNotFoundError} when the `.wasm` or a data file cannot be read.
 * @throws {ChecksumMismatchError} when a pinned sha256 differs.
 * @throws {ModuleRejectedError} when the binary is malformed, breaks ABI v1, or its initial memory exceeds the cap.
 */
export async function loadModule(plan: ModulePlan, options: LoadOptions = {}): Promise<LoadedModule> {
  const loadStart = performance.now();
  const bytes = await readFile(plan.name, plan.wasm);
  if (bytes.length > MAX_MODULE_BYTES) {
    throw new ModuleRejectedError(plan.name, [
      `the module is ${bytes.length} bytes, more than the ${MAX_MODULE_BYTES}-byte limit`,
    ]);
  }
  // The bytes checked are the bytes run: read once.
  const signature = options.verify ? await options.verify(plan, bytes) : null;
  const sha256 = await sha256Hex(bytes);
  if (plan.sha256 && plan.sha256.toLowerCase() !== sha256) {
    throw new ChecksumMismatchError(plan.name, plan.wasm, plan.sha256.toLowerCase(), sha256);
  }
  let info: WasmModuleInfo;
  let capped: Uint8Array;
  let instrumentation: LoadedModule["instrumentation"];
  let finalInfo: WasmModuleInfo;
  const capTotal = capPages(plan.maxMemoryMb);
  let maxPages = capTotal;
  let reservedBytes = 0;
  try {
    info = readModule(bytes);
    const problems = [...abiProblems(info, plan.schedule), ...linkProblems(info, plan.capabilities)];
    if (problems.length > 0) throw new ModuleRejectedError(plan.name, problems);
    // The original binary, exactly as written, before anything is appended to it (validate.ts says why).
    validateModule(bytes, info);
    reservedBytes = footprintOf(info).totalBytes;
    maxPages = capTotal - Math.ceil(Math.max(0, reservedBytes - FOOTPRINT_ALLOWANCE_BYTES) / PAGE_BYTES);
    const need = info.memories[0]?.min ?? 0;
    if (maxPages < need) {
      throw new LimitExceededError(
        "max_memory_mb",
        (need * PAGE_BYTES + reservedBytes) / (1024 * 1024),
        plan.maxMemoryMb,
        `The module needs ${formatMib(need)} MiB of memory initially plus ${
          formatMib(capTotal - maxPages)
        } MiB for its tables, globals and element segments (${reservedBytes} bytes at their maximum, ` +
          `${FOOTPRINT_ALLOWANCE_BYTES} free), more than limits.max_memory_mb allows (${plan.maxMemoryMb} MiB)`,
      );
    }
    const instrumentStart = performance.now();
    capped = capMemory(bytes, maxPages);
    const instrumented = instrument(capped, { fuel: plan.fuel !== null });
    capped = instrumented.bytes;
    span(`instrument:${plan.name}`, instrumentStart);
    instrumentation = {
      sites: instrumented.sites,
      loops: instrumented.loops,
      fuelSegments: instrumented.fuelSegments,
    };
    // Instrumentation shifts function indices by one: names come from the binary V8 runs.
    finalInfo = readModule(capped);
  } catch (err) {
    if (err instanceof ModuleRejectedError) throw err;
    throw new ModuleRejectedError(plan.name, [(err as Error).message], { cause: err });
  }
  let module: WebAssembly.Module;
  try {
    const compileStart = performance.now();
    module = await WebAssembly.compile(capped as Uint8Array<ArrayBuffer>);
    span(`compile:${plan.name}`, compileStart);
  } catch (err) {
    throw new ModuleRejectedError(plan.name, [`invalid WebAssembly: ${(err as Error).message}`], {
      cause: err,
    });
  }
  const data = new Map<string, Uint8Array>();
  for (const blob of plan.data) {
    const content = await readFile(plan.name, blob.path);
    if (blob.sha256) {
      const actual = await sha256Hex(content);
      if (actual !== blob.sha256.toLowerCase()) {
        throw new ChecksumMismatchError(plan.name, blob.path, blob.sha256.toLowerCase(), actual);
      }
    }
    data.set(blob.name, content);
  }
  const byIndex = new Map<number, string>();
  for (const e of finalInfo.exports) if (e.kind === "function") byIndex.set(e.index, e.name);
  for (const [index, name] of finalInfo.functionNames) byIndex.set(index, name);
  const functionNames: FunctionNames = finalInfo.code.map((
    body,
  ) => [body.start, body.end, byIndex.get(body.funcIndex) ?? `func[${body.funcIndex}]`]);
  span(`load:${plan.name}`, loadStart);
  return {
    plan,
    sha256,
    sizeBytes: bytes.length,
    module,
    info,
    data,
    maxPages,
    reservedBytes,
    functionNames,
    instrumentation,
    signature,
  };
}
