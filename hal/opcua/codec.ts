/**
 * Numbers to and from OPC UA Variants: what a node's value means to a module, and a module's number in the
 * node's own built-in type for a write.
 *
 * @module
 */
import { DataType, Variant } from "node-opcua-client";
import { OpcuaUnsupportedTypeError } from "./errors.ts";

/** A Variant's value as a number, or `null` when it is not one (Part 6 §5.1.2 built-in types). */
export function toNumber(variant: Variant): number | null {
  const value: unknown = variant.value;
  switch (variant.dataType) {
    case DataType.Boolean:
      return value ? 1 : 0;
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
      return typeof value === "number" && variant.arrayType === 0 ? value : null;
    case DataType.Int64:
    case DataType.UInt64: {
      // node-opcua holds 64-bit integers as [high, low] 32-bit words; beyond 2^53 precision is lost.
      if (variant.arrayType !== 0 || !Array.isArray(value) || value.length !== 2) return null;
      const [high, low] = value as [number, number];
      return high * 2 ** 32 + low;
    }
    default:
      return null;
  }
}

const INTEGER_RANGES: Partial<Record<DataType, readonly [number, number]>> = {
  [DataType.SByte]: [-128, 127],
  [DataType.Byte]: [0, 255],
  [DataType.Int16]: [-32_768, 32_767],
  [DataType.UInt16]: [0, 65_535],
  [DataType.Int32]: [-2_147_483_648, 2_147_483_647],
  [DataType.UInt32]: [0, 4_294_967_295],
};

/**
 * `value` as a Variant of the node's data type (Part 6 §5.1.2): a Boolean takes 0 or 1, an integer type an
 * integer in its range, Float and Double a finite number.
 *
 * @throws {RangeError} when the value does not fit the type.
 * @throws {OpcuaUnsupportedTypeError} for a type that is not numeric, or Int64 and UInt64.
 */
export function toVariant(value: number, dataType: DataType, endpoint: string, nodeId: string): Variant {
  const name = DataType[dataType] ?? "unknown";
  if (dataType === DataType.Boolean) {
    if (value !== 0 && value !== 1) throw new RangeError(`A Boolean node takes 0 or 1, got ${value}`);
    return new Variant({ dataType, value: value === 1 });
  }
  if (dataType === DataType.Float || dataType === DataType.Double) {
    if (!Number.isFinite(value)) throw new RangeError(`A ${name} node takes a finite number, got ${value}`);
    if (dataType === DataType.Float && Math.abs(value) > 3.4028234663852886e38) {
      throw new RangeError(`${value} does not fit a Float`);
    }
    return new Variant({ dataType, value });
  }
  const range = INTEGER_RANGES[dataType];
  if (!range) throw new OpcuaUnsupportedTypeError(endpoint, nodeId, name);
  if (!Number.isInteger(value) || value < range[0] || value > range[1]) {
    throw new RangeError(`An ${name} node takes an integer in ${range[0]}..${range[1]}, got ${value}`);
  }
  return new Variant({ dataType, value });
}
