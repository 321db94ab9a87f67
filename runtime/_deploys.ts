/**
 * Deploys into a running runtime: a new module, or a new version of one swapped in without ever replacing a
 * good version with a bad one (verified, started on trial, then switched, with a probation and a rollback).
 * The runtime holds the slots; this decides the order of the steps. Private to `runtime/`.
 *
 * @module
 */
import type { SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import { DeployFailedError, ModuleExistsError, ModuleUnknownError } from "./errors.ts";
import { StartFailed } from "./executor.ts";
import type { InstanceSpec } from "./executor/protocol.ts";
import { nowMs } from "./executor/instance.ts";
import { checkPlantRefs } from "./instance_spec.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import type { DeploymentPlan, ModulePlan } from "./plan.ts";
import type { ModuleStatus } from "./status.ts";
import type { ExecutorPool } from "./_executors.ts";
import { executorFor, ModuleSlot as Slot } from "./_slot.ts";
import type { Supervisor } from "./_supervisor.ts";

/** How long a deployed version may take to show it is healthy before the old one is let go, ms. */
export const PROBATION_MS = 2_000;

/** What deploying needs from the runtime. */
export interface DeployContext {
  readonly plan: DeploymentPlan;
  /** The runtime's slots by module name, in manifest order (deploys add to it). */
  readonly slots: Map<string, Slot>;
  readonly supervisor: Supervisor;
  readonly executors: ExecutorPool;
  readonly snap: ModuleSnapshots;
  loadModule(plan: ModulePlan): Promise<LoadedModule>;
  spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec;
  takeSnapshot(name: string, reason: SnapshotReason): Promise<SnapshotInfo>;
  view(slot: Slot): ModuleStatus;
  /** Whether the runtime is still starting (a module deployed meanwhile starts with the others). */
  starting(): boolean;
  /** A slot was added, or replaced by another of the same name. */
  added(slot: Slot): void;
  /** A module is gone. */
  removed(name: string): void;
  log(line: string): void;
}

/**
 * Deploys a module, or a new version of one, so that a bad version never replaces a good one: the new
 * version is verified, then started on trial (instantiated and `kiln_init` run, then dropped) while the
 * old one keeps running. Only then is the old one stopped (with a snapshot, when it is snapshotted) and the
 * new one started; if that start fails, or the new version faults before its first handler call completes
 * (its probation, at most {@linkcode PROBATION_MS}), the old one is started again from that snapshot and the
 * error returned. The switch costs one instance start.
 *
 * @returns The new version's status, and the sha256 of the version it replaced (null for a new module).
 * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
 *   when the new version does not verify (nothing changed).
 * @throws {DeployFailedError} when it fails its trial (nothing changed) or its start (rolled back).
 */
export async function replaceModule(
  ctx: DeployContext,
  plan: ModulePlan,
): Promise<{ status: ModuleStatus; replaced: string | null }> {
  checkPlantRefs(ctx.plan, plan);
  const loaded = await ctx.loadModule(plan);
  const trialSpec = ctx.spec(plan, loaded);
  try {
    await ctx.executors.get(executorFor(plan)).load(trialSpec, loaded.module, null, { trial: true });
  } catch (err) {
    if (err instanceof StartFailed) throw new DeployFailedError(plan.name, err.message, false);
    throw err;
  }
  const old = ctx.slots.get(plan.name) ?? null;
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
  if (slot.state === "running") await probation(slot);
  if (slot.state !== "running") {
    const reason = slot.fault?.message ?? slot.lastError ?? `it is ${slot.state}`;
    ctx.supervisor.halt(slot);
    if (old) {
      ctx.slots.set(plan.name, old);
      ctx.added(old);
      await ctx.supervisor.start(old, true);
    } else {
      ctx.slots.delete(plan.name);
      ctx.removed(plan.name);
    }
    throw new DeployFailedError(plan.name, reason, old !== null);
  }
  ctx.log(
    `module ${plan.name}: deployed ${loaded.sha256.slice(0, 12)}` +
      (old ? `, replacing ${old.loaded.sha256.slice(0, 12)}` : ""),
  );
  return { status: ctx.view(slot), replaced: old?.loaded.sha256 ?? null };
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
  const gone = ctx.supervisor.halt(slot);
  ctx.slots.delete(name);
  ctx.removed(name);
  return gone;
}

/**
 * Waits until a newly deployed instance has shown it is healthy: its first handler call done without a
 * fault (a periodic or stream module), or {@linkcode PROBATION_MS} without one (an event module waits for
 * its trigger). Returns early when it faults.
 */
async function probation(slot: Slot): Promise<void> {
  const until = nowMs() + PROBATION_MS;
  const generation = slot.generation;
  while (nowMs() < until && slot.state === "running" && slot.generation === generation) {
    if (slot.plan.schedule.mode !== "event" && (slot.stats?.invocations ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
