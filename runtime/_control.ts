/**
 * An operator's module operations, as the runtime's facade answers them: start, stop, restart, send an event,
 * take a snapshot. Each checks the module's state, then asks the supervisor, the executor or the triggers.
 * Private to `runtime/`.
 *
 * @module
 */
import type { SnapshotImage, SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import { EventTooLargeError, ModuleStateError } from "./errors.ts";
import { CaptureFailed } from "./executor.ts";
import { EventKind, MAX_EVENT_BYTES } from "./executor/instance.ts";
import type { Triggers } from "./io/triggers.ts";
import type { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import type { ModuleStatus } from "./status.ts";
import type { ExecutorPool } from "./_executors.ts";
import type { ModuleSlot as Slot } from "./_slot.ts";
import type { Supervisor } from "./_supervisor.ts";

/** What the operations need from the runtime. */
export interface ControlContext {
  /** @throws {import("./errors.ts").ModuleUnknownError} when there is no such module. */
  slot(name: string): Slot;
  readonly supervisor: Supervisor;
  readonly executors: ExecutorPool;
  readonly snap: ModuleSnapshots;
  readonly triggers: Triggers;
  view(slot: Slot): ModuleStatus;
}

/**
 * Snapshots a running module now (see {@linkcode Runtime.takeSnapshot}).
 *
 * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
 * @throws {ModuleStateError} when it is not running, or not snapshotted (`persistence.snapshot`).
 * @throws {import("./persistence/snapshotter.ts").SnapshotStoreError} when the write fails.
 */
export async function takeSnapshot(
  ctx: ControlContext,
  name: string,
  reason: SnapshotReason,
): Promise<SnapshotInfo> {
  const slot = ctx.slot(name);
  if (!ctx.snap.enabled(slot.plan)) {
    throw new ModuleStateError(name, "a module without persistence.snapshot", "snapshot");
  }
  if (slot.state !== "running") throw new ModuleStateError(name, slot.state, "snapshot");
  let image: SnapshotImage;
  try {
    image = await ctx.executors.get(slot.executor).capture(name, reason);
  } catch (err) {
    if (err instanceof CaptureFailed) ctx.snap.failed(slot, err.message);
    throw err instanceof CaptureFailed ? new ModuleStateError(name, err.message, "snapshot") : err;
  }
  return await ctx.snap.save(slot, reason, image);
}

/**
 * Stops a module, after a snapshot when it is snapshotted (see {@linkcode Runtime.stopModule}).
 *
 * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
 */
export async function stopModule(ctx: ControlContext, name: string): Promise<ModuleStatus> {
  const slot = ctx.slot(name);
  if (slot.state === "running" && ctx.snap.enabled(slot.plan)) {
    await takeSnapshot(ctx, name, "stop").catch(() => {}); // counted and logged in its status
  }
  await ctx.supervisor.halt(slot); // its executor dropped it, or was terminated by the watchdog
  return ctx.view(slot);
}

/**
 * An operator starts a stopped, crashed or failed module; `restart` counts it as a restart.
 *
 * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
 * @throws {ModuleStateError} when it is already running or starting.
 */
export async function operatorStart(
  ctx: ControlContext,
  name: string,
  restart: boolean,
): Promise<ModuleStatus> {
  const slot = ctx.slot(name);
  if (slot.state === "running" || slot.state === "starting") {
    throw new ModuleStateError(name, slot.state, "start");
  }
  await ctx.supervisor.operatorStart(slot, restart);
  return ctx.view(slot);
}

/**
 * Sends an API event with `payload` to a running event module (see {@linkcode Runtime.triggerEvent}).
 *
 * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
 * @throws {ModuleStateError} when it is not an event module, or not running.
 * @throws {EventTooLargeError} when the payload is over 4 KiB.
 */
export function triggerEvent(ctx: ControlContext, name: string, payload: Uint8Array): ModuleStatus {
  const slot = ctx.slot(name);
  const s = slot.plan.schedule;
  if (s.mode !== "event") throw new ModuleStateError(name, `a ${s.mode} module`, "send an event to");
  if (slot.state !== "running") throw new ModuleStateError(name, slot.state, "send an event to");
  if (payload.length > MAX_EVENT_BYTES) {
    throw new EventTooLargeError(name, payload.length, MAX_EVENT_BYTES);
  }
  ctx.triggers.fire(s.trigger, EventKind.API, payload, name);
  return ctx.view(slot);
}
