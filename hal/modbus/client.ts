/**
 * The request layer of the Modbus connector: {@linkcode ModbusClient} is what the poller needs from a
 * transport (read and write the four tables, connect, learn of a lost connection), and
 * {@linkcode createTcpClient} is Modbus TCP over `npm:modbus-serial`. An RTU transport would implement the same
 * interface.
 *
 * @module
 */
import net from "node:net";
import type modbusSerialModule from "modbus-serial";
import {
  ModbusConnectError,
  ModbusConnectionLostError,
  type ModbusError,
  ModbusExceptionError,
  ModbusNotConnectedError,
  ModbusProtocolError,
  ModbusTimeoutError,
} from "./errors.ts";

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

/** Options of {@linkcode createTcpClient}. */
export interface TcpClientOptions {
  /** The device's name, for errors (`plc1`). */
  readonly device: string;
  readonly host: string;
  /** @default 502 */
  readonly port?: number;
  /** The unit identifier (Modbus Messaging on TCP/IP Implementation Guide §4.4.2). @default 1 */
  readonly unitId?: number;
  /** How long a connect or a request may take, in milliseconds. @default 1000 */
  readonly timeoutMs?: number;
}

/**
 * A Modbus TCP client over `npm:modbus-serial`.
 *
 * @example
 * ```ts ignore
 * import { createTcpClient } from "./client.ts";
 *
 * await using client = createTcpClient({ device: "plc1", host: "127.0.0.1", port: 5020 });
 * await client.connect();
 * const [raw] = await client.readRegisters("hr", 100, 1);
 * ```
 */
export function createTcpClient(options: TcpClientOptions): ModbusClient {
  return new TcpClient(options);
}

type ModbusRTUClass = typeof modbusSerialModule.default;
type ModbusRTU = InstanceType<ModbusRTUClass>;

let modbusRTU: Promise<ModbusRTUClass> | null = null;

/**
 * `modbus-serial`, loaded on first connect, so a deployment without Modbus never loads it. A CommonJS
 * package whose exports are the client class, also as `.default` (what its types declare).
 */
function loadModbusRTU(): Promise<ModbusRTUClass> {
  modbusRTU ??= import("modbus-serial").then((m) => m.default.default ?? m.default);
  return modbusRTU;
}

/** One open TCP connection. */
interface Connection {
  readonly socket: net.Socket;
  readonly modbus: ModbusRTU;
  /** Rejects when the connection ends; raced against every request. */
  readonly lost: Promise<never>;
  readonly markLost: (err: ModbusError) => void;
  /** Resolves on the socket's `close` event. */
  readonly closed: Promise<void>;
}

class TcpClient implements ModbusClient {
  readonly #device: string;
  readonly #host: string;
  readonly #port: number;
  readonly #unitId: number;
  readonly #timeoutMs: number;
  readonly #listeners = new Set<(cause: ModbusError) => void>();
  #connection: Connection | null = null;
  #connecting: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: TcpClientOptions) {
    this.#device = options.device;
    this.#host = options.host;
    this.#port = options.port ?? 502;
    this.#unitId = options.unitId ?? 1;
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  get connected(): boolean {
    return this.#connection !== null;
  }

  get #address(): string {
    return this.#host.includes(":") ? `[${this.#host}]:${this.#port}` : `${this.#host}:${this.#port}`;
  }

  connect(): Promise<void> {
    if (this.#connection) return Promise.resolve();
    this.#connecting ??= this.#open().finally(() => this.#connecting = null);
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const socket = new net.Socket();
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(
            new ModbusConnectError(this.#device, this.#address, `no answer within ${this.#timeoutMs}ms`),
          );
        }, this.#timeoutMs);
        const onConnect = () => {
          done();
          resolve();
        };
        const onError = (err: Error & { code?: string }) => {
          done();
          reject(
            new ModbusConnectError(this.#device, this.#address, err.code ?? err.message, { cause: err }),
          );
        };
        const done = () => {
          clearTimeout(timer);
          socket.off("connect", onConnect);
          socket.off("error", onError);
        };
        socket.once("connect", onConnect);
        socket.once("error", onError);
        socket.connect({ host: this.#host, port: this.#port });
      });
    } catch (err) {
      socket.destroy();
      await closed;
      throw err;
    }
    socket.setNoDelay(true);
    // The socket reports its own errors before it closes; the close handler below acts on them.
    socket.on("error", () => {});
    const ModbusRTU = await loadModbusRTU().catch((err) => {
      socket.destroy();
      throw new ModbusConnectError(this.#device, this.#address, `cannot load modbus-serial: ${err}`, {
        cause: err,
      });
    });
    const modbus = new ModbusRTU();
    try {
      // linkTCP adopts the open socket, so this client owns its lifetime (connect timeout, close, destroy).
      await modbus.linkTCP(socket, { port: this.#port });
    } catch (err) {
      socket.destroy();
      await closed;
      throw new ModbusConnectError(this.#device, this.#address, String((err as Error)?.message ?? err), {
        cause: err,
      });
    }
    if (socket.destroyed) {
      await closed;
      throw new ModbusConnectError(this.#device, this.#address, "the device closed the connection at once");
    }
    modbus.setID(this.#unitId);
    modbus.setTimeout(this.#timeoutMs); // after linkTCP: as a socket idle timeout it would also fire when idle
    let markLost: (err: ModbusError) => void = () => {};
    const lost = new Promise<never>((_, reject) => markLost = reject);
    lost.catch(() => {}); // a signal raced against requests; each request handles its own rejection
    const connection: Connection = { socket, modbus, lost, markLost, closed };
    socket.once("close", () => {
      void this.#drop(connection, new ModbusConnectionLostError(this.#device, this.#address));
    });
    this.#connection = connection;
  }

  readRegisters(table: RegisterTable, address: number, count: number): Promise<number[]> {
    checkRange(address, count, MAX_READ_REGISTERS, "registers");
    const what = `read ${table} ${rangeText(address, count)}`;
    const fc = table === "hr" ? FUNCTION_CODES.readHoldingRegisters : FUNCTION_CODES.readInputRegisters;
    return this.#request(what, fc, async (modbus) => {
      const result = table === "hr"
        ? await modbus.readHoldingRegisters(address, count)
        : await modbus.readInputRegisters(address, count);
      if (result.data.length !== count) {
        throw new ModbusProtocolError(this.#device, what, `${result.data.length} registers for ${count}`);
      }
      return result.data;
    });
  }

  readBits(table: BitTable, address: number, count: number): Promise<boolean[]> {
    checkRange(address, count, MAX_READ_BITS, "bits");
    const what = `read ${table} ${rangeText(address, count)}`;
    const fc = table === "co" ? FUNCTION_CODES.readCoils : FUNCTION_CODES.readDiscreteInputs;
    return this.#request(what, fc, async (modbus) => {
      const result = table === "co"
        ? await modbus.readCoils(address, count)
        : await modbus.readDiscreteInputs(address, count);
      // §6.1: the bits come packed in whole bytes, the last one padded with zeros.
      if (result.data.length < count) {
        throw new ModbusProtocolError(this.#device, what, `${result.data.length} bits for ${count}`);
      }
      return result.data.slice(0, count);
    });
  }

  writeRegisters(address: number, values: readonly number[]): Promise<void> {
    checkRange(address, values.length, MAX_WRITE_REGISTERS, "registers");
    for (const v of values) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffff) {
        throw new RangeError(`A register holds 0..65535, got ${v}`);
      }
    }
    const what = `write hr ${rangeText(address, values.length)}`;
    const first = values[0] ?? 0;
    if (values.length === 1) {
      return this.#request(what, FUNCTION_CODES.writeSingleRegister, async (modbus) => {
        await modbus.writeRegister(address, first);
      });
    }
    return this.#request(what, FUNCTION_CODES.writeMultipleRegisters, async (modbus) => {
      await modbus.writeRegisters(address, [...values]);
    });
  }

  writeCoils(address: number, values: readonly boolean[]): Promise<void> {
    checkRange(address, values.length, MAX_WRITE_COILS, "coils");
    const what = `write co ${rangeText(address, values.length)}`;
    const first = values[0] ?? false;
    if (values.length === 1) {
      return this.#request(what, FUNCTION_CODES.writeSingleCoil, async (modbus) => {
        await modbus.writeCoil(address, first);
      });
    }
    return this.#request(what, FUNCTION_CODES.writeMultipleCoils, async (modbus) => {
      await modbus.writeCoils(address, [...values]);
    });
  }

  async close(): Promise<void> {
    await this.#connecting?.catch(() => {});
    const connection = this.#connection;
    if (connection) await this.#drop(connection, null);
  }

  onDisconnect(listener: (cause: ModbusError) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Queues a request behind the others and maps the library's failures onto Kiln's errors. */
  #request<T>(what: string, functionCode: number, run: (modbus: ModbusRTU) => Promise<T>): Promise<T> {
    const result = this.#queue.then(async () => {
      const connection = this.#connection;
      if (!connection) throw new ModbusNotConnectedError(this.#device, what);
      try {
        return await Promise.race([run(connection.modbus), connection.lost]);
      } catch (err) {
        const error = this.#toModbusError(err, what, functionCode);
        if (!(error instanceof ModbusExceptionError)) await this.#drop(connection, error);
        throw error;
      }
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  #toModbusError(err: unknown, what: string, functionCode: number): ModbusError {
    if (err instanceof ModbusConnectionLostError || err instanceof ModbusProtocolError) return err;
    const e = (err ?? {}) as { modbusCode?: unknown; errno?: unknown; name?: unknown; message?: unknown };
    // modbus-serial marks exception responses with `modbusCode`, timeouts with errno ETIMEDOUT, and a port it
    // saw close with its PortNotOpenError; anything else (length, CRC, unit or function mismatch) is a bad
    // response.
    if (typeof e.modbusCode === "number") {
      return new ModbusExceptionError(this.#device, functionCode, e.modbusCode, what, { cause: err });
    }
    if (e.errno === "ETIMEDOUT") {
      return new ModbusTimeoutError(this.#device, this.#timeoutMs, what, { cause: err });
    }
    if (e.name === "PortNotOpenError") {
      return new ModbusConnectionLostError(this.#device, this.#address, { cause: err });
    }
    return new ModbusProtocolError(this.#device, what, String(e.message ?? err), { cause: err });
  }

  /** Ends `connection` once; `cause` is told to the listeners unless the close was asked for. */
  async #drop(connection: Connection, cause: ModbusError | null): Promise<void> {
    if (this.#connection !== connection) return connection.closed;
    this.#connection = null;
    connection.markLost(cause ?? new ModbusConnectionLostError(this.#device, this.#address));
    // destroy() also cancels the library's pending response timers.
    connection.modbus.destroy(() => {});
    connection.socket.destroy();
    await connection.closed;
    if (cause) { for (const listener of [...this.#listeners]) listener(cause); }
  }
}

function checkRange(address: number, count: number, max: number, what: string): void {
  if (!Number.isInteger(address) || address < 0 || address > 65_535) {
    throw new RangeError(`A Modbus address is 0..65535, got ${address}`);
  }
  if (!Number.isInteger(count) || count < 1 || count > max) {
    throw new RangeError(`One request carries 1..${max} ${what}, got ${count}`);
  }
  if (address + count - 1 > 65_535) {
    throw new RangeError(`${count} ${what} from ${address} end past address 65535`);
  }
}

function rangeText(address: number, count: number): string {
  return count === 1 ? `${address}` : `${address}-${address + count - 1}`;
}
