/**
 * The runtime's live recordings (`record/live.ts`) and shadows (`shadow/shadow.ts`) wired to its slots and
 * executors: a module's running instance is its slot's (state `running`, its load id) in the executor that
 * hosts it; a shadow follows the same instance, through the same recorder. Private to `runtime/`.
 *
 * @module
 */
import type { LogEntry } from "../log_text.ts";
import { LiveRecordings } from "./record/live.ts";
import { ModuleUnknownError } from "./errors.ts";
import type { ModuleSlot as Slot } from "./_slot.ts";
import type { Executor } from "./executor.ts";
import type { InstanceSpec } from "./executor/protocol.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModulePlan } from "./plan.ts";
import { Shadows } from "./shadow/shadow.ts";

/** What the recordings need of the runtime. */
export interface RecordingsContext {
  slots: ReadonlyMap<string, Slot>;
  /** The executor of that name, if it was started. */
  executor(name: string): Executor | undefined;
  /** The instance spec the runtime gives a slot's instance. */
  spec(slot: Slot): InstanceSpec;
  /** Where traces are written, or null to keep each module's last in memory. */
  dir: string | null;
  log(entry: LogEntry): void;
}

/** The runtime's live recordings. */
export function createRecordings(ctx: RecordingsContext): LiveRecordings {
  return new LiveRecordings({
    dir: ctx.dir,
    instance: (name) => {
      const slot = ctx.slots.get(name);
      if (!slot) throw new ModuleUnknownError(name);
      const executor = ctx.executor(slot.executor);
      if (slot.state !== "running" || !executor) return null;
      return {
        loaded: slot.loaded,
        spec: ctx.spec(slot),
        loadId: slot.loadId,
        record: (on) => executor.record(name, on),
      };
    },
    loadIdOf: (name) => {
      const slot = ctx.slots.get(name);
      return slot?.state === "running" ? slot.loadId : null;
    },
    state: (name) => ctx.slots.get(name)?.state ?? "removed",
    log: ctx.log,
  });
}

/** What the shadows need of the runtime. */
export interface ShadowsContext {
  slots: ReadonlyMap<string, Slot>;
  executor(name: string): Executor | undefined;
  /** The live recordings: a shadow and a recording share an instance's recorder. */
  recordings: LiveRecordings;
  /** Loads a candidate as the runtime loads a module (instrumentation, signature policy). */
  load(plan: ModulePlan): Promise<LoadedModule>;
  /** Where a candidate's bytes are written while they load; null: the system's temp directory. */
  scratchDir: string | null;
  log(entry: LogEntry): void;
}

/** The runtime's shadows. */
export function createShadows(ctx: ShadowsContext): Shadows {
  return new Shadows({
    instance: (name) => {
      const slot = ctx.slots.get(name);
      if (!slot) throw new ModuleUnknownError(name);
      const executor = ctx.executor(slot.executor);
      if (slot.state !== "running" || !executor) return null;
      return { loaded: slot.loaded, loadId: slot.loadId, executor };
    },
    loadIdOf: (name) => {
      const slot = ctx.slots.get(name);
      return slot?.state === "running" ? slot.loadId : null;
    },
    state: (name) => ctx.slots.get(name)?.state ?? "removed",
    recording: (name) => ctx.recordings.status(name)?.state === "recording",
    load: ctx.load,
    scratchDir: ctx.scratchDir,
    log: ctx.log,
  });
}
