/**
 * The rollout engine: a pure step function. Given a rollout, the devices it touched, the devices known from
 * their reports, the documents last published and the time, it returns the rollout's next state and the
 * per-device desired documents to publish. No IO and no clock of its own, so it is tested with a fake clock;
 * the controller (`kiln fleet run`) stores the result, then publishes it.
 *
 * Rules, in the order a step applies them:
 * 1. A final rollout does nothing, except that a `rolled_back` or `aborted` one publishes the previous entry
 *    (or `null`) to every device it touched that is not rolled back yet.
 * 2. Breach check, in every non-final state, over each touched device: the device refused the module (an
 *    error for it at or after the rev the rollout published, except `registry_unavailable`, which the device
 *    retries), or rolled it back by itself (`last_rollback` since it joined), or runs the new image and the
 *    condition holds over its figures. The first breach (devices in join order) rolls the rollout back and
 *    records the device, the cause and the figures.
 * 3. A touched device is `running` once it reports the new image in state `running` while online and fresh
 *    (a report within `staleAfterMs` or three of its report intervals, not marked offline by its status topic).
 * 4. Only a `running` rollout goes on: the phase's device count is `count` (capped) or `percent` of the
 *    eligible devices (rounded up, at least one), cumulative. Eligible: in one of the target groups (any when
 *    none) with a listed hardware tag (any when none); devices in the groups with other hardware are skipped
 *    and listed. New devices are picked by (fresh first, then SHA-256 of rollout id + device id): the same
 *    devices whatever the order of reports, and not all canaries in one corner of the fleet.
 * 5. The observation starts when every touched device is `running`, and restarts if one stops being so
 *    (offline, stale, rolled back). After `min_observe_s` the phase has passed: the rollout completes after
 *    the last phase, or moves to the next; a phase marked `approval` waits in `awaiting_approval` until an
 *    operator approves it (`approved_phase`). A touched device that is absent (offline or stale) and joined
 *    at least `offline_grace_s` ago no longer holds its phase back, as long as one touched device runs the
 *    new version: a rollout that completes so names those devices in its `reason`; their retained desired
 *    state brings them over when they return.
 * 6. A completed rollout still follows its devices that were absent (`deployed`): each becomes `running`
 *    when it reports the new version. A breach there is the device's own probation's to roll back; the
 *    rollout does not reopen.
 *
 * Shadow phases (`Phase.shadow`, first in a rollout): a device joins by getting the new image in its
 * document's `shadows` section, not its `modules` (a shadow member), and only a device that reports the module
 * running is picked. It is `running` once it reports that shadow running beside the module. Its breaches: a
 * refusal, the candidate stopped by its own doing (`candidate_trapped`, `overflow`), or the condition over the
 * candidate's `shadow_*` figures, every other identifier 0 (the live version is not on trial). A rollback of a
 * shadow member drops its shadow and leaves its module. When the first phase without `shadow` starts, every
 * shadow member gets the new version in `modules` and `null` in `shadows`, and joins that phase's observation
 * (`joined_ms` reset). In a deploying phase the `shadow_*` identifiers are 0.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type {
  DesiredModule,
  DesiredShadow,
  DesiredState,
  ReportedModule,
} from "../runtime/fleet/protocol.ts";
import { type Condition, conditionInput, evaluateCondition, parseCondition } from "./condition.ts";
import type { Breach, KnownDevice, Phase, Rollout, RolloutMember } from "./types.ts";

/** Tuning of {@linkcode stepRollout}. */
export interface EngineOptions {
  /**
   * A device whose last report is older than this, or than three of its report intervals
   * (`report_every_s`) when that is longer, is not healthy, ms. @default 30000
   */
  readonly staleAfterMs?: number;
  /** A device's `last_rollback.at` this much before it joined still counts (clock skew), ms. @default 5000 */
  readonly clockSkewMs?: number;
}

/** What a step reads. */
export interface StepInput {
  readonly rollout: Rollout;
  readonly members: readonly RolloutMember[];
  /** The known devices of the rollout's fleet. */
  readonly devices: readonly KnownDevice[];
  /** The documents the controller last published, by device. */
  readonly published: ReadonlyMap<string, DesiredState>;
  /** The controller's clock, ms since the epoch. */
  readonly nowMs: number;
  readonly options?: EngineOptions;
}

/** What a step decided. */
export interface StepResult {
  readonly rollout: Rollout;
  /** Every touched device (old and new), in join order. */
  readonly members: RolloutMember[];
  /** The members that joined or whose status or rev changed in this step: what the store must write. */
  readonly changedMembers: RolloutMember[];
  /** The documents to publish (retained, per-device topic), by device: only the changed ones. */
  readonly publish: Map<string, DesiredState>;
  /** Whether anything changed (the rollout, a member or a document). */
  readonly changed: boolean;
}

/** Codes a device reports for a module that it retries by itself: not a refusal. */
const RETRIED_CODES: ReadonlySet<string> = new Set(["registry_unavailable"]);

/**
 * Computes a rollout's next state (see the module's rules).
 *
 * @throws {ConditionSyntaxError} when the stored condition does not parse (the store only holds parsed ones).
 */
export function stepRollout(input: StepInput): StepResult {
  const { nowMs } = input;
  const staleAfterMs = input.options?.staleAfterMs ?? 30_000;
  const skewMs = input.options?.clockSkewMs ?? 5_000;
  let r: Rollout = input.rollout;
  const members = new Map(input.members.map((m) => [m.device, m]));
  const publish = new Map<string, DesiredState>();
  const devices = new Map(input.devices.map((d) => [d.id, d]));
  const docOf = (device: string) => publish.get(device) ?? input.published.get(device) ?? null;
  /** Publishes a device's document with the module's entry and/or its shadow changed; returns its rev. */
  const setEntries = (
    device: string,
    change: { module?: DesiredModule | null; shadow?: DesiredShadow | null },
  ): number => {
    const prev = docOf(device);
    const modules: Record<string, DesiredModule | null> = Object.assign(Object.create(null), prev?.modules);
    if (change.module !== undefined) modules[r.module] = change.module;
    const doc: DesiredState = { rev: (prev?.rev ?? 0) + 1, modules };
    if (change.shadow !== undefined || prev?.shadows !== undefined) {
      const shadows: Record<string, DesiredShadow | null> = Object.assign(Object.create(null), prev?.shadows);
      if (change.shadow !== undefined) shadows[r.module] = change.shadow;
      doc.shadows = shadows;
    }
    publish.set(device, doc);
    return doc.rev;
  };
  const newEntry = (): DesiredModule => ({ image: r.image, spec: r.spec as Record<string, unknown> });
  const rollBackAll = () => {
    for (const m of members.values()) {
      if (m.status === "rolled_back") continue;
      // A shadow member's module was never changed: dropping the shadow is the whole rollback.
      const rev = setEntries(m.device, m.shadow ? { shadow: null } : { module: m.previous });
      members.set(m.device, { ...m, status: "rolled_back", rev });
    }
  };
  const before = new Map(input.members.map((m) => [m.device, m]));
  const finish = (): StepResult => {
    const out = [...members.values()];
    const changedMembers = out.filter((m) => {
      const was = before.get(m.device);
      return was === undefined || was.status !== m.status || was.rev !== m.rev;
    });
    const changed = publish.size > 0 || changedMembers.length > 0 ||
      JSON.stringify(r) !== JSON.stringify(input.rollout);
    return { rollout: r, members: out, changedMembers, publish, changed };
  };

  const fresh = (d: KnownDevice) => d.online && nowMs - d.last_seen_ms <= staleAfter(d, staleAfterMs);
  // 3. Which touched devices run the new version (or its shadow, for a shadow member), healthy.
  const healthy = (m: RolloutMember) => {
    const d = devices.get(m.device);
    if (d === undefined || !fresh(d)) return false;
    const rm = reportedModule(d, r.module);
    if (rm === null || rm.state !== "running") return false;
    return m.shadow ? rm.shadow?.image === r.image && rm.shadow.state === "running" : rm.image === r.image;
  };
  const refreshStatuses = () => {
    for (const m of members.values()) {
      if (m.status === "rolled_back") continue;
      const status = healthy(m) ? "running" : "deployed";
      if (m.status !== status) members.set(m.device, { ...m, status });
    }
  };

  // 1. Final states.
  if (r.state === "completed") {
    // 6. Its absent devices, when they come back.
    for (const m of members.values()) {
      if (m.status === "deployed" && healthy(m)) members.set(m.device, { ...m, status: "running" });
    }
    return finish();
  }
  if (r.state === "rolled_back" || r.state === "aborted") {
    rollBackAll();
    return finish();
  }

  // 2. Breaches.
  const condition = parseCondition(r.condition);
  for (const m of members.values()) {
    if (m.status === "rolled_back") continue;
    const d = devices.get(m.device);
    if (d === undefined) continue;
    const breach = breachOf(r, m, d, condition, nowMs, skewMs);
    if (breach !== null) {
      r = { ...r, state: "rolled_back", breach, reason: `device ${breach.device}: ${breach.cause}` };
      rollBackAll();
      return finish();
    }
  }

  refreshStatuses();
  // An absent device past its grace does not hold its phase back.
  const graceMs = r.offline_grace_s === null ? Infinity : r.offline_grace_s * 1000;
  const waived = (m: RolloutMember) => {
    const d = devices.get(m.device);
    return (d === undefined || !fresh(d)) && nowMs - m.joined_ms >= graceMs;
  };

  // 4. Eligible and skipped devices.
  const inGroups = input.devices.filter((d) =>
    r.target.groups.length === 0 || d.groups.some((g) => r.target.groups.includes(g))
  );
  const hardwareOk = (d: KnownDevice) =>
    r.target.hardware.length === 0 || (d.hardware !== null && r.target.hardware.includes(d.hardware));
  const skipped = inGroups.filter((d) => !hardwareOk(d)).map((d) => d.id).sort();
  if (JSON.stringify(skipped) !== JSON.stringify(r.skipped)) r = { ...r, skipped };
  const eligible = inGroups.filter(hardwareOk)
    .map((d) => ({ d, fresh: fresh(d), key: hashKey(r.id, d.id) }))
    .sort((a, b) => Number(b.fresh) - Number(a.fresh) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => e.d);

  // 5. Phases (a loop: a phase that needs no wait passes in the same step).
  for (let guard = 0; guard <= r.phases.length && r.state === "running"; guard++) {
    if (eligible.length === 0) break;
    const shadowing = r.phases[r.phase]!.shadow;
    if (shadowing === undefined) {
      // The first phase that deploys: its shadow members get the new version itself, their shadow dropped.
      for (const m of members.values()) {
        if (!m.shadow || m.status === "rolled_back") continue;
        const rev = setEntries(m.device, { module: newEntry(), shadow: null });
        members.set(m.device, { ...m, shadow: false, status: "deployed", joined_ms: nowMs, rev });
      }
    }
    const want = wantedCount(r.phases, r.phase, eligible.length);
    for (const d of eligible) {
      if (members.size >= want) break;
      if (members.has(d.id)) continue;
      // A shadow runs beside a running version: a device without it waits for a later phase.
      if (shadowing !== undefined && reportedModule(d, r.module)?.state !== "running") continue;
      const prev = docOf(d.id);
      const previous = prev !== null && Object.hasOwn(prev.modules, r.module)
        ? prev.modules[r.module]!
        : null;
      const rev = shadowing === undefined
        ? setEntries(d.id, { module: newEntry() })
        : setEntries(d.id, { shadow: { image: r.image, ...shadowing } });
      members.set(d.id, {
        device: d.id,
        phase: r.phase,
        previous,
        status: "deployed",
        joined_ms: nowMs,
        rev,
        shadow: shadowing !== undefined,
      });
    }
    const all = [...members.values()].filter((m) => m.status !== "rolled_back");
    const converged = all.some((m) => m.status === "running") &&
      all.every((m) => m.status === "running" || waived(m));
    if (!converged) {
      if (r.observe_since_ms !== null) r = { ...r, observe_since_ms: null };
      break;
    }
    if (r.observe_since_ms === null) r = { ...r, observe_since_ms: nowMs };
    if (nowMs - r.observe_since_ms! < r.phases[r.phase]!.min_observe_s * 1000) break;
    if (members.size < want) break; // fewer devices than the phase asks (cannot happen: picked above)
    if (r.phase === r.phases.length - 1) {
      const absent = all.filter((m) => m.status !== "running").map((m) => m.device);
      const reason = absent.length === 0 ? null : `completed without ${absent.join(", ")}: offline past ` +
        `the ${r.offline_grace_s} s grace; their desired state brings them over when they return`;
      r = { ...r, state: "completed", reason };
      break;
    }
    const next = r.phase + 1;
    const gated = r.phases[next]!.approval && r.approved_phase < next;
    r = { ...r, phase: next, observe_since_ms: null, state: gated ? "awaiting_approval" : "running" };
  }
  return finish();
}

/** How many devices phase `index` covers among `eligible` (cumulative over the phases before it). */
export function wantedCount(phases: readonly Phase[], index: number, eligible: number): number {
  let want = 0;
  for (let i = 0; i <= index; i++) {
    const p = phases[i]!;
    const n = p.count !== undefined ? Math.min(p.count, eligible) : Math.ceil((eligible * p.percent!) / 100);
    want = Math.max(want, Math.max(1, n));
  }
  return Math.min(want, eligible);
}

/**
 * How long after its last report a device is gone: `floorMs`, or three of its report intervals when that is
 * longer (a gateway reporting every minute is not gone after 30 s); 10 s assumed when it does not say.
 */
export function staleAfter(d: KnownDevice, floorMs: number): number {
  const every = d.reported.report_every_s;
  const seconds = typeof every === "number" && every >= 1 && every <= 3600 ? every : 10;
  return Math.max(floorMs, 3 * seconds * 1000);
}

/** Each device's pick order in a rollout: a SHA-256 per pair, kept (the newest 100,000). */
const hashes = new Map<string, string>();
const MAX_HASHES = 100_000;

function hashKey(rolloutId: string, device: string): string {
  const key = `${rolloutId}\0${device}`;
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = createHash("sha256").update(key).digest("hex");
    if (hashes.size >= MAX_HASHES) hashes.delete(hashes.keys().next().value!);
    hashes.set(key, hash);
  }
  return hash;
}

function reportedModule(d: KnownDevice, module: string): ReportedModule | null {
  const modules = d.reported.modules;
  return modules !== null && typeof modules === "object" && Object.hasOwn(modules, module)
    ? modules[module]!
    : null;
}

function breachOf(
  r: Rollout,
  m: RolloutMember,
  d: KnownDevice,
  condition: Condition,
  nowMs: number,
  skewMs: number,
): Breach | null {
  const refusal = (d.reported.errors ?? []).find((e) =>
    e.module === r.module && e.rev !== null && e.rev >= m.rev && !RETRIED_CODES.has(e.code)
  );
  if (refusal !== undefined) {
    return { device: d.id, cause: `the device refused it (${refusal.code})`, figures: {}, at_ms: nowMs };
  }
  const rm = reportedModule(d, r.module);
  if (rm === null) return null;
  if (m.shadow) return shadowBreachOf(r, d, rm, condition, nowMs);
  const rolledBackAt = rm.last_rollback === undefined ? NaN : Date.parse(rm.last_rollback.at);
  const rolledBack = rolledBackAt >= m.joined_ms - skewMs;
  const running = rm.state === "running";
  const values = conditionInput(rm.figures, { rolledBack, running });
  if (rolledBack) {
    return {
      device: d.id,
      cause: `the device rolled it back by itself (${rm.last_rollback!.reason})`,
      figures: { ...values },
      at_ms: nowMs,
    };
  }
  if (rm.image !== r.image || !evaluateCondition(condition, values)) return null;
  const figures: Record<string, number> = {};
  for (const id of condition.identifiers) figures[id] = values[id]!;
  return { device: d.id, cause: `condition "${r.condition}"`, figures, at_ms: nowMs };
}

/** Why a shadow stops that is the candidate's doing: the rollout breaches on it. */
const CANDIDATE_STOPS = /^(candidate_trapped|overflow)/;

/** The figures a shadow member's condition sees for the live version: none (it is not on trial). */
const NO_FIGURES = {
  invocations: 0,
  errors: 0,
  crashes: 0,
  error_rate: 0,
  p99_us: 0,
  budget_overruns: 0,
} as const;

/**
 * A breach on a device running the new version as a shadow: the candidate stopped by its own doing (trapped,
 * overran its budget, fell behind), or the condition holds over its `shadow_*` figures (the others are 0).
 */
function shadowBreachOf(
  r: Rollout,
  d: KnownDevice,
  rm: ReportedModule,
  condition: Condition,
  nowMs: number,
): Breach | null {
  const shadow = rm.shadow;
  if (shadow === undefined || shadow.image !== r.image) return null;
  const values = conditionInput(NO_FIGURES, { rolledBack: false, running: true }, shadow);
  if (shadow.state === "stopped" && CANDIDATE_STOPS.test(shadow.reason ?? "")) {
    return {
      device: d.id,
      cause: `the candidate stopped in shadow (${shadow.reason})`,
      figures: { ...values },
      at_ms: nowMs,
    };
  }
  if (!evaluateCondition(condition, values)) return null;
  const figures: Record<string, number> = {};
  for (const id of condition.identifiers) figures[id] = values[id]!;
  return { device: d.id, cause: `condition "${r.condition}" (in shadow)`, figures, at_ms: nowMs };
}
