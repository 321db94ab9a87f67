/**
 * Deploys into a running runtime: a new module, or a new version of one swapped in without ever replacing a
 * good version with a bad one (verified, started on a dry-run trial, switched, then on probation with an
 * automatic rollback to the old version, code and memory, when it breaks a condition).
 * The runtime holds the slots; this decides the order of the steps. Private to `runtime/`.
 *
 * @module
 */
import type { SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import { DeployFailedError, ModuleExistsError, ModuleUnknownError } from "./errors.ts";
import { StartFailed } from "./executor.ts";
import type { AlertEvent, InstanceSpec } from "./executor/protocol.ts";
import { nowMs } from "./executor/instance.ts";
import { checkPlantRefs } from "./instance_spec.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import type { DeploymentPlan, ModulePlan } from "./plan.ts";
import type { ModuleStatus, ProbationStatus, RollbackRecord } from "./status.ts";
import { DEFAULT_PROBATION, judgeProbation, type ProbationPlan } from "./_probation.ts";
import type { ExecutorPool } from "./_executors.ts";
import { executorFor, ModuleSlot as Slot } from "./_slot.ts";
import type { Supervisor } from "./_supervisor.ts";
import type { Journal } from "./persistence/journal.ts";
import type { Telemetry } from "./telemetry.ts";
import type { Uplink } from "./uplink/uplink.ts";

/**
 * How long a swapped-in version may take to make its first handler call before the deploy answers, ms: a
 * fault by then fails the deploy itself (rolled back, 422); later ones are its probation's (`_probation.ts`).
 */
export const FIRST_CALL_MS = 2_000;

/** How often a version on probation is judged, ms. */
const PROBATION_TICK_MS = 100;

/** What deploying needs from the runtime. */
export interface DeployContext {
  readonly plan: DeploymentPlan;
  /** The runtime's slots by module name, in manifest order (deploys add to it). */
  readonly slots: Map<string, Slot>;
  readonly supervisor: Supervisor;
  readonly executors: ExecutorPool;
  readonly snap: ModuleSnapshots;
  /** Versions on probation, and the last automatic rollbacks. */
  readonly probations: Probations;
  /** Loads and verifies a module; `rollback`: its signed version may be lower than the running one's. */
  loadModule(plan: ModulePlan, how?: { rollback?: boolean }): Promise<LoadedModule>;
  spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec;
  takeSnapshot(name: string, reason: SnapshotReason): Promise<SnapshotInfo>;
  view(slot: Slot): ModuleStatus;
  /** Whether the runtime is still starting (a module deployed meanwhile starts with the others). */
  starting(): boolean;
  /** Whether the runtime is stopping (probation ends without a verdict). */
  stopping(): boolean;
  /** A slot was added, or replaced by another of the same name. */
  added(slot: Slot): void;
  /** A module is gone. */
  removed(name: string): void;
  /** A version was rolled back on its own figures (after the swap was done): alert and audit it. */
  rolledBack(name: string, record: RollbackRecord): void;
  log(line: string): void;
}

/** One version on probation. */
interface OnProbation {
  readonly slot: Slot;
  /** The version it replaced, to go back to; null for a new module. */
  readonly old: Slot | null;
  readonly sinceMs: number;
  readonly plan: ProbationPlan;
  /** The replaced version's handler durations by bucket, over its life. */
  readonly baseline: readonly number[] | null;
  /** Its figures when probation began (a version rolled back to starts with its old counts). */
  readonly start: ReturnType<Slot["totals"]>;
  timer: ReturnType<typeof setInterval> | null;
}

/** The versions on probation and the last automatic rollback of each module; owned by the deploys. */
export class Probations {
  readonly #active = new Map<string, OnProbation>();
  readonly #last = new Map<string, RollbackRecord>();

  /** The probation and last rollback of `slot`'s module, as its status shows them. */
  view(slot: Slot): { probation: ProbationStatus | null; last_rollback: RollbackRecord | null } {
    const p = this.#active.get(slot.plan.name);
    const iso = (ms: number) => new Date(epochOf(ms)).toISOString();
    return {
      probation: p && p.slot === slot
        ? {
          since: iso(p.sinceMs),
          until: iso(p.sinceMs + p.plan.windowMs),
          until_latest: iso(p.sinceMs + p.plan.maxWindowMs),
          invocations_needed: p.plan.invocations,
          replaces_sha256: p.old?.loaded.sha256 ?? null,
        }
        : null,
      last_rollback: this.#last.get(slot.plan.name) ?? null,
    };
  }

  /** Whether `name`'s running version is on probation. */
  has(name: string): boolean {
    return this.#active.has(name);
  }

  /** Begins `p`'s probation, judged every {@linkcode PROBATION_TICK_MS} by `judge`. */
  begin(name: string, p: OnProbation, judge: () => void): void {
    this.end(name);
    this.#active.set(name, p);
    p.timer = setInterval(judge, PROBATION_TICK_MS);
    Deno.unrefTimer(p.timer);
  }

  /** Ends `name`'s probation, if any, without a verdict (removed, replaced, stopped, the runtime closes). */
  end(name: string): void {
    const p = this.#active.get(name);
    if (p?.timer) clearInterval(p.timer);
    this.#active.delete(name);
  }

  /** Records an automatic rollback (kept, one per module, while the runtime runs). */
  rolledBack(name: string, record: RollbackRecord): void {
    this.#last.set(name, record);
  }

  /** A module is gone: its record too (a name deployed again starts afresh). */
  forget(name: string): void {
    this.end(name);
    this.#last.delete(name);
  }

  /** The runtime closes: every probation ends. */
  closeAll(): void {
    for (const name of [...this.#active.keys()]) this.end(name);
  }
}

/** `nowMs()` is a monotonic clock in ms since the process began: its epoch time. */
const epochOf = (ms: number) => Date.now() - (nowMs() - ms);

/**
 * Deploys a module, or a new version of one, so that a bad version never replaces a good one: the new
 * version is verified, then started on trial (a dry run: instantiated and `kiln_init` run with its effects
 * held, then dropped; see modules/ABI.md) while the old one keeps running. Only then is the old one stopped
 * (with a snapshot, when it is snapshotted) and the new one started. If that start fails, or the new version
 * faults before its first handler call completes (at most {@linkcode FIRST_CALL_MS}), the old one is
 * started again from that snapshot and the deploy fails. Otherwise the deploy succeeds and the new version is
 * on probation (its module's `probation:`): breaking a condition later (a crash, its error rate, budget
 * overruns, its p99 against the old version's) rolls it back the same way, code and memory, with an alert;
 * lasting the window promotes it.
 *
 * @returns The new version's status, and the sha256 of the version it replaced (null for a new module).
 * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
 *   when the new version does not verify (nothing changed).
 * @throws {DeployFailedError} when it fails its trial (nothing changed) or its start (rolled back).
 */
export async function replaceModule(
  ctx: DeployContext,
  plan: ModulePlan,
  options: { rollback?: boolean } = {},
): Promise<{ status: ModuleStatus; replaced: string | null }> {
  checkPlantRefs(ctx.plan, plan);
  const loaded = await ctx.loadModule(plan, { rollback: options.rollback ?? false });
  const trialSpec = ctx.spec(plan, loaded);
  try {
    await ctx.executors.get(executorFor(plan)).load(trialSpec, loaded.module, null, { trial: true });
  } catch (err) {
    if (err instanceof StartFailed) throw new DeployFailedError(plan.name, err.message, false);
    throw err;
  }
  const old = ctx.slots.get(plan.name) ?? null;
  ctx.probations.end(plan.name);
  const baseline = old ? old.totals().latencyBuckets : null;
  if (old) {
    if (old.state === "running" && ctx.snap.enabled(old.plan)) {
      await ctx.takeSnapshot(plan.name, "stop").catch(() => {}); // counted in its status
    }
    ctx.supervisor.halt(old);
  }
  const slot = new Slot(loaded);
  ctx.slots.set(plan.name, slot);
  ctx.added(slot);
  await ctx.supervisor.start(slot, true);
  if (slot.state === "running") await firstCall(slot);
  if (slot.state !== "running") {
    const reason = slot.fault?.message ?? slot.lastError ?? `it is ${slot.state}`;
    await goBack(ctx, slot, old);
    throw new DeployFailedError(plan.name, reason, old !== null);
  }
  ctx.log(
    `module ${plan.name}: deployed ${loaded.sha256.slice(0, 12)}` +
      (old ? `, replacing ${old.loaded.sha256.slice(0, 12)}` : "") + ", on probation",
  );
  const p: OnProbation = {
    slot,
    old,
    sinceMs: nowMs(),
    plan: plan.probation ?? DEFAULT_PROBATION,
    baseline,
    start: slot.totals(),
    timer: null,
  };
  ctx.probations.begin(plan.name, p, () => judge(ctx, plan.name, p));
  return { status: ctx.view(slot), replaced: old?.loaded.sha256 ?? null };
}

/** The critical alert of an automatic rollback. */
export function rollbackAlert(name: string, record: RollbackRecord): AlertEvent {
  return {
    module: name,
    severity: "critical",
    message: `Rolled back ${record.from_sha256.slice(0, 12)} to ${
      record.to_sha256?.slice(0, 12) ?? "nothing (a new module: removed)"
    }: ${record.reason}`,
    at: Date.now(),
  };
}

/** Called after every automatic rollback of a version on probation. */
export type RollbackListener = (name: string, record: RollbackRecord) => void;

/**
 * Announces a version rolled back on probation: a critical alert (journal, stream, uplink), then the
 * listeners (the desired state records it, the fleet agent reports it).
 */
export class RollbackNotices {
  readonly #o: RollbackNoticesOptions;
  readonly #listeners: RollbackListener[] = [];

  constructor(o: RollbackNoticesOptions) {
    this.#o = o;
  }

  /** Calls `listener` after every rollback. */
  on(listener: RollbackListener): void {
    this.#listeners.push(listener);
  }

  /** Raises a runtime alert (source `runtime`): to the journal, the stream and the uplink. */
  raise(alert: AlertEvent): void {
    const { journal, telemetry, uplink } = this.#o;
    const numbered = journal.addAlert(alert, "runtime");
    if (telemetry.active) telemetry.emit({ type: "alert", alert: numbered });
    uplink()?.publishAlert(alert);
  }

  /** Raises the alert and calls the listeners (one that throws is logged, the others still called). */
  announce(name: string, record: RollbackRecord): void {
    const { log } = this.#o;
    this.raise(rollbackAlert(name, record));
    for (const listener of this.#listeners) {
      try {
        listener(name, record);
      } catch (err) {
        log(`kiln: a rollback listener failed: ${(err as Error).message}`);
      }
    }
  }
}

/** A module faulted (crashed, or failed: restarts exhausted), as the supervisor tells it. */
export type FaultState = "crashed" | "failed";

/** Crash alerts of one module closer together than this are folded into the next one. */
export const CRASH_ALERT_INTERVAL_MS = 10_000;

/**
 * The alerts the runtime raises itself (source `runtime`): a rollback on probation ({@linkcode
 * RollbackNotices}), and a module that crashed (warning, it will be restarted) or failed (critical), each to
 * the journal, the stream and the uplink. Crash alerts are bounded to one per module per
 * {@linkcode CRASH_ALERT_INTERVAL_MS}: the ones held back are counted in the next one's message; a failure
 * is always raised.
 */
export class RuntimeAlerts extends RollbackNotices {
  readonly #now: () => number;
  /** By module: when its last crash alert was raised, and how many were held back since. */
  readonly #crashes = new Map<string, { lastMs: number; held: number }>();

  constructor(o: RollbackNoticesOptions & { now?: () => number }) {
    super(o);
    this.#now = o.now ?? Date.now;
  }

  /** A module crashed (its restart policy restarts it) or failed: a runtime alert, rate-limited for crashes. */
  moduleFaulted(name: string, state: FaultState, fault: { kind: string; message: string }): void {
    const now = this.#now();
    const seen = this.#crashes.get(name);
    if (state === "crashed" && seen && now - seen.lastMs < CRASH_ALERT_INTERVAL_MS) {
      seen.held++;
      return;
    }
    const held = seen?.held ?? 0;
    this.#crashes.set(name, { lastMs: now, held: 0 });
    const more = held > 0 ? ` (${held} more crash${held === 1 ? "" : "es"} since the last alert)` : "";
    this.raise({
      module: name,
      severity: state === "failed" ? "critical" : "warning",
      message: state === "failed"
        ? `Module failed, not restarted (restarts exhausted): ${fault.kind}: ${fault.message}${more}`
        : `Module crashed, restarting: ${fault.kind}: ${fault.message}${more}`,
      at: Date.now(),
    });
  }

  /** A module removed: its crash count is forgotten. */
  forget(name: string): void {
    this.#crashes.delete(name);
  }
}

/** What {@linkcode RollbackNotices} announces through. */
export interface RollbackNoticesOptions {
  journal: Journal;
  telemetry: Telemetry;
  uplink(): Uplink | null;
  log(line: string): void;
}

/** Judges a version on probation once: promotes it, rolls it back, or waits. */
function judge(ctx: DeployContext, name: string, p: OnProbation): void {
  const { slot } = p;
  // Replaced, removed, stopped by an operator, or the runtime is stopping: no verdict.
  if (ctx.stopping() || ctx.slots.get(name) !== slot || slot.state === "stopped") {
    ctx.probations.end(name);
    return;
  }
  const now = slot.totals();
  const verdict = judgeProbation(p.plan, {
    elapsedMs: nowMs() - p.sinceMs,
    invocations: now.invocations - p.start.invocations,
    errors: now.errors - p.start.errors,
    crashes: now.crashes - p.start.crashes,
    budgetOverruns: now.budgetOverruns - p.start.budgetOverruns,
    latencyBuckets: now.latencyBuckets.map((n, i) => n - (p.start.latencyBuckets[i] ?? 0)),
    baselineBuckets: p.baseline,
  });
  if (verdict.kind === "pending") return;
  ctx.probations.end(name);
  if (verdict.kind === "promoted") {
    ctx.log(`module ${name}: ${slot.loaded.sha256.slice(0, 12)} promoted: ${verdict.detail}`);
    return;
  }
  const record: RollbackRecord = {
    at: new Date().toISOString(),
    from_sha256: slot.loaded.sha256,
    to_sha256: p.old?.loaded.sha256 ?? null,
    breach: verdict.breach,
    reason: verdict.detail,
  };
  ctx.probations.rolledBack(name, record);
  ctx.log(
    `module ${name}: ${slot.loaded.sha256.slice(0, 12)} rolled back on probation: ${verdict.detail}` +
      (p.old ? `; ${p.old.loaded.sha256.slice(0, 12)} restarts from its snapshot` : "; removed"),
  );
  ctx.rolledBack(name, record);
  goBack(ctx, slot, p.old).catch((err) => ctx.log(`module ${name}: rollback failed: ${err}`));
}

/** Halts `slot` and starts `old` again in its place, from its newest usable snapshot (or forgets a new one). */
async function goBack(ctx: DeployContext, slot: Slot, old: Slot | null): Promise<void> {
  const name = slot.plan.name;
  ctx.supervisor.halt(slot);
  if (old) {
    ctx.slots.set(name, old);
    ctx.added(old);
    await ctx.supervisor.start(old, true);
  } else {
    ctx.slots.delete(name);
    ctx.removed(name);
  }
}

/**
 * Loads, verifies and starts one more module in the running runtime (at once, unless the runtime is still
 * starting: then with the others). Nothing changes when it is refused.
 *
 * @throws {ModuleExistsError} when a module of that name is deployed.
 * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
 *   as the loader, and when its stream source or inputs are not sensors of this plant.
 */
export async function deployModule(ctx: DeployContext, plan: ModulePlan): Promise<ModuleStatus> {
  if (ctx.slots.has(plan.name)) throw new ModuleExistsError(plan.name);
  checkPlantRefs(ctx.plan, plan);
  const loaded = await ctx.loadModule(plan);
  if (ctx.slots.has(plan.name)) throw new ModuleExistsError(plan.name);
  const slot = new Slot(loaded);
  ctx.slots.set(plan.name, slot);
  ctx.added(slot);
  if (plan.enabled && !ctx.starting()) await ctx.supervisor.start(slot, true);
  return ctx.view(slot);
}

/**
 * Stops a module and forgets it at once (see {@linkcode Runtime.removeModule}); resolves once its executor has
 * dropped the instance, and never rejects.
 *
 * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
 */
export function removeModule(ctx: DeployContext, name: string): Promise<void> {
  const slot = ctx.slots.get(name);
  if (!slot) throw new ModuleUnknownError(name);
  ctx.probations.forget(name);
  const gone = ctx.supervisor.halt(slot);
  ctx.slots.delete(name);
  ctx.removed(name);
  return gone;
}

/**
 * Waits until a newly swapped-in instance has made its first handler call without a fault (a periodic or
 * stream module), or {@linkcode FIRST_CALL_MS} without one (an event module waits for its trigger). Returns
 * early when it faults.
 */
async function firstCall(slot: Slot): Promise<void> {
  const until = nowMs() + FIRST_CALL_MS;
  const generation = slot.generation;
  while (nowMs() < until && slot.state === "running" && slot.generation === generation) {
    if (slot.plan.schedule.mode !== "event" && (slot.stats?.invocations ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
