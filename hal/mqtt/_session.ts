/**
 * One connection attempt of the MQTT connector and, if it succeeds, the connection: a fresh mqtt.js client
 * each time (so nothing from an old connection survives into a new one), the connector's listeners on it,
 * and its end, at once or politely with a DISCONNECT.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import "./_packet_numbers.ts"; // before mqtt.js or aedes writes a packet
import { connect } from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
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
 * Starts connecting a fresh mqtt.js client to `url` and attaches the listeners that `listen` makes for the
 * new session.
 */
export function openSession(
  url: string,
  options: IClientOptions,
  listen: (session: Session) => SessionListeners,
): Session {
  const client = connect(url, options);
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
