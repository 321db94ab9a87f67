/**
 * The registry of point drivers: every protocol whose connectors carry plant values, as
 * {@linkcode PointDriver}s. The manifest's schema (`connectors.<kind>`, the input and actuator references)
 * and its checks, the deployment plan, the actuators' grants and the runtime's connectors iterate it, so a
 * protocol's name and quirks stay in its folder here. Adding a protocol is one folder and one entry below.
 *
 * This file does not load any driver's client library: Modbus loads `modbus-serial` at its first connect,
 * OPC UA its client when the connectors start with an endpoint configured.
 *
 * @example Which driver a point reference names, and the capability a point needs
 * ```ts
 * import { pointDriver } from "./drivers.ts";
 *
 * const driver = pointDriver("modbus")!;
 * driver.pointAccess({ id: "valve", table: "co", address: 5 }, { device: "plc1", operation: "write" });
 * // { capability: "write:modbus:plc1/co/5" }
 * pointDriver("serial"); // null
 * ```
 *
 * @module
 */
import type { ConnectorMaker, PlannedDevice, PointDriver } from "./point_driver.ts";
import { MODBUS_DRIVER } from "./modbus/mod.ts";
// The OPC UA driver's own entry: its `mod.ts` would load node-opcua-client (see OPCUA_CONNECTOR_MODULE).
import { createOpcuaDriver } from "./opcua/driver.ts";
import type { OpcuaEndpoint } from "./opcua/mod.ts";

/**
 * The OPC UA connector's module. A computed specifier, which `deno bundle` leaves alone (node-opcua does not
 * bundle): from this file in the source tree and from `dist/kiln.js` beside it alike it names
 * `<root>/hal/opcua/mod.ts`, so this loader must stay one folder below the root.
 */
const OPCUA_CONNECTOR_MODULE = "../hal/opcua/mod.ts";

async function loadOpcuaConnector(): Promise<ConnectorMaker<OpcuaEndpoint>> {
  const { createOpcuaConnector } = await import(OPCUA_CONNECTOR_MODULE) as typeof import("./opcua/mod.ts");
  return { create: (endpoint) => createOpcuaConnector(endpoint) };
}

/** The drivers with their own types, for the types below. */
const REGISTERED = [MODBUS_DRIVER, createOpcuaDriver(loadOpcuaConnector)] as const;

/** Every point driver, in the order the runtime lists their connectors. */
export const POINT_DRIVERS: readonly PointDriver[] = REGISTERED;

/** A registered driver, with its own types. */
export type RegisteredDriver = typeof REGISTERED[number];
/** The kinds of the registered drivers: `modbus`, `opcua`. */
export type PointDriverKind = RegisteredDriver["kind"];

/** The device type of a driver. */
export type DeviceOf<D> = D extends PointDriver<string, infer _Schema, infer Device> ? Device : never;

/**
 * Planned devices by driver kind (`modbus: ModbusDevice[]`, `opcua: OpcuaEndpoint[]`): the fields a
 * deployment plan has for its point connectors.
 */
export type PointDevices = { [D in RegisteredDriver as D["kind"]]: DeviceOf<D>[] };

/** The manifest schemas of one device by driver kind, for the manifest's `connectors` section. */
export type PointDeviceSchemas = { [D in RegisteredDriver as D["kind"]]: D["schema"] };

const BY_KIND: ReadonlyMap<string, PointDriver> = new Map(POINT_DRIVERS.map((d) => [d.kind, d]));

/** The driver of `kind` (a point reference's or a capability's prefix), or `null` when there is none. */
export function pointDriver(kind: string): PointDriver | null {
  return BY_KIND.get(kind) ?? null;
}

/** The devices of `driver`'s kind in `devices` (a deployment plan), in the manifest's order; none if absent. */
export function devicesOf(
  devices: Readonly<Partial<PointDevices>>,
  driver: Pick<PointDriver, "kind">,
): readonly PlannedDevice[] {
  // The kind is a registered driver's, never a manifest's string; the own-key check keeps it so anyway.
  if (!Object.hasOwn(devices, driver.kind)) return [];
  return (devices as Readonly<Record<string, readonly PlannedDevice[] | undefined>>)[driver.kind] ?? [];
}
