/**
 * The Modbus connector: Kiln polls a PLC's holding registers, input registers, coils and discrete inputs at
 * each point's rate, decodes and scales them, and keeps the last {@linkcode Sample} of every point for the
 * modules' next invocation, as a PLC's scan cycle would; modules never wait on the network. Writes of
 * holding registers and coils are carried out asynchronously and their result reported back.
 *
 * When the device is down at start, restarts, times out or sends garbage, the connector keeps running:
 * it reconnects with exponential backoff, reports its state (`connecting`, `connected`, `reconnecting`,
 * `error` while the device refuses some reads with exception responses, `closed`), its last error and an
 * error count, and marks values it can no longer read `uncertain`, then `bad` after the point's `stale_ms`,
 * never inventing one (see `poller.ts`).
 *
 * Transports: Modbus TCP, and Modbus RTU on a Linux serial line (`transport: rtu`), both over
 * `npm:modbus-serial`; the serial port is Kiln's own (`serial.ts`: `stty` sets the line, `dd` moves the
 * bytes, because Deno opens nothing under `/dev` without `--allow-all`).
 *
 * Each point maps onto a capability resource (`read:modbus:plc1/hr/100-101` for a float32 at 100), which
 * the runtime checks against a module's grants before it hands the module a value or carries out its write.
 *
 * @example Polling a PLC
 * ```ts ignore
 * import { createModbusConnector, ModbusDeviceSchema, modbusCapability, toModbusDevice } from "./mod.ts";
 *
 * const config = ModbusDeviceSchema.parse({
 *   transport: "tcp",
 *   host: "10.0.0.5",
 *   points: [
 *     { id: "oven_temp", table: "hr", address: 100, type: "float32", word_order: "little", poll_ms: 500 },
 *     { id: "heater_on", table: "co", address: 0 },
 *   ],
 * });
 * const device = toModbusDevice("plc1", config);
 * modbusCapability("read", "plc1", device.points[0]!); // "read:modbus:plc1/hr/100-101"
 *
 * await using plc = createModbusConnector(device);
 * plc.start();
 * plc.getSample("oven_temp"); // null until read, then { value: 182.5, quality: "good", atMs: ... }
 * await plc.write("heater_on", 1); // rejects with a ModbusError if the PLC does not confirm it
 * plc.status(); // { name: "plc1", kind: "modbus", state: "connected", lastError: null, errors: 0, ... }
 * ```
 *
 * @module
 */
export { modbusCapability, type ModbusPointRange, modbusResource } from "./capability.ts";
export { MODBUS_DRIVER } from "./driver.ts";
export {
  type BitTable,
  FUNCTION_CODES,
  MAX_READ_BITS,
  MAX_READ_REGISTERS,
  MAX_WRITE_COILS,
  MAX_WRITE_REGISTERS,
  type ModbusClient,
  type RegisterTable,
} from "./client.ts";
export { createTcpClient, type TcpClientOptions } from "./tcp.ts";
export { createRtuClient, interFrameDelayMs, type RtuClientOptions } from "./rtu.ts";
export {
  createTtyPort,
  SERIAL_BAUD_RATES,
  SERIAL_PARITIES,
  type SerialLine,
  type SerialParity,
  type SerialPort,
  SerialPortError,
  type SerialSettings,
  sttyArgs,
  TTY_COMMANDS,
  type TtyPortOptions,
} from "./serial.ts";
export {
  applyScaling,
  decodeRegisters,
  encodeRegisters,
  MODBUS_DATA_TYPES,
  MODBUS_ORDERS,
  type ModbusDataType,
  type Order,
  registerCount,
  type RegisterDataType,
  type RegisterLayout,
  removeScaling,
  type Scaling,
} from "./codec.ts";
export {
  DEFAULT_BACKOFF_MS,
  DEFAULT_BAUD,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_MODBUS_PORT,
  DEFAULT_PARITY,
  DEFAULT_POLL_MS,
  DEFAULT_STALE_POLLS,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_UNIT_ID,
  MODBUS_TABLE_NAMES,
  MODBUS_TRANSPORTS,
  type ModbusDevice,
  type ModbusDeviceConfig,
  ModbusDeviceSchema,
  type ModbusPoint,
  type ModbusPointConfig,
  ModbusPointSchema,
  type ModbusRtuDevice,
  type ModbusTableName,
  type ModbusTcpDevice,
  POINT_ID,
  SerialLineSchema,
  toModbusDevice,
} from "./config.ts";
export {
  MODBUS_EXCEPTION_NAMES,
  ModbusConnectError,
  ModbusConnectionLostError,
  ModbusError,
  ModbusExceptionError,
  ModbusNotConnectedError,
  ModbusProtocolError,
  ModbusTimeoutError,
} from "./errors.ts";
export {
  type Clock,
  createModbusConnector,
  type ModbusConnector,
  type ModbusConnectorOptions,
  planReads,
  type PollGroup,
  type ReadBlock,
  SYSTEM_CLOCK,
} from "./poller.ts";
