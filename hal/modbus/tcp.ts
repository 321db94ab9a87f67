/**
 * Modbus TCP (Modbus Messaging on TCP/IP Implementation Guide v1.0b) over `npm:modbus-serial`: Kiln opens the
 * socket itself (connect timeout, close, destroy) and hands it to the library.
 *
 * @module
 */
import net from "node:net";
import type { ModbusClient } from "./client.ts";
import { ModbusConnectError } from "./errors.ts";
import { LibraryClient, type Link, loadModbusRTU } from "./_library_client.ts";

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
 * import { createTcpClient } from "./tcp.ts";
 *
 * await using client = createTcpClient({ device: "plc1", host: "127.0.0.1", port: 5020 });
 * await client.connect();
 * const [raw] = await client.readRegisters("hr", 100, 1);
 * ```
 */
export function createTcpClient(options: TcpClientOptions): ModbusClient {
  return new TcpClient(options);
}

class TcpClient extends LibraryClient {
  readonly #host: string;
  readonly #port: number;

  constructor(options: TcpClientOptions) {
    super(options);
    this.#host = options.host;
    this.#port = options.port ?? 502;
  }

  protected get address(): string {
    return this.#host.includes(":") ? `[${this.#host}]:${this.#port}` : `${this.#host}:${this.#port}`;
  }

  protected async openLink(): Promise<Link> {
    const socket = new net.Socket();
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          done();
          reject(
            new ModbusConnectError(this.device, this.address, `no answer within ${this.timeoutMs}ms`),
          );
        }, this.timeoutMs);
        const onConnect = () => {
          done();
          resolve();
        };
        const onError = (err: Error & { code?: string }) => {
          done();
          reject(
            new ModbusConnectError(this.device, this.address, err.code ?? err.message, { cause: err }),
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
    // The socket reports its own errors before it closes; the close is what ends the link.
    socket.on("error", () => {});
    const ModbusRTU = await loadModbusRTU().catch((err) => {
      socket.destroy();
      throw new ModbusConnectError(this.device, this.address, `cannot load modbus-serial: ${err}`, {
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
      throw new ModbusConnectError(this.device, this.address, String((err as Error)?.message ?? err), {
        cause: err,
      });
    }
    if (socket.destroyed) {
      await closed;
      throw new ModbusConnectError(this.device, this.address, "the device closed the connection at once");
    }
    return {
      modbus,
      lost: closed,
      destroy: async () => {
        // destroy() also cancels the library's pending response timers.
        modbus.destroy(() => {});
        socket.destroy();
        await closed;
      },
    };
  }
}
