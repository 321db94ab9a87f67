/**
 * The contract of a point driver: everything the runtime needs to know about one protocol whose connectors
 * carry plant values (a Modbus device's points, an OPC UA endpoint's nodes), so that the manifest's schema
 * and checks, the deployment plan, the actuators' grants and the connectors iterate a registry of drivers
 * (`drivers.ts`) instead of naming protocols.
 *
 * A point is referred to as `<kind>:<device>/<point>` (an input or an actuator of a module), and a module
 * needs the capability the driver names for it (`read:<kind>:<resource>`, `write:<kind>:<resource>`); the
 * grammar of those resources is the runtime's (`runtime/capabilities.ts`), the driver only produces the text.
 *
 * @example The shape of a driver (see `modbus/driver.ts` for a whole one)
 * ```ts ignore
 * import type { PointDriver } from "./point_driver.ts";
 *
 * const driver: PointDriver<"modbus", typeof ModbusDeviceSchema, ModbusDevice> = {
 *   kind: "modbus",
 *   deviceNoun: "device",
 *   pointNoun: "point",
 *   pointsKey: "points",
 *   schema: ModbusDeviceSchema,
 *   // pointAccess, plan, pointIds, fastestMs, writeResource, connectors
 * };
 * ```
 *
 * @module
 */
import type { z } from "zod";
import type { PointConnector } from "./mod.ts";

/** What a module does with a point: read its samples (`kiln.input`), or write it (`kiln.actuate`). */
export type PointOperation = "read" | "write";

/**
 * A driver's verdict on a point for one operation: the capability a module needs to use it so, or why it
 * cannot be used so (`refusal`, a sentence that follows the point's reference in a manifest issue: `is
 * read-only (ir): only coils and holding registers can be driven`).
 */
export type PointAccess = { readonly capability: string } | { readonly refusal: string };

/** A device as a driver plans it: its name under `connectors.<kind>` and what its connector needs. */
export interface PlannedDevice {
  /** The device's key under `connectors.<kind>`, as capabilities and point references name it (`plc1`). */
  readonly name: string;
}

/** Options of {@linkcode PointDriver.plan}. */
export interface DevicePlanOptions {
  /** The manifest's directory (absolute): relative file paths in a device's settings resolve against it. */
  readonly manifestDir: string;
  /** Kiln's data directory (absolute), for state a driver keeps (OPC UA's PKI folder). */
  readonly dataDir: string;
}

/** One point of a device, as the runtime names it: the device's name and the point's id. */
export interface PointRef {
  readonly device: string;
  readonly point: string;
}

/** Makes the connector of one planned device; nothing happens until the connector's `start()`. */
export interface ConnectorMaker<Device extends PlannedDevice> {
  create(device: Device): PointConnector;
}

/**
 * How a driver makes its connectors: at once (`create`), or, for a driver whose client library must load
 * only when a device of its kind is configured (OPC UA's asks for the host name as it loads), after `load`,
 * which the runtime calls once, when its connectors start.
 */
export type ConnectorSource<Device extends PlannedDevice> =
  | ConnectorMaker<Device>
  | { load(): Promise<ConnectorMaker<Device>> };

/**
 * One protocol's driver, as the runtime's registry holds it. Members that take a device are methods, so that
 * a driver of a particular device type is also a `PointDriver` of the base types (TypeScript compares method
 * parameters bivariantly): the registry holds every driver so, and hands each one only its own kind's devices.
 *
 * @typeParam Kind the protocol's name.
 * @typeParam Schema the manifest schema of one device.
 * @typeParam Device the device as the plan holds it and the connector takes it.
 */
export interface PointDriver<
  Kind extends string = string,
  Schema extends z.ZodType = z.ZodType,
  Device extends PlannedDevice = PlannedDevice,
> {
  /**
   * The protocol's name: the manifest's `connectors.<kind>`, the prefix of point references
   * (`<kind>:<device>/<point>`) and of capabilities (`read:<kind>:...`), the plan's field, a connector
   * status's `kind`. Lowercase letters only.
   */
  readonly kind: Kind;
  /** What one configured connector is called in messages: `device`, `endpoint`. */
  readonly deviceNoun: string;
  /** What one of its points is called in messages: `point`, `node`. */
  readonly pointNoun: string;
  /** The manifest key of a device's list of points (`points`, `nodes`); each point has an `id`. */
  readonly pointsKey: string;
  /** The manifest schema of one device (`connectors.<kind>.<name>`), every default applied. */
  readonly schema: Schema;
  /**
   * Judges one point of a device as the manifest writes it, not validated yet: the capability a module needs
   * for `operation`, or why the point cannot be used so; `null` when the point itself is invalid (its schema
   * reports that).
   */
  pointAccess(
    point: unknown,
    options: { readonly device: string; readonly operation: PointOperation },
  ): PointAccess | null;
  /** Turns a validated device (`connectors.<kind>.<name>`) into the plan's form, which its connector takes. */
  plan(name: string, config: z.output<Schema>, options: DevicePlanOptions): Device;
  /** The ids of a planned device's points, in the manifest's order. */
  pointIds(device: Device): string[];
  /** How often its fastest point is read or sampled, in milliseconds (`Infinity` with no points). */
  fastestMs(device: Device): number;
  /**
   * The capability resource a write of `ref` needs (`plc1/co/5`). A point the plan does not have (`device`
   * null, or no such point) or, where the protocol says so, one that is not writable gets a resource no
   * grant covers, so every write to it is refused and audited.
   */
  writeResource(ref: PointRef, device: Device | null): string;
  /** How its connectors are made. */
  readonly connectors: ConnectorSource<Device>;
}
