/**
 * A module lifecycle that survives restarts: the gateway's desired state (the manifest file overlaid with
 * every accepted API action, kept in the store), module binaries stored content-addressed in the data
 * directory, the versions each module keeps, and operator rollbacks to them, code and memory together.
 *
 * @example
 * ```ts ignore
 * const blobs = new BlobStore(dataDir);
 * const desired = await resolveDesiredState({ manifest, db: store.db, blobs, dataDir, log });
 * const plan = { ...planDeployment(manifest), modules: planDeployment(desired.manifest).modules };
 * const runtime = await createRuntime({ plan, ... });
 * const lifecycle = new Lifecycle({ db: store.db, dataDir, blobs, desired, keepVersions: 5, runtime, log });
 * await lifecycle.rollback("fft", { version: 2, by: "operator" });
 * ```
 *
 * @module
 */
export { BlobStore } from "./blobs.ts";
export {
  type DesiredState,
  MANIFEST_ACTOR,
  type ModuleDecision,
  resolveDesiredState,
  type ResolveOptions,
  type StartReport,
} from "./desired_state.ts";
export {
  type AcceptedDeploy,
  Lifecycle,
  type LifecycleOptions,
  PROBATION_ACTOR,
  type RollbackResult,
  type VersionView,
} from "./lifecycle.ts";
export {
  AlreadyCurrentError,
  BlobCorruptError,
  BlobMissingError,
  NoPreviousVersionError,
  VersionUnknownError,
} from "./errors.ts";
