/**
 * An MQTT broker inside the Kiln process (`npm:aedes`), for the demo (`connectors.mqtt.embedded: true`): the
 * demo's connector and any MQTT client on the machine (`mosquitto_sub`) can talk to it with nothing installed.
 * It keeps sessions and retained messages in memory only and has no authentication, so it listens on the
 * loopback interface unless told otherwise; real deployments point the connector at Mosquitto.
 *
 * @module
 */
import { createServer, type Server } from "node:net";
// Inline specifier until `aedes` joins the imports of deno.json.
import { Aedes } from "aedes";
import { EmbeddedBrokerError } from "./errors.ts";

/** Options of {@linkcode startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** The address to listen on. Anything but loopback exposes an unauthenticated broker. @default {"127.0.0.1"} */
  readonly hostname?: string;
  /** The TCP port; 0 picks a free one. @default {1883} */
  readonly port?: number;
}

/** A running embedded broker. */
export interface EmbeddedBroker extends AsyncDisposable {
  /** `mqtt://HOST:PORT`, the `url` to give `createMqttConnector`. */
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  /** Clients connected right now. */
  readonly clients: number;
  /** Disconnects every client and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts an MQTT 3.1.1 broker in this process and resolves once it listens.
 *
 * @example
 * ```ts ignore
 * import { createMqttConnector, startEmbeddedBroker } from "./mod.ts";
 *
 * await using broker = await startEmbeddedBroker({ port: 0 });
 * await using mqtt = createMqttConnector("demo", { url: broker.url });
 * ```
 *
 * @throws {RangeError} when `port` is not an integer in 0..65535.
 * @throws {EmbeddedBrokerError} when it cannot listen (the port is taken, ...).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const hostname = options.hostname ?? "127.0.0.1";
  const requested = options.port ?? 1883;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
    throw new RangeError(`Embedded MQTT broker port must be an integer in 0..65535, got ${requested}`);
  }
  const aedes = await Aedes.createBroker();
  const server: Server = createServer((socket) => aedes.handle(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(requested, hostname, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (cause) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    const code = (cause as { code?: unknown }).code;
    const detail = code === "EADDRINUSE"
      ? "the port is in use"
      : code === "EADDRNOTAVAIL"
      ? "the address is not one of this machine's"
      : cause instanceof Error
      ? cause.message
      : String(cause);
    throw new EmbeddedBrokerError(hostname, requested, detail, { cause });
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : requested;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      // Stop accepting first, then drop the clients (aedes closes their sockets), then wait for the listener.
      const listening = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await listening;
    })();
    return closing;
  };
  return {
    url: `mqtt://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`,
    hostname,
    port,
    get clients() {
      return aedes.connectedClients;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
