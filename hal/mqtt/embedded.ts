/**
 * An MQTT broker inside the Kiln process (`npm:aedes`), for the demo (`connectors.mqtt.embedded`): the
 * demo's connector and MQTT clients on the machine (`mosquitto_sub`) can talk to it with nothing installed.
 * It keeps sessions and retained messages in memory only and listens on the loopback interface unless told
 * otherwise; real deployments point the connector at Mosquitto.
 *
 * Loopback is not a boundary (every user and process on the machine reaches it), so the broker takes a user
 * name and password: with `credentialsFile`, random ones Kiln generates on the first start and keeps in that
 * file (mode 0600; `kiln run` uses `<data>/mqtt-embedded.json`), which its own connector then presents.
 * A CONNECT without them, or with others, is refused with CONNACK return code 5 (not authorized); they are
 * compared in constant time. Without `credentialsFile` or `credentials`, the broker makes random ones that
 * live in memory only (`broker.credentials`): it never lets anyone in without them.
 *
 * @module
 */
import { createServer, type Server } from "node:net";
import "./_packet_numbers.ts"; // before mqtt.js or aedes writes a packet
import { EmbeddedBrokerError } from "./errors.ts";
import {
  credentialsChecker,
  type EmbeddedBrokerCredentials,
  generateEmbeddedCredentials,
  loadOrCreateCredentials,
} from "./_embedded_credentials.ts";

export {
  EMBEDDED_CREDENTIALS_FILE,
  type EmbeddedBrokerCredentials,
  generateEmbeddedCredentials,
} from "./_embedded_credentials.ts";

/** Options of {@linkcode startEmbeddedBroker}. */
export interface EmbeddedBrokerOptions {
  /** The address to listen on. @default {"127.0.0.1"} */
  readonly hostname?: string;
  /** The TCP port; 0 picks a free one. @default {1883} */
  readonly port?: number;
  /**
   * A JSON file `{ "username", "password" }` of mode 0600 holding the credentials every client must present;
   * created with random ones (16 and 32 bytes of `crypto.getRandomValues`, base64url) when it does not
   * exist. Kiln's runtime passes `<data>/mqtt-embedded.json` ({@linkcode EMBEDDED_CREDENTIALS_FILE}).
   */
  readonly credentialsFile?: string;
  /** The credentials every client must present, given directly (instead of `credentialsFile`). */
  readonly credentials?: EmbeddedBrokerCredentials;
}

/** A running embedded broker. */
export interface EmbeddedBroker extends AsyncDisposable {
  /** `mqtt://HOST:PORT`, the `url` to give `createMqttConnector`. */
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  /** Clients connected right now. */
  readonly clients: number;
  /** What a client must present (give them to `createMqttConnector`). */
  readonly credentials: EmbeddedBrokerCredentials;
  /** The file the credentials were read from or written to, or null. */
  readonly credentialsFile: string | null;
  /** CONNECTs refused for missing or wrong credentials, since start. */
  readonly refused: number;
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
 * await using broker = await startEmbeddedBroker({ port: 0, credentialsFile: "data/mqtt-embedded.json" });
 * await using mqtt = createMqttConnector("demo", { url: broker.url, ...broker.credentials });
 * ```
 *
 * @throws {RangeError} when `port` is not an integer in 0..65535.
 * @throws {TypeError} when both `credentials` and `credentialsFile` are given.
 * @throws {import("./errors.ts").EmbeddedCredentialsError} when `credentialsFile` exists but does not hold
 *   credentials.
 * @throws {EmbeddedBrokerError} when it cannot listen (the port is taken, ...).
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const hostname = options.hostname ?? "127.0.0.1";
  const requested = options.port ?? 1883;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
    throw new RangeError(`Embedded MQTT broker port must be an integer in 0..65535, got ${requested}`);
  }
  if (options.credentials !== undefined && options.credentialsFile !== undefined) {
    throw new TypeError("Give the embedded MQTT broker either credentials or credentialsFile, not both");
  }
  const credentials = options.credentialsFile !== undefined
    ? await loadOrCreateCredentials(options.credentialsFile)
    : options.credentials ?? generateEmbeddedCredentials();
  const check = credentialsChecker(credentials);
  let refused = 0;
  const { Aedes } = await loadBroker();
  const aedes = await Aedes.createBroker({
    // `done(null, false)` makes aedes answer CONNACK 5 (not authorized) and close the connection.
    authenticate: (_client, username, password, done) => {
      if (check(username, password)) return done(null, true);
      refused++;
      done(null, false);
    },
  });
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
    credentials,
    credentialsFile: options.credentialsFile ?? null,
    get refused() {
      return refused;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

let aedes: Promise<typeof import("aedes")> | null = null;

/**
 * Loads the broker's package (aedes), once: not with this module, since a gateway that talks to its plant's
 * broker never needs it (~10-20 ms of the main thread here). A caller that will start the broker soon may
 * call it first, so that the loading happens while its thread would otherwise wait.
 */
export function loadBroker(): Promise<typeof import("aedes")> {
  return aedes ??= import("aedes");
}
