/**
 * Shadow validation (`docs/shadow.md`): a candidate build runs beside a live module on the same inputs, and
 * what it does is compared with what the live module did, invocation by invocation, without any of it being
 * carried out. This is the main thread's side: it loads the candidate through the runtime's loader
 * (instrumentation and signature policy, as a deploy is) and sends it to the executor that hosts the live
 * module (`Executor.shadow`). There the candidate is instantiated from the live instance's memory image
 * (`start: "image"`), or fresh with its own `kiln_init` (`start: "init"`, a build with another memory layout),
 * and, after each live handler call has returned, called with the same input and fed the values the live call's
 * host calls returned (`executor/_worker_shadow.ts`, `executor/_shadow_tap.ts`): never inside the live call's
 * budget, and in the same executor class, so its time per call compares with the live one's and a slow
 * candidate holds its executor, never the API. It gets the live module's budget; a trap or an overrun stops
 * the shadow with that reason, and the live module is not affected. The executor's reports bring counters
 * only (matched, diverged, the first divergence, the largest difference per output name, latency buckets),
 * which this file keeps for the API.
 *
 * @module
 */
import type { LoadedModule } from "../loader.ts";
import type { ModulePlan } from "../plan.ts";
import {
  type FromExecutor,
  type InstanceStats,
  LATENCY_BOUNDS_US,
  type ShadowDivergence,
  type ShadowReport,
  type ShadowStart,
  type ToExecutor,
} from "../executor/protocol.ts";
import { ModuleStateError } from "../errors.ts";
import { RecordingActiveError } from "../record/errors.ts";
import { ShadowActiveError, ShadowNotFoundError } from "./errors.ts";
import { layoutDifference } from "./_layout.ts";

export type { ShadowDivergence, ShadowStart };

/** The start modes a shadow takes (`ShadowRequest.start`). */
export const SHADOW_STARTS: readonly ShadowStart[] = ["image", "init"];

/** A running module as a shadow needs it. */
export interface ShadowLiveInstance {
  loaded: LoadedModule;
  loadId: number | null;
  /** The executor that hosts it: its name, and `Executor.shadow` to send it a `shadow` message. */
  executor: {
    readonly name: string;
    shadow(msg: Omit<Extract<ToExecutor, { type: "shadow" }>, "type">): void;
  };
}

/** What {@linkcode Shadows} needs of the runtime. */
export interface ShadowsOptions {
  /** The module's running instance, null when not running; throws `ModuleUnknownError` for no such module. */
  instance(name: string): ShadowLiveInstance | null;
  /** The load id of the module's running instance, or null. */
  loadIdOf(name: string): number | null;
  /** The module's state, for the error when it is not running. */
  state(name: string): string;
  /** Whether a live recording of the module is under way (it shares the executor's recorder). */
  recording(name: string): boolean;
  /** Loads and verifies a module as the runtime does (instrumentation, signature policy). */
  load(plan: ModulePlan): Promise<LoadedModule>;
  /** Where a candidate's bytes are written while they load (`<data>/tmp`); null: the system's temp dir. */
  scratchDir?: string | null;
  log(line: string): void;
}

/** What attaches a candidate. */
export interface ShadowRequest {
  /** The candidate's `.wasm` bytes. */
  wasm: Uint8Array;
  /** Its signature bundle (`kiln sign`'s `.sig`); the gateway's signature policy applies as for a deploy. */
  signature?: Uint8Array | null;
  /** The manifest entry to deploy it with on promotion (YAML or JSON); kept, not used by the shadow. */
  spec?: string | null;
  /** Largest difference accepted between live and candidate floats. @default {0} (bit for bit) */
  tolerance?: number;
  /**
   * How the candidate starts: `image`, resumed from the live instance's memory image (it must have the live
   * build's memory layout: same memory, globals and static data placement); `init`, instantiated fresh with
   * the live module's params, data blobs and capabilities and its own `kiln_init` run (its effects swallowed,
   * not compared), so its state starts cold (`docs/shadow.md`). @default {"image"}
   */
  start?: ShadowStart;
  /**
   * The first N compared invocations run but are counted apart (`ShadowStatus.warmup`), not as matched or
   * diverged, nor in the first divergence or the largest differences: a cold candidate's warm-up. @default {0}
   */
  warmupInvocations?: number;
  /** Who attached it (the API token's name). */
  by?: string;
}

/** Time per handler call, in microseconds: p50 and p99 (upper bounds of `LATENCY_BOUNDS_US` buckets), mean. */
export interface CallTimes {
  calls: number;
  meanUs: number | null;
  p50Us: number | null;
  p99Us: number | null;
}

/** A shadow's status (`GET /api/v1/modules/:name/shadow`). */
export interface ShadowStatus {
  module: string;
  /** `starting` until the live instance's memory image arrives, `running`, or `stopped` (see `reason`). */
  state: "starting" | "running" | "stopped";
  /**
   * Why it stopped: `dropped`, `module_stopped`, `recording_started`, `overflow`, `candidate_trapped: <fault>`;
   * null while running.
   */
  reason: string | null;
  liveSha256: string;
  candidateSha256: string;
  /** Invocations compared and counted (`matched + diverged`, after the warm-up), and how many of each. */
  invocations: number;
  matched: number;
  diverged: number;
  /** How the candidate started (`ShadowRequest.start`). */
  start: ShadowStart;
  /** The warm-up asked for, in invocations (`ShadowRequest.warmupInvocations`). */
  warmupInvocations: number;
  /** Invocations run during the warm-up so far, counted apart (at most `warmupInvocations`). */
  warmup: number;
  /**
   * What differs between the candidate's declared memory layout and the live build's (initial memory, mutable
   * globals, static data placement), or null when nothing visible does: a hint that `start: "image"` cannot
   * fit it, never a proof that it can (`docs/shadow.md`).
   */
  layoutDifference: string | null;
  /** The largest difference seen per output name (0: always identical; Infinity: NaN or shape mismatch). */
  largestDifference: Map<string, number>;
  firstDivergence: ShadowDivergence | null;
  /** Effects the candidate made that were captured and not carried out. */
  suppressedEffects: number;
  live: CallTimes;
  candidate: CallTimes;
  tolerance: number;
  startedAtMs: number;
  by: string;
  /** The executor whose reports carry the shadow's counters (the live module's), null until the first. */
  executor: string | null;
}

/** What a promotion deploys: the candidate's bytes, signature and manifest entry as attached. */
export interface ShadowCandidate {
  wasm: Uint8Array;
  signature: Uint8Array | null;
  spec: string | null;
  sha256: string;
}

interface Run {
  /** The `shadow` message's id: reports of an earlier run of the same module are ignored. */
  id: number;
  name: string;
  loadId: number | null;
  live: ShadowLiveInstance;
  candidate: ShadowCandidate;
  state: ShadowStatus["state"];
  reason: string | null;
  /** The executor's last counters, null until its first report. */
  last: ShadowReport | null;
  executor: string | null;
  /** The live instance's stats when the shadow started (its figures are cumulative). */
  liveBase: InstanceStats | null;
  liveLast: InstanceStats | null;
  tolerance: number;
  start: ShadowStart;
  warmupInvocations: number;
  layoutDifference: string | null;
  startedAtMs: number;
  by: string;
}

/** Percentile `q` of bucketed durations: the upper bound of the bucket it falls in (null when empty). */
function percentile(buckets: readonly number[], q: number, maxUs: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= q * total) return LATENCY_BOUNDS_US[i] ?? maxUs;
  }
  return maxUs;
}

/** Every shadow of a runtime: at most one per module; a stopped one is kept until dropped or replaced. */
export class Shadows {
  readonly #options: ShadowsOptions;
  readonly #runs = new Map<string, Run>();
  readonly #starting = new Set<string>();
  #nextId = 1;

  constructor(options: ShadowsOptions) {
    this.#options = options;
  }

  /** True while a shadow of the module is starting or running (a live recording must wait). */
  active(name: string): boolean {
    const run = this.#runs.get(name);
    return this.#starting.has(name) || (run !== undefined && run.state !== "stopped");
  }

  /**
   * Loads the candidate and attaches it to the running module from its next handler call.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when it is not running.
   * @throws {ShadowActiveError} when a shadow of it is running.
   * @throws {RecordingActiveError} when it is being recorded (the recorder is shared).
   * @throws {RangeError} for a negative or non-finite tolerance, a start mode other than `image` and `init`, or
   *   a warm-up that is not a whole number of at least 0.
   * @throws {import("../errors.ts").ModuleRejectedError} when the candidate does not load or verify.
   */
  async attach(name: string, request: ShadowRequest): Promise<ShadowStatus> {
    const tolerance = request.tolerance ?? 0;
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new RangeError(`The shadow's tolerance must be a finite number of at least 0, got ${tolerance}`);
    }
    const start = request.start ?? "image";
    if (!SHADOW_STARTS.includes(start)) {
      throw new RangeError(`The shadow's start must be "image" or "init", got ${JSON.stringify(start)}`);
    }
    const warmupInvocations = request.warmupInvocations ?? 0;
    if (!Number.isSafeInteger(warmupInvocations) || warmupInvocations < 0) {
      throw new RangeError(
        `The shadow's warm-up must be a whole number of invocations of at least 0, got ${warmupInvocations}`,
      );
    }
    const live = this.#options.instance(name);
    if (live === null) throw new ModuleStateError(name, this.#options.state(name), "shadow");
    if (this.active(name)) throw new ShadowActiveError(name);
    if (this.#options.recording(name)) throw new RecordingActiveError(name);
    this.#starting.add(name);
    let loaded: LoadedModule;
    // In the data directory when the runtime has one: a sandboxed gateway may write there, not to /tmp.
    const scratch = this.#options.scratchDir ?? undefined;
    if (scratch !== undefined) await Deno.mkdir(scratch, { recursive: true });
    const dir = await Deno.makeTempDir({
      prefix: "kiln_shadow_",
      ...(scratch !== undefined && { dir: scratch }),
    });
    try {
      const wasm = `${dir}/candidate.wasm`;
      await Deno.writeFile(wasm, request.wasm);
      let signature: string | null = null;
      if (request.signature) {
        signature = `${dir}/candidate.wasm.sig`;
        await Deno.writeFile(signature, request.signature);
      }
      loaded = await this.#options.load({ ...live.loaded.plan, wasm, sha256: null, signature });
    } finally {
      this.#starting.delete(name);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    if (this.#options.loadIdOf(name) !== live.loadId) {
      throw new ModuleStateError(name, this.#options.state(name), "shadow");
    }
    const run: Run = {
      id: this.#nextId++,
      name,
      loadId: live.loadId,
      live,
      candidate: {
        wasm: request.wasm,
        signature: request.signature ?? null,
        spec: request.spec ?? null,
        sha256: loaded.sha256,
      },
      state: "starting",
      reason: null,
      last: null,
      executor: null,
      liveBase: null,
      liveLast: null,
      tolerance,
      start,
      warmupInvocations,
      layoutDifference: layoutDifference(live.loaded.info, loaded.info),
      startedAtMs: Date.now(),
      by: request.by ?? "api",
    };
    this.#runs.set(name, run);
    live.executor.shadow({
      id: run.id,
      name,
      loadId: live.loadId ?? 0,
      candidate: {
        module: loaded.module,
        functionNames: loaded.functionNames,
        tolerance,
        start,
        warmupInvocations,
      },
    });
    this.#options.log(
      `kiln: shadow of module "${name}" attached: candidate ${loaded.sha256.slice(0, 12)}, start ${start}` +
        (warmupInvocations > 0 ? `, warm-up ${warmupInvocations} invocations` : ""),
    );
    if (start === "image" && run.layoutDifference !== null) {
      this.#options.log(
        `kiln: shadow of module "${name}": the candidate's memory layout differs from the live build's ` +
          `(${run.layoutDifference}): resumed from the live image it may trap or diverge; start "init" fits it`,
      );
    }
    return this.#status(run);
  }

  /** Takes in one report of executor `executor`: the shadows' counters, and the live instances' stats. */
  take(report: Extract<FromExecutor, { type: "report" }>, executor: string): void {
    if (this.#runs.size === 0) return;
    for (const r of report.shadows ?? []) {
      const run = this.#runs.get(r.module);
      if (run === undefined || run.state === "stopped" || r.id !== run.id) continue;
      run.last = r;
      run.executor = executor;
      if (r.state === "stopped") this.#stop(run, r.reason ?? "stopped");
      else run.state = "running";
    }
    for (const run of this.#runs.values()) {
      const stats = report.stats[run.name];
      if (run.state === "stopped" || stats === undefined || report.loads?.[run.name] !== run.loadId) continue;
      run.liveBase ??= structuredClone(stats);
      run.liveLast = stats;
    }
  }

  /** Stops a shadow when the live instance is no longer the one it follows, or a recording took it over. */
  check(): void {
    for (const run of this.#runs.values()) {
      if (run.state === "stopped") continue;
      if (this.#options.loadIdOf(run.name) !== run.loadId) this.#stop(run, "module_stopped");
      // A live recording takes the executor's recorder: the executor stops the shadow too.
      else if (this.#options.recording(run.name)) this.#stop(run, "recording_started");
    }
  }

  /** The module's shadow (running or stopped), or null when none is attached. */
  status(name: string): ShadowStatus | null {
    const run = this.#runs.get(name);
    return run === undefined ? null : this.#status(run);
  }

  /**
   * The candidate as attached, for a promotion through the deploy path.
   *
   * @throws {ShadowNotFoundError} when the module has no shadow.
   */
  candidate(name: string): ShadowCandidate {
    const run = this.#runs.get(name);
    if (run === undefined) throw new ShadowNotFoundError(name);
    return run.candidate;
  }

  /**
   * Stops (if running) and forgets the module's shadow; returns its last status.
   *
   * @throws {ShadowNotFoundError} when the module has no shadow.
   */
  drop(name: string, reason = "dropped"): ShadowStatus {
    const run = this.#runs.get(name);
    if (run === undefined) throw new ShadowNotFoundError(name);
    this.#stop(run, reason);
    this.#runs.delete(name);
    return this.#status(run);
  }

  /** Stops every shadow (the runtime stops). */
  closeAll(): void {
    for (const run of this.#runs.values()) this.#stop(run, "stopped");
  }

  #stop(run: Run, reason: string): void {
    if (run.state === "stopped") return;
    run.state = "stopped";
    run.reason = reason;
    if (this.#options.loadIdOf(run.name) === run.loadId) {
      run.live.executor.shadow({ id: run.id, name: run.name, loadId: run.loadId ?? 0, candidate: null });
    }
    this.#options.log(`kiln: shadow of module "${run.name}" stopped: ${reason}`);
  }

  #status(run: Run): ShadowStatus {
    const base = run.liveBase, last = run.liveLast, c = run.last;
    const calls = (c?.invocations ?? 0) + (c?.warmup ?? 0);
    const liveBuckets = last === null || base === null
      ? []
      : last.latencyBuckets.map((n, i) => n - (base.latencyBuckets[i] ?? 0));
    const liveCalls = last === null || base === null ? 0 : last.invocations - base.invocations;
    return {
      module: run.name,
      state: run.state,
      reason: run.reason,
      liveSha256: run.live.loaded.sha256,
      candidateSha256: run.candidate.sha256,
      invocations: c?.invocations ?? 0,
      matched: c?.matched ?? 0,
      diverged: c?.diverged ?? 0,
      start: run.start,
      warmupInvocations: run.warmupInvocations,
      warmup: c?.warmup ?? 0,
      layoutDifference: run.layoutDifference,
      largestDifference: new Map(c?.largest ?? []),
      firstDivergence: c?.first ? { ...c.first } : null,
      suppressedEffects: c?.suppressed ?? 0,
      live: {
        calls: liveCalls,
        meanUs: liveCalls > 0 ? (last!.totalUs - base!.totalUs) / liveCalls : null,
        p50Us: percentile(liveBuckets, 0.5, last?.maxUs ?? 0),
        p99Us: percentile(liveBuckets, 0.99, last?.maxUs ?? 0),
      },
      candidate: {
        calls,
        meanUs: calls > 0 ? c!.totalUs / calls : null,
        p50Us: percentile(c?.buckets ?? [], 0.5, Infinity),
        p99Us: percentile(c?.buckets ?? [], 0.99, Infinity),
      },
      tolerance: run.tolerance,
      startedAtMs: run.startedAtMs,
      by: run.by,
      executor: run.executor,
    };
  }
}

/** `events` whose reports also feed `shadows` (as `recordedEvents` feeds the live recordings). */
export function shadowedEvents<E extends { onReport(r: Report): void }>(
  events: E,
  shadows: Shadows,
  executor: string,
): E {
  const onReport = events.onReport;
  return {
    ...events,
    onReport: (r: Report) => {
      onReport(r);
      shadows.take(r, executor);
      shadows.check();
    },
  };
}

type Report = Extract<FromExecutor, { type: "report" }>;
