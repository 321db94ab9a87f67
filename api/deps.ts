/**
 * What the API needs from the rest of Kiln.
 *
 * @module
 */
import type { Deployer, Runtime } from "../runtime/mod.ts";
import type { SnapshotInfo } from "../snapshots/mod.ts";
import type { Authenticator } from "./auth.ts";
import type { StreamHub } from "./stream/mod.ts";

/** Dependencies of {@linkcode createApp}. */
export interface ApiDeps {
  /** What Deno lets the runtime process do (the CLI's sandbox report); omitted in tests that have none. */
  sandbox?: () => unknown;
  runtime: Pick<
    Runtime,
    | "health"
    | "listModules"
    | "getModule"
    | "getModuleArrays"
    | "getModuleLogs"
    | "startModule"
    | "stopModule"
    | "restartModule"
    | "triggerEvent"
    | "listAlerts"
    | "listSimSensors"
    | "listExecutors"
    | "listExecutorCounters"
    | "plan"
    | "listMessages"
    | "listChannels"
    | "listGpio"
    | "setGpioInput"
    | "listAudit"
    | "listCapabilityUse"
    | "setFault"
    | "takeSnapshot"
    | "listConnectors"
    | "uplinkStatus"
    | "outboxStats"
  >;
  /** Takes deploys and deletions (`POST /api/v1/modules`, `DELETE /api/v1/modules/:name`); none without. */
  deployer?: Deployer;
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
}
