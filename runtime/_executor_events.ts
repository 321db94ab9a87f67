/**
 * What an executor tells the runtime, and where each goes: its 10 Hz report (taken in by `_reports.ts`, then
 * each reporting module's status emitted on the telemetry), a crash (to the supervisor), actuator writes
 * (carried out and the event timed), its own failure (the supervisor restarts or crashes what it hosted), a
 * snapshot it captured on its own, its thread's scheduling. Private to `runtime/`.
 *
 * @module
 */
import type { AuditLog } from "../snapshots/mod.ts";
import type { LogEntry } from "../log_text.ts";
import type { ExecutorError } from "./errors.ts";
import type { ExecutorEvents } from "./executor.ts";
import { nowMs } from "./executor/instance.ts";
import { describeThread } from "./executor/realtime_thread.ts";
import { type ActuatorContext, carryOut, recordEventLatency } from "./io/actuators.ts";
import type { Journal } from "./persistence/journal.ts";
import type { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import type { Telemetry } from "./telemetry.ts";
import type { Uplink } from "./uplink/uplink.ts";
import type { ExecutorPool } from "./_executors.ts";
import { applyReport } from "./_reports.ts";
import type { ModuleSlot as Slot } from "./_slot.ts";
import type { Supervisor } from "./_supervisor.ts";

/** What handling an executor's messages needs from the runtime. */
export interface ExecutorEventsContext {
  readonly slots: ReadonlyMap<string, Slot>;
  readonly supervisor: Supervisor;
  readonly executors: ExecutorPool;
  readonly snap: ModuleSnapshots;
  readonly journal: Journal;
  readonly audit: AuditLog | null;
  readonly actuators: ActuatorContext;
  readonly telemetry: Telemetry;
  /** The uplink once started, else null. */
  uplink(): Uplink | null;
  /** Whether the runtime is stopping (a worker that ends then is not restarted). */
  stopping(): boolean;
  /** Emits a module's status after its executor's report. */
  reported(slot: Slot): void;
  log(entry: LogEntry): void;
}

/** The callbacks of the executor `name`. */
export function executorEvents(name: string, ctx: ExecutorEventsContext): ExecutorEvents {
  return {
    onReport: (r) => {
      applyReport(r, {
        setOutboxFull: (full) => ctx.executors.find(name)?.setOutboxFull(full),
        slot: (module) => ctx.slots.get(module),
        current: (module) => {
          const slot = ctx.slots.get(module);
          const id = r.loads?.[module];
          return slot && slot.executor === name && (id === undefined || id === slot.loadId)
            ? slot
            : undefined;
        },
        journal: ctx.journal,
        uplink: ctx.uplink(),
        audit: ctx.audit,
        actuators: ctx.actuators,
        log: ctx.log,
        telemetry: ctx.telemetry,
      });
      if (!ctx.telemetry.active) return;
      for (const module of Object.keys(r.stats)) {
        const slot = ctx.slots.get(module);
        if (slot) ctx.reported(slot);
      }
    },
    onCrash: (c) => {
      const slot = ctx.slots.get(c.name);
      // A replaced instance's crash is not its successor's.
      if (c.id !== undefined && slot?.loadId !== c.id) return;
      if (slot?.state === "running") ctx.supervisor.crashed(slot, c.fault, c.stats);
    },
    onWrites: (w) => {
      // An event handler's writes, back on the actuator ring: carried out, and the event timed.
      carryOut(w.writes, ctx.actuators);
      if (w.triggeredAt !== null) recordEventLatency(w.writes, w.triggeredAt, nowMs(), ctx.actuators);
    },
    onFailure: (err: ExecutorError) => {
      ctx.executors.lost(name);
      ctx.log(err.message);
      if (ctx.stopping()) return;
      ctx.supervisor.executorLost(name, err, ctx.slots.values());
    },
    onSnapshot: (snap) => {
      const slot = ctx.slots.get(snap.name);
      if (!slot || slot.state !== "running") return;
      if (snap.image) void ctx.snap.save(slot, snap.reason, snap.image).catch(() => {});
      else ctx.snap.failed(slot, snap.error ?? "no image");
    },
    onScheduling: (s) => ctx.log(`executor ${name}: ${describeThread(s)}`),
  };
}
