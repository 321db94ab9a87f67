/**
 * The MQTT connector's options and their checks.
 *
 * @module
 */
import type { ConnectorStatus, Publisher, PublishOptions } from "../mod.ts";
import type { MqttHandlerError } from "./errors.ts";
import { validateTopicName } from "./topics.ts";
import { DEFAULT_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from "../keeper.ts";

/** MQTT quality of service (MQTT 3.1.1 §4.3). */
export type Qos = 0 | 1 | 2;

/** TLS settings for an `mqtts://` broker: PEM text or files (files are read again at every connect). */
export interface MqttTlsOptions {
  /** CA certificates (PEM) that sign the broker's certificate. @default {the system's roots} */
  readonly ca?: string;
  /** Path of a PEM file with the CA certificates; instead of `ca`. */
  readonly caFile?: string;
  /** The client certificate (PEM), for brokers that require one (`require_certificate true`). */
  readonly cert?: string;
  /** Path of the client certificate's PEM file; instead of `cert`. */
  readonly certFile?: string;
  /** The client certificate's private key (PEM). */
  readonly key?: string;
  /** Path of the private key's PEM file; instead of `key`. */
  readonly keyFile?: string;
  /** Host name to verify the broker's certificate against. @default {the URL's host} */
  readonly servername?: string;
  /** Refuse a broker whose certificate does not verify. Turn off only in a lab. @default {true} */
  readonly rejectUnauthorized?: boolean;
}

/** The last will: what the broker publishes if this connector's connection breaks without a DISCONNECT. */
export interface MqttWill {
  readonly topic: string;
  readonly payload: Uint8Array | string;
  /** @default {1} */
  readonly qos?: Qos;
  /** @default {false} */
  readonly retain?: boolean;
}

/** Reconnect backoff: the delay doubles from `initialMs` up to `maxMs`, each one jittered (see `../keeper.ts`). */
export interface MqttReconnectOptions {
  /** @default {500} */
  readonly initialMs?: number;
  /** @default {30000} */
  readonly maxMs?: number;
}

/** Options of {@linkcode createMqttConnector}. */
export interface MqttConnectorOptions {
  /** The broker: `mqtt://host:port` (port 1883 by default) or `mqtts://host:port` (8883). */
  readonly url: string;
  /** MQTT client identifier (MQTT 3.1.1 §3.1.3.1). @default {`kiln_<name>_<random>`} */
  readonly clientId?: string;
  readonly username?: string;
  readonly password?: string;
  /** Keepalive interval in seconds (MQTT 3.1.1 §3.1.2.10); the link counts as dead after 1.5 times it. @default {30} */
  readonly keepaliveS?: number;
  /** How long a connection attempt may take, TCP and TLS through CONNACK and resubscription. @default {10000} */
  readonly connectTimeoutMs?: number;
  readonly reconnect?: MqttReconnectOptions;
  readonly tls?: MqttTlsOptions;
  readonly will?: MqttWill;
  /**
   * Keep the session on the broker across disconnects (MQTT 3.1.1 §3.1.2.4, clean session 0): the broker
   * keeps the subscriptions and queues QoS 1 and 2 messages for them while the connector is away, and
   * delivers them when it is back, so a command sent during an outage is not lost. Needs a fixed `clientId`.
   * This connector publishes with a fresh client after each reconnect and never resends from memory, so a
   * QoS 2 publish could reuse a packet id the broker still holds from before and be taken for a duplicate:
   * with a persistent session, publish at QoS 0 or 1 (the outbox makes delivery at least once anyway).
   * @default {false}
   */
  readonly persistentSession?: boolean;
  /**
   * Called when a subscription handler throws or rejects. @default {records the error in the connector's
   * status (`errors`, `lastError`)}
   */
  readonly onHandlerError?: (error: MqttHandlerError) => void;
}

/** How a message arrived. */
export interface MessageInfo {
  readonly qos: Qos;
  /** True for a retained message sent because of a new subscription (it may be old). */
  readonly retain: boolean;
}

/**
 * Receives one message; `payload` is the handler's own copy. A throw, or a returned promise that rejects, is
 * reported (see {@linkcode MqttConnectorOptions.onHandlerError}) and never reaches the connection.
 */
export type MessageHandler = (topic: string, payload: Uint8Array, info: MessageInfo) => unknown;

/** Options of {@linkcode MqttConnector.subscribe}. */
export interface SubscribeOptions {
  /** The maximum QoS the broker delivers with. @default {1} */
  readonly qos?: Qos;
}

/** An MQTT connection that publishes for the outbox, delivers subscriptions, and reconnects by itself. */
export interface MqttConnector extends Publisher, AsyncDisposable {
  readonly name: string;
  /** The connection's state, last error and counters. */
  status(): ConnectorStatus;
  /**
   * Calls `handler` with each message whose topic matches `filter`, now and after every reconnect. Resolves
   * once the broker acknowledged the subscription, or at once when offline (it is sent on the next connect).
   * The returned function ends the subscription; it never rejects.
   *
   * @throws {MqttTopicError} when `filter` is not a valid topic filter.
   * @throws {MqttSubscribeError} when the broker refuses it (then it is not kept).
   * @throws {MqttNotConnectedError} when the connector is closed.
   */
  subscribe(
    filter: string,
    handler: MessageHandler,
    options?: SubscribeOptions,
  ): Promise<() => Promise<void>>;
  /**
   * Publishes one message; see {@linkcode Publisher}.
   *
   * @throws {MqttNotConnectedError} at once when not connected.
   * @throws {MqttConnectionLostError} when the connection drops before QoS 1/2 delivery is confirmed.
   * @throws {MqttTopicError} when `topic` is not a valid topic name.
   */
  publish(topic: string, payload: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Disconnects cleanly (so the broker does not publish the will) and stops reconnecting. */
  close(): Promise<void>;
}

export interface Settings {
  readonly url: URL;
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly keepaliveS: number;
  readonly connectTimeoutMs: number;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly tls: MqttTlsOptions | undefined;
  readonly will: MqttWill | undefined;
  readonly persistentSession: boolean;
  readonly onHandlerError: ((error: MqttHandlerError) => void) | undefined;
}

export function checkOptions(name: string, options: MqttConnectorOptions): Settings {
  if (typeof options?.url !== "string") {
    throw new TypeError(`MQTT connector "${name}": "url" must be a string`);
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (cause) {
    throw new TypeError(`MQTT connector "${name}": "${options.url}" is not a URL`, { cause });
  }
  if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
    throw new RangeError(`MQTT connector "${name}": "${options.url}" must start with mqtt:// or mqtts://`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new RangeError(
      `MQTT connector "${name}": "${url.protocol}//${url.host}" carries credentials in its URL: give them as "username" and "password"`,
    );
  }
  if (options.tls !== undefined && url.protocol !== "mqtts:") {
    throw new RangeError(`MQTT connector "${name}": "tls" needs an mqtts:// URL, got "${options.url}"`);
  }
  const number = (key: string, value: number | undefined, fallback: number, min: number, max: number) => {
    if (value === undefined) return fallback;
    if (typeof value !== "number") throw new TypeError(`MQTT connector "${name}": "${key}" must be a number`);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `MQTT connector "${name}": "${key}" must be an integer in ${min}..${max}, got ${value}`,
      );
    }
    return value;
  };
  // MQTT 3.1.1 §3.1.2.10: the keepalive is a 16-bit number of seconds; 0 would switch it off.
  const keepaliveS = number("keepaliveS", options.keepaliveS, 30, 1, 65535);
  const connectTimeoutMs = number("connectTimeoutMs", options.connectTimeoutMs, 10_000, 1, 2 ** 31 - 1);
  const initialMs = number(
    "reconnect.initialMs",
    options.reconnect?.initialMs,
    DEFAULT_BACKOFF_MS,
    1,
    2 ** 31 - 1,
  );
  const maxMs = number(
    "reconnect.maxMs",
    options.reconnect?.maxMs,
    DEFAULT_MAX_BACKOFF_MS,
    initialMs,
    2 ** 31 - 1,
  );
  if (options.clientId !== undefined && (typeof options.clientId !== "string" || options.clientId === "")) {
    throw new TypeError(`MQTT connector "${name}": "clientId" must be a non-empty string`);
  }
  if (options.persistentSession && options.clientId === undefined) {
    throw new TypeError(
      `MQTT connector "${name}": a persistent session needs a fixed "clientId" (the broker keeps it by that id)`,
    );
  }
  if (options.will !== undefined) {
    validateTopicName(options.will.topic);
    checkQos(options.will.qos ?? 1);
  }
  const suffix = crypto.getRandomValues(new Uint8Array(4)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  return {
    url,
    clientId: options.clientId ?? `kiln_${name}_${suffix}`,
    username: options.username,
    password: options.password,
    keepaliveS,
    connectTimeoutMs,
    initialMs,
    maxMs,
    tls: options.tls,
    will: options.will,
    persistentSession: options.persistentSession ?? false,
    onHandlerError: options.onHandlerError,
  };
}

export function checkQos(qos: unknown): asserts qos is Qos {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`MQTT QoS must be 0, 1 or 2, got ${qos}`);
}
