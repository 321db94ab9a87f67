/**
 * Kiln's persistent store: one SQLite database (`kiln.db`) in the data directory, opened by a factory with
 * its schema migrated. It holds the audit log, module snapshots, the outbox of messages for the cloud, the
 * API's tokens, and the desired state: the record of accepted deployments and the versions each module keeps.
 *
 * @example
 * ```ts ignore
 * using store = openStore("data/kiln.db");
 * const audit = new AuditLog(store);
 * audit.record([{ module: "fft", kind: "grant", capability: "read:sim:vibration_1", detail: null }]);
 * audit.listEvents({ kind: "denial" });
 * ```
 *
 * @module
 */
export {
  AlertLog,
  type AlertLogOptions,
  type AlertQuery,
  type AlertSource,
  type KeptAlert,
  MAX_KEPT_ALERTS,
  type NewAlert,
} from "./alerts.ts";
export {
  type AuditEvent,
  AuditLog,
  type AuditLogOptions,
  type AuditQuery,
  type CapabilityUse,
  type DenialRecord,
  SUPPRESSED_CAPABILITY,
  type SuppressedSummary,
} from "./audit.ts";
export {
  createVersion,
  DEPLOYMENT_ACTIONS,
  type DeploymentAction,
  type DeploymentQuery,
  type DeploymentRecord,
  getVersion,
  hasDeploymentRecord,
  inTransaction,
  lastManifestRecord,
  listDeployments,
  listVersionedModules,
  listVersions,
  type ModuleVersion,
  type NewDeployment,
  type NewVersion,
  pruneVersions,
  recordDeployment,
  referencedDigests,
  type VersionSource,
} from "./deployments.ts";
export { StoreError, StoreVersionError } from "./errors.ts";
export {
  getImageRef,
  getImageRefByDigest,
  type ImageRef,
  imageRefDigests,
  putImageRef,
} from "./image_refs.ts";
export { openStore, type Store, type StoreOptions } from "./store.ts";
export {
  deleteSnapshots,
  type LatestSnapshot,
  listSnapshots,
  loadLatestSnapshot,
  loadSnapshot,
  saveSnapshot,
  type SaveSnapshotOptions,
  SNAPSHOT_PAGE_BYTES,
  SnapshotCorruptError,
  type SnapshotImage,
  type SnapshotInfo,
  type SnapshotKey,
  type SnapshotReason,
} from "./snapshot.ts";
export {
  countActiveTokens,
  createToken,
  listTokens,
  revokeToken,
  type Role,
  roleAllows,
  ROLES,
  type TokenInfo,
  TokenUnknownError,
  verifyToken,
} from "./tokens.ts";
export {
  createOutbox,
  estimateDiskBytes,
  type Outbox,
  OUTBOX_KINDS,
  type OutboxEntry,
  type OutboxKind,
  type OutboxKindStats,
  type OutboxMessage,
  OutboxMessageTooLargeError,
  type OutboxOptions,
  type OutboxOwner,
  OutboxShareExceededError,
  type OutboxStats,
  type OutboxStream,
  OutboxWriteError,
} from "./outbox.ts";
