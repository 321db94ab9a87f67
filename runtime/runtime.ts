/**
 * The runtime: owns the executors, the module lifecycle and the data sources, and answers the control
 * plane. It lives on the main thread and never runs module code itself.
 *
 * @module
 */
import { formatLogLine, type LogEntry } from "../log_text.ts";
import {
  DeployFailedError,
  EventTooLargeError,
  ExecutorError,
  ModuleExistsError,
  ModuleStateError,
  ModuleUnknownError,
} from "./errors.ts";
import { CaptureFailed, Executor, StartFailed } from "./executor.ts";
import type { Snapshotter } from "./persistence/snapshotter.ts";
import { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import { Journal } from "./persistence/journal.ts";
import { Connectors } from "./io/connectors.ts";
import { type ActuatorContext, carryOut, recordEventLatency } from "./io/actuators.ts";
import { Triggers } from "./io/triggers.ts";
import { applyReport } from "./_reports.ts";
import { Supervisor } from "./_supervisor.ts";
import { Watchdog } from "./_watchdog.ts";
import { createUplink, type Uplink } from "./uplink/uplink.ts";
import type { ConnectorStatus } from "../hal/mod.ts";
import type { ModbusConnector, ModbusDevice } from "../hal/modbus/mod.ts";
import { type ChannelRing, checkPlantRefs, instanceSpec } from "./instance_spec.ts";
import { EventKind, MAX_EVENT_BYTES, nowMs } from "./executor/instance.ts";
import { type LoadedModule, loadModule } from "./loader.ts";
import type { DeploymentPlan, ModulePlan } from "./plan.ts";
import {
  describeThread,
  NORMAL_THREAD,
  pinThread,
  threadCpus,
  type ThreadScheduling,
} from "./executor/realtime_thread.ts";
import { createRing, ringStats } from "./executor/ring.ts";
import { type SimFault, SimSources } from "./io/plant.ts";
import type {
  AuditEvent,
  AuditLog,
  AuditQuery,
  CapabilityUse,
  Outbox,
  OutboxStats,
  SnapshotImage,
  SnapshotInfo,
  SnapshotReason,
} from "../snapshots/mod.ts";
import type { GpioPinState } from "../hal/sim/mod.ts";
import type {
  ActuatorWrite as OutboundWrite,
  AlertEvent,
  FromExecutor,
  InstanceSpec,
  LogEvent,
  PermissionStates,
} from "./executor/protocol.ts";
import { executorFor, ModuleSlot as Slot, REALTIME_PRIORITY } from "./_slot.ts";
import type { ChannelStatus, Health, ModuleState, ModuleStatus, PublishedMessage } from "./status.ts";

export { REALTIME_PRIORITY };
export type {
  ChannelStatus,
  Health,
  ModuleState,
  ModuleStatus,
  PublishedMessage,
  SnapshotStatus,
} from "./status.ts";

/** Options of {@linkcode createRuntime}. */
export interface RuntimeOptions {
  plan: DeploymentPlan;
  version: string;
  /**
   * Where the runtime writes what it prints: its own lines (lifecycle) as strings, and module logs, alerts
   * and denials as records (`../log_text.ts`), so their text can be escaped and marked as the module's.
   * @default each entry formatted as `text` and written with `console.log`
   */
  log?: (entry: LogEntry) => void;
  /**
   * Faults injected into the simulated plant at start, by sensor id; an unknown sensor or a fault of the
   * wrong kind fails {@linkcode createRuntime} (as {@linkcode Runtime.setFault} throws).
   */
  faults?: ReadonlyMap<string, SimFault>;
  /** Where grants, revocations, denials and capability use are recorded; none when omitted. */
  audit?: AuditLog;
  /** Where snapshots are saved and found; without it no module is snapshotted. */
  snapshots?: Snapshotter;
  /** The store-and-forward outbox; needed when the plan has an MQTT uplink. */
  outbox?: Outbox;
  /** Makes a Modbus device's connector (tests); the real Modbus TCP driver when omitted. */
  createModbus?: (device: ModbusDevice) => ModbusConnector;
  /**
   * Test seam: loads a module in place of {@linkcode loadModule} (at start and on deploy), so that tests can
   * hand the layers below the loader (executors, the watchdog) a module the loader would refuse. Never set
   * it in production: it bypasses every check the loader makes. @default loadModule
   */
  loadModule?: (plan: ModulePlan) => Promise<LoadedModule>;
}

/** How long a deployed version may take to show it is healthy before the old one is let go, ms. */
const PROBATION_MS = 2_000;

/**
 * Loads and verifies every module of the plan, then returns a runtime ready to {@linkcode Runtime.start}.
 *
 * @throws {import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError |
 *   import("./errors.ts").ModuleRejectedError} for the first module that cannot be deployed.
 */
export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const loaded: LoadedModule[] = [];
  for (const plan of options.plan.modules) loaded.push(await (options.loadModule ?? loadModule)(plan));
  return new Runtime(options, loaded);
}

/** A running Kiln runtime. */
export class Runtime {
  readonly plan: DeploymentPlan;
  readonly version: string;
  #slots = new Map<string, Slot>();
  #executors = new Map<string, Executor>();
  #sources: SimSources;
  #journal = new Journal();
  #log: (entry: LogEntry) => void;
  #audit: AuditLog | null;
  /** Each channel's ring, shared by its writer's and readers' executors. */
  #channels = new Map<string, ChannelRing>();
  #startedAtMs = 0;
  /** The runtime thread's CPUs before `scheduling.cpus.runtime` pinned it, or null when not pinned. */
  #unpinnedCpus: number[] | null = null;
  #runtimeThread: ThreadScheduling = NORMAL_THREAD;
  /** Starts, restarts and halts module instances (see `_supervisor.ts`). */
  #supervisor: Supervisor;
  /** API, GPIO and MQTT triggers to event modules; MQTT commands held while starting. */
  #triggers = new Triggers({
    slots: () => this.#slots.values(),
    executor: (name) => this.#executors.get(name),
    log: (line) => this.#log(line),
  });
  #status: Health["status"] = "starting";
  #snap: ModuleSnapshots;
  #connectors: Connectors;
  #outbox: Outbox | null;
  #uplink: Uplink | null = null;
  /** Terminates an executor whose heartbeat stops (see `_watchdog.ts`); counts terminations per executor. */
  #watchdog = new Watchdog();
  /** Each executor's doorbell, kept for the fresh executor that replaces one (see `ExecutorOptions.bell`). */
  #bells = new Map<string, SharedArrayBuffer>();
  #loadModule: (plan: ModulePlan) => Promise<LoadedModule>;

  /** Use {@linkcode createRuntime}. */
  constructor(options: RuntimeOptions, loaded: LoadedModule[]) {
    this.plan = options.plan;
    this.version = options.version;
    this.#log = options.log ?? ((entry) => console.log(formatLogLine(entry, { format: "text" })));
    this.#audit = options.audit ?? null;
    this.#snap = new ModuleSnapshots(
      options.snapshots ?? null,
      this.#log,
      (slot) => this.#spec(slot.plan, slot.loaded),
    );
    this.#supervisor = new Supervisor({
      executor: (name) => this.#executor(name),
      existingExecutor: (name) => this.#executors.get(name),
      spec: (plan, loaded) => this.#spec(plan, loaded),
      snap: this.#snap,
      audit: this.#audit,
      log: this.#log,
      takeSnapshot: (name, reason) => this.takeSnapshot(name, reason),
    });
    this.#outbox = options.outbox ?? null;
    this.#loadModule = options.loadModule ?? loadModule;
    for (const l of loaded) this.#slots.set(l.plan.name, new Slot(l));
    for (const c of options.plan.channels) {
      const buffer = createRing({
        sizeBytes: Math.max(64, Math.ceil(c.sizeBytes / 4) * 4),
        readers: Math.max(1, c.readers.length),
        overflow: c.overflow,
        ...(c.blockTimeoutUs !== null && { blockTimeoutUs: c.blockTimeoutUs }),
      });
      this.#channels.set(c.id, { plan: c, buffer });
    }
    this.#sources = new SimSources({
      sensors: options.plan.sim,
      onSamples: (source, samples) => this.#distribute(source, samples),
      onInputs: (values) => {
        for (const ex of this.#executors.values()) ex.pushInputs(values);
      },
      onGpioEdge: (pin, value) => this.#triggers.gpioEdge(pin, value),
      gpio: options.plan.gpio ?? null,
    });
    for (const [id, fault] of options.faults ?? []) this.setFault(id, fault);
    this.#connectors = new Connectors({
      modbus: options.plan.modbus,
      opcua: options.plan.opcua,
      onInputs: (values) => {
        for (const ex of this.#executors.values()) ex.pushInputs(values);
      },
      ...(options.createModbus && { createModbus: options.createModbus }),
    });
  }

  /** Starts the executors, every enabled module, and the data sources. Resolves once each module has started or failed. */
  async start(): Promise<void> {
    this.#startedAtMs = nowMs();
    this.#pinRuntimeThread();
    await this.#sources.open(); // first: GPIO lines the platform lacks fail the start before anything runs
    if (this.plan.mqtt) {
      if (!this.#outbox) {
        throw new TypeError("An MQTT uplink needs the runtime's outbox (RuntimeOptions.outbox)");
      }
      this.#uplink = await createUplink({
        plan: this.plan.mqtt,
        device: this.plan.device.id,
        outbox: this.#outbox,
        log: this.#log,
      });
      await this.#triggers.subscribe(this.#uplink);
    }
    for (const slot of this.#slots.values()) this.#executor(slot.executor);
    await Promise.all(
      [...this.#slots.values()].filter((s) => s.plan.enabled).map((s) => this.#supervisor.start(s, true)),
    );
    this.#sources.start();
    await this.#connectors.start();
    this.#status = "ok";
    this.#triggers.running();
  }

  #executor(name: string): Executor {
    let ex = this.#executors.get(name);
    if (!ex) {
      ex = new Executor(name, {
        onReport: (r) => this.#onReport(r, name),
        onCrash: (c) => this.#onCrash(c),
        onWrites: (w) => this.#applyWrites(w.writes, w.triggeredAt),
        onFailure: (err) => this.#onExecutorFailure(name, err),
        onSnapshot: (snap) => {
          const slot = this.#slots.get(snap.name);
          if (!slot || slot.state !== "running") return;
          if (snap.image) void this.#snap.save(slot, snap.reason, snap.image).catch(() => {});
          else this.#snap.failed(slot, snap.error ?? "no image");
        },
        onScheduling: (s) => this.#log(`executor ${name}: ${describeThread(s)}`),
      }, {
        ...(this.#sources.gpioBuffer && { gpio: this.#sources.gpioBuffer }),
        // Only high-priority ticks are worth a spin before each deadline (about 0.3 ms of CPU per tick).
        spinTicks: name === "realtime",
        watchdog: this.#watchdog,
        ...(this.#bells.has(name) && { bell: this.#bells.get(name)! }),
        ...(name === "realtime" && this.plan.realtimeFifoPriority !== undefined &&
          { fifoPriority: this.plan.realtimeFifoPriority }),
        ...((name === "realtime" || name === "normal") && this.plan.cpus?.[name] !== undefined &&
          { cpus: this.plan.cpus[name] }),
      });
      this.#executors.set(name, ex);
      this.#bells.set(name, ex.bell);
    }
    return ex;
  }

  #spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec {
    return instanceSpec(plan, loaded, {
      deployment: this.plan,
      channels: this.#channels,
      bellOf: (module) => this.#executor(this.#slots.get(module)?.executor ?? "normal").bell,
      clockOriginMs: this.#startedAtMs,
      warmUpIterations: this.#snap.enabled(plan) ? plan.persistence!.warmUpIterations : null,
    });
  }

  #view(s: Slot): ModuleStatus {
    return s.status(this.#snap.status(s), this.#behind(s));
  }

  /** What waits for a running stream module: sensor samples in its executor, or unread channel bytes. */
  #behind(s: Slot): ModuleStatus["behind"] {
    const schedule = s.plan.schedule;
    if (schedule.mode !== "stream" || s.state !== "running") return null;
    const channel = schedule.source.startsWith("channel:")
      ? this.#channels.get(schedule.source.slice("channel:".length))
      : undefined;
    if (channel) {
      const reader = channel.plan.readers.indexOf(s.plan.name);
      return { bytes: ringStats(channel.buffer).readers[reader]?.pendingBytes ?? 0 };
    }
    const sensor = this.plan.sim.find((x) => `sim:${x.id}` === schedule.source);
    const samples = this.#executors.get(s.executor)?.samplesInFlight(schedule.source) ?? 0;
    const rateHz = sensor?.kind === "vibration" ? sensor.rateHz : 0;
    return { samples, ms: rateHz > 0 ? Math.round((samples / rateHz) * 10_000) / 10 : 0 };
  }

  /**
   * Snapshots a running module now: its memory is copied between two handler calls, then compressed and
   * written off the main thread.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when it is not running, or not snapshotted (`persistence.snapshot`).
   * @throws {import("./persistence/snapshotter.ts").SnapshotStoreError} when the write fails.
   */
  async takeSnapshot(name: string, reason: SnapshotReason = "demand"): Promise<SnapshotInfo> {
    const slot = this.#slot(name);
    if (!this.#snap.enabled(slot.plan)) {
      throw new ModuleStateError(name, "a module without persistence.snapshot", "snapshot");
    }
    if (slot.state !== "running") throw new ModuleStateError(name, slot.state, "snapshot");
    let image: SnapshotImage;
    try {
      image = await this.#executor(slot.executor).capture(name, reason);
    } catch (err) {
      if (err instanceof CaptureFailed) this.#snap.failed(slot, err.message);
      throw err instanceof CaptureFailed ? new ModuleStateError(name, err.message, "snapshot") : err;
    }
    return await this.#snap.save(slot, reason, image);
  }

  #onReport(r: Extract<FromExecutor, { type: "report" }>, executor: string): void {
    applyReport(r, {
      setOutboxFull: (full) => this.#executors.get(executor)?.setOutboxFull(full),
      slot: (name) => this.#slots.get(name),
      journal: this.#journal,
      uplink: this.#uplink,
      audit: this.#audit,
      actuators: this.#actuators,
      log: this.#log,
    });
  }

  /** What carrying out actuator writes needs (see `io/actuators.ts`). */
  #actuators: ActuatorContext = {
    slot: (name) => this.#slots.get(name),
    sources: {
      gpioDriven: (pin) => this.#sources.gpioDriven(pin),
      setGpio: (...a) => this.#sources.setGpio(...a),
    },
    connectors: { driver: (prefix) => this.#connectors.driver(prefix) },
    log: (line) => this.#log(line),
  };

  /** An event handler's writes, back on the actuator ring: carried out, and the event timed. */
  #applyWrites(writes: OutboundWrite[], triggeredAt: number | null): void {
    carryOut(writes, this.#actuators);
    if (triggeredAt !== null) recordEventLatency(writes, triggeredAt, nowMs(), this.#actuators);
  }

  /**
   * Sends an API event (kind 1) with `payload` to a running event module, whatever its trigger: its trigger
   * when that is `api`, or an operator's command (a reset) to a module triggered by a channel or a pin.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when it is not an event module, or not running.
   * @throws {EventTooLargeError} when the payload is over 4 KiB.
   */
  triggerEvent(name: string, payload: Uint8Array): ModuleStatus {
    const slot = this.#slot(name);
    const s = slot.plan.schedule;
    if (s.mode !== "event") throw new ModuleStateError(name, `a ${s.mode} module`, "send an event to");
    if (slot.state !== "running") throw new ModuleStateError(name, slot.state, "send an event to");
    if (payload.length > MAX_EVENT_BYTES) {
      throw new EventTooLargeError(name, payload.length, MAX_EVENT_BYTES);
    }
    this.#triggers.fire(s.trigger, EventKind.API, payload, name);
    return this.#view(slot);
  }

  #onCrash(c: Extract<FromExecutor, { type: "crashed" }>): void {
    const slot = this.#slots.get(c.name);
    if (slot?.state !== "running") return;
    this.#supervisor.crashed(slot, c.fault, c.stats);
  }

  #onExecutorFailure(name: string, err: ExecutorError): void {
    this.#executors.delete(name);
    this.#log(err.message);
    if (this.#status === "stopping") return;
    this.#supervisor.executorLost(name, err, this.#slots.values());
  }

  #distribute(source: string, samples: Int16Array): void {
    for (const [name, ex] of this.#executors) {
      const readers = [...this.#slots.values()].filter((s) =>
        s.executor === name && s.state === "running" && s.plan.schedule.mode === "stream" &&
        s.plan.schedule.source === source
      );
      if (readers.length === 0) continue;
      if (!ex.pushSamples(source, samples)) {
        for (const r of readers) r.samplesDropped(samples.length);
      }
    }
  }

  // ---- control plane -------------------------------------------------------------------------------

  /**
   * Deploys a module, or a new version of one, so that a bad version never replaces a good one: the new
   * version is verified, then started on trial (instantiated and `kiln_init` run, then dropped) while the
   * old one keeps running. Only then is the old one stopped (with a snapshot, when it is snapshotted) and the
   * new one started; if that start fails, or the new version faults before its first handler call completes
   * (its probation, at most 2 s), the old one is started again from that snapshot and the error returned.
   * The switch costs one instance start.
   *
   * @returns The new version's status, and the sha256 of the version it replaced (null for a new module).
   * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
   *   when the new version does not verify (nothing changed).
   * @throws {DeployFailedError} when it fails its trial (nothing changed) or its start (rolled back).
   */
  async replaceModule(plan: ModulePlan): Promise<{ status: ModuleStatus; replaced: string | null }> {
    checkPlantRefs(this.plan, plan);
    const loaded = await this.#loadModule(plan);
    const trialSpec = this.#spec(plan, loaded);
    try {
      await this.#executor(executorFor(plan)).load(trialSpec, loaded.module, null, { trial: true });
    } catch (err) {
      if (err instanceof StartFailed) throw new DeployFailedError(plan.name, err.message, false);
      throw err;
    }
    const old = this.#slots.get(plan.name) ?? null;
    if (old) {
      if (old.state === "running" && this.#snap.enabled(old.plan)) {
        await this.takeSnapshot(plan.name, "stop").catch(() => {}); // counted in its status
      }
      this.#supervisor.halt(old);
    }
    const slot = new Slot(loaded);
    this.#slots.set(plan.name, slot);
    await this.#supervisor.start(slot, true);
    if (slot.state === "running") await this.#probation(slot);
    if (slot.state !== "running") {
      const reason = slot.fault?.message ?? slot.lastError ?? `it is ${slot.state}`;
      this.#supervisor.halt(slot);
      if (old) {
        this.#slots.set(plan.name, old);
        await this.#supervisor.start(old, true);
      } else this.#slots.delete(plan.name);
      throw new DeployFailedError(plan.name, reason, old !== null);
    }
    this.#log(
      `module ${plan.name}: deployed ${loaded.sha256.slice(0, 12)}` +
        (old ? `, replacing ${old.loaded.sha256.slice(0, 12)}` : ""),
    );
    return { status: this.#view(slot), replaced: old?.loaded.sha256 ?? null };
  }

  /**
   * Waits until a newly deployed instance has shown it is healthy: its first handler call done without a
   * fault (a periodic or stream module), or {@linkcode PROBATION_MS} without one (an event module waits for
   * its trigger). Returns early when it faults.
   */
  async #probation(slot: Slot): Promise<void> {
    const until = nowMs() + PROBATION_MS;
    const generation = slot.generation;
    while (nowMs() < until && slot.state === "running" && slot.generation === generation) {
      if (slot.plan.schedule.mode !== "event" && (slot.stats?.invocations ?? 0) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Loads, verifies and starts one more module in the running runtime. Nothing changes when it is refused.
   *
   * @throws {ModuleExistsError} when a module of that name is deployed.
   * @throws {import("./errors.ts").ModuleRejectedError | import("./errors.ts").ModuleNotFoundError | import("./errors.ts").ChecksumMismatchError}
   *   as {@linkcode loadModule}, and when its stream source or inputs are not sensors of this plant.
   */
  async deployModule(plan: ModulePlan): Promise<ModuleStatus> {
    if (this.#slots.has(plan.name)) throw new ModuleExistsError(plan.name);
    checkPlantRefs(this.plan, plan);
    const loaded = await this.#loadModule(plan);
    if (this.#slots.has(plan.name)) throw new ModuleExistsError(plan.name);
    const slot = new Slot(loaded);
    this.#slots.set(plan.name, slot);
    if (plan.enabled && this.#status !== "starting") await this.#supervisor.start(slot, true);
    return this.#view(slot);
  }

  /**
   * Stops a module and forgets it at once; the promise resolves once its executor has dropped the instance
   * (or is gone: a held executor is terminated by the watchdog). It never rejects.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  removeModule(name: string): Promise<void> {
    const gone = this.#supervisor.halt(this.#slot(name));
    this.#slots.delete(name);
    return gone;
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

  /** Alerts raised since sequence number `after` (exclusive), oldest first, with their sequence numbers. */
  listAlerts(after = 0): (AlertEvent & { seq: number })[] {
    return this.#journal.listAlerts(after);
  }

  /** Messages modules published since `after` (exclusive), oldest first; the last 500 are kept. */
  listMessages(after = 0): PublishedMessage[] {
    return this.#journal.listMessages(after);
  }

  /** The executors, the modules each hosts, and the Deno permissions each worker holds (none). */
  async listExecutors(): Promise<
    {
      name: string;
      modules: string[];
      permissions: PermissionStates;
      scheduling: ThreadScheduling;
      /** Times the watchdog terminated this executor (see `_watchdog.ts`), since the runtime started. */
      watchdog_terminations: number;
    }[]
  > {
    const terminations = this.#watchdog.terminations();
    return await Promise.all(
      [...this.#executors].map(async ([name, ex]) => ({
        name,
        modules: [...this.#slots.values()].filter((s) => s.executor === name).map((s) => s.plan.name),
        permissions: await ex.permissions(),
        scheduling: ex.scheduling,
        watchdog_terminations: terminations.get(name) ?? 0,
      })),
    );
  }

  /** Every executor started since the runtime started, with the times the watchdog terminated it (`/metrics`). */
  listExecutorCounters(): { name: string; watchdog_terminations: number }[] {
    return [...this.#watchdog.terminations()].map(([name, n]) => ({ name, watchdog_terminations: n }));
  }

  /** The channels, with their writer, readers and counters. */
  listChannels(): ChannelStatus[] {
    return [...this.#channels.values()].map(({ plan, buffer }) => {
      const st = ringStats(buffer);
      return {
        id: plan.id,
        writer: plan.writer,
        size_bytes: st.capacityBytes,
        overflow: plan.overflow,
        written: st.written,
        dropped: st.dropped,
        evicted: st.evicted,
        blocked: st.blocked,
        timeouts: st.timeouts,
        readers: plan.readers.map((module, i) => ({
          module,
          lost: st.readers[i]?.lost ?? 0,
          pending_bytes: st.readers[i]?.pendingBytes ?? 0,
        })),
      };
    });
  }

  /** The GPIO bank's pins: the simulated bank, or the Linux lines of `connectors.gpio`. */
  listGpio(): GpioPinState[] {
    return this.#sources.listGpio();
  }

  /**
   * Sets a GPIO pin's level from outside, as its wire would (an operator, a test); returns the pin's state.
   *
   * @throws {import("./errors.ts").PinUnknownError} when the bank has no such pin.
   * @throws {import("../hal/gpio/mod.ts").GpioDirectionError} when the bank is Linux lines: only their wires
   * set them.
   */
  setGpioInput(pin: number, value: number): GpioPinState {
    return this.#sources.setGpioInput(pin, value);
  }

  /** Audit events, or null when the runtime has no store. */
  listAudit(query: AuditQuery = {}): AuditEvent[] | null {
    return this.#audit?.listEvents(query) ?? null;
  }

  /** Capability use and denial counts, or null when the runtime has no store. */
  listCapabilityUse(module?: string): CapabilityUse[] | null {
    return this.#audit?.listUses(module) ?? null;
  }

  /** The simulated sensors and their faults. */
  listSimSensors(): ReturnType<SimSources["list"]> {
    return this.#sources.list();
  }

  /**
   * Injects or clears a fault in the simulated plant; returns the sensor with its fault.
   *
   * @throws {import("./errors.ts").SensorUnknownError} when there is no such sensor.
   * @throws {import("./errors.ts").FaultNotApplicableError} when the fault does not apply to its kind.
   */
  setFault(sensor: string, fault: SimFault): ReturnType<SimSources["list"]>[number] {
    this.#sources.setFault(sensor, fault);
    this.#log(`sim: ${sensor} fault ${fault === "none" ? "cleared" : `"${fault}" injected`}`);
    return this.#sources.list().find((s) => s.id === sensor)!;
  }

  #slot(name: string): Slot {
    const slot = this.#slots.get(name);
    if (!slot) throw new ModuleUnknownError(name);
    return slot;
  }

  /**
   * Stops a module; its instance and memory are discarded, after a snapshot when it is snapshotted (a
   * failed snapshot is counted and logged, and the module stops all the same). Resolves once its executor
   * has dropped the instance: an executor held by a module is terminated by the watchdog first.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  async stopModule(name: string): Promise<ModuleStatus> {
    const slot = this.#slot(name);
    if (slot.state === "running" && this.#snap.enabled(slot.plan)) {
      await this.takeSnapshot(name, "stop").catch(() => {}); // counted and logged in its status
    }
    await this.#supervisor.halt(slot); // its executor dropped it, or was terminated by the watchdog
    return this.#view(slot);
  }

  /**
   * Starts a stopped, crashed or failed module (its failure count is reset), from its newest usable
   * snapshot when it is snapshotted.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when it is already running or starting.
   */
  startModule(name: string): Promise<ModuleStatus> {
    return this.#operatorStart(name, false);
  }

  async #operatorStart(name: string, restart: boolean): Promise<ModuleStatus> {
    const slot = this.#slot(name);
    if (slot.state === "running" || slot.state === "starting") {
      throw new ModuleStateError(name, slot.state, "start");
    }
    await this.#supervisor.operatorStart(slot, restart);
    return this.#view(slot);
  }

  /**
   * Stops and starts a module; counts as a restart.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   */
  async restartModule(name: string): Promise<ModuleStatus> {
    await this.stopModule(name);
    return await this.#operatorStart(name, true);
  }

  /** The runtime's health. */
  health(): Health {
    const modules: Record<ModuleState, number> = {
      starting: 0,
      running: 0,
      stopped: 0,
      crashed: 0,
      failed: 0,
    };
    for (const s of this.#slots.values()) modules[s.state]++;
    const degraded = modules.crashed + modules.failed > 0;
    return {
      status: this.#status === "ok" && degraded ? "degraded" : this.#status,
      version: this.version,
      device: this.plan.device,
      uptime_s: this.#startedAtMs === 0 ? 0 : Math.round((nowMs() - this.#startedAtMs) / 100) / 10,
      modules,
    };
  }

  /**
   * A graceful stop: stops the sources, snapshots every running snapshotted module, then closes
   * everything ({@linkcode Runtime.close}). A failed snapshot is logged and does not hold up the stop.
   */
  async shutdown(): Promise<void> {
    this.#status = "stopping";
    this.#sources.stop();
    const snapshotted = [...this.#slots.values()].filter((s) =>
      s.state === "running" && this.#snap.enabled(s.plan)
    );
    await Promise.allSettled(snapshotted.map((s) => this.takeSnapshot(s.plan.name, "stop")));
    this.close();
    await this.#connectors.close();
    await this.#uplink?.close();
  }

  /**
   * Every connector's state (`GET /api/v1/connectors`): the simulated plant, a Linux GPIO bank, each Modbus
   * device and OPC UA endpoint, the uplink.
   */
  listConnectors(): ConnectorStatus[] {
    const sim: ConnectorStatus = {
      name: "sim",
      kind: "sim",
      state: this.#status === "stopping" ? "closed" : "connected",
      lastError: null,
      errors: 0,
      reconnects: 0,
    };
    const gpio = this.#sources.gpioStatus();
    return [
      sim,
      ...(gpio ? [gpio] : []),
      ...this.#connectors.list(),
      ...(this.#uplink ? [this.#uplink.status()] : []),
    ];
  }

  /** The outbox's figures when there is an uplink, else null. */
  outboxStats(): OutboxStats | null {
    return this.#uplink ? this.#uplink.outboxStats() : null;
  }

  /** The uplink's state: the outbox, the forwarder, refusals; null without one. */
  uplinkStatus(): Record<string, unknown> | null {
    if (!this.#uplink) return null;
    const f = this.#uplink.forwarderStats();
    return {
      connector: this.#uplink.status(),
      outbox: this.#uplink.outboxStats(),
      forwarder: f,
      refused_by_outbox: this.#uplink.refused,
      mqtt_events_refused: this.#triggers.mqttRefused,
    };
  }

  /**
   * Pins this thread (and so the threads it starts from now on, the executors' before they pin themselves)
   * to `scheduling.cpus.runtime`, remembering its CPUs for `close()`.
   */
  #pinRuntimeThread(): void {
    const cpus = this.plan.cpus?.runtime;
    if (cpus === undefined || this.#unpinnedCpus !== null) return;
    this.#unpinnedCpus = threadCpus();
    const pinned = pinThread(cpus);
    this.#runtimeThread = { ...NORMAL_THREAD, ...pinned };
    this.#log(`runtime: ${describeThread(this.#runtimeThread)}`);
  }

  /** The runtime's own thread: its CPUs when `scheduling.cpus.runtime` pinned it (it never runs at SCHED_FIFO). */
  get runtimeThread(): ThreadScheduling {
    return this.#runtimeThread;
  }

  /** Stops the sources, every module and every executor at once, without snapshots. */
  close(): void {
    this.#status = "stopping";
    if (this.#unpinnedCpus !== null) {
      pinThread(this.#unpinnedCpus); // the embedding process (a test, a bench) gets its CPUs back
      this.#unpinnedCpus = null;
    }
    void this.#sources.close();
    void this.#connectors.close();
    void this.#uplink?.close();
    try {
      this.#audit?.flushSuppressed({ all: true }); // the counts of denials folded this minute
    } catch (err) {
      this.#log(`kiln: could not write the suppressed denials' summary rows: ${(err as Error).message}`);
    }
    this.#supervisor.closeAll(this.#slots.values());
    for (const ex of this.#executors.values()) ex.close();
    this.#executors.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
