/**
 * Shadow validation in the executor (`runtime/shadow/`, `docs/shadow.md`): the worker that hosts a live module
 * also hosts its shadow candidate, so both run in the same executor class and a slow candidate holds this
 * executor, never the main thread. The live instance's recorder (`_worker_record.ts`) hands each live
 * invocation to an {@linkcode InstanceShadow}, which queues it; once the live handler call has returned (never
 * inside its budget), the worker calls {@linkcode InstanceShadow.drain}: the candidate runs the same call with
 * its own budget, fed the live call's inputs by `_shadow_tap.ts`, its effects compared and never carried out.
 * The candidate starts from the live instance's memory image (`start: "image"`) or from its own `kiln_init`
 * (`start: "init"`, for a build with another memory layout), and the first `warmupInvocations` compared calls
 * are counted apart. Only counters leave the executor, in the reports (`ShadowReport`).
 *
 * @module
 */
import { ModuleInstance } from "./instance.ts";
import { NULL_SINK } from "./dry_run.ts";
import { classifyTrap } from "./traps.ts";
import { createRing, ringStats } from "./ring.ts";
import { ShadowTap } from "./_shadow_tap.ts";
import { copyAllowedMs, handlerAllowedMs, loadAllowedMs } from "./heartbeat.ts";
import type { InstanceRecording } from "./_worker_record.ts";
import { LATENCY_BOUNDS_US } from "./protocol.ts";
import type {
  InputValue,
  InstanceSpec,
  ShadowCandidateSpec,
  ShadowReport,
  ShadowStart,
  ToExecutor,
} from "./protocol.ts";
import type { InvocationRecord } from "./_record_types.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";

/** Live invocations waiting for the candidate at most (a call delivers up to 64 channel records). */
export const MAX_QUEUED_INVOCATIONS = 4096;

/**
 * Runs `fn`, a call into the candidate through `entry` that may take `allowedMs`, under the worker's
 * heartbeat naming `slot` (the live instance's load id: the watchdog holds the live module's executor slot
 * responsible for a stall, with the candidate's allowance); returns what it threw, or undefined.
 */
export type GuardedCall = (slot: number, entry: string, allowedMs: number, fn: () => void) => unknown;

/** The live spec for the candidate: its own function names, private channel rings (nothing reaches the plant). */
export function candidateSpec(live: InstanceSpec, candidate: ShadowCandidateSpec): InstanceSpec {
  const ring = (buffer: SharedArrayBuffer) =>
    createRing({ sizeBytes: ringStats(buffer).capacityBytes, readers: 1, overflow: "drop-oldest" });
  return {
    ...live,
    functionNames: candidate.functionNames,
    channelWrites: live.channelWrites.map((c) => ({ id: c.id, buffer: ring(c.buffer), wake: [] })),
    channelRead: live.channelRead &&
      { id: live.channelRead.id, buffer: ring(live.channelRead.buffer), reader: 0 },
    warmUpIterations: null,
    instantiationWrites: null,
  };
}

/** One shadow run: the candidate beside one live instance, and its counters. */
export class InstanceShadow {
  /** The `shadow` message's id. */
  readonly id: number;
  readonly module: string;
  /** The live instance's load id. */
  readonly loadId: number;
  readonly #tap: ShadowTap;
  readonly #spec: InstanceSpec;
  #candidate: ModuleInstance | null = null;
  #queue: InvocationRecord[] = [];
  #state: ShadowReport["state"] = "running";
  #reason: string | null = null;
  #invocations = 0;
  #matched = 0;
  #diverged = 0;
  readonly #warmupInvocations: number;
  #warmup = 0;
  #buckets: number[] = new Array(LATENCY_BOUNDS_US.length + 1).fill(0);
  #totalUs = 0;

  /**
   * Instantiates the candidate: from `image`, the live instance's memory between two handler calls (as from a
   * snapshot, `docs/shadow.md`), or, `image` null, fresh with the live spec, running its own `kiln_init` under
   * the init budget (its inputs read from the host and `inputs`, its effects swallowed). A candidate that fails
   * to start is a shadow stopped with `candidate_trapped: <fault>`.
   */
  constructor(
    options: {
      id: number;
      loadId: number;
      live: InstanceSpec;
      candidate: ShadowCandidateSpec;
      image: SnapshotImage | null;
      /** The executor's input image, for a `kiln_init`'s `input` reads. @default {an empty image} */
      inputs?: ReadonlyMap<string, InputValue>;
    },
    guard: GuardedCall,
  ) {
    this.id = options.id;
    this.module = options.live.name;
    this.loadId = options.loadId;
    this.#warmupInvocations = options.candidate.warmupInvocations ?? 0;
    this.#tap = new ShadowTap(options.candidate.tolerance);
    this.#spec = candidateSpec(options.live, options.candidate);
    const image = options.image;
    const err = guard(this.loadId, "start", loadAllowedMs(this.#spec, image?.memoryBytes ?? 0), () => {
      this.#candidate = ModuleInstance.create({
        spec: this.#spec,
        module: options.candidate.module,
        sink: NULL_SINK,
        inputs: options.inputs ?? new Map(),
        dryRun: true,
        tap: this.#tap,
        restore: image,
      });
    });
    if (err !== undefined) this.stop(`candidate_trapped: ${classifyTrap(err, "kiln_init").kind}`);
  }

  /** Whether the shadow still runs. */
  get running(): boolean {
    return this.#state === "running";
  }

  /** Takes one live invocation from the recorder (called inside the live call: it only queues). */
  take(record: InvocationRecord): void {
    // seq 0: the live start; the image stands for it, or the candidate ran its own kiln_init.
    if (this.#state !== "running" || record.seq === 0) return;
    if (this.#queue.length >= MAX_QUEUED_INVOCATIONS) {
      this.stop("overflow");
      return;
    }
    this.#queue.push(record);
  }

  /** Runs the candidate on the live invocations queued, after the live call has returned. Never throws. */
  drain(guard: GuardedCall): void {
    while (this.#state === "running" && this.#queue.length > 0) {
      const record = this.#queue.shift()!;
      const calls = this.#invocations + this.#warmup + 1;
      const counted = this.#warmup >= this.#warmupInvocations;
      this.#tap.expect(record, calls, counted);
      const t0 = performance.now();
      const err = guard(
        this.loadId,
        record.entry,
        handlerAllowedMs(this.#spec, 1, calls > 1),
        () => {
          this.#candidate!.replayCall(record.entry, record.input, record.args[0]);
        },
      );
      const us = (performance.now() - t0) * 1000;
      this.#totalUs += us;
      const i = LATENCY_BOUNDS_US.findIndex((b) => us <= b);
      this.#buckets[i === -1 ? LATENCY_BOUNDS_US.length : i]!++;
      if (!counted) this.#warmup++;
      else if (this.#tap.diverged) this.#diverged++;
      else this.#matched++;
      if (counted) this.#invocations++;
      // A live trap ends the live instance (and this shadow with it); a candidate's own trap stops it here.
      if (err !== undefined && record.fault === null) {
        this.stop(`candidate_trapped: ${classifyTrap(err, record.entry, this.#spec.functionNames).kind}`);
      }
    }
  }

  /** Stops the shadow with `reason` and drops the candidate (the first reason is kept). */
  stop(reason: string): void {
    if (this.#state === "stopped") return;
    this.#state = "stopped";
    this.#reason = reason;
    this.#candidate = null;
    this.#queue = [];
  }

  /** The counters for the next report. */
  report(): ShadowReport {
    return {
      id: this.id,
      module: this.module,
      state: this.#state,
      reason: this.#reason,
      invocations: this.#invocations,
      matched: this.#matched,
      diverged: this.#diverged,
      warmup: this.#warmup,
      suppressed: this.#tap.suppressed,
      largest: new Map(this.#tap.largest),
      first: this.#tap.first && { ...this.#tap.first },
      buckets: [...this.#buckets],
      totalUs: this.#totalUs,
    };
  }
}

/** A report for a shadow that could not start at all (no such instance, a recording under way). */
export function stoppedReport(id: number, module: string, reason: string): ShadowReport {
  return {
    id,
    module,
    state: "stopped",
    reason,
    invocations: 0,
    matched: 0,
    diverged: 0,
    warmup: 0,
    suppressed: 0,
    largest: new Map(),
    first: null,
    buckets: new Array(LATENCY_BOUNDS_US.length + 1).fill(0),
    totalUs: 0,
  };
}

/** The shadow runs of one worker, by live instance, and the last reports of those that stopped. */
export class WorkerShadows {
  readonly #runs = new WeakMap<ModuleInstance, InstanceShadow>();
  /** The running shadows by module, for the reports. */
  readonly #byModule = new Map<string, InstanceShadow>();
  #left: ShadowReport[] = [];
  readonly #guard: GuardedCall;
  readonly #inputs: ReadonlyMap<string, InputValue>;

  /**
   * `guard` runs a candidate's call under the worker's heartbeat (`worker.ts`); `inputs` is the executor's
   * input image, which a candidate's own `kiln_init` reads (`start: "init"`). @default {an empty image}
   */
  constructor(guard: GuardedCall, inputs: ReadonlyMap<string, InputValue> = new Map()) {
    this.#guard = guard;
    this.#inputs = inputs;
  }

  /**
   * Handles a `shadow` message: attaches the candidate to `live` (the module's running instance with its
   * load id and recorder, or null) or stops the shadow the message names.
   */
  handle(
    msg: Extract<ToExecutor, { type: "shadow" }>,
    live: { inst: ModuleInstance; loadId: number; recording: InstanceRecording } | null,
  ): void {
    if (msg.candidate === null) {
      const run = this.#byModule.get(msg.name);
      if (run?.id === msg.id && live !== null) this.end(live.inst, live.recording, "dropped");
      return;
    }
    if (live === null || live.loadId !== msg.loadId) {
      this.#left.push(stoppedReport(msg.id, msg.name, "module_stopped"));
      return;
    }
    if (live.recording.on) {
      this.#left.push(stoppedReport(msg.id, msg.name, "recording_started"));
      return;
    }
    this.end(live.inst, live.recording, "replaced");
    const start: ShadowStart = msg.candidate.start ?? "image";
    let image: SnapshotImage | null = null;
    if (start === "image") {
      const captured: SnapshotImage[] = [];
      const allowedMs = copyAllowedMs(live.inst.stats.memoryBytes);
      const err = this.#guard(live.loadId, "snapshot capture", allowedMs, () => {
        captured.push(live.inst.capture());
      });
      image = captured[0] ?? null;
      if (err !== undefined || image === null) {
        const why = err instanceof Error ? err.message : String(err);
        this.#left.push(stoppedReport(msg.id, msg.name, `capture_failed: ${why}`));
        return;
      }
    }
    const run = new InstanceShadow({
      id: msg.id,
      loadId: live.loadId,
      live: live.inst.spec,
      candidate: msg.candidate,
      image,
      inputs: this.#inputs,
    }, this.#guard);
    if (!run.running) {
      this.#left.push(run.report());
      return;
    }
    this.#runs.set(live.inst, run);
    this.#byModule.set(msg.name, run);
    live.recording.follow((r) => run.take(r));
  }

  /** Runs `inst`'s candidate on the live calls that just returned (the worker's `call`). */
  after(inst: ModuleInstance, recording: InstanceRecording | undefined): void {
    const run = this.#runs.get(inst);
    if (run === undefined) return;
    run.drain(this.#guard);
    if (!run.running) this.end(inst, recording, "");
  }

  /** Stops `inst`'s shadow with `reason` (kept when it had stopped already); its last report goes out next. */
  end(inst: ModuleInstance, recording: InstanceRecording | undefined, reason: string): void {
    const run = this.#runs.get(inst);
    if (run === undefined) return;
    run.stop(reason);
    this.#runs.delete(inst);
    if (this.#byModule.get(run.module) === run) this.#byModule.delete(run.module);
    if (recording?.followed) recording.follow(null);
    this.#left.push(run.report());
  }

  /** The counters of every shadow for the report: running ones, and those that stopped since the last. */
  take(): ShadowReport[] {
    const out = this.#left;
    this.#left = [];
    for (const run of this.#byModule.values()) out.push(run.report());
    return out;
  }
}
