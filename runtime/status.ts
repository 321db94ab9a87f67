/**
 * What the control plane sees of the runtime: the status of modules, snapshots, channels, published
 * messages and the runtime itself. Field names are the API's (snake_case JSON).
 *
 * @module
 */
import type { ModuleSignature } from "./signatures.ts";
import type { ChannelPlan, ModulePlan } from "./plan.ts";
import type { ModuleFault } from "./executor/protocol.ts";
import type { SnapshotReason } from "../snapshots/mod.ts";
import type { ThrottleCounts } from "./executor/account.ts";

/** Lifecycle states of a module. */
export type ModuleState = "starting" | "running" | "stopped" | "crashed" | "failed";

/** A module as the control plane sees it. */
export interface ModuleStatus {
  name: string;
  state: ModuleState;
  last_error: string | null;
  last_fault: ModuleFault | null;
  restarts: number;
  /** Of `restarts`, those because the watchdog ended its executor while another module held it. */
  watchdog_restarts: number;
  /** Faults that ended an instance (traps, interrupts, failed starts), since start. */
  traps: number;
  invocations: number;
  errors: number;
  mode: ModulePlan["schedule"]["mode"];
  priority: number;
  executor: string;
  sha256: string;
  size_bytes: number;
  limits: { max_memory_mb: number; budget_us: number; fuel: number | null };
  /** The instance's linear memory, bytes. */
  memory_bytes: number;
  /**
   * Everything counted against `limits.max_memory_mb`: the linear memory plus its tables (at their maximum),
   * globals and element segments (`modules/ABI.md`, "Memory"), bytes: at most `max_memory_mb` plus the 64 KiB
   * those get free.
   */
  accounted_memory_bytes: number;
  avg_us: number | null;
  max_us: number;
  budget_overruns: number;
  deadline_misses: number;
  /** Event modules: API and GPIO events the runtime fired at it since start (channel records count in `invocations`). */
  events: number;
  /** Event modules: trigger to actuator write carried out, over the last 1024 events that wrote, microseconds. */
  event_latency_us: { p50: number; p99: number; p999: number; max: number } | null;
  /** Periodic modules: how late their recent ticks started (p50, p99, max over the last 1024), microseconds. */
  lateness_us: { p50: number; p99: number; max: number } | null;
  samples_in: number;
  dropped_samples: number;
  /**
   * Stream modules: what waits for them now. From a sensor: samples handed to their executor and not yet
   * taken, and the time they span at the sensor's rate; from a channel: bytes not yet read. Null otherwise.
   */
  behind: { samples: number; ms: number } | { bytes: number } | null;
  /** Log lines dropped by the log limits (`log_lines_per_s`, `log_bytes_per_s`), since start. */
  logs_dropped: number;
  /** Calls refused by the capability check, since start. */
  denials: number;
  /**
   * What the module's resource account refused (its call got `KILN_ELIMIT`) or the runtime dropped, by kind
   * of limit, since start: `outputs` (a new key past `max_output_keys`), `arrays` (`max_array_keys`,
   * `max_array_bytes`), `publish` (`publish_per_s`, `publish_bytes_per_s`, `max_publish_topics`), `outbox`
   * (its share of the outbox full), `logs`, `alerts`, `audit` (denials folded into a summary audit row).
   */
  throttled: ThrottleCounts;
  /**
   * The module's resource account: its limits by their manifest keys (`limits:`, defaults applied), and what
   * the runtime holds for it now.
   */
  account: {
    limits: Record<string, number>;
    held: { output_keys: number; array_keys: number; array_bytes: number; topics: number };
  };
  /**
   * Handler call durations since start as a histogram: `counts[i]` calls took at most `bounds_us[i]` and
   * more than the bound before (not cumulative); the last count is above every bound. `sum_us` is their total.
   */
  latency_histogram: { bounds_us: readonly number[]; counts: number[]; sum_us: number };
  /** Instructions executed by the current instance and by its last call, when metered (`limits.fuel`). */
  instructions: { total: number; last: number } | null;
  capabilities: string[];
  /** The latest value of each output, by the key the module gave it; a record without a prototype. */
  outputs: Record<string, number>;
  started_at: string | null;
  /**
   * Milliseconds the current instance took to start, from the runtime's request to running: reading its
   * snapshot, instantiating and restoring it; or instantiating and running `kiln_init`.
   */
  start_ms: number | null;
  /** Its actuators (`kiln.actuate`) and the outcome of their last writes. */
  actuators: ActuatorStatus[];
  /** Snapshots (`persistence.snapshot`), or null when the module is not snapshotted. */
  snapshot: SnapshotStatus | null;
  /** The version's probation after a deploy swapped it in; null when it is not on probation. */
  probation: ProbationStatus | null;
  /** The last automatic rollback of this module since the runtime started, or null. */
  last_rollback: RollbackRecord | null;
  /** What its verified signature says (signed version, signer, chain), or null for an unsigned module. */
  signature: ModuleSignature | null;
}

/** A version on probation: since when, until when at the earliest and the latest, and what it must show. */
export interface ProbationStatus {
  /** RFC 3339. */
  since: string;
  /** The earliest promotion (RFC 3339), once it made `invocations` calls. */
  until: string;
  /** The latest promotion (RFC 3339), however few calls it made. */
  until_latest: string;
  invocations_needed: number;
  /** The sha256 of the version it rolls back to when it breaks a condition (null for a new module). */
  replaces_sha256: string | null;
}

/** An automatic rollback: which version was rolled back to which, when, and which condition it broke. */
export interface RollbackRecord {
  /** RFC 3339. */
  at: string;
  from_sha256: string;
  /** Null when there was no version to go back to (a new module: it was removed). */
  to_sha256: string | null;
  breach: "crash" | "error_rate" | "budget_overruns" | "p99" | "start";
  reason: string;
}

/** One actuator of a module (`actuators` in the manifest): its writes and the last one's outcome. */
export interface ActuatorStatus {
  /** `<kind>:<device>/<point>`, as the manifest's `actuators` names it. */
  id: string;
  writes: number;
  failures: number;
  last_value: number | null;
  /** `"pending"` until the device confirms, `"ok"`, or the error's message. */
  last_result: string | null;
  last_at: string | null;
}

/** A snapshotted module's snapshot state, as the control plane sees it. */
export interface SnapshotStatus {
  /** The snapshot the current instance resumed from, or null when it ran `kiln_init`. */
  restored_from: number | null;
  /** Why the current instance did not resume from a snapshot, when one existed. */
  reinit_reason: string | null;
  /** Newer snapshots passed over at the last start, each with why (another build, corrupt...). */
  passed_over: string[];
  /** Of the last restore: ms to read and check the snapshot, and to instantiate the module and copy it in. */
  read_ms: number | null;
  restore_ms: number | null;
  /** The newest snapshot taken by this runtime. */
  last:
    | { seq: number; reason: SnapshotReason; at: string; memory_bytes: number; stored_bytes: number }
    | null;
  taken: number;
  failures: number;
  last_error: string | null;
}

/** The runtime's own health. */
export interface Health {
  status: "ok" | "degraded" | "starting" | "stopping";
  version: string;
  device: { id: string; location: string | null };
  uptime_s: number;
  modules: Record<ModuleState, number>;
}

/** A channel as the control plane sees it: counters are u32 and wrap at 2^32. */
export interface ChannelStatus {
  id: string;
  writer: string;
  size_bytes: number;
  overflow: ChannelPlan["overflow"];
  /** Records written. */
  written: number;
  /** Records refused: `drop-newest` with no room, or `block-writer` timeouts. */
  dropped: number;
  /** `drop-oldest`: records overwritten before a reader read them. */
  evicted: number;
  /** `block-writer`: writes that had to wait, and that waited in vain. */
  blocked: number;
  timeouts: number;
  /** Per reader: records lost to an overflow, and bytes waiting. */
  readers: { module: string; lost: number; pending_bytes: number }[];
}

/** A message a module published, as the API lists it. */
export interface PublishedMessage {
  seq: number;
  module: string;
  topic: string;
  /** The payload as UTF-8 text when it decodes, else base64. */
  payload: string;
  encoding: "utf-8" | "base64";
  at: number;
}

/**
 * The runtime's health: its own `status` (`degraded` when it is `ok` but a module crashed or failed), and its
 * modules counted by state. `startedAtMs` is 0 before the runtime started; times are ms since the epoch.
 */
export function healthOf(runtime: {
  status: Health["status"];
  version: string;
  device: Health["device"];
  startedAtMs: number;
  nowMs: number;
  states: Iterable<ModuleState>;
}): Health {
  const modules: Record<ModuleState, number> = { starting: 0, running: 0, stopped: 0, crashed: 0, failed: 0 };
  for (const state of runtime.states) modules[state]++;
  const degraded = modules.crashed + modules.failed > 0;
  return {
    status: runtime.status === "ok" && degraded ? "degraded" : runtime.status,
    version: runtime.version,
    device: runtime.device,
    uptime_s: runtime.startedAtMs === 0 ? 0 : Math.round((runtime.nowMs - runtime.startedAtMs) / 100) / 10,
    modules,
  };
}

/** `a + b + c`, kind by kind (a missing one adds nothing), as a new record. */
export function sumThrottles(
  a: ThrottleCounts,
  b: ThrottleCounts | null | undefined,
  c: ThrottleCounts,
): ThrottleCounts {
  return {
    outputs: a.outputs + (b?.outputs ?? 0) + c.outputs,
    arrays: a.arrays + (b?.arrays ?? 0) + c.arrays,
    publish: a.publish + (b?.publish ?? 0) + c.publish,
    outbox: a.outbox + (b?.outbox ?? 0) + c.outbox,
    logs: a.logs + (b?.logs ?? 0) + c.logs,
    alerts: a.alerts + (b?.alerts ?? 0) + c.alerts,
    audit: a.audit + (b?.audit ?? 0) + c.audit,
  };
}
