/**
 * The fuzz worker: started with Deno permissions `"none"`, like an executor, it takes one module at a time
 * through Kiln's real pipeline, in the loader's order (read, validate, the footprint rule, cap, instrument,
 * compile), instantiates it with the production budget (`CallBudget`: `kiln.__check`) and host guard
 * (`guardImports`), and calls every exported function with zero arguments under the budget, recording each
 * call's outcome, wall time and memory. Before each stage it writes the stage's deadline into the shared
 * heartbeat, which the driver's watchdog reads.
 *
 * Host imports (`fuzzing-support`): binaryen 108 imports only loggers (`log-i32`, `log-i64`, `log-f32`,
 * `log-f64`, `log-v128`); each is a host function that counts its calls and returns the zero of its result
 * type. Any other function a fuzz module imports from there gets the same counting stub: the host never
 * calls back into the module (binaryen's `call-export` family would re-enter an instance, which Kiln never
 * does), so a call's budget covers everything it causes. Imports from other modules are left unresolved
 * (instantiation fails with a link error, counted).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { CallBudget } from "../../runtime/executor/budget.ts";
import { guardImports, type HostFunction } from "../../runtime/executor/host_guard.ts";
import { HARD_BUDGET_FACTOR } from "../../runtime/executor/instance.ts";
import { capPages, FOOTPRINT_ALLOWANCE_BYTES, MAX_TABLE_ELEMENTS, PAGE_BYTES } from "../../runtime/loader.ts";
import { classifyTrap } from "../../runtime/executor/traps.ts";
import { nowMs } from "../../runtime/executor/doorbell.ts";
import {
  capMemory,
  footprintOf,
  instrument,
  LimitExceededError,
  readModule,
  validateModule,
  type ValType,
  type WasmModuleInfo,
} from "../../runtime/wasm/mod.ts";
import { CHECK_IMPORT } from "../../runtime/wasm/constants.ts";
import { factsOf } from "./_binary.ts";
import { HANG_LIMIT_EXPORT, prepare } from "./_prepare.ts";
import {
  type CallRecord,
  type FromWorker,
  HEARTBEAT,
  type ModuleReport,
  type Refusal,
  type Stage,
  STAGES,
  type ToWorker,
} from "./_report.ts";
import type { Variant } from "./_variant.ts";

/** The import module binaryen's fuzz modules import their host functions from. */
const FUZZ_NAMESPACE = "fuzzing-support";
/** A stage that runs no module code (decode, validate, rewrite, compile) must end within this. */
const STAGE_LIMIT_MS = 10_000;
/** The name instantiation (the start function) is recorded under. */
const INSTANTIATE = "(instantiate)";
/** At most this many exported functions are called per module. */
const MAX_CALLS = 40;
/** The init budget, as `runtime/instance_spec.ts` computes it: 10x `budget_us`, at least 50 ms. */
const initBudgetUs = (budgetUs: number) => Math.max(10 * budgetUs, 50_000);

let heartbeat: Float64Array<ArrayBufferLike> = new Float64Array(HEARTBEAT.length);

/** Writes the running stage and its deadline for the watchdog. */
function enter(stage: Stage, limitMs: number, call = -1): void {
  heartbeat[HEARTBEAT.stage] = STAGES.indexOf(stage);
  heartbeat[HEARTBEAT.call] = call;
  heartbeat[HEARTBEAT.deadline] = nowMs() + limitMs;
}

/** A refusal thrown at `stage`. */
class Refused extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.message);
  }
}

function refusalOf(stage: Stage, err: unknown): Refusal {
  const e = err as { name?: string; code?: unknown; feature?: unknown; message?: unknown };
  return {
    stage,
    errorClass: typeof e?.name === "string" ? e.name : typeof err,
    code: typeof e?.code === "string" ? e.code : null,
    feature: typeof e?.feature === "string" ? e.feature : null,
    message: String(e?.message ?? err).slice(0, 400),
  };
}

/** Runs `fn` as `stage` (bounded by {@linkcode STAGE_LIMIT_MS}); an error becomes a {@linkcode Refused}. */
async function stage<T>(name: Stage, fn: () => T | Promise<T>): Promise<T> {
  enter(name, STAGE_LIMIT_MS);
  try {
    return await fn();
  } catch (err) {
    throw new Refused(refusalOf(name, err));
  }
}

/** The zero of a value type as JavaScript passes it to Wasm. */
function zeroOf(type: ValType): number | bigint | null {
  if (type === "i64") return 0n;
  if (type === "funcref" || type === "externref") return null;
  return 0;
}

/** The counting `fuzzing-support` host functions, keyed by import name (a null-prototype object). */
function fuzzHost(info: WasmModuleInfo, count: () => void) {
  const host: Record<string, HostFunction> = Object.create(null);
  const refusals = new Map<string, unknown>();
  for (const imp of info.imports) {
    if (imp.module !== FUZZ_NAMESPACE || imp.kind !== "function") continue;
    const results = imp.type.results.map(zeroOf);
    const value = results.length === 0 ? undefined : results.length === 1 ? results[0] : results;
    refusals.set(imp.name, value);
    host[imp.name] = () => {
      count();
      return value;
    };
  }
  return { host, refusal: (name: string) => refusals.get(name) };
}

/** The largest exported memory, bytes. */
function memoryBytes(exports: WebAssembly.Exports): number {
  let max = 0;
  for (const value of Object.values(exports)) {
    if (value instanceof WebAssembly.Memory) max = Math.max(max, value.buffer.byteLength);
  }
  return max;
}

async function run(variant: Variant, raw: Uint8Array): Promise<ModuleReport> {
  enter("prepare", STAGE_LIMIT_MS);
  const { bytes, defused } = prepare(raw, variant.edits);
  post({ type: "prepared", seed: variant.seed, bytes });
  const report: ModuleReport = {
    seed: variant.seed,
    profile: variant.profile,
    defused,
    facts: factsOf(bytes),
    v8Valid: WebAssembly.validate(bytes),
    refusal: null,
    capBytes: 0,
    instantiate: null,
    calls: [],
    skipped: 0,
    hostCalls: 0,
  };
  try {
    await pipeline(variant, bytes, report);
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    report.refusal = err.refusal;
  }
  return report;
}

/** The loader's stages (`runtime/loader.ts` `loadModule`, without the ABI checks), then the calls. */
async function pipeline(variant: Variant, bytes: Uint8Array, report: ModuleReport): Promise<void> {
  const info = await stage("read", () => readModule(bytes));
  // ABI v1's table rule (`abiProblems`): the harness gave binaryen's tables a maximum; any left without
  // one, or above the limit, would be refused by the loader.
  const unbounded = info.tables.findIndex((t) => t.max === null || t.max > MAX_TABLE_ELEMENTS);
  if (unbounded >= 0) {
    throw new Refused({
      stage: "read",
      errorClass: "TableRule",
      code: null,
      feature: null,
      message: `table ${unbounded} has no maximum of at most ${MAX_TABLE_ELEMENTS}`,
    });
  }
  await stage("validate", () => validateModule(bytes, info));
  const maxPages = await stage("footprint", () => {
    const reservedBytes = footprintOf(info).totalBytes;
    const capTotal = capPages(variant.maxMemoryMb);
    const pages = capTotal - Math.ceil(Math.max(0, reservedBytes - FOOTPRINT_ALLOWANCE_BYTES) / PAGE_BYTES);
    const need = info.memories[0]?.min ?? 0;
    if (pages < need) {
      throw new LimitExceededError(
        "max_memory_mb",
        (need * PAGE_BYTES + reservedBytes) / (1024 * 1024),
        variant.maxMemoryMb,
        `The module needs ${need} pages plus ${reservedBytes} bytes of tables and globals, more than ` +
          `${variant.maxMemoryMb} MiB`,
      );
    }
    return pages;
  });
  report.capBytes = maxPages * PAGE_BYTES;
  const capped = await stage("cap", () => capMemory(bytes, maxPages));
  const instrumented = await stage("instrument", () => instrument(capped, { fuel: variant.fuel !== null }));
  await stage("reread", () => readModule(instrumented.bytes));
  const module = await stage("compile", () => WebAssembly.compile(instrumented.bytes));
  invoke(variant, info, module, report);
}

/** Instantiates the module under the init budget and calls each exported function under its budget. */
function invoke(variant: Variant, info: WasmModuleInfo, module: WebAssembly.Module, report: ModuleReport) {
  const budget = new CallBudget(variant.fuel);
  const { host, refusal } = fuzzHost(info, () => report.hostCalls++);
  const imports: WebAssembly.Imports = Object.create(null);
  imports[FUZZ_NAMESPACE] = guardImports(host, budget, { refusal });
  imports[CHECK_IMPORT.module] = Object.assign(Object.create(null), { [CHECK_IMPORT.name]: budget.check });
  const initUs = initBudgetUs(variant.budgetUs);

  let instance: WebAssembly.Instance | null = null;
  const record = (name: string, armedUs: number, call: () => unknown): CallRecord => {
    const instantiating = name === INSTANTIATE;
    enter(instantiating ? "instantiate" : "call", armedUs / 1000, instantiating ? -1 : report.calls.length);
    budget.arm(armedUs);
    let thrown: unknown = undefined;
    let threw = false;
    const t0 = performance.now();
    try {
      call();
    } catch (err) {
      [thrown, threw] = [err, true];
    } finally {
      budget.disarm();
    }
    const wallMs = performance.now() - t0;
    let outcome = "returned";
    if (budget.interrupt) outcome = budget.interrupt.kind;
    else if (thrown instanceof WebAssembly.LinkError) outcome = "link_error";
    else if (threw) outcome = classifyTrap(thrown, name).kind;
    const rec: CallRecord = {
      name,
      armedMs: armedUs / 1000,
      wallMs,
      outcome,
      memoryBytes: instance ? memoryBytes(instance.exports) : 0,
    };
    if (outcome === "trap" || outcome === "host_error") {
      rec.detail = String(budget.interrupt?.message ?? (thrown as Error)?.message ?? thrown).slice(0, 200);
    }
    return rec;
  };

  report.instantiate = record(INSTANTIATE, initUs, () => {
    instance = new WebAssembly.Instance(module, imports);
  });
  if (!instance) return;
  const exports = (instance as WebAssembly.Instance).exports;
  report.instantiate.memoryBytes = memoryBytes(exports);
  budget.bind(exports);
  let first = true;
  for (const exp of info.exports) {
    if (exp.kind !== "function" || !exp.type) continue;
    if (report.calls.length >= MAX_CALLS) break;
    if (report.defused && exp.name === HANG_LIMIT_EXPORT) continue;
    if ([...exp.type.params, ...exp.type.results].includes("v128")) {
      report.skipped++;
      continue;
    }
    const fn = exports[exp.name] as (...args: unknown[]) => unknown;
    const args = exp.type.params.map(zeroOf);
    // The first call also pays for V8's lazy compilation: the init budget, as `instance.ts` gives it.
    const armedUs = first ? initUs : variant.budgetUs * HARD_BUDGET_FACTOR;
    first = false;
    report.calls.push(record(exp.name, armedUs, () => fn(...args)));
  }
}

function post(msg: FromWorker): void {
  self.postMessage(msg);
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const msg = e.data;
  if (msg.type === "init") {
    heartbeat = new Float64Array(msg.heartbeat);
    return;
  }
  if (msg.type === "stall") {
    // The watchdog's own test: a "call" that overruns its 10 ms deadline for good.
    enter("call", 10, 0);
    while (heartbeat[HEARTBEAT.deadline]! > 0) { /* until terminated */ }
    return;
  }
  try {
    const report = await run(msg.variant, msg.raw);
    heartbeat[HEARTBEAT.deadline] = 0;
    post({ type: "report", report });
  } catch (err) {
    heartbeat[HEARTBEAT.deadline] = 0;
    post({ type: "error", seed: msg.variant.seed, message: String((err as Error)?.stack ?? err) });
  }
};
