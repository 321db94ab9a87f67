/**
 * The runtime's facade: starts and stops the parts (the plant, the executors, the connectors, the uplink),
 * answers the control plane's module operations and what it observes, and emits what happens on its
 * telemetry. It lives on the main thread and never runs module code itself; the parts it composes each live
 * in a file of their own (`_supervisor.ts`, `_executors.ts`, `_deploys.ts`, `_reports.ts`, `_samples.ts`,
 * `_channels.ts`, `io/`, `uplink/`, `persistence/`), and are made and wired in `_compose.ts`.
 *
 * @module
 */
import type { LogEntry } from "../log_text.ts";
import { defaultLog, loadAll, type LoadFn, moduleLoader, type RuntimeOptions } from "./_load.ts";
import { composeRuntime, type RuntimeParts } from "./_compose.ts";
import type { Connectors } from "./io/connectors.ts";
import {
  deployModule,
  removeModule,
  replaceModule,
  type RollbackListener,
  type RollbackNotices,
} from "./_deploys.ts";
import { operatorStart, stopModule, takeSnapshot, triggerEvent } from "./_control.ts";
import type { ExecutorCounters, ExecutorStatus } from "./_executors.ts";
import { channelStatus } from "./_channels.ts";
import { behindOf } from "./_samples.ts";
import { type ModuleStatusCause, Telemetry } from "./telemetry.ts";
import { TraceStore } from "./trace/store.ts";
import type { LiveRecordings } from "./record/live.ts";
import type { Shadows } from "./shadow/shadow.ts";
import { type OutputHistory, type ProcessFigures, ProcessSampler } from "./history/mod.ts";
import { createUplink, type Uplink } from "./uplink/uplink.ts";
import type { ConnectorStatus } from "../hal/mod.ts";
import { type ChannelRing, instanceSpec } from "./instance_spec.ts";
import { nowMs } from "./executor/instance.ts";
import { type LoadedModule, loadModule } from "./loader.ts";
import type { DeploymentPlan, ModulePlan } from "./plan.ts";
import type { ThreadScheduling } from "./executor/realtime_thread.ts";
import { RuntimeThread } from "./_thread.ts";
import type { SimPlant } from "./io/plant.ts";
import type {
  AlertQuery,
  AuditLog,
  KeptAlert,
  Outbox,
  SnapshotInfo,
  SnapshotReason,
} from "../snapshots/mod.ts";
import type { InstanceSpec, LogEvent } from "./executor/protocol.ts";
import { ModuleSlot as Slot, REALTIME_PRIORITY } from "./_slot.ts";
import { healthOf } from "./status.ts";
import { mark } from "./_startup_marks.ts";
import type { ChannelStatus, Health, ModuleStatus, PublishedMessage } from "./status.ts";

export { REALTIME_PRIORITY };
export type { ExecutorCounters, ExecutorStatus } from "./_executors.ts";
export type { ChannelStatus, Health, ModuleState, ModuleStatus, PublishedMessage } from "./status.ts";
export type { SnapshotStatus } from "./status.ts";
export type { RuntimeOptions } from "./_load.ts";

/**
 * Loads and verifies every module of the plan, then returns a runtime ready to {@linkcode Runtime.start}.
 *
 * @throws {import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError |
 *   import("./errors.ts").ModuleRejectedError} for the first module that cannot be deployed.
 * @throws {import("./errors.ts").SensorUnknownError | import("./errors.ts").FaultNotApplicableError} for a
 *   fault in `options.faults` the plant does not have.
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  mark("runtime_create");
  const log = options.log ?? defaultLog;
  const load = await moduleLoader(options, log);
  return new Runtime(options, await loadAll(options.plan.modules, load, log), load);
}

/** A running Kiln runtime. */
export class Runtime {
  readonly plan: DeploymentPlan;
  readonly version: string;
  /** What happens, as it happens: outputs, statuses, alerts, logs, messages (see `telemetry.ts`). */
  readonly telemetry = new Telemetry();
  /** Per-invocation trace events, numbered per module (`trace/store.ts`); configure before `start()`. */
  readonly traces: TraceStore = new TraceStore({}, this.telemetry);
  /** Recordings of running modules (`record/live.ts`, `POST /api/v1/modules/:name/record`). */
  readonly recordings: LiveRecordings;
  /** Shadow candidates running beside live modules (`shadow/`, `POST /api/v1/modules/:name/shadow`). */
  readonly shadows: Shadows;
  /** Each module's recent outputs, bounded (`history/`, `GET /api/v1/modules/:name/history`). */
  readonly history: OutputHistory;
  #process = new ProcessSampler();
  #slots = new Map<string, Slot>();
  #plant: SimPlant;
  #log: (entry: LogEntry) => void;
  /** Each channel's ring, shared by its writer's and readers' executors. */
  #channels: Map<string, ChannelRing>;
  #startedAtMs = 0;
  #thread = new RuntimeThread();
  #status: Health["status"] = "starting";
  #connectors: Connectors;
  #outbox: Outbox | null;
  #uplink: Uplink | null = null;
  /** The parts and their contexts (`_compose.ts`). */
  #parts: RuntimeParts["parts"];
  #rollbacks: RollbackNotices;

  /** Use {@linkcode createRuntime}. */
  constructor(
    options: RuntimeOptions,
    loaded: LoadedModule[],
    load: LoadFn = options.loadModule ?? ((plan) => loadModule(plan)),
  ) {
    this.plan = options.plan;
    this.version = options.version;
    this.#log = options.log ?? defaultLog;
    this.#outbox = options.outbox ?? null;
    for (const l of loaded) this.#slots.set(l.plan.name, new Slot(l));
    const made = composeRuntime(options, this.#slots, load, {
      telemetry: this.telemetry,
      traces: this.traces,
      spec: (plan, l) => this.#spec(plan, l),
      view: (slot) => this.#view(slot),
      takeSnapshot: (name, reason) => this.takeSnapshot(name, reason),
      emitStatus: (slot, cause) => this.#emitStatus(slot, cause),
      status: () => this.#status,
      uplink: () => this.#uplink,
    });
    this.#plant = made.plant;
    this.#channels = made.channels;
    this.#connectors = made.connectors;
    this.recordings = made.recordings;
    this.shadows = made.shadows;
    this.history = made.history;
    this.#rollbacks = made.rollbacks;
    this.#parts = made.parts;
  }

  /** Starts the executors, every enabled module, and the data sources. Resolves once each module has started or failed. */
  async start(): Promise<void> {
    mark("runtime_start");
    this.#startedAtMs = nowMs();
    this.#thread.pin(this.plan.cpus?.runtime, this.#log);
    await this.#plant.open(); // first: GPIO lines the platform lacks fail the start before anything runs
    const { executors, supervisor } = this.#parts;
    // The executors' workers boot (their module graphs, ~50-80 ms) while the snapshots are read.
    for (const slot of this.#slots.values()) executors.get(slot.executor);
    if (this.plan.mqtt) {
      if (!this.#outbox) {
        throw new TypeError("An MQTT uplink needs the runtime's outbox (RuntimeOptions.outbox)");
      }
      // What modules send from their first call on goes to the outbox, however long the link takes.
      this.#uplink = createUplink({
        plan: this.plan.mqtt,
        device: this.plan.device.id,
        outbox: this.#outbox,
        log: this.#log,
      });
    }
    const started = Promise.all(
      [...this.#slots.values()].filter((s) => s.plan.enabled).map((s) => supervisor.start(s, true)),
    );
    // The link's ~50 ms of the main thread (the broker, the MQTT client) while the executors boot. The
    // triggers' subscriptions are in place before the first message can arrive (a persistent session's queue
    // comes right after the connect); they hold commands until the runtime runs. A failure waits, caught,
    // until the modules have started, then stops them and fails the start.
    const uplink = this.#uplink;
    const linked = uplink?.connect().then(() => this.#parts.triggers.subscribe(uplink)).then(
      () => null,
      (err: Error) => err,
    );
    await started;
    mark("modules_started");
    this.#plant.start();
    if (linked) {
      const failed = await linked;
      if (failed) {
        this.close(); // the modules just started stop with it, as if it had failed before them
        throw failed;
      }
      mark("uplink_up");
    }
    await this.#connectors.start();
    mark("runtime_started");
    this.#process.start(); // last: a start that throws leaves no timer behind
    this.#setStatus("ok");
    this.#parts.triggers.running();
  }

  /** The simulated plant: its sensors and faults, and the GPIO bank's pins. */
  get plant(): SimPlant {
    return this.#plant;
  }

  /** Where grants, revocations, denials and capability use are recorded; null when the runtime has no store. */
  get audit(): AuditLog | null {
    return this.#parts.audit;
  }

  /** The MQTT uplink (its connector, the outbox, the forwarder) once started; null without `connectors.mqtt`. */
  get uplink(): Uplink | null {
    return this.#uplink;
  }

  /** MQTT commands for `mqtt:` triggers refused (too large, or over the hold while starting), since start. */
  get mqttEventsRefused(): number {
    return this.#parts.triggers.mqttRefused;
  }

  /** Every module's status, in manifest order. */
  listModules(): ModuleStatus[] {
    return [...this.#slots.values()].map((s) => this.#view(s));
  }

  /** One module's status, or null when there is none by that name. */
  getModule(name: string): ModuleStatus | null {
    const slot = this.#slots.get(name);
    return slot ? this.#view(slot) : null;
  }

  /**
   * The latest vector outputs of a module (e.g. its spectrum), by the names it gave them, or null when there
   * is no such module. The record has no prototype: the names are the module's.
   */
  getModuleArrays(name: string): Record<string, number[]> | null {
    const slot = this.#slots.get(name);
    if (!slot) return null;
    const arrays = Object.create(null) as Record<string, number[]>;
    for (const [k, v] of Object.entries(slot.arrays)) arrays[k] = Array.from(v);
    return arrays;
  }

  /** The latest log lines of a module, oldest first, or null when there is no such module. */
  getModuleLogs(name: string): LogEvent[] | null {
    return this.#slots.get(name)?.logs.slice() ?? null;
  }

  /**
   * Starts a stopped, crashed or failed module (its failure count is reset), from its newest usable
   * snapshot when it is snapshotted.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {import("./errors.ts").ModuleStateError} when it is already running or starting.
   */
  startModule(name: string): Promise<ModuleStatus> {
    return operatorStart(this.#parts, name, false);
  }

  /**
   * Stops a module; its instance and memory are discarded, after a snapshot when it is snapshotted (a
   * failed snapshot is counted and logged, and the module stops all the same). Resolves once its executor
   * has dropped the instance: an executor held by a module is terminated by the watchdog first.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  stopModule(name: string): Promise<ModuleStatus> {
    return stopModule(this.#parts, name);
  }

  /**
   * Stops and starts a module; counts as a restart.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  async restartModule(name: string): Promise<ModuleStatus> {
    await stopModule(this.#parts, name);
    return await operatorStart(this.#parts, name, true);
  }

  /**
   * Sends an API event (kind 1) with `payload` to a running event module, whatever its trigger: its trigger
   * when that is `api`, or an operator's command (a reset) to a module triggered by a channel or a pin.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {import("./errors.ts").ModuleStateError} when it is not an event module, or not running.
   * @throws {import("./errors.ts").EventTooLargeError} when the payload is over 4 KiB.
   */
  triggerEvent(name: string, payload: Uint8Array): ModuleStatus {
    return triggerEvent(this.#parts, name, payload);
  }

  /**
   * Snapshots a running module now: its memory is copied between two handler calls, then compressed and
   * written off the main thread.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {import("./errors.ts").ModuleStateError} when it is not running, or not snapshotted
   *   (`persistence.snapshot`).
   * @throws {import("./persistence/snapshotter.ts").SnapshotStoreError} when the write fails.
   */
  takeSnapshot(name: string, reason: SnapshotReason = "demand"): Promise<SnapshotInfo> {
    return takeSnapshot(this.#parts, name, reason);
  }

  /**
   * Deploys a module, or a new version of one, so that a bad version never replaces a good one: verified,
   * started on trial, switched, and rolled back if it faults before its first handler call completes (see
   * `_deploys.ts`).
   *
   * @returns The new version's status, and the sha256 of the version it replaced (null for a new module).
   * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
   *   when the new version does not verify (nothing changed).
   * @throws {import("./errors.ts").DeployFailedError} when it fails its trial (nothing changed) or its start
   *   (rolled back).
   */
  replaceModule(
    plan: ModulePlan,
    options: { rollback?: boolean } = {},
  ): Promise<{ status: ModuleStatus; replaced: string | null }> {
    return replaceModule(this.#parts, plan, options);
  }

  /**
   * Loads, verifies and starts one more module in the running runtime. Nothing changes when it is refused.
   *
   * @throws {import("./errors.ts").ModuleExistsError} when a module of that name is deployed.
   * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
   *   as {@linkcode loadModule}, and when its stream source or inputs are not sensors of this plant.
   */
  deployModule(plan: ModulePlan): Promise<ModuleStatus> {
    return deployModule(this.#parts, plan);
  }

  /**
   * Stops a module and forgets it at once; the promise resolves once its executor has dropped the instance
   * (or is gone: a held executor is terminated by the watchdog). It never rejects.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  removeModule(name: string): Promise<void> {
    return removeModule(this.#parts, name);
  }

  /** The runtime's health. */
  health(): Health {
    return healthOf({
      status: this.#status,
      version: this.version,
      device: this.plan.device,
      startedAtMs: this.#startedAtMs,
      nowMs: nowMs(),
      states: [...this.#slots.values()].map((s) => s.state),
    });
  }

  /** This process's memory, CPU share over the last ~5 s (null until sampled) and load average (`history/`). */
  processFigures(): ProcessFigures {
    return this.#process.figures();
  }

  /** The channels, with their writer, readers and counters. */
  listChannels(): ChannelStatus[] {
    return [...this.#channels.values()].map(channelStatus);
  }

  /** The executors, the modules each hosts, and the Deno permissions each worker holds (none). */
  listExecutors(): Promise<ExecutorStatus[]> {
    const slots = [...this.#slots.values()];
    return this.#parts.executors.list((ex) => slots.filter((s) => s.executor === ex).map((s) => s.plan.name));
  }

  /** Every executor started since the runtime started, with the times the watchdog terminated it (`/metrics`). */
  listExecutorCounters(): ExecutorCounters[] {
    return this.#parts.executors.counters();
  }

  /**
   * Every connector's state (`GET /api/v1/connectors`): the simulated plant, a Linux GPIO bank, each Modbus
   * device and OPC UA endpoint, the uplink.
   */
  listConnectors(): ConnectorStatus[] {
    return [
      ...this.#plant.connectorStatuses(),
      ...this.#connectors.list(),
      ...(this.#uplink ? [this.#uplink.status()] : []),
      ...this.traces.connectorStatuses(),
    ];
  }

  /** Alerts raised since sequence number `after` (exclusive), oldest first, with their sequence numbers. */
  listAlerts(after = 0): KeptAlert[] {
    return this.#parts.journal.listAlerts(after);
  }

  /** The alerts `query` selects (after, module, severity, acknowledged), oldest first. */
  queryAlerts(query: AlertQuery): KeptAlert[] {
    return this.#parts.journal.queryAlerts(query);
  }

  /**
   * Acknowledges alert `seq` as `by` (idempotent; audited with a store) and emits it again, acknowledged, so
   * every stream client sees it. Returns it, or null when there is no alert `seq`.
   */
  ackAlert(seq: number, by: string): KeptAlert | null {
    const alert = this.#parts.journal.ackAlert(seq, by);
    if (alert && this.telemetry.active) this.telemetry.emit({ type: "alert", alert });
    return alert;
  }

  /** Messages modules published since `after` (exclusive), oldest first; the last 500 are kept. */
  listMessages(after = 0): PublishedMessage[] {
    return this.#parts.journal.listMessages(after);
  }

  /** The runtime's own thread: its CPUs when `scheduling.cpus.runtime` pinned it (it never runs at SCHED_FIFO). */
  get runtimeThread(): ThreadScheduling {
    return this.#thread.scheduling;
  }

  /**
   * A graceful stop: stops the sources, snapshots every running snapshotted module, then closes
   * everything ({@linkcode Runtime.close}). A failed snapshot is logged and does not hold up the stop.
   */
  async shutdown(): Promise<void> {
    this.#setStatus("stopping");
    this.#plant.stop();
    const snapshotted = [...this.#slots.values()].filter((s) =>
      s.state === "running" && this.#parts.snap.enabled(s.plan)
    );
    await Promise.allSettled(snapshotted.map((s) => this.takeSnapshot(s.plan.name, "stop")));
    await this.recordings.closeAll();
    this.close();
    await this.#connectors.close();
    await this.#uplink?.close();
  }

  /** Stops the sources, every module and every executor at once, without snapshots. */
  close(): void {
    this.#setStatus("stopping");
    this.#thread.restore();
    this.#process.stop();
    void this.#plant.close();
    void this.#connectors.close();
    void this.#uplink?.close();
    try {
      this.#parts.audit?.flushSuppressed({ all: true }); // the counts of denials folded this minute
    } catch (err) {
      this.#log(`kiln: could not write the suppressed denials' summary rows: ${(err as Error).message}`);
    }
    void this.recordings.closeAll();
    this.shadows.closeAll();
    this.#parts.probations.closeAll();
    this.#parts.supervisor.closeAll(this.#slots.values());
    this.#parts.executors.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec {
    return {
      traceEvery: this.traces.every,
      ...instanceSpec(plan, loaded, {
        deployment: this.plan,
        channels: this.#channels,
        bellOf: (module) => this.#parts.executors.get(this.#slots.get(module)?.executor ?? "normal").bell,
        clockOriginMs: this.#startedAtMs,
        warmUpIterations: this.#parts.snap.enabled(plan) ? plan.persistence!.warmUpIterations : null,
      }),
    };
  }

  #view(s: Slot): ModuleStatus {
    const behind = behindOf(s, {
      channels: this.#channels,
      sensors: this.plan.sim,
      executor: (name) => this.#parts.executors.find(name),
    });
    return { ...s.status(this.#parts.snap.status(s), behind), ...this.#parts.probations.view(s) };
  }

  /** Calls `listener` after every automatic rollback of a version on probation. */
  onRollback(listener: RollbackListener): void {
    this.#rollbacks.on(listener);
  }

  /** Emits a module's status, if it is still the runtime's (a replaced version's late answers are not). */
  #emitStatus(slot: Slot, cause: ModuleStatusCause): void {
    if (!this.telemetry.active || this.#slots.get(slot.plan.name) !== slot) return;
    const status = this.#view(slot);
    this.telemetry.emit({ type: "module", module: slot.plan.name, at: Date.now(), cause, status });
  }

  #setStatus(status: Health["status"]): void {
    if (this.#status === status) return;
    this.#status = status;
    if (this.telemetry.active) this.telemetry.emit({ type: "health", at: Date.now(), health: this.health() });
  }
}
