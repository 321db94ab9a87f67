/**
 * Values in Modbus registers: how an int16, uint16, int32, uint32 or float32 is laid out in one or two
 * 16-bit registers, and the linear scaling between a register's raw value and an engineering value.
 *
 * The Modbus Application Protocol v1.1b3 §4.2 sends each register big-endian (high byte first) and says
 * nothing about values wider than a register, so devices differ: a 32-bit value may come high word first
 * or low word first, and some devices also swap the bytes inside each register. Kiln names the two
 * choices separately, as `byte_order` (inside a register) and `word_order` (between the two registers):
 *
 * | byte_order | word_order | bytes of 0xAABBCCDD on the wire | also called |
 * |---|---|---|---|
 * | big | big | AA BB CC DD | ABCD, big-endian (the default) |
 * | big | little | CC DD AA BB | CDAB, word swap |
 * | little | big | BB AA DD CC | BADC, byte swap |
 * | little | little | DD CC BB AA | DCBA, little-endian |
 *
 * @example A float32 sent low word first
 * ```ts
 * import { applyScaling, decodeRegisters } from "./codec.ts";
 *
 * const layout = { type: "float32", byteOrder: "big", wordOrder: "little" } as const;
 * decodeRegisters([0xe979, 0x42f6], layout); // 123.456 (as a float32: 123.45600128173828)
 * applyScaling(2345, { scale: 0.1, offset: 0 }); // 234.5
 * ```
 *
 * @module
 */

/** The value types a point can have; `bool` is a coil or discrete input, the others are registers. */
export const MODBUS_DATA_TYPES = ["bool", "int16", "uint16", "int32", "uint32", "float32"] as const;
/** A point's value type. */
export type ModbusDataType = typeof MODBUS_DATA_TYPES[number];

/** The register value types (every type but `bool`). */
export type RegisterDataType = Exclude<ModbusDataType, "bool">;

/** The two orders of a value's bytes; see the module doc for what each combination puts on the wire. */
export const MODBUS_ORDERS = ["big", "little"] as const;
/** `big`: most significant first (Modbus' own order, §4.2); `little`: least significant first. */
export type Order = typeof MODBUS_ORDERS[number];

/** How a value lies in its registers. */
export interface RegisterLayout {
  readonly type: RegisterDataType;
  /** The order of the two bytes inside each register. @default "big" */
  readonly byteOrder: Order;
  /** The order of the two registers of a 32-bit value; ignored for 16-bit types. @default "big" */
  readonly wordOrder: Order;
}

/** A linear map from a raw value to an engineering value: `value = raw * scale + offset`. */
export interface Scaling {
  /** Must not be 0. @default 1 */
  readonly scale: number;
  /** @default 0 */
  readonly offset: number;
}

/** How many registers (or bits, for `bool`) a value of `type` takes: 1 or 2. */
export function registerCount(type: ModbusDataType): 1 | 2 {
  return type === "int32" || type === "uint32" || type === "float32" ? 2 : 1;
}

const INTEGER_RANGES: Readonly<Record<Exclude<RegisterDataType, "float32">, readonly [number, number]>> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
};

/**
 * Decodes the raw value in `registers` (each 0..65535, as the device sent them, first address first).
 *
 * @throws {RangeError} when fewer registers are given than the type needs, or one is not 0..65535.
 */
export function decodeRegisters(registers: ArrayLike<number>, layout: RegisterLayout): number {
  const count = registerCount(layout.type);
  if (registers.length < count) {
    throw new RangeError(`A ${layout.type} needs ${count} registers, got ${registers.length}`);
  }
  const view = new DataView(new ArrayBuffer(4));
  // Rebuild the value's bytes most significant first, then read them big-endian.
  for (let i = 0; i < count; i++) {
    const register = registers[count === 2 && layout.wordOrder === "little" ? count - 1 - i : i] ?? 0;
    if (!Number.isInteger(register) || register < 0 || register > 0xffff) {
      throw new RangeError(`A register holds 0..65535, got ${register}`);
    }
    view.setUint16(i * 2, layout.byteOrder === "little" ? swapBytes(register) : register);
  }
  switch (layout.type) {
    case "int16":
      return view.getInt16(0);
    case "uint16":
      return view.getUint16(0);
    case "int32":
      return view.getInt32(0);
    case "uint32":
      return view.getUint32(0);
    case "float32":
      return view.getFloat32(0);
  }
}

/**
 * Encodes a raw value into the registers to write, first address first: the inverse of
 * {@linkcode decodeRegisters}.
 *
 * @throws {TypeError} when `value` is not a number.
 * @throws {RangeError} when an integer type gets a fraction or a value outside its range, or a float32 gets
 * a value that is not finite or beyond the float32 range.
 */
export function encodeRegisters(value: number, layout: RegisterLayout): number[] {
  if (typeof value !== "number") {
    throw new TypeError(`A register value must be a number, got ${typeof value}`);
  }
  const view = new DataView(new ArrayBuffer(4));
  if (layout.type === "float32") {
    if (!Number.isFinite(value) || !Number.isFinite(Math.fround(value))) {
      throw new RangeError(`Cannot write ${value} as a float32: not a finite float32 value`);
    }
    view.setFloat32(0, value);
  } else {
    const [min, max] = INTEGER_RANGES[layout.type];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`Cannot write ${value} as a ${layout.type}: expected an integer ${min}..${max}`);
    }
    if (layout.type === "int16" || layout.type === "uint16") view.setUint16(0, value & 0xffff);
    else view.setUint32(0, value >>> 0);
  }
  const count = registerCount(layout.type);
  const registers: number[] = [];
  for (let i = 0; i < count; i++) {
    const word = view.getUint16(i * 2);
    registers.push(layout.byteOrder === "little" ? swapBytes(word) : word);
  }
  return count === 2 && layout.wordOrder === "little" ? registers.reverse() : registers;
}

/** The engineering value of a raw value: `raw * scale + offset`. */
export function applyScaling(raw: number, scaling: Scaling): number {
  return raw * scaling.scale + scaling.offset;
}

/**
 * The raw value to write for an engineering value: `(value - offset) / scale`, rounded to the nearest integer
 * (halves away from zero) for integer types, as the register's resolution is one raw unit. A float32 is not
 * rounded.
 *
 * @throws {TypeError} when `value` is not a number.
 * @throws {RangeError} when `value` is not finite or `scale` is 0.
 */
export function removeScaling(value: number, scaling: Scaling, type: ModbusDataType): number {
  if (typeof value !== "number") throw new TypeError(`A value must be a number, got ${typeof value}`);
  if (!Number.isFinite(value)) throw new RangeError(`Cannot write ${value}: not a finite number`);
  if (scaling.scale === 0) throw new RangeError(`Cannot invert a scale of 0`);
  const raw = (value - scaling.offset) / scaling.scale;
  if (type === "float32") return raw;
  // Math.round rounds -2.5 to -2; round halves away from zero so that the map is symmetric around 0.
  const rounded = Math.sign(raw) * Math.round(Math.abs(raw));
  return rounded === 0 ? 0 : rounded; // never -0
}

function swapBytes(word: number): number {
  return ((word & 0xff) << 8) | (word >>> 8);
}
