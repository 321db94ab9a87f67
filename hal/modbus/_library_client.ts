/**
 * What the Modbus TCP and RTU clients share: a {@linkcode ModbusClient} over `npm:modbus-serial`, whatever
 * carries its bytes. A transport only opens a {@linkcode Link} (a socket, a serial port); this class queues
 * requests, maps the library's failures onto Kiln's errors, and drops the link when the byte stream can no
 * longer be trusted.
 *
 * @module
 */
import type modbusSerialModule from "modbus-serial";
import {
  type BitTable,
  FUNCTION_CODES,
  MAX_READ_BITS,
  MAX_READ_REGISTERS,
  MAX_WRITE_COILS,
  MAX_WRITE_REGISTERS,
  type ModbusClient,
  type RegisterTable,
} from "./client.ts";
import {
  ModbusConnectionLostError,
  type ModbusError,
  ModbusExceptionError,
  ModbusNotConnectedError,
  ModbusProtocolError,
  ModbusTimeoutError,
} from "./errors.ts";

/** The `modbus-serial` client class. */
export type ModbusRTUClass = typeof modbusSerialModule.default;
/** A `modbus-serial` client. */
export type ModbusRTU = InstanceType<ModbusRTUClass>;

let modbusRTU: Promise<ModbusRTUClass> | null = null;

/**
 * `modbus-serial`, loaded on first connect, so a deployment without Modbus never loads it. A CommonJS
 * package whose exports are the client class, also as `.default` (what its types declare).
 */
export function loadModbusRTU(): Promise<ModbusRTUClass> {
  modbusRTU ??= import("modbus-serial").then((m) => m.default.default ?? m.default);
  return modbusRTU;
}

/** An open link to a device, as a transport opens it. */
export interface Link {
  /** The library's client, bound to the link. */
  readonly modbus: ModbusRTU;
  /** Resolves, with the reason when one is known, when the link goes down by itself; never rejects. */
  readonly lost: Promise<unknown>;
  /** Takes the link down (cancelling the library's pending timers); resolves once it is down. */
  destroy(): Promise<void>;
}

/** Options of {@linkcode LibraryClient}. */
export interface LibraryClientOptions {
  /** The device's name, for errors (`plc1`). */
  readonly device: string;
  /** @default 1 */
  readonly unitId?: number | undefined;
  /** How long a connect or a request may take, in milliseconds. @default 1000 */
  readonly timeoutMs?: number | undefined;
}

/** One open link and the signal its requests race against. */
interface Connection {
  readonly link: Link;
  /** Rejects when the connection ends; raced against every request. */
  readonly lost: Promise<never>;
  readonly markLost: (err: ModbusError) => void;
  /** Set once the link is being taken down. */
  down: Promise<void> | null;
}

/** A {@linkcode ModbusClient} over `modbus-serial`; a transport subclass opens the link. */
export abstract class LibraryClient implements ModbusClient {
  protected readonly device: string;
  protected readonly unitId: number;
  protected readonly timeoutMs: number;
  readonly #listeners = new Set<(cause: ModbusError) => void>();
  #connection: Connection | null = null;
  #connecting: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: LibraryClientOptions) {
    this.device = options.device;
    this.unitId = options.unitId ?? 1;
    this.timeoutMs = options.timeoutMs ?? 1000;
  }

  /** Where the device is, for errors: `10.0.0.5:502`, `/dev/ttyUSB0`. */
  protected abstract get address(): string;

  /**
   * Opens the transport and binds a `modbus-serial` client to it.
   *
   * @throws {ModbusConnectError} when the device cannot be reached within the timeout.
   */
  protected abstract openLink(): Promise<Link>;

  /** Called in the queue before each request is sent (an RTU line waits out its inter-frame silence). */
  protected beforeRequest(): Promise<void> | void {}

  /** Called once each request has ended, however it ended. */
  protected afterRequest(): void {}

  get connected(): boolean {
    return this.#connection !== null;
  }

  connect(): Promise<void> {
    if (this.#connection) return Promise.resolve();
    this.#connecting ??= this.#open().finally(() => this.#connecting = null);
    return this.#connecting;
  }

  async #open(): Promise<void> {
    const link = await this.openLink();
    link.modbus.setID(this.unitId);
    // After the link is open: a TCP port takes the library's timeout as a socket idle timeout, which would
    // also fire while no request is out.
    link.modbus.setTimeout(this.timeoutMs);
    let markLost: (err: ModbusError) => void = () => {};
    const lost = new Promise<never>((_, reject) => markLost = reject);
    lost.catch(() => {}); // a signal raced against requests; each request handles its own rejection
    const connection: Connection = { link, lost, markLost, down: null };
    this.#connection = connection;
    void link.lost.then((cause) => {
      const reason = (cause as { reason?: unknown } | undefined)?.reason;
      const error = new ModbusConnectionLostError(this.device, this.address, {
        cause,
        ...(typeof reason === "string" && { reason }),
      });
      return this.#drop(connection, error);
    });
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
        throw new ModbusProtocolError(this.device, what, `${result.data.length} registers for ${count}`);
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
        throw new ModbusProtocolError(this.device, what, `${result.data.length} bits for ${count}`);
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
      if (!this.#connection) throw new ModbusNotConnectedError(this.device, what);
      try {
        await this.beforeRequest();
        const connection = this.#connection;
        if (!connection) throw new ModbusNotConnectedError(this.device, what);
        try {
          return await Promise.race([run(connection.link.modbus), connection.lost]);
        } catch (err) {
          const error = this.toModbusError(err, what, functionCode);
          if (!(error instanceof ModbusExceptionError)) await this.#drop(connection, error);
          throw error;
        }
      } finally {
        this.afterRequest();
      }
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Maps what the library (or the link) failed with onto a {@linkcode ModbusError}. */
  protected toModbusError(err: unknown, what: string, functionCode: number): ModbusError {
    if (err instanceof ModbusConnectionLostError || err instanceof ModbusProtocolError) return err;
    const e = (err ?? {}) as { modbusCode?: unknown; errno?: unknown; name?: unknown; message?: unknown };
    // modbus-serial marks exception responses with `modbusCode`, timeouts with errno ETIMEDOUT, and a port it
    // saw close with its PortNotOpenError; anything else (length, CRC, unit or function mismatch) is a bad
    // response.
    if (typeof e.modbusCode === "number") {
      return new ModbusExceptionError(this.device, functionCode, e.modbusCode, what, { cause: err });
    }
    if (e.errno === "ETIMEDOUT") {
      return new ModbusTimeoutError(this.device, this.timeoutMs, what, { cause: err });
    }
    if (e.name === "PortNotOpenError") {
      return new ModbusConnectionLostError(this.device, this.address, { cause: err });
    }
    return new ModbusProtocolError(this.device, what, String(e.message ?? err), { cause: err });
  }

  /** Ends `connection` once; `cause` is told to the listeners unless the close was asked for. */
  async #drop(connection: Connection, cause: ModbusError | null): Promise<void> {
    if (this.#connection !== connection) return connection.down ?? undefined;
    this.#connection = null;
    connection.markLost(cause ?? new ModbusConnectionLostError(this.device, this.address));
    connection.down = connection.link.destroy();
    await connection.down;
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
