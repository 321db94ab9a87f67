/**
 * Shadow validation (`docs/shadow.md`): a candidate build runs beside a live module on the same inputs, and
 * what it does is compared with what the live module did, invocation by invocation, without any of it being
 * carried out. It is an online replay: attaching turns on the live instance's recorder (`Executor.record`, as
 * a live recording does); each executor report brings the live invocations (input bytes, the values its host
 * calls returned, its effects), and the candidate — loaded through the runtime's loader (instrumentation and
 * signature policy, as a deploy is) and resumed from the live instance's memory image — is called with the
 * same input, fed the same values (`_shadow_tap.ts`), its effects captured and compared, never performed.
 *
 * The candidate runs on the main thread after the live call has returned: never inside the live call's budget
 * nor on the live executor's thread. It gets the live module's budget; a trap or an overrun stops the shadow
 * with that reason, and the live module is not affected. State is bounded: counters, the first divergence,
 * the largest difference per output name, latency buckets.
 *
 * @module
 */
import { NULL_SINK } from "../executor/dry_run.ts";
import type { LoadedModule } from "../loader.ts";
import type { ModulePlan } from "../plan.ts";
import { ModuleInstance } from "../executor/instance.ts";
import { ModuleTrap } from "../executor/traps.ts";
import { createRing, ringStats } from "../executor/ring.ts";
import {
  type FromExecutor,
  type InstanceSpec,
  type InstanceStats,
  LATENCY_BOUNDS_US,
} from "../executor/protocol.ts";
import { ModuleStateError } from "../errors.ts";
import { RecordingActiveError } from "../record/errors.ts";
import { ShadowActiveError, ShadowNotFoundError } from "./errors.ts";
import { type ShadowDivergence, ShadowTap } from "./_shadow_tap.ts";

export type { ShadowDivergence };

/** A running module as a shadow needs it. */
export interface ShadowLiveInstance {
  loaded: LoadedModule;
  /** The instance spec its executor was given. */
  spec: InstanceSpec;
  loadId: number | null;
  /** Starts or stops recording in its executor (`Executor.record`). */
  record(on: boolean): void;
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
  /** Why it stopped: `dropped`, `module_stopped`, `overflow`, `candidate_trapped: <fault>`; null while running. */
  reason: string | null;
  liveSha256: string;
  candidateSha256: string;
  /** Invocations compared, and how many matched and diverged. */
  invocations: number;
  matched: number;
  diverged: number;
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
}

/** What a promotion deploys: the candidate's bytes, signature and manifest entry as attached. */
export interface ShadowCandidate {
  wasm: Uint8Array;
  signature: Uint8Array | null;
  spec: string | null;
  sha256: string;
}

interface Run {
  name: string;
  loadId: number | null;
  live: ShadowLiveInstance;
  loaded: LoadedModule;
  candidate: ShadowCandidate;
  tap: ShadowTap;
  instance: ModuleInstance | null;
  state: ShadowStatus["state"];
  reason: string | null;
  invocations: number;
  matched: number;
  diverged: number;
  buckets: number[];
  totalUs: number;
  /** The live instance's stats when the shadow started (its figures are cumulative). */
  liveBase: InstanceStats | null;
  liveLast: InstanceStats | null;
  tolerance: number;
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
   * @throws {RangeError} for a negative or non-finite tolerance.
   * @throws {import("../errors.ts").ModuleRejectedError} when the candidate does not load or verify.
   */
  async attach(name: string, request: ShadowRequest): Promise<ShadowStatus> {
    const tolerance = request.tolerance ?? 0;
    if (!Number.isFinite(tolerance) || tolerance < 0) {
      throw new RangeError(`The shadow's tolerance must be a finite number of at least 0, got ${tolerance}`);
    }
    const live = this.#options.instance(name);
    if (live === null) throw new ModuleStateError(name, this.#options.state(name), "shadow");
    if (this.active(name)) throw new ShadowActiveError(name);
    if (this.#options.recording(name)) throw new RecordingActiveError(name);
    this.#starting.add(name);
    let loaded: LoadedModule;
    const dir = await Deno.makeTempDir({ prefix: "kiln_shadow_" });
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
      name,
      loadId: live.loadId,
      live,
      loaded,
      candidate: {
        wasm: request.wasm,
        signature: request.signature ?? null,
        spec: request.spec ?? null,
        sha256: loaded.sha256,
      },
      tap: new ShadowTap(tolerance),
      instance: null,
      state: "starting",
      reason: null,
      invocations: 0,
      matched: 0,
      diverged: 0,
      buckets: LATENCY_BOUNDS_US.map(() => 0).concat(0),
      totalUs: 0,
      liveBase: null,
      liveLast: null,
      tolerance,
      startedAtMs: Date.now(),
      by: request.by ?? "api",
    };
    this.#runs.set(name, run);
    live.record(true);
    this.#options.log(`kiln: shadow of module "${name}" attached: candidate ${loaded.sha256.slice(0, 12)}`);
    return this.#status(run);
  }

  /** Takes in one executor report: the live invocations recorded, and the live instance's stats. */
  take(report: Extract<FromExecutor, { type: "report" }>): void {
    if (this.#runs.size === 0) return;
    for (const b of report.recordings ?? []) {
      const run = this.#runs.get(b.module);
      if (run === undefined || run.state === "stopped" || b.loadId !== run.loadId) continue;
      if (b.start !== null && run.instance === null) this.#start(run, b.start);
      if (run.state !== "running") continue;
      for (const r of b.records) {
        if (r.seq === 0) continue; // the start record: the memory image stands for it
        this.#call(run, r);
        if (run.state !== "running") break;
      }
      if (run.state === "running" && (b.error !== null || b.overflowed)) this.#stop(run, "overflow");
    }
    for (const run of this.#runs.values()) {
      const stats = report.stats[run.name];
      if (run.state === "stopped" || stats === undefined || report.loads?.[run.name] !== run.loadId) continue;
      run.liveBase ??= structuredClone(stats);
      run.liveLast = stats;
    }
  }

  /** Stops a shadow with `module_stopped` when the live instance is no longer the one it follows. */
  check(): void {
    for (const run of this.#runs.values()) {
      if (run.state === "stopped") continue;
      if (this.#options.loadIdOf(run.name) !== run.loadId) this.#stop(run, "module_stopped");
      else if (this.#options.recording(run.name)) {
        // A live recording started: the executor's recorder is the shadow's, which ignored the recording's
        // "on". The shadow yields it: off and on again makes the worker send the recording its start image.
        this.#stop(run, "recording_started");
        run.live.record(false);
        run.live.record(true);
      }
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

  #start(run: Run, image: NonNullable<Parameters<typeof ModuleInstance.create>[0]["restore"]>): void {
    const spec = candidateSpec(run.live.spec, run.loaded);
    try {
      run.instance = ModuleInstance.create({
        spec,
        module: run.loaded.module,
        sink: NULL_SINK,
        inputs: new Map(),
        dryRun: true,
        tap: run.tap,
        // The candidate resumes where the live instance is, as from a snapshot (`docs/shadow.md`).
        restore: image,
      });
      run.state = "running";
    } catch (err) {
      if (!(err instanceof ModuleTrap)) throw err;
      this.#stop(run, `candidate_trapped: ${err.fault.kind}`);
    }
  }

  #call(run: Run, record: Parameters<ShadowTap["expect"]>[0]): void {
    run.invocations++;
    run.tap.expect(record, run.invocations);
    const t0 = performance.now();
    let trap: ModuleTrap | null = null;
    try {
      run.instance!.replayCall(record.entry, record.input, record.args[0]);
    } catch (err) {
      if (!(err instanceof ModuleTrap)) throw err;
      trap = err;
    }
    const us = (performance.now() - t0) * 1000;
    run.totalUs += us;
    const i = LATENCY_BOUNDS_US.findIndex((b) => us <= b);
    run.buckets[i === -1 ? LATENCY_BOUNDS_US.length : i]!++;
    if (run.tap.diverged) run.diverged++;
    else run.matched++;
    // A live trap ends the live instance (check() stops the shadow); a candidate's own trap stops it here.
    if (trap !== null && record.fault === null) this.#stop(run, `candidate_trapped: ${trap.fault.kind}`);
  }

  #stop(run: Run, reason: string): void {
    if (run.state === "stopped") return;
    run.state = "stopped";
    run.reason = reason;
    run.instance = null;
    if (this.#options.loadIdOf(run.name) === run.loadId && !this.#options.recording(run.name)) {
      run.live.record(false);
    }
    this.#options.log(`kiln: shadow of module "${run.name}" stopped: ${reason}`);
  }

  #status(run: Run): ShadowStatus {
    const base = run.liveBase, last = run.liveLast;
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
      invocations: run.invocations,
      matched: run.matched,
      diverged: run.diverged,
      largestDifference: new Map(run.tap.largest),
      firstDivergence: run.tap.first && { ...run.tap.first },
      suppressedEffects: run.tap.suppressed,
      live: {
        calls: liveCalls,
        meanUs: liveCalls > 0 ? (last!.totalUs - base!.totalUs) / liveCalls : null,
        p50Us: percentile(liveBuckets, 0.5, last?.maxUs ?? 0),
        p99Us: percentile(liveBuckets, 0.99, last?.maxUs ?? 0),
      },
      candidate: {
        calls: run.invocations,
        meanUs: run.invocations > 0 ? run.totalUs / run.invocations : null,
        p50Us: percentile(run.buckets, 0.5, Infinity),
        p99Us: percentile(run.buckets, 0.99, Infinity),
      },
      tolerance: run.tolerance,
      startedAtMs: run.startedAtMs,
      by: run.by,
    };
  }
}

/** The live spec for the candidate: its own function names, private channel rings (nothing reaches the plant). */
function candidateSpec(live: InstanceSpec, loaded: LoadedModule): InstanceSpec {
  const ring = (buffer: SharedArrayBuffer) =>
    createRing({ sizeBytes: ringStats(buffer).capacityBytes, readers: 1, overflow: "drop-oldest" });
  return {
    ...live,
    functionNames: loaded.functionNames,
    channelWrites: live.channelWrites.map((c) => ({ id: c.id, buffer: ring(c.buffer), wake: [] })),
    channelRead: live.channelRead &&
      { id: live.channelRead.id, buffer: ring(live.channelRead.buffer), reader: 0 },
    warmUpIterations: null,
    instantiationWrites: null,
  };
}

/** `events` whose reports also feed `shadows` (as `recordedEvents` feeds the live recordings). */
export function shadowedEvents<E extends { onReport(r: Report): void }>(events: E, shadows: Shadows): E {
  const onReport = events.onReport;
  return {
    ...events,
    onReport: (r: Report) => {
      onReport(r);
      shadows.take(r);
      shadows.check();
    },
  };
}

type Report = Extract<FromExecutor, { type: "report" }>;
