/**
 * The request layer of the Modbus connector: {@linkcode ModbusClient} is what the poller needs from a
 * transport (read and write the four tables, connect, learn of a lost connection). `tcp.ts` implements it
 * for Modbus TCP and `rtu.ts` for Modbus RTU over a serial line, both over `npm:modbus-serial`.
 *
 * @module
 */
import type { ModbusError } from "./errors.ts";

/** Register tables: holding registers (read-write) and input registers (read-only). */
export type RegisterTable = "hr" | "ir";
/** Bit tables: coils (read-write) and discrete inputs (read-only). */
export type BitTable = "co" | "di";

/** Most registers one Read Holding/Input Registers request may ask for (§6.3, §6.4: 1 to 125). */
export const MAX_READ_REGISTERS = 125;
/** Most bits one Read Coils/Discrete Inputs request may ask for (§6.1, §6.2: 1 to 2000). */
export const MAX_READ_BITS = 2000;
/** Most registers one Write Multiple Registers request may carry (§6.12: 1 to 123). */
export const MAX_WRITE_REGISTERS = 123;
/** Most coils one Write Multiple Coils request may carry (§6.11: 1 to 1968). */
export const MAX_WRITE_COILS = 1968;

/** Function codes (Modbus Application Protocol v1.1b3 §6). */
export const FUNCTION_CODES = {
  readCoils: 0x01,
  readDiscreteInputs: 0x02,
  readHoldingRegisters: 0x03,
  readInputRegisters: 0x04,
  writeSingleCoil: 0x05,
  writeSingleRegister: 0x06,
  writeMultipleCoils: 0x0f,
  writeMultipleRegisters: 0x10,
} as const;

/**
 * A connection to one Modbus device. Requests are carried out one at a time, in call order (a serial line
 * allows nothing else, and many TCP devices serve one request at a time).
 *
 * A request that times out or gets an invalid response makes the client drop the connection (the byte
 * stream can no longer be trusted to be in step), reject with that error and tell
 * {@linkcode ModbusClient.onDisconnect} listeners; an exception response (§7) keeps the connection.
 */
export interface ModbusClient extends AsyncDisposable {
  /** True while requests can be sent. */
  readonly connected: boolean;
  /**
   * Opens the connection; resolves at once when it is open.
   *
   * @throws {ModbusConnectError} when the device cannot be reached within the timeout.
   */
  connect(): Promise<void>;
  /**
   * Reads `count` registers from `address` (function 3 or 4), first address first, each 0..65535.
   *
   * @throws {RangeError} when `count` is not 1..125 or the range ends past 65535.
   * @throws {ModbusExceptionError} {@linkcode ModbusTimeoutError} {@linkcode ModbusProtocolError}
   * {@linkcode ModbusConnectionLostError} {@linkcode ModbusNotConnectedError}
   */
  readRegisters(table: RegisterTable, address: number, count: number): Promise<number[]>;
  /**
   * Reads `count` coils or discrete inputs from `address` (function 1 or 2).
   *
   * @throws {RangeError} when `count` is not 1..2000 or the range ends past 65535.
   * @throws {ModbusError} as {@linkcode ModbusClient.readRegisters}.
   */
  readBits(table: BitTable, address: number, count: number): Promise<boolean[]>;
  /**
   * Writes holding registers from `address`: function 6 for one, 16 for more.
   *
   * @throws {RangeError} when there are not 1..123 values, one is not 0..65535, or the range ends past 65535.
   * @throws {ModbusError} as {@linkcode ModbusClient.readRegisters}.
   */
  writeRegisters(address: number, values: readonly number[]): Promise<void>;
  /**
   * Writes coils from `address`: function 5 for one, 15 for more.
   *
   * @throws {RangeError} when there are not 1..1968 values or the range ends past 65535.
   * @throws {ModbusError} as {@linkcode ModbusClient.readRegisters}.
   */
  writeCoils(address: number, values: readonly boolean[]): Promise<void>;
  /** Closes the connection (requests in flight reject); the client may connect again. */
  close(): Promise<void>;
  /**
   * Calls `listener` when the connection ends other than by {@linkcode ModbusClient.close}, with the reason;
   * returns the unsubscribe function.
   */
  onDisconnect(listener: (cause: ModbusError) => void): () => void;
}
