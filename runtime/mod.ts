/**
 * The module host. It loads and verifies Wasm modules (hash, ABI v1, memory cap), runs them in executor
 * workers with Deno permissions `"none"`, schedules their handlers, supervises their lifecycle (crash,
 * restart with backoff, fail), and feeds them data from the plant and the connectors (`io/`). See
 * `runtime/ARCHITECTURE.md`.
 *
 * @example
 * ```ts ignore
 * const runtime = await createRuntime({ plan, version: "0.1.0" });
 * await runtime.start();
 * runtime.listModules(); // [{ name: "fft", state: "running", invocations: 42, ... }]
 * runtime.close();
 * ```
 *
 * @module
 */
export { ABI_VERSION, formatSig, HOST_IMPORTS, HOST_NAMESPACE, MODULE_EXPORTS, Status } from "./abi.ts";
export {
  ChecksumMismatchError,
  DeployFailedError,
  EventTooLargeError,
  ExecutorError,
  FaultNotApplicableError,
  ModuleExistsError,
  ModuleNotFoundError,
  ModuleRejectedError,
  ModuleStateError,
  ModuleUnknownError,
  PinUnknownError,
  SensorUnknownError,
} from "./errors.ts";
export {
  abiProblems,
  capPages,
  linkProblems,
  type LoadedModule,
  loadModule,
  MAX_MODULE_BYTES,
  MAX_TABLE_ELEMENTS,
  PAGE_BYTES,
  sha256Hex,
} from "./loader.ts";
export {
  type ChannelPlan,
  type DataPlan,
  type DeploymentPlan,
  type ModulePlan,
  type PersistencePlan,
  planDeployment,
  type RestartPlan,
  type SchedulePlan,
  type SignaturesPlan,
  type SimSensorPlan,
  type ThreadCpus,
} from "./plan.ts";
export { createModuleVerifier, type ModuleSignature, type ModuleVerifier } from "./signatures.ts";
export type { ThreadScheduling } from "./executor/realtime_thread.ts";
export { dropSpareExecutors, workerUrl } from "./executor.ts";
export { prewarmPlan } from "./_executors.ts";
export { SnapshotStoreError, Snapshotter } from "./persistence/snapshotter.ts";
export {
  createDeployer,
  type Deployer,
  type DeployerOptions,
  type DeployRequest,
  DeployRequestError,
  type DeployResult,
} from "./deployer.ts";
export {
  AlreadyCurrentError,
  BlobCorruptError,
  BlobMissingError,
  BlobStore,
  type DesiredState,
  Lifecycle,
  type LifecycleOptions,
  MANIFEST_ACTOR,
  type ModuleDecision,
  NoPreviousVersionError,
  PROBATION_ACTOR,
  resolveDesiredState,
  type RollbackResult,
  type StartReport,
  VersionUnknownError,
  type VersionView,
} from "./lifecycle/mod.ts";
export { FleetAgent, type FleetAgentOptions } from "./fleet/mod.ts";
export {
  type ChannelStatus,
  createRuntime,
  type ExecutorCounters,
  type ExecutorStatus,
  type Health,
  type ModuleState,
  type ModuleStatus,
  type PublishedMessage,
  REALTIME_PRIORITY,
  Runtime,
  type RuntimeOptions,
  type SnapshotStatus,
} from "./runtime.ts";
export {
  type ModuleStatusCause,
  Telemetry,
  type TelemetryEvent,
  type TelemetryListener,
  type TelemetryStats,
} from "./telemetry.ts";
export type { SimFault, SimPlant, SimSensorState } from "./io/plant.ts";
export type { AlertEvent, LogEvent, ModuleFault, PermissionStates, TrapKind } from "./executor/protocol.ts";
export {
  OtlpExporter,
  startTraceExport,
  type TraceEvent,
  type TraceExport,
  TraceStore,
} from "./trace/mod.ts";
