/**
 * How the controller's records look on the wire, in the gateway API's style (`api/_json.ts`, `API_CONVENTIONS`
 * in `api/openapi.ts`): snake_case keys, instants as RFC 3339 strings in UTC with milliseconds (`created_at`),
 * no epoch numbers, and the spans a client computes with given as numbers whose key names the unit
 * (`observed_ms`, `last_seen_age_ms`). Keys a device or a module chose (module names, a spec's keys, a
 * breach's figures) are data and pass through.
 *
 * @module
 */
import type { ReportedModule } from "../../runtime/fleet/protocol.ts";
import type { KnownDevice, Rollout, RolloutMember } from "../types.ts";

/** A JSON object as the API sends it. */
export type Json = Record<string, unknown>;

/** An instant (ms since the epoch) as RFC 3339 in UTC; null stays null. */
export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A rollout (`GET /api/v1/rollouts`, and with its members in `GET /api/v1/rollouts/:id`); `nowMs` gives
 * `observed_ms`, how long its current phase has been observed (null before every device of it runs).
 */
export function rolloutJson(r: Rollout, nowMs: number): Json {
  return {
    id: r.id,
    fleet: r.fleet,
    module: r.module,
    image: r.image,
    spec: r.spec,
    target: { groups: [...r.target.groups], hardware: [...r.target.hardware] },
    phases: r.phases.map((p) => ({
      ...(p.percent !== undefined && { percent: p.percent }),
      ...(p.count !== undefined && { count: p.count }),
      min_observe_s: p.min_observe_s,
      approval: p.approval,
      ...(p.shadow !== undefined && { shadow: { ...p.shadow } }),
    })),
    condition: r.condition,
    offline_grace_s: r.offline_grace_s,
    state: r.state,
    phase: r.phase,
    approved_phase: r.approved_phase,
    observe_started_at: isoTime(r.observe_since_ms),
    observed_ms: r.observe_since_ms === null ? null : Math.max(0, nowMs - r.observe_since_ms),
    reason: r.reason,
    breach: r.breach === null ? null : {
      device: r.breach.device,
      cause: r.breach.cause,
      figures: r.breach.figures,
      at: isoTime(r.breach.at_ms),
    },
    skipped: [...r.skipped],
    created_at: isoTime(r.created_ms),
    updated_at: isoTime(r.updated_ms),
    revision: r.revision,
  };
}

/** A device a rollout touched. */
export function memberJson(m: RolloutMember): Json {
  return {
    device: m.device,
    phase: m.phase,
    status: m.status,
    shadow: m.shadow,
    previous_image: m.previous?.image ?? null,
    joined_at: isoTime(m.joined_ms),
    rev: m.rev,
  };
}

/** One module a device reported. */
function reportedModuleJson(name: string, m: ReportedModule): Json {
  return {
    name,
    source: m.source,
    image: m.image ?? null,
    sha256: m.sha256,
    version: m.version,
    state: m.state,
    probation: m.probation,
    last_rollback: m.last_rollback ?? null,
    figures: m.figures,
  };
}

/** A device known from its reports (`GET /api/v1/devices`): its modules sorted by name. */
export function deviceJson(d: KnownDevice, nowMs: number): Json {
  const r = d.reported;
  return {
    fleet: d.fleet,
    id: d.id,
    groups: [...d.groups],
    hardware: d.hardware,
    online: d.online,
    last_seen_at: isoTime(d.last_seen_ms),
    last_seen_age_ms: Math.max(0, nowMs - d.last_seen_ms),
    runtime_version: typeof r.runtime_version === "string" ? r.runtime_version : null,
    rev_applied: r.rev_applied ?? null,
    rev_seen: r.rev_seen ?? null,
    modules: Object.entries(r.modules).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([name, m]) =>
      reportedModuleJson(name, m)
    ),
    errors: Array.isArray(r.errors) ? r.errors : [],
  };
}

/** The devices of a rollout's fleet grouped by what they run of its module (`GET /api/v1/status`). */
export interface VersionGroup {
  /** `new` for the rollout's image, else the signed version (or the first 12 hex of the sha256); null: not running it. */
  readonly version: string | null;
  /** The module's state on those devices, null when they do not run it. */
  readonly state: string | null;
  readonly online: boolean;
  readonly devices: string[];
}

/**
 * Groups a fleet's devices by what they report for the rollout's module, as `kiln fleet status` prints them:
 * the version (`new` for the rollout's image), the state and whether the device is online.
 */
export function versionGroups(r: Rollout, devices: readonly KnownDevice[]): VersionGroup[] {
  const groups = new Map<string, VersionGroup>();
  for (const d of devices) {
    const m = Object.hasOwn(d.reported.modules, r.module) ? d.reported.modules[r.module]! : null;
    const version = m === null ? null : m.image === r.image ? "new" : (m.version ?? m.sha256.slice(0, 12));
    const state = m === null ? null : m.state;
    const online = d.online;
    const key = JSON.stringify([version, state, online]);
    let g = groups.get(key);
    if (g === undefined) {
      g = { version, state, online, devices: [] };
      groups.set(key, g);
    }
    g.devices.push(d.id);
  }
  return [...groups.values()];
}
