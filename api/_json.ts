/**
 * How the runtime's records look on the wire. The API's JSON follows one style (see `openapi.ts`): keys in
 * snake_case, instants as RFC 3339 strings in UTC with milliseconds (`"2025-01-01T00:00:00.000Z"`), and spans
 * as numbers whose key names the unit (`uptime_s`, `backoff_ms`, `oldest_age_ms`, `budget_us`). Records the
 * runtime already keeps in that shape (a module's status, a channel's) pass through; the others are shaped
 * here, at the API's edge, so the runtime keeps its own field names. Keys chosen by a module or a manifest (a
 * module's outputs and arrays, `account.limits`, `policy.max_limits`, a sandbox probe's name) are data and
 * pass through as they are.
 *
 * @module
 */
import type { ConnectorStatus } from "../hal/mod.ts";
import type { GpioPinState } from "../hal/gpio/mod.ts";
import type {
  AlertEvent,
  DeploymentPlan,
  ExecutorStatus,
  LogEvent,
  ModuleStatus,
  PermissionStates,
  PublishedMessage,
  SimSensorState,
  ThreadScheduling,
} from "../runtime/mod.ts";
import type { OutboxKindStats, OutboxStats } from "../snapshots/mod.ts";
import type { UplinkReader } from "./ports.ts";

/** A JSON object as the API sends it. */
export type Json = Record<string, unknown>;

/** An instant, milliseconds since the epoch, as the API writes it: RFC 3339 in UTC, e.g. `2025-01-01T00:00:00.000Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** An alert a module raised (`GET /api/v1/alerts`, the stream's `alerts`). */
export function alertJson(a: AlertEvent & { seq: number }): Json {
  return { seq: a.seq, module: a.module, severity: a.severity, message: a.message, at: isoTime(a.at) };
}

/** A message a module published (`GET /api/v1/messages`, the stream's `messages/<module>`). */
export function messageJson(m: PublishedMessage): Json {
  return {
    seq: m.seq,
    module: m.module,
    topic: m.topic,
    payload: m.payload,
    encoding: m.encoding,
    at: isoTime(m.at),
  };
}

/** A module's log line (`GET /api/v1/modules/:name/logs`, the stream's `logs/<module>`). */
export function logJson(l: LogEvent): Json {
  return { module: l.module, level: l.level, message: l.message, at: isoTime(l.at) };
}

/** A module's part of the stream's `status` frame. */
export function moduleBriefJson(m: ModuleStatus): Json {
  return { name: m.name, state: m.state, last_error: m.last_error, restarts: m.restarts };
}

/** A module's counters, the stream's `metrics/<module>`. */
export function moduleMetricsJson(m: ModuleStatus): Json {
  return {
    invocations: m.invocations,
    errors: m.errors,
    traps: m.traps,
    avg_us: m.avg_us,
    max_us: m.max_us,
    memory_bytes: m.memory_bytes,
    samples_in: m.samples_in,
    dropped_samples: m.dropped_samples,
    behind: m.behind,
    deadline_misses: m.deadline_misses,
    budget_overruns: m.budget_overruns,
    denials: m.denials,
  };
}

/** A module's vector outputs as JSON arrays, by the keys it gave them (a record without a prototype). */
export function arraysJson(arrays: Readonly<Record<string, Float32Array>>): Record<string, number[]> {
  const json = Object.create(null) as Record<string, number[]>;
  for (const [key, values] of Object.entries(arrays)) json[key] = Array.from(values);
  return json;
}

/** A simulated sensor and its fault (`GET /api/v1/sim/sensors`). */
export function sensorJson(s: SimSensorState): Json {
  return { id: s.id, kind: s.kind, fault: s.fault, rate_hz: s.rateHz };
}

/** A GPIO pin (`GET /api/v1/sim/gpio`): `changed_at` is null while its level never changed. */
export function gpioPinJson(p: GpioPinState): Json {
  return {
    pin: p.pin,
    value: p.value,
    set_by: p.setBy,
    changed_at: p.changedAt > 0 ? isoTime(p.changedAt) : null,
    writes: p.writes,
    quality: p.quality,
  };
}

/** A connector's state, counters and backoff (`GET /api/v1/connectors`, `GET /api/v1/uplink`). */
export function connectorJson(s: ConnectorStatus): Json {
  return {
    name: s.name,
    kind: s.kind,
    state: s.state,
    last_error: s.lastError,
    errors: s.errors,
    reconnects: s.reconnects,
    failures: s.failures ?? null,
    next_attempt_at: s.nextAttemptAtMs == null ? null : isoTime(s.nextAttemptAtMs),
    backoff_ms: s.backoffMs ?? null,
    max_backoff_ms: s.maxBackoffMs ?? null,
    ...(s.points && { points: s.points.map((p) => ({ id: p.id, state: p.state, error: p.error })) }),
  };
}

/** The outbox's figures (`GET /api/v1/uplink`'s `outbox`). */
export function outboxJson(o: OutboxStats): Json {
  const kinds = Object.create(null) as Record<string, Json>;
  for (const [kind, k] of Object.entries(o.kinds) as [string, OutboxKindStats][]) {
    kinds[kind] = {
      depth: k.depth,
      size_bytes: k.sizeBytes,
      enqueued: k.enqueued,
      delivered: k.delivered,
      dropped: k.dropped,
      dropped_bytes: k.droppedBytes,
      over_budget: k.overBudget,
    };
  }
  return {
    depth: o.depth,
    size_bytes: o.sizeBytes,
    disk_budget_bytes: o.diskBudgetBytes,
    oldest_age_ms: o.oldestAgeMs,
    kinds,
  };
}

/**
 * The uplink (`GET /api/v1/uplink`): its connector, the outbox, the forwarder, and what was refused (by the
 * outbox, and the MQTT commands for `mqtt:` triggers the runtime refused).
 */
export function uplinkJson(uplink: UplinkReader, mqttEventsRefused: number): Json {
  const f = uplink.forwarderStats();
  return {
    connector: connectorJson(uplink.status()),
    outbox: outboxJson(uplink.outboxStats()),
    forwarder: {
      state: f.state,
      in_flight: f.inFlight,
      sent: f.sent,
      acked: f.acked,
      failed: f.failed,
      last_error: f.lastError,
    },
    refused_by_outbox: uplink.refused,
    mqtt_events_refused: mqttEventsRefused,
  };
}

/** A thread's scheduling policy and pinning (an executor's `scheduling`). */
export function schedulingJson(s: ThreadScheduling): Json {
  return { policy: s.policy, priority: s.priority, error: s.error, cpus: s.cpus, cpu_error: s.cpuError };
}

/** An executor's Deno permission states, and what an attempt to read a file inside it ended in. */
export function permissionsJson(p: PermissionStates): Json {
  const { readProbe, ...states } = p;
  return { ...states, read_probe: readProbe };
}

/** An executor (`GET /api/v1/executors`, `GET /api/v1/sandbox`). */
export function executorJson(e: ExecutorStatus): Json {
  return {
    name: e.name,
    modules: e.modules,
    permissions: permissionsJson(e.permissions),
    scheduling: schedulingJson(e.scheduling),
    watchdog_terminations: e.watchdog_terminations,
  };
}

/** The device policy's limits by their manifest keys (`policy.max_priority`, ...), or null without them. */
export function policyLimitsJson(p: DeploymentPlan["policyLimits"]): Json | null {
  if (p === undefined) return null;
  return {
    max_priority: p.maxPriority,
    max_budget_us: p.maxBudgetUs,
    max_init_budget_us: p.maxInitBudgetUs,
    max_memory_mb: p.maxMemoryMb,
    max_fuel: p.maxFuel,
    max_block_timeout_us: p.maxBlockTimeoutUs,
    max_channel_bytes: p.maxChannelBytes,
    min_snapshot_interval_s: p.minSnapshotIntervalS,
    max_modules: p.maxModules,
    // Keyed by the manifest's `limits:` keys, already snake_case; a record without a prototype.
    max_limits: Object.assign(Object.create(null) as Record<string, number>, p.maxLimits),
  };
}
