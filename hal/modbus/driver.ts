/**
 * The Modbus point driver (`../point_driver.ts`): a device's manifest schema, its points' capabilities, its
 * plan and its connector, for the runtime's registry (`../drivers.ts`).
 *
 * @module
 */
import type { PointDriver } from "../point_driver.ts";
import { modbusCapability, modbusResource } from "./capability.ts";
import { type ModbusDevice, ModbusDeviceSchema, ModbusPointSchema, toModbusDevice } from "./config.ts";
import { createModbusConnector } from "./poller.ts";

/** Modbus devices (`connectors.modbus.<name>`), polled over TCP or RTU; points `modbus:<device>/<point>`. */
export const MODBUS_DRIVER: PointDriver<"modbus", typeof ModbusDeviceSchema, ModbusDevice> = {
  kind: "modbus",
  deviceNoun: "device",
  pointNoun: "point",
  pointsKey: "points",
  schema: ModbusDeviceSchema,
  pointAccess(raw, { device, operation }) {
    const point = ModbusPointSchema.safeParse(raw);
    // A point past the address space fails its schema too, so the capability below cannot throw.
    if (!point.success) return null;
    const { table } = point.data;
    if (operation === "write" && (table === "ir" || table === "di")) {
      // Input registers and discrete inputs are read-only (Modbus Application Protocol §4.3).
      return { refusal: `is read-only (${table}): only coils and holding registers can be driven` };
    }
    return { capability: modbusCapability(operation, device, point.data) };
  },
  plan: (name, config) => toModbusDevice(name, config),
  pointIds: (device) => device.points.map((p) => p.id),
  fastestMs: (device) => Math.min(...device.points.map((p) => p.pollMs)),
  writeResource(ref, device) {
    const point = device?.points.find((p) => p.id === ref.point);
    return point ? modbusResource(ref.device, point) : `${ref.device}/unknown/${ref.point}`;
  },
  connectors: { create: (device) => createModbusConnector(device) },
};
