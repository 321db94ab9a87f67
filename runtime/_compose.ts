/**
 * How the runtime's parts are made and wired to one another (`runtime.ts` is their facade): the plant, the
 * channels, the executor pool and its event chain (traces, recordings, shadows), the supervisor, the triggers,
 * the connectors and the contexts the control, deploy and executor-event files work in. The parts call back
 * into the runtime only through {@linkcode RuntimeHooks}. Private to `runtime/`.
 *
 * @module
 */
import { ModuleUnknownError } from "./errors.ts";
import { defaultLog, type LoadFn, type RuntimeOptions } from "./_load.ts";
import { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import { Journal } from "./persistence/journal.ts";
import { Connectors } from "./io/connectors.ts";
import { Triggers } from "./io/triggers.ts";
import { Supervisor } from "./_supervisor.ts";
import { type DeployContext, Probations, RuntimeAlerts } from "./_deploys.ts";
import type { ControlContext } from "./_control.ts";
import { executorEvents, type ExecutorEventsContext } from "./_executor_events.ts";
import { ExecutorPool } from "./_executors.ts";
import { createChannels } from "./_channels.ts";
import { distribute } from "./_samples.ts";
import type { ModuleStatusCause, Telemetry } from "./telemetry.ts";
import { tracedEvents, type TraceStore } from "./trace/store.ts";
import { type LiveRecordings, recordedEvents } from "./record/live.ts";
import { createRecordings, createShadows } from "./_recordings.ts";
import { shadowedEvents, type Shadows } from "./shadow/shadow.ts";
import { OutputHistory } from "./history/mod.ts";
import type { Uplink } from "./uplink/uplink.ts";
import type { ChannelRing } from "./instance_spec.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModulePlan } from "./plan.ts";
import { SimPlant } from "./io/plant.ts";
import type { SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import type { InstanceSpec } from "./executor/protocol.ts";
import type { ModuleSlot as Slot } from "./_slot.ts";
import type { Health, ModuleStatus } from "./status.ts";

/** What the parts need of the runtime itself. */
export interface RuntimeHooks {
  readonly telemetry: Telemetry;
  readonly traces: TraceStore;
  /** The instance spec of a module's instance. */
  spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec;
  /** A slot's status as the API shows it. */
  view(slot: Slot): ModuleStatus;
  takeSnapshot(name: string, reason: SnapshotReason): Promise<SnapshotInfo>;
  /** Emits a slot's status on the telemetry (if it is still the runtime's). */
  emitStatus(slot: Slot, cause: ModuleStatusCause): void;
  /** The runtime's health status now. */
  status(): Health["status"];
  /** The MQTT uplink, once started. */
  uplink(): Uplink | null;
}

/** The parts {@linkcode composeRuntime} made. */
export interface RuntimeParts {
  plant: SimPlant;
  /** Each channel's ring, shared by its writer's and readers' executors. */
  channels: Map<string, ChannelRing>;
  connectors: Connectors;
  recordings: LiveRecordings;
  shadows: Shadows;
  /** The alerts the runtime raises itself: rollbacks, crashes and failures. */
  rollbacks: RuntimeAlerts;
  /** Each module's recent outputs, subscribed to the telemetry here (`history/`). */
  history: OutputHistory;
  /**
   * The parts, each in a file of its own, and what they need of the runtime: the executors, the supervisor
   * (the only caller of a slot's transitions, each one emitted), the snapshots, the triggers, the journal.
   */
  parts: ControlContext & DeployContext & ExecutorEventsContext;
}

/**
 * Makes the runtime's parts for `slots` (one per loaded module, in manifest order; deploys add to it).
 *
 * @throws {import("./errors.ts").SensorUnknownError | import("./errors.ts").FaultNotApplicableError} for a
 *   fault in `options.faults` the plant does not have.
 */
export function composeRuntime(
  options: RuntimeOptions,
  slots: Map<string, Slot>,
  load: LoadFn,
  hooks: RuntimeHooks,
): RuntimeParts {
  const log = options.log ?? defaultLog;
  const audit = options.audit ?? null;
  const journal = new Journal(options.alerts ?? null);
  const rollbacks = new RuntimeAlerts({ journal, telemetry: hooks.telemetry, uplink: hooks.uplink, log });
  const snap = new ModuleSnapshots(options.snapshots ?? null, log, (s) => hooks.spec(s.plan, s.loaded));
  const channels = createChannels(options.plan.channels);
  // The dashboard's charts start full: every output event is kept, bounded, from the first one on. This
  // keeps the telemetry active, so the reports build their output events whether or not a client listens.
  const history = new OutputHistory();
  history.subscribe(hooks.telemetry);
  const plant = new SimPlant({
    sensors: options.plan.sim,
    onSamples: (source, samples) => distribute(source, samples, executors.entries(), slots.values()),
    onInputs: (values) => executors.pushInputs(values),
    onGpioEdge: (pin, value) => triggers.gpioEdge(pin, value),
    gpio: options.plan.gpio ?? null,
    log,
  });
  for (const [id, fault] of options.faults ?? []) plant.setFault(id, fault);
  const executors = new ExecutorPool({
    plan: options.plan,
    gpio: plant.gpioBuffer,
    events: (name) =>
      shadowedEvents(
        recordedEvents(tracedEvents(executorEvents(name, parts), hooks.traces), recordings),
        shadows,
        name,
      ),
  });
  const recordings = createRecordings({
    slots,
    executor: (name) => executors.find(name),
    spec: (slot) => hooks.spec(slot.plan, slot.loaded),
    dir: options.traceDir ?? null,
    log,
  });
  const shadows = createShadows({
    slots,
    executor: (name) => executors.find(name),
    recordings,
    load: (plan) => load(plan),
    scratchDir: options.scratchDir ?? null,
    log,
  });
  const supervisor = new Supervisor({
    executor: (name) => executors.get(name),
    existingExecutor: (name) => executors.find(name),
    spec: hooks.spec,
    snap,
    audit,
    log,
    takeSnapshot: hooks.takeSnapshot,
    faulted: (slot, state, fault) => rollbacks.moduleFaulted(slot.plan.name, state, fault),
    changed: (slot) => {
      hooks.emitStatus(slot, "transition");
      recordings.check();
      shadows.check();
    },
  });
  const triggers = new Triggers({
    slots: () => slots.values(),
    executor: (n) => executors.find(n),
    log,
  });
  const connectors = new Connectors({
    devices: options.plan,
    onInputs: (values) => executors.pushInputs(values),
    ...(options.drivers && { drivers: options.drivers }),
  });

  const parts: RuntimeParts["parts"] = {
    plan: options.plan,
    slots,
    slot: (name) => {
      const slot = slots.get(name);
      if (!slot) throw new ModuleUnknownError(name);
      return slot;
    },
    supervisor,
    executors,
    snap,
    probations: new Probations(),
    triggers,
    journal,
    audit,
    telemetry: hooks.telemetry,
    actuators: {
      slot: (name) => slots.get(name),
      sources: plant,
      connectors,
      log,
    },
    uplink: hooks.uplink,
    loadModule: (plan, how) =>
      load(plan, {
        installedVersion: slots.get(plan.name)?.loaded.signature?.version ?? null,
        rollback: how?.rollback ?? false,
      }),
    spec: hooks.spec,
    takeSnapshot: hooks.takeSnapshot,
    view: hooks.view,
    starting: () => hooks.status() === "starting",
    stopping: () => hooks.status() === "stopping",
    added: (slot) => hooks.emitStatus(slot, "deployed"),
    reported: (slot) => hooks.emitStatus(slot, "report"),
    removed: (name) => {
      rollbacks.forget(name);
      hooks.telemetry.emit({ type: "removed", module: name, at: Date.now() });
    },
    rolledBack: (name, record) => rollbacks.announce(name, record),
    log,
  };
  return { plant, channels, connectors, recordings, shadows, rollbacks, history, parts };
}
