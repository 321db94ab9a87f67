/**
 * One connection attempt of the MQTT connector and, if it succeeds, the connection: a fresh mqtt.js client
 * each time (so nothing from an old connection survives into a new one), the connector's listeners on it,
 * and its end, at once or politely with a DISCONNECT.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import "./_packet_numbers.ts"; // before mqtt.js or aedes writes a packet
import { MqttClient } from "mqtt";
import type { IClientOptions } from "mqtt";
import type { Qos } from "./options.ts";

/** One connection attempt and, if it succeeds, the connection: a fresh mqtt.js client each time. */
export interface Session {
  readonly client: MqttClient;
  /** CONNACK accepted: messages may flow. */
  connack: boolean;
  /** Ended: every later event of this client is ignored. */
  lost: boolean;
  /** The first error mqtt.js reported on it. */
  error: Error | null;
  /** Removes this connector's event listeners from the client. */
  detach(): void;
}

/** The connector's listeners on one session's mqtt.js client (mqtt.js's own event signatures). */
export interface SessionListeners {
  /** mqtt.js reported an error. */
  readonly error: (err: Error) => void;
  /** The socket closed. */
  readonly close: () => void;
  /** The broker accepted the connection (CONNACK). */
  readonly connect: () => void;
  /** A PUBLISH from the broker. */
  readonly message: (topic: string, payload: Buffer, packet: { qos: Qos; retain: boolean }) => void;
}

/**
 * Starts connecting a fresh mqtt.js client to `url` (`mqtt:` or `mqtts:`) and attaches the listeners that
 * `listen` makes for the new session.
 */
export function openSession(
  url: URL,
  options: IClientOptions,
  listen: (session: Session) => SessionListeners,
): Session {
  const client = new MqttClient((c) => openSocket(c, url, options), options);
  // As mqtt.js's connect() does: an "error" without a listener of ours would throw (detach() adds one too).
  client.on("error", () => {});
  const session: Session = {
    client,
    connack: false,
    lost: false,
    error: null,
    detach() {
      // Only this connector's listeners: mqtt.js keeps its own (they clear its timers on close).
      client.off("close", onClose).off("connect", onConnect).off("message", onMessage).off(
        "error",
        onError,
      );
      // mqtt.js may still emit "error" while shutting down; an EventEmitter without a listener would throw.
      client.on("error", () => {});
    },
  };
  const { error: onError, close: onClose, connect: onConnect, message: onMessage } = listen(session);
  client.on("error", onError).on("close", onClose).on("connect", onConnect).on("message", onMessage);
  return session;
}

/**
 * The socket of one connection: TCP for `mqtt://`, TLS for `mqtts://` (the two schemes `options.ts`
 * accepts), given to mqtt.js's `MqttClient` as its stream builder, mqtt.js's documented way to bring a
 * transport. Its `connect()` would choose the same sockets, but loads every transport it has first
 * (WebSocket, SOCKS): 25-50 ms of the thread on a gateway's first connect here.
 *
 * TLS: the server name is the host unless it is an IP address or one is given; until the handshake has
 * succeeded, its failures are reported as the client's errors (mqtt.js passes on only a stream's errors
 * that have a code), and a peer that did not verify is refused ("TLS not authorized", as mqtt.js says it).
 */
function openSocket(client: MqttClient, url: URL, options: IClientOptions): net.Socket {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1"); // an IPv6 literal without its brackets
  if (url.protocol === "mqtt:") return net.createConnection({ host, port: Number(url.port || 1883) });
  const verify = options.rejectUnauthorized !== false;
  const socket = tls.connect({
    host,
    port: Number(url.port || 8883),
    ...(options.ca !== undefined && { ca: options.ca }),
    ...(options.cert !== undefined && { cert: options.cert }),
    ...(options.key !== undefined && { key: options.key }),
    servername: options.servername ?? (net.isIP(host) === 0 ? host : undefined),
    rejectUnauthorized: verify,
  });
  const handshakeFailed = (err: Error) => {
    if (verify) client.emit("error", err);
    socket.end();
  };
  socket.on("error", handshakeFailed);
  socket.on("secureConnect", () => {
    if (verify && !socket.authorized) socket.emit("error", new Error("TLS not authorized"));
    else socket.removeListener("error", handshakeFailed);
  });
  return socket;
}

/** Options of {@linkcode endSession}. */
export interface EndSessionOptions {
  /** End at once, without a DISCONNECT. */
  readonly force: boolean;
  /** How long a polite end may wait for the socket to close before it is destroyed. */
  readonly timeoutMs: number;
}

/**
 * Ends a session's client, at once (`force`) or politely with a DISCONNECT; resolves once its socket closed.
 * A polite end is bounded too: mqtt.js would wait for in-flight messages (the connector has already
 * rejected them) and for the broker to close its side, which a stalled link never does.
 */
export function endSession(session: Session, options: EndSessionOptions): Promise<void> {
  const { force, timeoutMs } = options;
  session.detach();
  const { client } = session;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ending = new Promise<void>((resolve) => {
    if (!force) {
      for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
      timer = setTimeout(() => client.stream?.destroy(), timeoutMs);
    }
    client.end(force, () => resolve());
  });
  ending.finally(() => clearTimeout(timer));
  return ending;
}
