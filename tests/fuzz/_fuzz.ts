/**
 * The fuzz driver: generates modules with binaryen's `wasm-opt --translate-to-fuzz` from seeded random
 * bytes (a few `wasm-opt` processes at a time, each bounded by a timeout), sends each to a fuzz worker
 * (`_fuzz_worker.ts`, permissions `"none"`) that takes it through Kiln's pipeline and calls it, watches the
 * workers from the main thread, and judges every report (`_report.ts`). A worker that does not finish a
 * stage within its deadline plus the watchdog margin, or that dies, is an escape: it is terminated, the
 * module is kept, and a new worker takes the next module.
 *
 * Each module is a function of its seed (`_variant.ts`): a run of `count` modules from seed `S` covers the
 * seeds `S` to `S + count - 1`, and `--seed X --count 1` rebuilds module `X` alone (with the same binaryen).
 *
 * @module
 */
import { nowMs } from "../../runtime/executor/doorbell.ts";
import type { Finding, FromWorker, ModuleReport, ToWorker } from "./_report.ts";
import { HEARTBEAT, judge, STAGES } from "./_report.ts";
import { type FuzzSummary, type Outcome, Stats } from "./_stats.ts";
import { inputOf, moduleSeed, type Variant, variantOf, wasmOptArgs } from "./_variant.ts";

/** Options of {@linkcode runFuzz}. */
export interface FuzzOptions {
  /** Modules to generate. */
  count: number;
  /** The first module's seed. */
  seed: number;
  /** The call budget (`budget_us`), microseconds. @default 5000 */
  budgetUs?: number;
  /** How far past its armed budget a call may end before it is a finding, ms. @default 250 */
  marginMs?: number;
  /** How far past a stage's deadline the watchdog waits before it terminates a worker, ms. @default 1000 */
  watchdogMs?: number;
  /** Fuzz workers running modules at once. @default 1 */
  workers?: number;
  /** `wasm-opt` processes at once (each competes with the workers for the CPU). @default 1 */
  generators?: number;
  /** Where failing modules are kept. @default a new temporary directory, named in the findings */
  keepDir?: string;
  /** Also replay the kept modules of this directory (`<name>.json` beside `<name>.raw.wasm`). */
  corpus?: URL;
  /** The `wasm-opt` executable. @default "wasm-opt" */
  wasmOpt?: string;
  /** Called after each module. */
  onProgress?: (done: number, total: number) => void;
  /** Called with each module's report (for analyses beyond the summary). */
  onReport?: (variant: Variant, report: ModuleReport) => void;
}

export type { Distribution, FuzzSummary, Outcome, SlowCall } from "./_stats.ts";

const WORKER_URL = new URL("./_fuzz_worker.ts", import.meta.url);
const SEEDS = new URL("./seeds/", import.meta.url);
/** A `wasm-opt` process is killed after this long. */
const GENERATE_TIMEOUT_MS = 20_000;
/** A module whose worker answers nothing for this long is an escape, whatever its heartbeat says. */
const MODULE_TIMEOUT_MS = 120_000;
/** Modules generated ahead of the workers. */
const LOOKAHEAD = 8;

/**
 * One fuzz worker (permissions "none") and the module it is running. Its owner calls
 * {@linkcode FuzzWorker.watch} every few tens of milliseconds; once it has escaped (`dead`), it takes no
 * more modules.
 */
export class FuzzWorker {
  #worker: Worker;
  #heartbeat = new Float64Array(new SharedArrayBuffer(HEARTBEAT.length * 8));
  #job: { resolve: (o: Outcome) => void; prepared: Uint8Array | null; startMs: number } | null = null;
  dead = false;

  constructor() {
    this.#worker = new Worker(WORKER_URL, {
      type: "module",
      name: "kiln-fuzz",
      deno: { permissions: "none" },
    } as WorkerOptions);
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#receive(e.data);
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#escape(`the worker died: ${e.message}`);
    };
    this.#send({ type: "init", heartbeat: this.#heartbeat.buffer as SharedArrayBuffer });
  }

  /** Runs one module; resolves with its report, or with an escape. */
  run(variant: Variant, raw: Uint8Array): Promise<Outcome> {
    const { promise, resolve } = Promise.withResolvers<Outcome>();
    this.#job = { resolve, prepared: null, startMs: nowMs() };
    this.#send({ type: "run", variant, raw });
    return promise;
  }

  /** Makes the worker overrun a call's deadline for good (the watchdog's own test). */
  stall(): Promise<Outcome> {
    const { promise, resolve } = Promise.withResolvers<Outcome>();
    this.#job = { resolve, prepared: null, startMs: nowMs() };
    this.#send({ type: "stall" });
    return promise;
  }

  /** The watchdog's look: terminates the worker when its stage is past its deadline plus `marginMs`. */
  watch(now: number, marginMs: number): void {
    const job = this.#job;
    if (!job || this.dead) return;
    const deadline = this.#heartbeat[HEARTBEAT.deadline]!;
    const stage = STAGES[this.#heartbeat[HEARTBEAT.stage]!] ?? "?";
    if (deadline > 0 && now > deadline + marginMs) {
      const call = this.#heartbeat[HEARTBEAT.call]!;
      this.#escape(
        `the worker did not finish stage "${stage}"${call >= 0 ? ` (call ${call})` : ""} within its ` +
          `deadline plus ${marginMs} ms: terminated`,
      );
    } else if (now > job.startMs + MODULE_TIMEOUT_MS) {
      this.#escape(`the worker did not answer within ${MODULE_TIMEOUT_MS} ms (stage "${stage}"): terminated`);
    }
  }

  #receive(msg: FromWorker): void {
    const job = this.#job;
    if (!job) return;
    if (msg.type === "prepared") {
      job.prepared = msg.bytes;
      return;
    }
    this.#job = null;
    if (msg.type === "report") job.resolve({ kind: "report", report: msg.report, prepared: job.prepared });
    else job.resolve({ kind: "error", detail: msg.message });
  }

  #escape(detail: string): void {
    this.dead = true;
    this.#worker.terminate();
    const job = this.#job;
    this.#job = null;
    job?.resolve({ kind: "escape", detail, prepared: job.prepared });
  }

  #send(msg: ToWorker): void {
    this.#worker.postMessage(msg);
  }

  /** Terminates the worker; a module it was running ends as an escape. */
  terminate(): void {
    if (this.dead) return;
    this.#escape("the worker was terminated by its owner");
  }
}

/** A bounded set of concurrent tasks. */
class Limiter {
  #running = 0;
  #waiting: (() => void)[] = [];
  constructor(readonly max: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    while (this.#running >= this.max) await new Promise<void>((r) => this.#waiting.push(r));
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}

type Generated = { variant: Variant; raw: Uint8Array } | { variant: Variant; failure: string };

/** Runs `wasm-opt` once: `variant`'s random bytes in, a module out (or why not). */
async function generate(
  variant: Variant,
  dir: string,
  wasmOpt: string,
  seedsDir: string,
): Promise<Generated> {
  const input = `${dir}/${variant.seed}.bin`;
  const output = `${dir}/${variant.seed}.wasm`;
  await Deno.writeFile(input, inputOf(variant));
  try {
    const { success, stderr } = await new Deno.Command(wasmOpt, {
      args: wasmOptArgs(variant, input, output, seedsDir),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(GENERATE_TIMEOUT_MS),
    }).output();
    if (!success) {
      const line = new TextDecoder().decode(stderr).split("\n").find((l) => l && !l.startsWith("warning"));
      return { variant, failure: (line ?? "wasm-opt failed").slice(0, 120) };
    }
    return { variant, raw: await Deno.readFile(output) };
  } catch (err) {
    return { variant, failure: `wasm-opt: ${(err as Error).name}` };
  } finally {
    await Deno.remove(input).catch(() => {});
    await Deno.remove(output).catch(() => {});
  }
}

/** Assembles the initial-content seeds (`seeds/*.wat`) into `dir`. */
async function assembleSeeds(dir: string, wasmOpt: string): Promise<void> {
  for await (const entry of Deno.readDir(SEEDS)) {
    if (!entry.name.endsWith(".wat")) continue;
    const name = entry.name.slice(0, -4);
    const { success, stderr } = await new Deno.Command(wasmOpt, {
      args: [new URL(entry.name, SEEDS).pathname, "--all-features", "-o", `${dir}/${name}.wasm`],
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(GENERATE_TIMEOUT_MS),
    }).output();
    if (!success) {
      throw new Error(
        `Cannot assemble seeds/${entry.name} with ${wasmOpt}: ${new TextDecoder().decode(stderr)}`,
      );
    }
  }
}

/** The version line of `wasm-opt`, e.g. `wasm-opt version 108`. */
export async function wasmOptVersion(wasmOpt = "wasm-opt"): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(wasmOpt, {
      args: ["--version"],
      stderr: "null",
      signal: AbortSignal.timeout(GENERATE_TIMEOUT_MS),
    }).output();
    return new TextDecoder().decode(stdout).trim();
  } catch (err) {
    throw new Error(
      `Cannot run "${wasmOpt}" (Debian package binaryen): ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Kept corpus entries: each `<name>.json` holds `{ variant }` and `<name>.raw.wasm` binaryen's output. */
async function readCorpus(dir: URL): Promise<{ variant: Variant; raw: Uint8Array }[]> {
  const out: { variant: Variant; raw: Uint8Array }[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return out;
    throw err;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.name.endsWith(".json")) continue;
    const base = entry.name.slice(0, -5);
    const { variant } = JSON.parse(await Deno.readTextFile(new URL(entry.name, dir))) as { variant: Variant };
    out.push({ variant, raw: await Deno.readFile(new URL(`${base}.raw.wasm`, dir)) });
  }
  return out;
}

/**
 * Generates and runs `count` modules (and replays a corpus), returning the summary; every rule a module
 * broke is in `findings`, with the file it was kept in.
 *
 * @throws {Error} When `wasm-opt` cannot run or a seed does not assemble.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const t0 = performance.now();
  const budgetUs = options.budgetUs ?? 5000;
  const marginMs = options.marginMs ?? 250;
  const watchdogMs = options.watchdogMs ?? 1000;
  const wasmOpt = options.wasmOpt ?? "wasm-opt";
  const version = await wasmOptVersion(wasmOpt);
  const work = await Deno.makeTempDir({ prefix: "kiln-fuzz-gen-" });
  let keepDir = options.keepDir ?? null;
  const stats = new Stats();
  const workers: FuzzWorker[] = [];
  const watchdog = setInterval(() => {
    const now = nowMs();
    for (const w of workers) w.watch(now, watchdogMs);
  }, 50);
  try {
    await assembleSeeds(work, wasmOpt);
    const corpus = options.corpus ? await readCorpus(options.corpus) : [];
    stats.replayed = corpus.length;
    const limiter = new Limiter(options.generators ?? 1);
    const total = corpus.length + options.count;
    const queue: Promise<Generated>[] = [];
    let next = 0;
    const fill = () => {
      while (queue.length < LOOKAHEAD && next < options.count) {
        const variant = variantOf(moduleSeed(options.seed, next++), budgetUs);
        queue.push(limiter.run(() => generate(variant, work, wasmOpt, work)));
      }
    };
    const replay = corpus.map((c): Promise<Generated> => Promise.resolve(c));
    let done = 0;
    const keep = async (variant: Variant, raw: Uint8Array, prepared: Uint8Array | null, found: Finding[]) => {
      keepDir ??= await Deno.makeTempDir({ prefix: "kiln-fuzz-findings-" });
      const base = `${keepDir}/seed-${variant.seed}`;
      await Deno.writeFile(`${base}.raw.wasm`, raw);
      if (prepared) await Deno.writeFile(`${base}.wasm`, prepared);
      await Deno.writeTextFile(
        `${base}.json`,
        JSON.stringify({ variant, wasm_opt: version, findings: found }, null, 2),
      );
      for (const f of found) f.file = `${base}.wasm`;
    };
    const consume = async () => {
      let worker: FuzzWorker | null = null;
      while (true) {
        fill();
        const job = replay.shift() ?? queue.shift();
        if (!job) break;
        const generated = await job;
        done++;
        if ("failure" in generated) {
          stats.generationFailed(generated.failure);
        } else {
          if (!worker || worker.dead) {
            worker = new FuzzWorker();
            workers.push(worker);
          }
          const outcome = await worker.run(generated.variant, generated.raw);
          if (outcome.kind === "report") options.onReport?.(generated.variant, outcome.report);
          // A call past its budget plus the margin counts only if it is past it again (`Stats`).
          let rerun: Outcome | null = null;
          if (
            outcome.kind === "report" && judge(outcome.report, marginMs).some((f) => f.kind === "over_margin")
          ) {
            if (worker.dead) {
              worker = new FuzzWorker();
              workers.push(worker);
            }
            rerun = await worker.run(generated.variant, generated.raw);
          }
          const found = stats.add(generated.variant, outcome, marginMs, rerun);
          if (found.length > 0) {
            await keep(
              generated.variant,
              generated.raw,
              "prepared" in outcome ? outcome.prepared : null,
              found,
            );
          }
        }
        options.onProgress?.(done, total);
      }
      worker?.terminate();
    };
    await Promise.all(Array.from({ length: options.workers ?? 1 }, consume));
  } finally {
    clearInterval(watchdog);
    for (const w of workers) w.terminate();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return stats.summary({
    seed: options.seed,
    count: options.count,
    budget_us: budgetUs,
    margin_ms: marginMs,
    watchdog_ms: watchdogMs,
    wasm_opt: version,
    duration_s: Math.round((performance.now() - t0) / 100) / 10,
  });
}
