/**
 * What the API needs from the rest of Kiln.
 *
 * @module
 */
import type { Runtime } from "../runtime/mod.ts";

/** Dependencies of {@linkcode createApp}. */
export interface ApiDeps {
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
    | "listAlerts"
    | "listSimSensors"
    | "listExecutors"
    | "listMessages"
    | "listGpio"
    | "setGpioInput"
    | "listAudit"
    | "listCapabilityUse"
    | "setFault"
  >;
}
