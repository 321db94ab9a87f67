/**
 * A module's slot in the runtime: its plan, its current instance's counters and the totals of earlier ones,
 * and its status as the control plane sees it. Private to `runtime/`.
 *
 * @module
 */
import type { LoadedModule } from "./loader.ts";
import type { ModulePlan } from "./plan.ts";
import type { ExecutorError } from "./errors.ts";
import { LATENCY_BOUNDS_US } from "./_protocol.ts";
import type { InstanceStats, LogEvent, ModuleFault } from "./_protocol.ts";
import type { ActuatorStatus, ModuleState, ModuleStatus, SnapshotStatus } from "./status.ts";
import { addThrottles, limitsByManifestKey, noThrottles, type ThrottleCounts } from "./_account.ts";
import { HeldAccount } from "./_held_account.ts";

import { REALTIME_PRIORITY } from "./manifest/mod.ts";

export { REALTIME_PRIORITY };

/** A deployed module. */
export interface Slot {
  plan: ModulePlan;
  loaded: LoadedModule;
  executor: string;
  state: ModuleState;
  fault: ModuleFault | null;
  lastError: string | null;
  restarts: number;
  /** Of `restarts`, those because the watchdog terminated its executor while another module held it. */
  watchdogRestarts: number;
  traps: number;
  consecutiveFailures: number;
  startedAtMs: number | null;
  /** Counters of previous instances, so totals survive restarts. */
  prior: {
    invocations: number;
    errors: number;
    totalUs: number;
    latencyBuckets: number[];
    /** What its executor's resource account refused, by kind. */
    throttled: ThrottleCounts;
  };
  stats: InstanceStats | null;
  droppedSamples: number;
  /** The latest value of each output, by the key the module gave it (a null-prototype record). */
  outputs: Record<string, number>;
  /** The latest vector outputs, by the key the module gave each (a null-prototype record). */
  arrays: Record<string, Float32Array>;
  /**
   * The main thread's side of the module's resource account: it holds `outputs` and `arrays` (bounded) and
   * bounds what else the runtime keeps or passes on for the module (`_account.ts`).
   */
  account: HeldAccount;
  logs: LogEvent[];
  /** Trigger-to-actuator latencies of recent events, microseconds (a ring of the last 1024). */
  eventLatency: number[];
  events: number;
  denials: number;
  /** Whether its grants are in force (recorded as granted and not yet revoked). */
  granted: boolean;
  restartTimer: ReturnType<typeof setTimeout> | null;
  /** Incremented on every start/stop, so a late answer from an older instance is ignored. */
  generation: number;
  snapshot: SnapshotStatus;
  /** The module's actuators and what became of their last writes. */
  actuators: ActuatorStatus[];
  startMs: number | null;
  snapshotTimer: ReturnType<typeof setInterval> | null;
}

/** A new, stopped slot for a loaded module. */
export function newSlot(l: LoadedModule): Slot {
  const account = new HeldAccount(l.plan.account);
  const slot: Slot = {
    plan: l.plan,
    loaded: l,
    executor: executorFor(l.plan),
    state: "stopped",
    fault: null,
    lastError: null,
    restarts: 0,
    watchdogRestarts: 0,
    traps: 0,
    consecutiveFailures: 0,
    startedAtMs: null,
    prior: {
      invocations: 0,
      errors: 0,
      totalUs: 0,
      latencyBuckets: LATENCY_BOUNDS_US.map(() => 0).concat(0),
      throttled: noThrottles(),
    },
    stats: null,
    droppedSamples: 0,
    // No prototype (the account's records): the keys are the module's (`constructor`, `__proto__`...), and
    // on a plain object an assignment to `__proto__` would call its setter.
    outputs: account.outputs,
    arrays: account.arrays,
    account,
    logs: [],
    eventLatency: [],
    events: 0,
    denials: 0,
    granted: false,
    restartTimer: null,
    generation: 0,
    snapshot: {
      restored_from: null,
      reinit_reason: null,
      passed_over: [],
      read_ms: null,
      restore_ms: null,
      last: null,
      taken: 0,
      failures: 0,
      last_error: null,
    },
    snapshotTimer: null,
    actuators: l.plan.actuators.map((id) => ({
      id,
      writes: 0,
      failures: 0,
      last_value: null,
      last_result: null,
      last_at: null,
    })),
    startMs: null,
  };
  return slot;
}

/** The control plane's view of a slot; `snapshotted` when the module is snapshotted here. */
export function moduleStatus(
  s: Slot,
  snapshotted: boolean,
  behind: ModuleStatus["behind"] = null,
): ModuleStatus {
  const st = s.stats;
  const invocations = s.prior.invocations + (st?.invocations ?? 0);
  const totalUs = s.prior.totalUs + (st?.totalUs ?? 0);
  // Since the slot was made: the executor's refusals (ended instances and the current one) and the runtime's.
  const throttled = addThrottles(addThrottles({ ...s.prior.throttled }, st?.throttled), s.account.throttled);
  const held = s.account.held();
  return {
    name: s.plan.name,
    state: s.state,
    last_error: st?.lastError ?? s.lastError,
    last_fault: s.fault,
    restarts: s.restarts,
    watchdog_restarts: s.watchdogRestarts,
    traps: s.traps,
    invocations,
    errors: s.prior.errors + (st?.errors ?? 0),
    mode: s.plan.schedule.mode,
    priority: s.plan.schedule.priority,
    executor: s.executor,
    sha256: s.loaded.sha256,
    size_bytes: s.loaded.sizeBytes,
    limits: { max_memory_mb: s.plan.maxMemoryMb, budget_us: s.plan.budgetUs, fuel: s.plan.fuel },
    memory_bytes: st?.memoryBytes ?? 0,
    accounted_memory_bytes: (st?.memoryBytes ?? 0) + s.loaded.reservedBytes,
    avg_us: invocations > 0 ? round(totalUs / invocations) : null,
    max_us: round(st?.maxUs ?? 0),
    budget_overruns: st?.budgetOverruns ?? 0,
    deadline_misses: st?.deadlineMisses ?? 0,
    lateness_us: st?.lateness ?? null,
    events: s.events,
    event_latency_us: percentiles(s.eventLatency),
    samples_in: st?.samplesIn ?? 0,
    dropped_samples: s.droppedSamples,
    behind,
    logs_dropped: (st?.logsDropped ?? 0) + throttled.logs,
    denials: s.denials,
    throttled,
    account: {
      limits: limitsByManifestKey(s.account.limits),
      held: {
        output_keys: held.outputKeys,
        array_keys: held.arrayKeys,
        array_bytes: held.arrayBytes,
        topics: held.topics,
      },
    },
    latency_histogram: {
      bounds_us: LATENCY_BOUNDS_US,
      counts: s.prior.latencyBuckets.map((n, i) => n + (st?.latencyBuckets[i] ?? 0)),
      sum_us: round(totalUs),
    },
    instructions: s.plan.fuel === null
      ? null
      : { total: st?.instructions ?? 0, last: st?.lastInstructions ?? 0 },
    capabilities: [...s.plan.capabilities],
    outputs: Object.assign(Object.create(null) as Record<string, number>, s.outputs),
    started_at: s.startedAtMs === null ? null : new Date(s.startedAtMs).toISOString(),
    start_ms: s.startMs,
    actuators: s.actuators.map((a) => ({ ...a })),
    snapshot: snapshotted ? { ...s.snapshot, passed_over: [...s.snapshot.passed_over] } : null,
  };
}

/** Adds an ended instance's counters to the module's totals. */
export function fold(slot: Slot, stats: InstanceStats | null): void {
  if (stats) {
    slot.prior.invocations += stats.invocations;
    slot.prior.errors += stats.errors;
    slot.prior.totalUs += stats.totalUs;
    stats.latencyBuckets.forEach((n, i) => slot.prior.latencyBuckets[i]! += n);
    addThrottles(slot.prior.throttled, stats.throttled);
    if (stats.lastError) slot.lastError = stats.lastError;
  }
  slot.stats = null;
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
