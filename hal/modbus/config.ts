/**
 * One Modbus device as a manifest describes it (`connectors.modbus.<name>`), as a zod schema with snake_case
 * keys and every default applied, and its camelCase form for the connector. A device is reached over TCP
 * (the default `transport`) or, with `transport: rtu`, on a serial line.
 *
 * ```yaml
 * connectors:
 *   modbus:
 *     plc1:
 *       transport: tcp
 *       host: 10.0.0.5
 *       port: 502
 *       unit_id: 1
 *       timeout_ms: 1000
 *       points:
 *         - { id: oven_temp, table: hr, address: 100, type: float32, word_order: little, poll_ms: 500 }
 *         - { id: line_speed, table: ir, address: 7, type: uint16, scale: 0.1 }
 *         - { id: heater_on, table: co, address: 0, poll_ms: 200 }
 *     drive1:
 *       transport: rtu
 *       serial: { path: /dev/ttyUSB0, baud: 19200, parity: even, data_bits: 8, stop_bits: 1 }
 *       unit_id: 17
 *       points:
 *         - { id: motor_rpm, table: ir, address: 3 }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { MODBUS_DATA_TYPES, MODBUS_ORDERS, type ModbusDataType, type Order, registerCount } from "./codec.ts";
import { SERIAL_BAUD_RATES, SERIAL_PARITIES, type SerialLine } from "./serial.ts";
import { backoffFields, checkBackoff } from "../keeper.ts";

/** Modbus tables: holding registers, input registers, coils, discrete inputs (§4.3 of the protocol spec). */
export const MODBUS_TABLE_NAMES = ["hr", "ir", "co", "di"] as const;
/** A Modbus table. */
export type ModbusTableName = typeof MODBUS_TABLE_NAMES[number];

/** Point ids: a lowercase letter, then up to 62 lowercase letters, digits, `_` or `-` (as module names). */
export const POINT_ID = /^[a-z][a-z0-9_-]{0,62}$/;

/** Default `port`: 502, registered for Modbus TCP (Modbus Messaging on TCP/IP Implementation Guide §4.1). */
export const DEFAULT_MODBUS_PORT = 502;
/** Default `unit_id`. */
export const DEFAULT_UNIT_ID = 1;
/** Modbus transports: TCP (the default) and RTU on a serial line. */
export const MODBUS_TRANSPORTS = ["tcp", "rtu"] as const;
/** Default `serial.baud`: 19200, the default the serial line spec requires (Modbus over Serial Line v1.02 §2.5.1). */
export const DEFAULT_BAUD = 19_200;
/** Default `serial.parity`: even, the default the serial line spec requires (§2.5.1). */
export const DEFAULT_PARITY = "even";
/** Default `timeout_ms`, for a connect and for each request. */
export const DEFAULT_TIMEOUT_MS = 1000;
/** Default `backoff_ms` and `max_backoff_ms`: every connector's (see `../keeper.ts`). */
export { DEFAULT_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "../keeper.ts";
/** Default `poll_ms` of a point. */
export const DEFAULT_POLL_MS = 1000;
/** A point's `stale_ms` is this many times its `poll_ms` unless given. */
export const DEFAULT_STALE_POLLS = 3;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);

/** One point: a value in a table at an address, with its type, byte and word order, scaling and poll rate. */
export const ModbusPointSchema = z.strictObject({
  id: z.string().regex(
    POINT_ID,
    `a point id must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
  ),
  table: z.enum(MODBUS_TABLE_NAMES),
  /** The protocol address 0..65535 (not a 40001-style reference number). */
  address: int(0, 65_535),
  /** `bool` for coils and discrete inputs (the default there); registers default to `uint16`. */
  type: z.enum(MODBUS_DATA_TYPES).optional(),
  /** The order of the bytes inside each register. @default "big" */
  byte_order: z.enum(MODBUS_ORDERS).optional(),
  /** The order of the two registers of a 32-bit value. @default "big" */
  word_order: z.enum(MODBUS_ORDERS).optional(),
  /** `value = raw * scale + offset`; registers only. @default 1 */
  scale: z.number().refine(
    (n) => n !== 0 && Number.isFinite(n),
    "a scale must be a finite number other than 0",
  )
    .optional(),
  /** @default 0 */
  offset: z.number().refine(Number.isFinite, "an offset must be finite").optional(),
  /** How often the point is read, in milliseconds. @default 1000 */
  poll_ms: int(10, 86_400_000).optional(),
  /**
   * How long after its last good read a value that can no longer be read stays `uncertain` before it turns
   * `bad`, in milliseconds. @default 3 * poll_ms
   */
  stale_ms: int(0, 86_400_000).optional(),
}).superRefine((point, ctx) => {
  const bits = point.table === "co" || point.table === "di";
  const type = point.type ?? (bits ? "bool" : "uint16");
  if (bits && type !== "bool") {
    ctx.addIssue({
      code: "custom",
      path: ["type"],
      message: `a ${point.table} point is a bool, not "${type}"`,
    });
  }
  if (!bits && type === "bool") {
    ctx.addIssue({
      code: "custom",
      path: ["type"],
      message: `a register holds int16, uint16, int32, uint32 or float32, not "bool"`,
    });
  }
  if (bits) {
    for (const key of ["byte_order", "word_order", "scale", "offset"] as const) {
      if (point[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `"${key}" applies to registers, not to ${point.table}`,
        });
      }
    }
  }
  const last = point.address + registerCount(type) - 1;
  if (last > 65_535) {
    ctx.addIssue({
      code: "custom",
      path: ["address"],
      message: `a ${type} at ${point.address} would end at ${last}, past the last address 65535`,
    });
  }
}).transform((point) => {
  const bits = point.table === "co" || point.table === "di";
  const pollMs = point.poll_ms ?? DEFAULT_POLL_MS;
  return {
    id: point.id,
    table: point.table,
    address: point.address,
    type: point.type ?? (bits ? "bool" : "uint16") as ModbusDataType,
    byte_order: point.byte_order ?? "big" as Order,
    word_order: point.word_order ?? "big" as Order,
    scale: point.scale ?? 1,
    offset: point.offset ?? 0,
    poll_ms: pollMs,
    stale_ms: point.stale_ms ?? DEFAULT_STALE_POLLS * pollMs,
  };
});

/** A device's serial line (`serial`, with `transport: rtu`). */
export const SerialLineSchema = z.strictObject({
  /** The tty: `/dev/ttyUSB0`, `/dev/ttyS1`, or a stable symlink such as `/dev/serial/by-id/...`. */
  path: z.string().min(1, "a serial port path must not be empty").refine(
    (path) => path.startsWith("/"),
    "a serial port path must be absolute, like /dev/ttyUSB0",
  ),
  /** Bits per second. @default 19200 */
  baud: z.number().refine((baud) => (SERIAL_BAUD_RATES as readonly number[]).includes(baud), {
    error: (issue) => `a baud rate is one of ${SERIAL_BAUD_RATES.join(", ")}, got ${issue.input}`,
  }).default(DEFAULT_BAUD),
  /** @default "even" */
  parity: z.enum(SERIAL_PARITIES).default(DEFAULT_PARITY),
  /** RTU sends 8 data bits per character (§2.5.1); 7 would be ASCII mode, which Kiln does not speak. @default 8 */
  data_bits: z.literal(8, {
    error: (issue) =>
      issue.input === 7
        ? "Modbus RTU sends 8 data bits per character (7 data bits is Modbus ASCII, which is not supported)"
        : undefined,
  }).default(8),
  /** @default 1 with parity, 2 without (the spec's 11-bit character, §2.5.1) */
  stop_bits: z.literal([1, 2]).optional(),
}).transform((line) => ({ ...line, stop_bits: line.stop_bits ?? (line.parity === "none" ? 2 : 1) }));

/** What TCP and RTU devices share: timing, backoff and points. */
const common = {
  /** How long a connect (or opening the port) or a request may take, in milliseconds. @default 1000 */
  timeout_ms: int(1, 600_000).default(DEFAULT_TIMEOUT_MS),
  /** `backoff_ms` (@default 500) and `max_backoff_ms` (@default 30000): see `../keeper.ts`. */
  ...backoffFields,
  /**
   * Points of the same table and poll rate are read together when at most this many unused registers (or
   * bits) lie between them. @default 0 (only adjacent points)
   */
  max_gap: int(0, 124).default(0),
  points: z.array(ModbusPointSchema).min(1, "a Modbus device needs at least one point"),
};

/**
 * Unknown keys of a device: a key that belongs to the other transport says so. One message per key, joined
 * with newlines (as the manifest's messages for unknown keys are; it splits them again).
 */
function unknownKeys(transport: "tcp" | "rtu", other: readonly string[]) {
  return (issue: { code?: string; keys?: string[] }) =>
    issue.code === "unrecognized_keys"
      ? (issue.keys ?? []).map((key) =>
        other.includes(key)
          ? transport === "tcp"
            ? `"${key}" is for a device on a serial line (transport: rtu); this device's transport is tcp, the default`
            : `"${key}" is for a device on TCP (transport: tcp); this device is on a serial line (transport: rtu)`
          : `unknown key "${key}"`
      ).join("\n")
      : undefined;
}

/** A device on Modbus TCP. */
const ModbusTcpDeviceSchema = z.strictObject({
  /** @default "tcp" */
  transport: z.literal("tcp").default("tcp"),
  host: z.string().min(1, "a host must not be empty"),
  port: int(1, 65_535).default(DEFAULT_MODBUS_PORT),
  /** The unit identifier, 0..255 (Modbus Messaging on TCP/IP Implementation Guide §4.4.2). @default 1 */
  unit_id: int(0, 255).default(DEFAULT_UNIT_ID),
  ...common,
}, { error: unknownKeys("tcp", ["serial"]) });

/** A device on Modbus RTU over a serial line. */
const ModbusRtuDeviceSchema = z.strictObject({
  transport: z.literal("rtu"),
  serial: SerialLineSchema,
  /**
   * The device's address on the line, 1..247 (Modbus over Serial Line v1.02 §2.2: 0 is broadcast, which
   * nothing answers, and 248..255 are reserved). @default 1
   */
  unit_id: int(1, 247).default(DEFAULT_UNIT_ID),
  ...common,
}, { error: unknownKeys("rtu", ["host", "port"]) });

/** One Modbus device (`connectors.modbus.<name>`): where it is, how long to wait, what to poll. */
export const ModbusDeviceSchema = z.discriminatedUnion("transport", [
  ModbusTcpDeviceSchema,
  ModbusRtuDeviceSchema,
], {
  error: (issue) =>
    issue.code === "invalid_union" ? `expected a "transport" of "tcp" (the default) or "rtu"` : undefined,
}).superRefine((device, ctx) => {
  const seen = new Set<string>();
  device.points.forEach((point, i) => {
    if (seen.has(point.id)) {
      ctx.addIssue({
        code: "custom",
        path: ["points", i, "id"],
        message: `the point id "${point.id}" is used twice`,
      });
    }
    seen.add(point.id);
  });
  checkBackoff(device, ctx);
});

/** A device as the manifest gives it, with defaults applied (the schema's output). */
export type ModbusDeviceConfig = z.output<typeof ModbusDeviceSchema>;
/** A point as the manifest gives it, with defaults applied. */
export type ModbusPointConfig = z.output<typeof ModbusPointSchema>;

/** A point, as the connector uses it. */
export interface ModbusPoint {
  readonly id: string;
  readonly table: ModbusTableName;
  readonly address: number;
  readonly type: ModbusDataType;
  readonly byteOrder: Order;
  readonly wordOrder: Order;
  readonly scale: number;
  readonly offset: number;
  readonly pollMs: number;
  readonly staleMs: number;
}

/** What every device has, as the connector uses it. */
interface ModbusDeviceBase {
  /** The connector's name, as capabilities name it (`plc1` in `read:modbus:plc1/hr/100`). */
  readonly name: string;
  readonly unitId: number;
  readonly timeoutMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxGap: number;
  readonly points: readonly ModbusPoint[];
}

/** A device on Modbus TCP, as the connector uses it. */
export interface ModbusTcpDevice extends ModbusDeviceBase {
  readonly transport: "tcp";
  readonly host: string;
  readonly port: number;
}

/** A device on Modbus RTU over a serial line, as the connector uses it. */
export interface ModbusRtuDevice extends ModbusDeviceBase {
  readonly transport: "rtu";
  readonly serial: SerialLine;
}

/** A device, as the connector uses it. */
export type ModbusDevice = ModbusTcpDevice | ModbusRtuDevice;

/**
 * Turns a validated device config into the connector's camelCase form.
 *
 * @param name The device's key under `connectors.modbus`, e.g. `plc1`.
 */
export function toModbusDevice(name: string, config: ModbusDeviceConfig): ModbusDevice {
  const base: ModbusDeviceBase = {
    name,
    unitId: config.unit_id,
    timeoutMs: config.timeout_ms,
    backoffMs: config.backoff_ms,
    maxBackoffMs: config.max_backoff_ms,
    maxGap: config.max_gap,
    points: config.points.map((p) => ({
      id: p.id,
      table: p.table,
      address: p.address,
      type: p.type,
      byteOrder: p.byte_order,
      wordOrder: p.word_order,
      scale: p.scale,
      offset: p.offset,
      pollMs: p.poll_ms,
      staleMs: p.stale_ms,
    })),
  };
  if (config.transport === "rtu") {
    const { path, baud, parity, data_bits, stop_bits } = config.serial;
    return {
      ...base,
      transport: "rtu",
      serial: { path, baud, parity, dataBits: data_bits, stopBits: stop_bits },
    };
  }
  return { ...base, transport: "tcp", host: config.host, port: config.port };
}
