/**
 * The MQTT connector: one broker connection (MQTT 3.1.1 over TCP or TLS, through `npm:mqtt`) that publishes
 * for the outbox, delivers subscribed messages to handlers, and reconnects by itself with capped exponential
 * backoff while reporting its state.
 *
 * Delivery contract, and why mqtt.js is configured as it is:
 * - No offline queue. `publish` rejects at once with {@linkcode MqttNotConnectedError} unless connected; the
 *   outbox keeps the message durably, so holding it in memory too would only duplicate it and lose it on a
 *   crash. mqtt.js runs with `queueQoSZero: false`, `reconnectPeriod: 0` (this file drives reconnects) and a
 *   clean session.
 * - A QoS 1/2 publish that is in flight when the connection drops rejects with
 *   {@linkcode MqttConnectionLostError}; it is never resent later from memory. Each connection attempt uses
 *   a fresh mqtt.js client, so nothing from an old connection survives into a new one. The caller resends from
 *   its outbox, so delivery is at least once and receivers deduplicate (by the outbox's sequence number).
 * - Subscriptions are this connector's own list, sent again after every connect (a clean session forgets
 *   them, MQTT 3.1.1 §3.1.2.4); `connected` turns true only once they are acknowledged.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// Inline specifiers until `mqtt` joins the imports of deno.json.
import { connect } from "mqtt";
import type { IClientOptions, ISubscriptionGrant, MqttClient } from "mqtt";
import type { ConnectorState, ConnectorStatus, Publisher, PublishOptions } from "../mod.ts";
import {
  MqttConnectionLostError,
  MqttConnectRefusedError,
  MqttHandlerError,
  MqttNotConnectedError,
  MqttProtocolError,
  MqttSubscribeError,
  MqttTimeoutError,
  MqttTlsError,
  MqttTransportError,
} from "./errors.ts";
import { topicMatches, validateTopicFilter, validateTopicName } from "./topics.ts";

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

/** Reconnect backoff: the delay doubles from `initialMs` up to `maxMs`, each one jittered (see {@linkcode backoffDelayMs}). */
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

/** Options of {@linkcode backoffDelayMs}. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A source of numbers in [0, 1). @default {Math.random} */
  readonly random?: () => number;
}

/**
 * The delay before the next connection attempt after `failures` consecutive failures (0 for the first retry):
 * "equal jitter", a uniform pick in [c/2, c] where c = min(maxMs, initialMs * 2^failures). Half the delay is
 * fixed so a flapping broker is never hammered, half is random so a fleet of gateways spreads out.
 *
 * @example
 * ```ts
 * import { backoffDelayMs } from "./connector.ts";
 *
 * backoffDelayMs(3, { initialMs: 500, maxMs: 30_000, random: () => 1 }); // 4000
 * ```
 */
export function backoffDelayMs(failures: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(failures, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Creates an MQTT connector and starts connecting in the background: a broker that is down at start is not
 * an error here, the connector goes to `reconnecting` and keeps trying.
 *
 * @example
 * ```ts ignore
 * import { createMqttConnector } from "./connector.ts";
 *
 * await using mqtt = createMqttConnector("plant", { url: "mqtt://127.0.0.1:1883", clientId: "gw-01" });
 * await mqtt.publish("factory/gw-01/fft/telemetry", new TextEncoder().encode("42"), { qos: 1 });
 * ```
 *
 * @throws {TypeError} when `url` is not a URL or an option has the wrong type.
 * @throws {RangeError} when the scheme is not `mqtt:`/`mqtts:` or a number is out of range.
 * @throws {MqttTopicError} when the will's topic is invalid.
 */
export function createMqttConnector(name: string, options: MqttConnectorOptions): MqttConnector {
  return new Connector(name, checkOptions(name, options));
}

interface Settings {
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
  readonly onHandlerError: ((error: MqttHandlerError) => void) | undefined;
}

function checkOptions(name: string, options: MqttConnectorOptions): Settings {
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
  const initialMs = number("reconnect.initialMs", options.reconnect?.initialMs, 500, 1, 2 ** 31 - 1);
  const maxMs = number("reconnect.maxMs", options.reconnect?.maxMs, 30_000, initialMs, 2 ** 31 - 1);
  if (options.clientId !== undefined && (typeof options.clientId !== "string" || options.clientId === "")) {
    throw new TypeError(`MQTT connector "${name}": "clientId" must be a non-empty string`);
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
    onHandlerError: options.onHandlerError,
  };
}

function checkQos(qos: unknown): asserts qos is Qos {
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`MQTT QoS must be 0, 1 or 2, got ${qos}`);
}

/** One connection attempt and, if it succeeds, the connection: a fresh mqtt.js client each time. */
interface Session {
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

interface Subscription {
  readonly filter: string;
  readonly qos: Qos;
  readonly handler: MessageHandler;
}

interface Pending {
  readonly topic: string;
  readonly reject: (err: Error) => void;
}

class Connector implements MqttConnector {
  readonly name: string;
  readonly #s: Settings;
  #state: ConnectorState = "connecting";
  #lastError: string | null = null;
  #errors = 0;
  #reconnects = 0;
  #everConnected = false;
  #connected = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #failures = 0;
  #session: Session | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #subs: Subscription[] = [];
  readonly #pending = new Set<Pending>();
  readonly #listeners = new Set<(connected: boolean) => void>();
  /** mqtt.js clients still shutting down; `close()` waits for them so no socket outlives the connector. */
  readonly #ending = new Set<Promise<void>>();
  /** Connection attempts still reading TLS files; `close()` waits for them too. */
  readonly #starting = new Set<Promise<void>>();

  constructor(name: string, settings: Settings) {
    this.name = name;
    this.#s = settings;
    this.#start();
  }

  get connected(): boolean {
    return this.#connected;
  }

  status(): ConnectorStatus {
    return {
      name: this.name,
      kind: "mqtt",
      state: this.#state,
      lastError: this.#lastError,
      errors: this.#errors,
      reconnects: this.#reconnects,
    };
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(topic: string, payload: Uint8Array, options: PublishOptions = {}): Promise<void> {
    try {
      const qos = options.qos ?? 1;
      checkQos(qos);
      validateTopicName(topic);
      if (!(payload instanceof Uint8Array)) throw new TypeError("MQTT payload must be a Uint8Array");
      const session = this.#session;
      if (!this.#connected || session === null) throw new MqttNotConnectedError(this.name, this.#state);
      return new Promise((resolve, reject) => {
        const pending: Pending = { topic, reject };
        this.#pending.add(pending);
        // A copy: the socket may queue the chunk by reference, and the caller may reuse its array at once.
        const bytes = Buffer.from(payload);
        session.client.publish(topic, bytes, { qos, retain: options.retain ?? false }, (err) => {
          // Already settled when the connection was lost (#lose rejected it first).
          if (!this.#pending.delete(pending)) return;
          if (err) reject(new MqttConnectionLostError(this.name, topic, { cause: err }));
          else resolve();
        });
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async subscribe(
    filter: string,
    handler: MessageHandler,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    validateTopicFilter(filter);
    const qos = options.qos ?? 1;
    checkQos(qos);
    if (typeof handler !== "function") throw new TypeError("MQTT subscription handler must be a function");
    if (this.#closed) throw new MqttNotConnectedError(this.name, this.#state);
    const sub: Subscription = { filter, qos, handler };
    this.#subs.push(sub);
    const session = this.#session;
    // After CONNACK but before `connected` the resubscription is in flight; it may not include this one.
    if (session?.connack) {
      const grants = await this.#sendSubscribe(session, [filter]);
      // null: the connection dropped first; the subscription stays and is sent on the next connect.
      if (grants?.some((g) => g.qos === 0x80)) {
        this.#removeSub(sub);
        throw new MqttSubscribeError(this.name, filter);
      }
    }
    return async () => {
      if (!this.#removeSub(sub)) return;
      if (this.#subs.some((s) => s.filter === filter)) return;
      const current = this.#session;
      if (!current?.connack) return;
      // A failure here means the connection dropped, and a clean session forgets the subscription anyway.
      await new Promise<void>((resolve) => current.client.unsubscribe(filter, () => resolve()));
    };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#setState("closed");
    this.#rejectPending();
    await Promise.all(this.#starting);
    const session = this.#session;
    this.#session = null;
    if (session !== null) {
      session.lost = true;
      // A DISCONNECT tells the broker to drop the will (MQTT 3.1.1 §3.14.4); only a live session can send one.
      this.#end(session, !session.connack);
    }
    if (wasConnected) this.#notify(false);
    await Promise.all(this.#ending);
  }

  /** Starts one connection attempt (in the background). */
  #start(): void {
    const starting = this.#attempt().catch((err) => this.#fail(err));
    this.#starting.add(starting);
    starting.finally(() => this.#starting.delete(starting));
  }

  async #attempt(): Promise<void> {
    const s = this.#s;
    const tls = s.tls === undefined ? {} : await readTls(this.name, s.tls);
    if (this.#closed) return;
    const will = s.will === undefined ? undefined : {
      topic: s.will.topic,
      payload: typeof s.will.payload === "string" ? Buffer.from(s.will.payload) : Buffer.from(s.will.payload),
      qos: s.will.qos ?? 1,
      retain: s.will.retain ?? false,
    };
    const options: IClientOptions = {
      clientId: s.clientId,
      keepalive: s.keepaliveS,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      // This file's own timer (#connectTimer) covers CONNACK and resubscription; mqtt.js's is a fallback.
      connectTimeout: s.connectTimeoutMs + 1000,
      queueQoSZero: false,
      resubscribe: false,
      ...(s.username === undefined ? {} : { username: s.username }),
      ...(s.password === undefined ? {} : { password: s.password }),
      ...(will === undefined ? {} : { will }),
      ...tls,
    };
    const client = connect(s.url.href, options);
    // Every error mqtt.js emits ends this connection: parser errors (garbage from the peer) would otherwise
    // leave the socket open, and a CONNACK refusal or keepalive timeout has already closed it.
    const onError = (err: Error) => this.#lose(session, this.#classify(err));
    const onClose = () => this.#lose(session, null);
    const onConnect = () => {
      session.connack = true;
      this.#resubscribe(session).catch((err) => this.#lose(session, err));
    };
    const onMessage = (topic: string, payload: Buffer, packet: { qos: Qos; retain: boolean }) => {
      if (!session.lost) this.#dispatch(topic, payload, { qos: packet.qos, retain: packet.retain });
    };
    client.on("error", onError).on("close", onClose).on("connect", onConnect).on("message", onMessage);
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
    this.#session = session;
    this.#connectTimer = setTimeout(
      () => this.#lose(session, new MqttTimeoutError(this.name, "connect", s.connectTimeoutMs)),
      s.connectTimeoutMs,
    );
  }

  async #resubscribe(session: Session): Promise<void> {
    const filters = [...new Set(this.#subs.map((s) => s.filter))];
    const grants = filters.length === 0 ? [] : await this.#sendSubscribe(session, filters);
    if (grants === null || session.lost) return;
    for (const grant of grants) {
      if (grant.qos === 0x80) this.#record(new MqttSubscribeError(this.name, grant.topic));
    }
    clearTimeout(this.#connectTimer);
    this.#failures = 0;
    if (this.#everConnected) this.#reconnects++;
    this.#everConnected = true;
    this.#connected = true;
    this.#setState("connected");
    this.#notify(true);
  }

  /** Subscribes `filters` at the highest QoS any handler asked for; `null` when the connection dropped. */
  #sendSubscribe(session: Session, filters: string[]): Promise<ISubscriptionGrant[] | null> {
    const request: Record<string, { qos: Qos }> = {};
    for (const filter of filters) {
      const qos = Math.max(...this.#subs.filter((s) => s.filter === filter).map((s) => s.qos)) as Qos;
      request[filter] = { qos };
    }
    return new Promise((resolve) => {
      session.client.subscribe(request, (err, grants) => resolve(err || session.lost ? null : grants ?? []));
    });
  }

  #removeSub(sub: Subscription): boolean {
    const i = this.#subs.indexOf(sub);
    if (i === -1) return false;
    this.#subs.splice(i, 1);
    return true;
  }

  #dispatch(topic: string, payload: Uint8Array, info: MessageInfo): void {
    for (const sub of [...this.#subs]) {
      if (!topicMatches(sub.filter, topic)) continue;
      try {
        const result = sub.handler(topic, new Uint8Array(payload), info);
        if (result instanceof Promise) result.catch((err) => this.#handlerFailed(sub, topic, err));
      } catch (err) {
        this.#handlerFailed(sub, topic, err);
      }
    }
  }

  #handlerFailed(sub: Subscription, topic: string, cause: unknown): void {
    const error = new MqttHandlerError(sub.filter, topic, { cause });
    if (this.#s.onHandlerError === undefined) {
      this.#record(error);
      return;
    }
    try {
      this.#s.onHandlerError(error);
    } catch (err) {
      this.#record(new MqttHandlerError(sub.filter, topic, { cause: err }));
    }
  }

  /** Ends `session` after an error (or its socket closing, `error === null`) and schedules the next attempt. */
  #lose(session: Session, error: Error | null): void {
    session.error ??= error;
    if (session.lost) return;
    session.lost = true;
    if (this.#session !== session) return;
    this.#session = null;
    clearTimeout(this.#connectTimer);
    this.#end(session, true);
    const wasConnected = this.#connected;
    this.#connected = false;
    const cause = session.error ??
      new MqttTransportError(this.name, `the broker closed the connection (${this.#s.url.host})`, null);
    this.#rejectPending(cause);
    this.#fail(cause);
    if (wasConnected) this.#notify(false);
  }

  /** Records a failed attempt or a lost connection and schedules the next attempt. */
  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#record(error);
    const permanent = (error instanceof MqttConnectRefusedError && error.permanent) ||
      error instanceof MqttTlsError;
    this.#setState(permanent ? "error" : "reconnecting");
    const delayMs = backoffDelayMs(this.#failures++, { initialMs: this.#s.initialMs, maxMs: this.#s.maxMs });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#closed) this.#start();
    }, delayMs);
  }

  /**
   * Ends a session's client, at once (`force`) or politely with a DISCONNECT, and tracks it until its socket
   * closed. A polite end is bounded too: mqtt.js would wait for in-flight messages (already rejected here)
   * and for the broker to close its side, which a stalled link never does.
   */
  #end(session: Session, force: boolean): void {
    session.detach();
    const { client } = session;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ending = new Promise<void>((resolve) => {
      if (!force) {
        for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
        timer = setTimeout(() => client.stream?.destroy(), this.#s.connectTimeoutMs);
      }
      client.end(force, () => resolve());
    });
    this.#ending.add(ending);
    ending.finally(() => {
      clearTimeout(timer);
      this.#ending.delete(ending);
    });
  }

  /** Rejects every publish waiting for its acknowledgement; `cause` is why the connection ended, if known. */
  #rejectPending(cause?: Error): void {
    for (const pending of this.#pending) {
      pending.reject(new MqttConnectionLostError(this.name, pending.topic, cause ? { cause } : undefined));
    }
    this.#pending.clear();
  }

  #record(error: unknown): void {
    this.#errors++;
    this.#lastError = error instanceof Error ? error.message : String(error);
  }

  #setState(state: ConnectorState): void {
    this.#state = state;
  }

  #notify(connected: boolean): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(connected);
      } catch (err) {
        this.#record(err);
      }
    }
  }

  /**
   * Maps an mqtt.js error onto this connector's error classes. mqtt.js gives a CONNACK refusal a numeric
   * `code`, a socket error a string `code` (`ECONNREFUSED`), and everything else only a message, so this is
   * the one place that reads message text.
   */
  #classify(err: Error): Error {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number" && code >= 1 && code <= 5) {
      return new MqttConnectRefusedError(this.name, code, { cause: err });
    }
    if (err.message === "Keepalive timeout") {
      return new MqttTimeoutError(this.name, "keepalive", Math.ceil(this.#s.keepaliveS * 1500), {
        cause: err,
      });
    }
    if (err.message === "connack timeout") {
      return new MqttTimeoutError(this.name, "connect", this.#s.connectTimeoutMs + 1000, { cause: err });
    }
    if (isTlsFailure(err)) return new MqttTlsError(this.name, null, err.message, { cause: err });
    if (typeof code === "string") {
      return new MqttTransportError(this.name, `${err.message} (${this.#s.url.host})`, code, { cause: err });
    }
    // What is left comes from mqtt-packet's parser: bytes that are not MQTT.
    return new MqttProtocolError(this.name, err.message, { cause: err });
  }
}

/**
 * True for a TLS handshake or certificate failure, which retrying cannot fix without a configuration change.
 * Node's TLS layer names them by code: `ERR_SSL_*` and `ERR_TLS_*` for handshake alerts (e.g.
 * `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED` when the broker wants a client certificate), OpenSSL's verify
 * codes (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`, `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, ...) for a
 * broker certificate that does not verify; mqtt.js reports an unauthorized peer as "TLS not authorized".
 */
function isTlsFailure(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") return /^ERR_(SSL|TLS)_|CERT|^UNABLE_TO_/.test(code);
  return err.message === "TLS not authorized";
}

/** The PEM text of the TLS options, reading files where files are named. */
async function readTls(connector: string, tls: MqttTlsOptions): Promise<IClientOptions> {
  const pem = async (text: string | undefined, file: string | undefined) => {
    if (file === undefined) return text;
    try {
      return await Deno.readTextFile(file);
    } catch (cause) {
      const detail = cause instanceof Error ? cause.message : String(cause);
      throw new MqttTlsError(connector, file, `cannot read "${file}": ${detail}`, { cause });
    }
  };
  const [ca, cert, key] = await Promise.all([
    pem(tls.ca, tls.caFile),
    pem(tls.cert, tls.certFile),
    pem(tls.key, tls.keyFile),
  ]);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
}
