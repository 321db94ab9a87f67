/**
 * A module's slot in the runtime ({@linkcode ModuleSlot}): its plan, its state and the transitions between
 * states, its current instance's counters and the totals of earlier ones, and its status as the control
 * plane sees it. Private to `runtime/`.
 *
 * @module
 */
import type { LoadedModule } from "./loader.ts";
import type { ModulePlan } from "./plan.ts";
import type { ExecutorError } from "./errors.ts";
import { LATENCY_BOUNDS_US } from "./executor/protocol.ts";
import type { InstanceStats, LogEvent, ModuleFault } from "./executor/protocol.ts";
import {
  type ActuatorStatus,
  type ModuleState,
  type ModuleStatus,
  type SnapshotStatus,
  sumThrottles,
} from "./status.ts";
import { nowMs } from "./executor/instance.ts";
import { addThrottles, limitsByManifestKey, noThrottles, type ThrottleCounts } from "./executor/account.ts";
import { HeldAccount } from "./_held_account.ts";

import { REALTIME_PRIORITY } from "./manifest/mod.ts";

export { REALTIME_PRIORITY };

/** The trigger-to-actuator latencies kept per module: the last this many events. */
const LATENCY_WINDOW = 1024;
/** Log lines kept per module for `GET /api/v1/modules/:name/logs`. */
export const MAX_LOGS_PER_MODULE = 200;

/** Counters of a module's earlier instances, so totals survive restarts. */
interface Prior {
  invocations: number;
  errors: number;
  totalUs: number;
  budgetOverruns: number;
  latencyBuckets: number[];
  /** What its executor's resource account refused, by kind. */
  throttled: ThrottleCounts;
}

/** A write to one of a module's actuators, being carried out; see {@linkcode ModuleSlot.actuating}. */
export interface Actuation {
  /** The actuator's id: `<device>/<point>`. */
  readonly id: string;
  /** Records the outcome: `"ok"` or why it failed (a failure when `failed`). */
  done(result: string, failed: boolean): void;
}

/**
 * A deployed module: the one owner of its life as the control plane sees it. Its state changes only through
 * the named transitions ({@linkcode ModuleSlot.starting}, {@linkcode ModuleSlot.running},
 * {@linkcode ModuleSlot.crashed}, {@linkcode ModuleSlot.stopped}, {@linkcode ModuleSlot.restartedByWatchdog},
 * {@linkcode ModuleSlot.invalidate}), which only the supervisor calls (`_supervisor.ts`; a test checks that
 * no other file does); what its instance reports (statistics, logs, denials, events, actuator writes) is
 * recorded through its own methods. Every field is private: nothing else writes a slot.
 *
 * Generations: every start, stop and loss of its executor increments the slot's generation, so a late answer
 * from an older instance (a start that finished after a stop, a restart timer, a snapshot timer) is ignored.
 */
export class ModuleSlot {
  readonly plan: ModulePlan;
  readonly loaded: LoadedModule;
  /** The executor it runs in (`executorFor`). */
  readonly executor: string;
  /**
   * The main thread's side of the module's resource account: it holds `outputs` and `arrays` (bounded) and
   * bounds what else the runtime keeps or passes on for the module (`executor/account.ts`).
   */
  readonly account: HeldAccount;
  #state: ModuleState = "stopped";
  #fault: ModuleFault | null = null;
  #lastError: string | null = null;
  #restarts = 0;
  #watchdogRestarts = 0;
  #traps = 0;
  #consecutiveFailures = 0;
  #startedAtMs: number | null = null;
  #startMs: number | null = null;
  #prior: Prior = {
    invocations: 0,
    errors: 0,
    totalUs: 0,
    budgetOverruns: 0,
    latencyBuckets: LATENCY_BOUNDS_US.map(() => 0).concat(0),
    throttled: noThrottles(),
  };
  #stats: InstanceStats | null = null;
  #droppedSamples = 0;
  #logs: LogEvent[] = [];
  #eventLatency: number[] = [];
  /** `percentiles(#eventLatency)`, kept until the next event: a status must not sort 1,024 values each time. */
  #eventLatencyView: ReturnType<typeof percentiles> | undefined = undefined;
  /** The account's limits by manifest key, made once (the limits never change for a slot). */
  #limitsView: Record<string, number> | null = null;
  /** The plan's strings the status shows, flat copies: the manifest's kept V8's fast `JSON.stringify` off. */
  readonly #planView: { name: string; mode: ModulePlan["schedule"]["mode"]; capabilities: readonly string[] };
  #events = 0;
  #denials = 0;
  #granted = false;
  #restartTimer: ReturnType<typeof setTimeout> | null = null;
  #generation = 0;
  #loadId: number | null = null;
  readonly #actuators: ActuatorStatus[];

  constructor(loaded: LoadedModule) {
    this.plan = loaded.plan;
    this.loaded = loaded;
    this.executor = executorFor(loaded.plan);
    this.account = new HeldAccount(loaded.plan.account);
    this.#planView = JSON.parse(JSON.stringify({
      name: loaded.plan.name,
      mode: loaded.plan.schedule.mode,
      capabilities: loaded.plan.capabilities,
    }));
    this.#actuators = loaded.plan.actuators.map((id) => ({
      id,
      writes: 0,
      failures: 0,
      last_value: null,
      last_result: null,
      last_at: null,
    }));
  }

  get state(): ModuleState {
    return this.#state;
  }
  /** The fault that ended its last instance, kept after a restart. */
  get fault(): ModuleFault | null {
    return this.#fault;
  }
  get lastError(): string | null {
    return this.#stats?.lastError ?? this.#lastError;
  }
  get generation(): number {
    return this.#generation;
  }
  /**
   * The load id of its running (or last) instance in its executor: what that executor's reports and crashes
   * name; null before its first start.
   */
  get loadId(): number | null {
    return this.#loadId;
  }
  /** When the running instance started (epoch ms); `null` unless running. */
  get startedAtMs(): number | null {
    return this.#startedAtMs;
  }
  /** How long its last start took, ms. */
  get startMs(): number | null {
    return this.#startMs;
  }
  /** The running instance's latest statistics; `null` before its first report. */
  get stats(): InstanceStats | null {
    return this.#stats;
  }
  /** Whether its grants are in force (recorded as granted and not yet revoked). */
  get granted(): boolean {
    return this.#granted;
  }
  /** The latest value of each output, by the key the module gave it (a null-prototype record). */
  get outputs(): Readonly<Record<string, number>> {
    return this.account.outputs;
  }
  /** The latest vector outputs, by the key the module gave each (a null-prototype record). */
  get arrays(): Readonly<Record<string, Float32Array>> {
    return this.account.arrays;
  }
  /** Its latest log lines, oldest first (at most {@linkcode MAX_LOGS_PER_MODULE}). */
  get logs(): readonly LogEvent[] {
    return this.#logs;
  }

  // ---- transitions: the supervisor's ------------------------------------------------------------------

  /** A start begins: `starting`, a pending restart cancelled; returns the start's generation. */
  starting(): number {
    this.#cancelRestart();
    this.#state = "starting";
    return ++this.#generation;
  }

  /** The start succeeded in `startMs`: `running`, as the executor's instance `loadId`. */
  running(startMs: number, loadId: number | null = null): void {
    this.#loadId = loadId;
    this.#startMs = startMs;
    this.#state = "running";
    this.#startedAtMs = nowMs();
    this.#stats = null;
  }

  /**
   * The instance ended with `fault` (`stats`: its last figures, else the latest reported): its statistics
   * are folded into the totals, and it is `failed` when `giveUp` says so for its consecutive failures
   * (counted again from 1 after a run longer than `healthyAfterMs`), else `crashed`.
   */
  crashed(
    fault: ModuleFault,
    stats: InstanceStats | null,
    options: { readonly healthyAfterMs: number; readonly giveUp: (consecutiveFailures: number) => boolean },
  ): {
    readonly state: "crashed" | "failed";
    readonly wasRunning: boolean;
    readonly consecutiveFailures: number;
  } {
    this.#fold(stats ?? this.#stats);
    this.#fault = fault;
    this.#traps++;
    this.#lastError = fault.message;
    const wasRunning = this.#startedAtMs !== null;
    if (wasRunning && nowMs() - this.#startedAtMs! > options.healthyAfterMs) this.#consecutiveFailures = 0;
    this.#consecutiveFailures++;
    this.#startedAtMs = null;
    const state = options.giveUp(this.#consecutiveFailures) ? "failed" : "crashed";
    this.#state = state;
    return { state, wasRunning, consecutiveFailures: this.#consecutiveFailures };
  }

  /** Calls `restart` after `delayMs`, unless the slot was started, stopped or lost its executor since. */
  restartAfter(delayMs: number, restart: () => void): void {
    this.#cancelRestart();
    const generation = this.#generation;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#generation !== generation || this.#state !== "crashed") return;
      this.#restarts++;
      restart();
    }, delayMs);
  }

  /**
   * An operator starts it (`restart`: after stopping it, which counts as a restart): its consecutive failures
   * are forgiven and a pending restart cancelled.
   */
  operatorStarting(restart: boolean): void {
    this.#cancelRestart();
    this.#consecutiveFailures = 0;
    if (restart) this.#restarts++;
  }

  /** Its instance was ended on purpose: `stopped`, statistics folded, any later answer ignored. */
  stopped(): void {
    this.#generation++;
    this.#cancelRestart();
    this.#fold(this.#stats);
    this.#state = "stopped";
    this.#startedAtMs = null;
  }

  /**
   * Its executor was terminated by the watchdog for another module's call: statistics folded, counted as a
   * restart (and a watchdog restart), not as a failure; the caller starts it again.
   */
  restartedByWatchdog(): void {
    this.#fold(this.#stats);
    this.#startedAtMs = null;
    this.#restarts++;
    this.#watchdogRestarts++;
  }

  /** Makes every answer of the current instance late (its executor is gone, or the runtime closes). */
  invalidate(): void {
    this.#generation++;
  }

  /** The runtime closes: no restart, and a running or starting module counts as stopped. */
  closed(): void {
    this.invalidate();
    this.#cancelRestart();
    if (this.#state === "running" || this.#state === "starting") this.#state = "stopped";
  }

  /** Its grants come into force or are revoked; false when they already were. */
  grant(on: boolean): boolean {
    if (this.#granted === on) return false;
    this.#granted = on;
    return true;
  }

  // ---- what its instance reports ----------------------------------------------------------------------

  /** The running instance's latest statistics (ignored unless it runs). */
  reported(stats: InstanceStats): void {
    if (this.#state === "running") this.#stats = stats;
  }

  /** One log line, keeping the latest {@linkcode MAX_LOGS_PER_MODULE}. */
  logged(line: LogEvent): void {
    this.#logs.push(line);
    if (this.#logs.length > MAX_LOGS_PER_MODULE) this.#logs.shift();
  }

  /** Calls refused for a missing capability. */
  denied(count: number): void {
    this.#denials += count;
  }

  /** An event was sent to it. */
  triggered(): void {
    this.#events++;
  }

  /** An event's writes were carried out `latencyUs` after its trigger. */
  eventHandled(latencyUs: number): void {
    this.#eventLatency.push(latencyUs);
    if (this.#eventLatency.length > LATENCY_WINDOW) this.#eventLatency.shift();
    this.#eventLatencyView = undefined;
  }

  /** Samples of its stream that were dropped before it could take them. */
  samplesDropped(count: number): void {
    this.#droppedSamples += count;
  }

  /**
   * A write of `value` to its actuator `index` starts; null when it has no such actuator. The outcome is
   * recorded only if no later write replaced the value meanwhile.
   */
  actuating(index: number, value: number): Actuation | null {
    const a = this.#actuators[index];
    if (!a) return null;
    a.writes++;
    a.last_value = value;
    a.last_result = "pending";
    a.last_at = new Date().toISOString();
    return {
      id: a.id,
      done(result, failed) {
        if (failed) a.failures++;
        if (a.last_value === value) a.last_result = result;
      },
    };
  }

  /**
   * Its handler figures since the slot was made (its ended instances and the running one) and the crashes
   * among them: what a new version's probation judges (`_probation.ts`).
   */
  totals(): {
    invocations: number;
    errors: number;
    budgetOverruns: number;
    crashes: number;
    latencyBuckets: number[];
  } {
    const st = this.#stats;
    const prior = this.#prior;
    return {
      invocations: prior.invocations + (st?.invocations ?? 0),
      errors: prior.errors + (st?.errors ?? 0),
      budgetOverruns: prior.budgetOverruns + (st?.budgetOverruns ?? 0),
      crashes: this.#traps,
      latencyBuckets: prior.latencyBuckets.map((n, i) => n + (st?.latencyBuckets[i] ?? 0)),
    };
  }

  // ---- what the control plane shows ------------------------------------------------------------------

  /** The control plane's view (`GET /api/v1/modules/:name`); `snapshot` when it is snapshotted here. */
  status(snapshot: SnapshotStatus | null, behind: ModuleStatus["behind"] = null): ModuleStatus {
    const st = this.#stats;
    const prior = this.#prior;
    const invocations = prior.invocations + (st?.invocations ?? 0);
    const totalUs = prior.totalUs + (st?.totalUs ?? 0);
    // Since the slot was made: the executor's refusals (ended instances and the current one) and the runtime's.
    // Summed field by field, not through `addThrottles`' keyed loop: this runs per module per API request.
    const throttled = sumThrottles(prior.throttled, st?.throttled, this.account.throttled);
    const held = this.account.held();
    const plan = this.plan;
    const latency = this.#eventLatencyView ??= percentiles(this.#eventLatency);
    return {
      name: this.#planView.name,
      state: this.#state,
      last_error: this.lastError,
      last_fault: this.#fault,
      restarts: this.#restarts,
      watchdog_restarts: this.#watchdogRestarts,
      traps: this.#traps,
      invocations,
      errors: prior.errors + (st?.errors ?? 0),
      mode: this.#planView.mode,
      priority: plan.schedule.priority,
      executor: this.executor,
      sha256: this.loaded.sha256,
      size_bytes: this.loaded.sizeBytes,
      limits: { max_memory_mb: plan.maxMemoryMb, budget_us: plan.budgetUs, fuel: plan.fuel },
      memory_bytes: st?.memoryBytes ?? 0,
      accounted_memory_bytes: (st?.memoryBytes ?? 0) + this.loaded.reservedBytes,
      avg_us: invocations > 0 ? round(totalUs / invocations) : null,
      max_us: round(st?.maxUs ?? 0),
      budget_overruns: st?.budgetOverruns ?? 0,
      deadline_misses: st?.deadlineMisses ?? 0,
      lateness_us: st?.lateness ?? null,
      events: this.#events,
      event_latency_us: latency && { ...latency },
      samples_in: st?.samplesIn ?? 0,
      dropped_samples: this.#droppedSamples,
      behind,
      logs_dropped: (st?.logsDropped ?? 0) + throttled.logs,
      denials: this.#denials,
      throttled,
      account: {
        limits: { ...(this.#limitsView ??= limitsByManifestKey(this.account.limits)) },
        held: {
          output_keys: held.outputKeys,
          array_keys: held.arrayKeys,
          array_bytes: held.arrayBytes,
          topics: held.topics,
        },
      },
      latency_histogram: {
        bounds_us: LATENCY_BOUNDS_US,
        counts: prior.latencyBuckets.map((n, i) => n + (st?.latencyBuckets[i] ?? 0)),
        sum_us: round(totalUs),
      },
      instructions: plan.fuel === null
        ? null
        : { total: st?.instructions ?? 0, last: st?.lastInstructions ?? 0 },
      capabilities: [...this.#planView.capabilities],
      outputs: Object.assign(Object.create(null) as Record<string, number>, this.account.outputs),
      started_at: this.#startedAtMs === null ? null : new Date(this.#startedAtMs).toISOString(),
      start_ms: this.#startMs,
      actuators: this.#actuators.map((a) => ({ ...a })),
      snapshot,
      probation: null, // the deploys' (`_deploys.ts`), filled in by the runtime
      last_rollback: null,
      signature: this.loaded.signature ?? null,
    };
  }

  /** Adds an ended instance's counters to the module's totals. */
  #fold(stats: InstanceStats | null): void {
    if (stats) {
      const prior = this.#prior;
      prior.invocations += stats.invocations;
      prior.errors += stats.errors;
      prior.totalUs += stats.totalUs;
      prior.budgetOverruns += stats.budgetOverruns;
      stats.latencyBuckets.forEach((n, i) => prior.latencyBuckets[i]! += n);
      addThrottles(prior.throttled, stats.throttled);
      if (stats.lastError) this.#lastError = stats.lastError;
    }
    this.#stats = null;
  }

  #cancelRestart(): void {
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
  }
}

/**
 * The executor a module runs in: event handlers and priority >= {@linkcode REALTIME_PRIORITY} work in
 * `realtime`, everything else in `normal`, so an event never waits behind a long low-priority call.
 */
export function executorFor(plan: ModulePlan): string {
  return plan.schedule.mode === "event" || plan.schedule.priority >= REALTIME_PRIORITY
    ? "realtime"
    : "normal";
}

/** The memory ranges instantiating `loaded` writes: its active data segments; null when not all are known. */
export function instantiationWrites(loaded: LoadedModule): [number, number][] | null {
  if (loaded.info.start !== null) return null;
  const ranges: [number, number][] = [];
  for (const d of loaded.info.data) {
    if (d.mode !== "active") continue;
    if (d.offset === null) return null;
    ranges.push([d.offset, d.offset + d.sizeBytes]);
  }
  return ranges;
}

export function executorFault(err: ExecutorError): ModuleFault {
  return { kind: "host_error", function: null, message: err.message };
}

export function percentiles(
  values: number[],
): { p50: number; p99: number; p999: number; max: number } | null {
  if (values.length === 0) return null;
  const sorted = values.slice().sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
}

/** Milliseconds to 0.01. */
export function ms(n: number): number {
  return Math.round(n * 100) / 100;
}

export function round(n: number): number {
  return Math.round(n * 10) / 10;
}
