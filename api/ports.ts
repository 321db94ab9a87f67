/**
 * What the API needs from the rest of Kiln: three narrow ports instead of the whole runtime. Module control
 * (read, start, stop, restart, send events to and snapshot modules; deploys go through a {@linkcode Deployer},
 * which checks the manifest first), observability (health, channels, executors, connectors, alerts,
 * messages, the audit log, the uplink, and the telemetry the stream subscribes to), and the simulated plant
 * (sensors, faults, pins). The runtime implements the first two, its plant the third: {@linkcode apiPorts}.
 *
 * @example
 * ```ts ignore
 * const app = createApp({ ...apiPorts(runtime), deployer, auth });
 * ```
 *
 * @module
 */
import type { TraceEvent, TraceStoreStats } from "../runtime/trace/mod.ts";
import type { LiveRecordingRequest, LiveRecordingStatus } from "../runtime/record/mod.ts";
import type { ShadowCandidate, ShadowRequest, ShadowStatus } from "../runtime/shadow/mod.ts";
import type { HistoryQuery, ModuleHistory, ProcessFigures } from "../runtime/history/mod.ts";
import type { ConnectorStatus } from "../hal/mod.ts";
import type { GpioPinState } from "../hal/gpio/mod.ts";
import type {
  AlertEvent,
  ChannelStatus,
  Deployer,
  DeploymentPlan,
  ExecutorCounters,
  ExecutorStatus,
  Health,
  LogEvent,
  ModuleStatus,
  PublishedMessage,
  RollbackResult,
  SimFault,
  SimSensorState,
  StartReport,
  TelemetryListener,
  VersionView,
} from "../runtime/mod.ts";
import type {
  AuditEvent,
  AuditQuery,
  CapabilityUse,
  DeploymentQuery,
  DeploymentRecord,
  OutboxStats,
  SnapshotInfo,
  SnapshotReason,
} from "../snapshots/mod.ts";
import type { AlertQuery, KeptAlert } from "../snapshots/mod.ts";
import type { Authenticator } from "./auth.ts";
// hub.ts, not the folder's mod.ts: that also exports the feed, which reads these ports (no import circle).
import type { StreamHub } from "./stream/hub.ts";

/** Module control: what an operator does to modules (`/api/v1/modules`). */
export interface ModuleControl {
  /** Every module's status, in manifest order. */
  listModules(): ModuleStatus[];
  /** One module's status, or null when there is none by that name. */
  getModule(name: string): ModuleStatus | null;
  /** Its latest vector outputs by key (a null-prototype record), or null when there is no such module. */
  getModuleArrays(name: string): Record<string, number[]> | null;
  /** Its latest log lines, oldest first, or null when there is no such module. */
  getModuleLogs(name: string): LogEvent[] | null;
  /**
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module.
   * @throws {import("../runtime/mod.ts").ModuleStateError} when it is already running or starting.
   */
  startModule(name: string): Promise<ModuleStatus>;
  /** @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module. */
  stopModule(name: string): Promise<ModuleStatus>;
  /** @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module. */
  restartModule(name: string): Promise<ModuleStatus>;
  /**
   * Sends an API event with `payload` to a running event module.
   *
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module.
   * @throws {import("../runtime/mod.ts").ModuleStateError} when it is not an event module, or not running.
   * @throws {import("../runtime/mod.ts").EventTooLargeError} when the payload is over 4 KiB.
   */
  triggerEvent(name: string, payload: Uint8Array): ModuleStatus;
  /**
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module.
   * @throws {import("../runtime/mod.ts").ModuleStateError} when it is not running, or not snapshotted.
   * @throws {import("../runtime/mod.ts").SnapshotStoreError} when the write fails.
   */
  takeSnapshot(name: string, reason: SnapshotReason): Promise<SnapshotInfo>;
}

/**
 * The desired state (`/api/v1/deployments`, `/api/v1/modules/:name/versions` and `.../rollback`): the record
 * of accepted actions, how the start resolved the manifest file against it, the versions each module keeps,
 * and a rollback to one. The start and stop routes record an operator's action through it.
 */
export interface Deployments {
  /** How this start resolved the manifest file against the record, module by module. */
  readonly report: StartReport;
  /** Accepted actions, oldest first. */
  listDeployments(query?: DeploymentQuery): DeploymentRecord[];
  /**
   * A module's kept versions, newest first.
   *
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when it keeps none and there is no such module.
   */
  listVersions(name: string): VersionView[];
  /**
   * Returns a module to a kept version (`version`, or the one before the version it runs), code and memory.
   *
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when it keeps none and there is no such module.
   * @throws {import("../runtime/mod.ts").VersionUnknownError} when it keeps no such version.
   * @throws {import("../runtime/mod.ts").NoPreviousVersionError} without `version`, when none is older.
   * @throws {import("../runtime/mod.ts").AlreadyCurrentError} when it runs that version already.
   * @throws as a deploy's swap (`DeployFailedError`, a stored file changed: `BlobCorruptError`).
   */
  rollback(name: string, options: { version?: number; by: string }): Promise<RollbackResult>;
  /** Records an operator's start or stop of a module (after it succeeded). */
  recordControl(action: "start" | "stop", name: string, by: string): void;
}

/** The audit log's reading side (`/api/v1/audit`). */
export interface AuditReader {
  listEvents(query?: AuditQuery): AuditEvent[];
  listUses(module?: string): CapabilityUse[];
}

/** What the forwarder of the uplink reports. */
export interface ForwarderFigures {
  readonly state: string;
  readonly inFlight: number;
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly lastError: string | null;
}

/** The uplink's figures (`/api/v1/uplink`, `/metrics`). */
export interface UplinkReader {
  /** Its MQTT connector's state. */
  status(): ConnectorStatus;
  outboxStats(): OutboxStats;
  forwarderStats(): ForwarderFigures;
  /** Messages refused by the outbox (too large, a failed write), since start. */
  readonly refused: number;
}

/** Where the runtime's telemetry events can be subscribed to (the stream's feed). */
export interface TelemetrySource {
  /** Adds a listener until the returned handle is disposed. */
  subscribe(listener: TelemetryListener): Disposable;
}

/** Observability: what the control plane reads of the runtime, and what it is told as it happens. */
/** An alert as the runtime lists it: the acknowledgement fields are there when it keeps them. */
export type ListedAlert =
  & AlertEvent
  & { seq: number }
  & Partial<Pick<KeptAlert, "source" | "ackedAtMs" | "ackedBy">>;

export interface Observability {
  /** The device policy (`/api/v1/sandbox`). */
  readonly plan: Pick<DeploymentPlan, "policy" | "policyLimits">;
  health(): Health;
  listChannels(): ChannelStatus[];
  /** The executors, the modules each hosts, and the Deno permissions each worker holds. */
  listExecutors(): Promise<ExecutorStatus[]>;
  /** Every executor started since the runtime started, with its counters (`/metrics`). */
  listExecutorCounters(): ExecutorCounters[];
  listConnectors(): ConnectorStatus[];
  /** Alerts since sequence number `after` (exclusive), oldest first. */
  listAlerts(after?: number): (AlertEvent & { seq: number })[];
  /** The alerts a query selects, with their acknowledgements (`Runtime.queryAlerts`). */
  queryAlerts(query: AlertQuery): ListedAlert[];
  /** Acknowledges alert `seq` as `by`, idempotently; the alert, or null when there is none. */
  ackAlert(seq: number, by: string): ListedAlert | null;
  /** Messages modules published since `after` (exclusive), oldest first. */
  listMessages(after?: number): PublishedMessage[];
  /** The audit log, or null when the runtime has no store. */
  readonly audit: AuditReader | null;
  /** The uplink, or null when there is none (no `connectors.mqtt`, or not started yet). */
  readonly uplink: UplinkReader | null;
  /** MQTT commands for `mqtt:` triggers refused, since start. */
  readonly mqttEventsRefused: number;
  /** Outputs, statuses, alerts, logs and messages as they happen. */
  readonly telemetry: TelemetrySource;
  /** Per-invocation trace events (`/api/v1/modules/:name/traces`); absent: the route answers 404. */
  readonly traces?: TraceReader | null;
  /** Recordings of running modules (`/api/v1/modules/:name/record`); absent: those routes answer 404. */
  readonly recordings?: RecordingControl | null;
  /** Shadow candidates (`/api/v1/modules/:name/shadow`); absent: those routes answer 404. */
  readonly shadows?: ShadowControl | null;
  /** Each module's recent outputs (`/api/v1/modules/:name/history`); absent: that route answers 404. */
  readonly history?: HistoryReader | null;
  /**
   * The process's memory, CPU share and load average (`/api/v1/gateway`, the stream's `gateway`); absent:
   * memory is read by the API itself and the CPU share and load average are null.
   */
  processFigures?(): ProcessFigures;
}

/** What the history route reads of the runtime's output history (`Runtime.history`, `runtime/history/`). */
export interface HistoryReader {
  /** @throws {RangeError} when `query.seconds` is not an integer from 1 to 300. */
  query(module: string, query?: HistoryQuery): ModuleHistory;
}

/** What the shadow routes use of the runtime's shadows (`Runtime.shadows`, `runtime/shadow/`). */
export interface ShadowControl {
  /**
   * Loads a candidate and runs it beside the running module.
   *
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module.
   * @throws {import("../runtime/mod.ts").ModuleStateError} when it is not running.
   * @throws {import("../runtime/shadow/mod.ts").ShadowActiveError} when a shadow of it is running.
   * @throws {import("../runtime/record/mod.ts").RecordingActiveError} when it is being recorded.
   * @throws {import("../runtime/mod.ts").ModuleRejectedError} when the candidate does not load or verify.
   */
  attach(name: string, request: ShadowRequest): Promise<ShadowStatus>;
  /** The module's shadow, running or stopped; null when none is attached. */
  status(name: string): ShadowStatus | null;
  /** @throws {import("../runtime/shadow/mod.ts").ShadowNotFoundError} when none is attached. */
  candidate(name: string): ShadowCandidate;
  /** Stops and forgets it. @throws {import("../runtime/shadow/mod.ts").ShadowNotFoundError} when none. */
  drop(name: string, reason?: string): ShadowStatus;
}

/** What the record routes use of the runtime's live recordings (`Runtime.recordings`, `runtime/record/live.ts`). */
export interface RecordingControl {
  /**
   * Starts recording a running module.
   *
   * @throws {import("../runtime/mod.ts").ModuleUnknownError} when there is no such module.
   * @throws {import("../runtime/mod.ts").ModuleStateError} when it is not running.
   * @throws {import("../runtime/record/mod.ts").RecordingActiveError} when it is being recorded already.
   */
  start(name: string, request: LiveRecordingRequest): Promise<LiveRecordingStatus>;
  /** The module's recording under way, else its last one; null when none was started. */
  status(name: string): LiveRecordingStatus | null;
  /**
   * The bytes of the module's last finished trace.
   *
   * @throws {import("../runtime/record/mod.ts").RecordingNotFoundError} when none has finished.
   */
  trace(name: string): Promise<Uint8Array>;
}

/** What the traces route reads of the runtime's trace store (`Runtime.traces`). */
export interface TraceReader {
  list(module: string, options: { sinceSeq?: number; limit?: number }): TraceEvent[];
  nextSeq(module: string): number;
  readonly every: number;
  readonly ringSize: number;
  stats(): TraceStoreStats;
  exporterStats(): { name: string; stats: Readonly<Record<string, number | string | null>> }[];
}

/** The simulated plant (`/api/v1/sim`): its sensors and their faults, and the GPIO bank's pins. */
export interface SimulatedPlant {
  listSensors(): SimSensorState[];
  /**
   * Injects or clears a fault; returns the sensor with its fault.
   *
   * @throws {import("../runtime/mod.ts").SensorUnknownError} when there is no such sensor.
   * @throws {import("../runtime/mod.ts").FaultNotApplicableError} when the fault does not apply to its kind.
   */
  setFault(sensor: string, fault: SimFault): SimSensorState;
  listGpio(): GpioPinState[];
  /**
   * Sets a pin's level from outside, as its wire would; returns the pin's state.
   *
   * @throws {import("../runtime/mod.ts").PinUnknownError} when the bank has no such pin.
   * @throws {import("../hal/gpio/mod.ts").GpioDirectionError} when the bank refuses it (a Linux line).
   */
  setGpioInput(pin: number, value: number): GpioPinState;
}

/** The three ports. */
export interface ApiPorts {
  modules: ModuleControl;
  observability: Observability;
  plant: SimulatedPlant;
}

/** Dependencies of {@linkcode createApp}: the ports, and the optional parts. */
export interface ApiDeps extends ApiPorts {
  /** Takes deploys and deletions (`POST /api/v1/modules`, `DELETE /api/v1/modules/:name`); none without. */
  deployer?: Deployer;
  /** What Deno lets the runtime process do (the CLI's sandbox report); omitted in tests that have none. */
  sandbox?: () => unknown;
  /** The largest request body, bytes; a deploy may be up to the module size limit plus 8 MiB. @default 1 MiB */
  maxBodyBytes?: number;
  /** The live stream's hub (`GET /api/v1/stream`); no stream route without it. */
  stream?: StreamHub;
  /** Checks bearer tokens; without it the API is open (in-process tests). */
  auth?: Authenticator;
  /** Serve `/metrics` without a token. @default false */
  metricsPublic?: boolean;
  /** The snapshots in the store, newest first per module; omitted when there is no store. */
  listSnapshots?: (module?: string) => SnapshotInfo[];
  /** The desired state's record, versions and rollbacks; omitted when there is no store. */
  deployments?: Deployments;
}

/** A runtime's three ports: itself for module control and observability, its plant for the plant. */
export function apiPorts(
  runtime: ModuleControl & Observability & { readonly plant: SimulatedPlant },
): ApiPorts {
  return { modules: runtime, observability: runtime, plant: runtime.plant };
}
