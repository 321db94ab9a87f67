/**
 * The capability resource a Modbus point or write touches, for the runtime to check against a module's grants
 * (`runtime/capabilities.ts` parses it; `hal/` only produces the text).
 *
 * @module
 */
import { registerCount } from "./codec.ts";
import type { ModbusPoint } from "./config.ts";

/** What the capability of a point needs to know about it. */
export type ModbusPointRange = Pick<ModbusPoint, "table" | "address" | "type">;

/**
 * The resource a point covers: `<device>/<table>/<address>` for one register or bit,
 * `<device>/<table>/<first>-<last>` for a 32-bit value, e.g. `plc1/hr/100-101` for a float32 at 100.
 *
 * @throws {RangeError} when the point would end past address 65535.
 */
export function modbusResource(device: string, point: ModbusPointRange): string {
  const last = point.address + registerCount(point.type) - 1;
  if (last > 65_535) throw new RangeError(`A ${point.type} at ${point.address} ends past address 65535`);
  const range = last === point.address ? `${point.address}` : `${point.address}-${last}`;
  return `${device}/${point.table}/${range}`;
}

/**
 * The capability a module needs to read or write a point, e.g. `read:modbus:plc1/hr/100-101`.
 *
 * @example
 * ```ts
 * import { modbusCapability } from "./capability.ts";
 *
 * modbusCapability("write", "plc1", { table: "co", address: 5, type: "bool" }); // "write:modbus:plc1/co/5"
 * ```
 *
 * @throws {TypeError} when a write names input registers or discrete inputs, which are read-only (§4.3).
 * @throws {RangeError} when the point would end past address 65535.
 */
export function modbusCapability(
  operation: "read" | "write",
  device: string,
  point: ModbusPointRange,
): string {
  if (operation === "write" && (point.table === "ir" || point.table === "di")) {
    throw new TypeError(
      `Cannot write to "${point.table}": input registers and discrete inputs are read-only`,
    );
  }
  return `${operation}:modbus:${modbusResource(device, point)}`;
}
