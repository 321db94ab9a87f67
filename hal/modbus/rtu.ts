/**
 * Modbus RTU over a serial line (Modbus over Serial Line Specification and Implementation Guide v1.02) over
 * `npm:modbus-serial`, on Kiln's own serial port (`serial.ts`): the library's `connectRTU*` use the npm
 * `serialport` native addon, which does not work under Deno, but its client takes any object that behaves
 * like a port. Kiln gives it one that frames responses by content (`_rtu_frame.ts`) and passes each whole
 * response on, as the library expects.
 *
 * One device per line: a second device configured on the same tty path is refused when it connects (two
 * readers on one tty would steal each other's bytes). Several units on one RS-485 bus are not supported yet.
 *
 * On a serial line "connected" means the port is open: whether the device answers shows in the requests.
 * A timeout or an invalid response closes the port like a TCP client drops its socket, so the line starts
 * clean at the next connect; bytes that never made a valid response turn a timeout into a
 * {@linkcode ModbusProtocolError}, so garbage on the line is told apart from silence.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { Buffer } from "node:buffer";
import type { ModbusClient } from "./client.ts";
import { ModbusConnectError, type ModbusError, ModbusProtocolError, ModbusTimeoutError } from "./errors.ts";
import { createTtyPort, type SerialLine, type SerialPort, SerialPortError } from "./serial.ts";
import { LibraryClient, type Link, loadModbusRTU } from "./_library_client.ts";
import { RtuResponseFramer } from "./_rtu_frame.ts";

/** Options of {@linkcode createRtuClient}. */
export interface RtuClientOptions {
  /** The device's name, for errors (`drive1`). */
  readonly device: string;
  /** The tty and how its line is set. */
  readonly line: SerialLine;
  /** The device's address on the line, 1..247 (Modbus over Serial Line v1.02 §2.2). @default 1 */
  readonly unitId?: number;
  /** How long opening the port or a request may take, in milliseconds. @default 1000 */
  readonly timeoutMs?: number;
  /** The port. @default a tty port for `line` ({@linkcode createTtyPort}) */
  readonly port?: SerialPort;
}

/**
 * A Modbus RTU client on a serial line.
 *
 * @example
 * ```ts ignore
 * import { createRtuClient } from "./rtu.ts";
 *
 * await using client = createRtuClient({
 *   device: "drive1",
 *   line: { path: "/dev/ttyUSB0", baud: 19200, parity: "even", dataBits: 8, stopBits: 1 },
 *   unitId: 17,
 * });
 * await client.connect();
 * const [raw] = await client.readRegisters("hr", 100, 1);
 * ```
 */
export function createRtuClient(options: RtuClientOptions): ModbusClient {
  return new RtuClient(options);
}

/**
 * The silence a master keeps between the end of a response and its next request: 3.5 character times, fixed
 * at 1.75 ms above 19200 baud (Modbus over Serial Line v1.02 §2.5.1.1), in milliseconds.
 */
export function interFrameDelayMs(
  line: Pick<SerialLine, "baud" | "parity" | "dataBits" | "stopBits">,
): number {
  if (line.baud > 19_200) return 1.75;
  const bitsPerCharacter = 1 + line.dataBits + (line.parity === "none" ? 0 : 1) + line.stopBits;
  return (3.5 * bitsPerCharacter * 1000) / line.baud;
}

/** The tty paths open in this process, and the device that has each. */
const linesInUse = new Map<string, string>();

class RtuClient extends LibraryClient {
  readonly #line: SerialLine;
  readonly #port: SerialPort;
  readonly #quietMs: number;
  #framer: RtuResponseFramer | null = null;
  #quietUntil = 0;

  constructor(options: RtuClientOptions) {
    super(options);
    this.#line = options.line;
    this.#port = options.port ?? createTtyPort(options.line, { openTimeoutMs: this.timeoutMs });
    this.#quietMs = interFrameDelayMs(options.line);
  }

  protected get address(): string {
    return this.#line.path;
  }

  protected async openLink(): Promise<Link> {
    const ModbusRTU = await loadModbusRTU().catch((err) => {
      throw new ModbusConnectError(this.device, this.address, `cannot load modbus-serial: ${err}`, {
        cause: err,
      });
    });
    const holder = linesInUse.get(this.address);
    if (holder !== undefined && holder !== this.device) {
      throw new ModbusConnectError(
        this.device,
        this.address,
        `the serial line is in use by device "${holder}" (devices sharing one line are not supported yet)`,
      );
    }
    linesInUse.set(this.address, this.device);
    const release = () => {
      if (linesInUse.get(this.address) === this.device) linesInUse.delete(this.address);
    };
    const framer = new RtuResponseFramer();
    const adapter = new LibraryPort(this.#port, framer);
    const modbus = new ModbusRTU(adapter);
    let unsubscribe = () => {};
    const lost = new Promise<unknown>((resolve) => unsubscribe = this.#port.onLost(resolve));
    try {
      await new Promise<void>((resolve, reject) =>
        modbus.open((err: unknown) => err ? reject(err) : resolve())
      );
    } catch (err) {
      unsubscribe();
      adapter.detach();
      release();
      const reason = err instanceof SerialPortError ? err.reason : String((err as Error)?.message ?? err);
      throw new ModbusConnectError(this.device, this.address, reason, { cause: err });
    }
    this.#framer = framer;
    return {
      modbus,
      lost,
      destroy: async () => {
        // destroy() cancels the library's pending response timers; the port is closed here, awaited.
        modbus.destroy(() => {});
        unsubscribe();
        adapter.detach();
        await this.#port.close();
        release();
      },
    };
  }

  protected override async beforeRequest(): Promise<void> {
    const wait = this.#quietUntil - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, Math.ceil(wait)));
  }

  protected override afterRequest(): void {
    this.#quietUntil = performance.now() + this.#quietMs;
  }

  protected override toModbusError(err: unknown, what: string, functionCode: number): ModbusError {
    const error = super.toModbusError(err, what, functionCode);
    const unframed = this.#framer?.unframedBytes ?? 0;
    if (error instanceof ModbusTimeoutError && unframed > 0) {
      return new ModbusProtocolError(
        this.device,
        what,
        `${unframed} bytes within ${this.timeoutMs}ms, none of them a valid response ` +
          `(wrong unit, function or length, bad CRC, or noise)`,
        { cause: err },
      );
    }
    return error;
  }
}

/**
 * A port as `modbus-serial`'s client drives one (what its `ModbusRTU` constructor takes): `open(callback)`,
 * `close(callback)`, `destroy()`, `isOpen`, `write(buffer)`, and a `data` event per whole response, whose
 * transaction ids the library sets. It emits no `error` event: the library would re-emit it on the client,
 * where an unheard `error` event throws; a lost port reaches the client through `SerialPort.onLost`.
 */
class LibraryPort extends EventEmitter {
  _transactionIdRead = 1;
  _transactionIdWrite = 1;
  readonly #port: SerialPort;
  readonly #framer: RtuResponseFramer;
  readonly #unsubscribe: () => void;

  constructor(port: SerialPort, framer: RtuResponseFramer) {
    super();
    this.#port = port;
    this.#framer = framer;
    this.#unsubscribe = port.onData((bytes) => {
      const frame = framer.push(bytes);
      if (frame) this.emit("data", Buffer.from(frame));
    });
  }

  get isOpen(): boolean {
    return this.#port.isOpen;
  }

  open(callback: (err: unknown) => void): void {
    this.#port.open().then(() => callback(null), callback);
  }

  close(callback?: (err?: unknown) => void): void {
    this.#port.close().then(() => callback?.(), (err) => callback?.(err));
  }

  destroy(): void {
    this.detach();
  }

  /** Stops passing bytes on. */
  detach(): void {
    this.#unsubscribe();
    this.removeAllListeners("data");
  }

  write(data: Uint8Array): void {
    this.#framer.expect(data);
    // A failed write means the port is going away; the client hears it through onLost, and the request
    // meanwhile fails by its timeout at the latest.
    this.#port.write(new Uint8Array(data)).catch(() => {});
  }
}
