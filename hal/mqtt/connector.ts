/**
 * The MQTT connector: one broker connection (MQTT 3.1.1 over TCP or TLS, through `npm:mqtt`) that publishes
 * for the outbox, delivers subscribed messages to handlers, and reconnects by itself with capped exponential
 * backoff while reporting its state.
 *
 * Delivery contract, and why mqtt.js is configured as it is:
 * - No offline queue. `publish` rejects at once with {@linkcode MqttNotConnectedError} unless connected; the
 *   outbox keeps the message durably, so holding it in memory too would only duplicate it and lose it on a
 *   crash. mqtt.js runs with `queueQoSZero: false`, `reconnectPeriod: 0` (this file drives reconnects) and a
 *   clean session unless `persistentSession` asks the broker to keep it.
 * - A QoS 1/2 publish that is in flight when the connection drops rejects with
 *   {@linkcode MqttConnectionLostError}; it is never resent later from memory. Each connection attempt uses
 *   a fresh mqtt.js client, so nothing from an old connection survives into a new one. The caller resends from
 *   its outbox, so delivery is at least once and receivers deduplicate (by the outbox's sequence number).
 * - Subscriptions are this connector's own list, sent again after every connect (a clean session forgets
 *   them, MQTT 3.1.1 §3.1.2.4); `connected` turns true only once they are acknowledged. With
 *   `persistentSession` the broker keeps them too, and queues QoS 1/2 messages for them while the connector
 *   is away: those arrive right after the next connect (handlers subscribed by then receive them).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { ISubscriptionGrant } from "mqtt";
import type { ConnectorStatus, PublishOptions } from "../mod.ts";
import { ConnectionKeeper } from "../keeper.ts";
import {
  MqttConnectionLostError,
  MqttConnectRefusedError,
  MqttHandlerError,
  MqttNotConnectedError,
  MqttSubscribeError,
  MqttTimeoutError,
  MqttTlsError,
  MqttTransportError,
} from "./errors.ts";
import { validateTopicFilter, validateTopicName } from "./topics.ts";
import {
  checkOptions,
  checkQos,
  type MessageHandler,
  type MessageInfo,
  type MqttConnector,
  type MqttConnectorOptions,
  type Settings,
  type SubscribeOptions,
} from "./options.ts";
import { classifyError } from "./_classify.ts";
import { clientOptions, readTls } from "./_client_options.ts";
import { endSession, openSession, type Session } from "./_session.ts";
import { type Subscription, SubscriptionList } from "./_subscriptions.ts";

export { backoffDelayMs, type BackoffOptions } from "../keeper.ts";
export {
  type MessageHandler,
  type MessageInfo,
  type MqttConnector,
  type MqttConnectorOptions,
  type MqttReconnectOptions,
  type MqttTlsOptions,
  type MqttWill,
  type Qos,
  type SubscribeOptions,
} from "./options.ts";

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

interface Pending {
  readonly topic: string;
  readonly reject: (err: Error) => void;
}

class Connector implements MqttConnector {
  readonly name: string;
  readonly #s: Settings;
  readonly #keeper: ConnectionKeeper;
  #connected = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #session: Session | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #subs = new SubscriptionList();
  readonly #pending = new Set<Pending>();
  readonly #listeners = new Set<(connected: boolean) => void>();
  /** mqtt.js clients still shutting down; `close()` waits for them so no socket outlives the connector. */
  readonly #ending = new Set<Promise<void>>();
  /** Connection attempts still reading TLS files; `close()` waits for them too. */
  readonly #starting = new Set<Promise<void>>();

  constructor(name: string, settings: Settings) {
    this.name = name;
    this.#s = settings;
    this.#keeper = new ConnectionKeeper({
      name,
      kind: "mqtt",
      backoff: { backoffMs: settings.initialMs, maxBackoffMs: settings.maxMs },
    });
    this.#start();
  }

  get connected(): boolean {
    return this.#connected;
  }

  status(): ConnectorStatus {
    return this.#keeper.status();
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
      if (!this.#connected || session === null) {
        throw new MqttNotConnectedError(this.name, this.#keeper.state());
      }
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
    if (this.#closed) throw new MqttNotConnectedError(this.name, this.#keeper.state());
    const sub: Subscription = { filter, qos, handler };
    this.#subs.add(sub);
    const session = this.#session;
    // After CONNACK but before `connected` the resubscription is in flight; it may not include this one.
    if (session?.connack) {
      const grants = await this.#sendSubscribe(session, [filter]);
      // null: the connection dropped first; the subscription stays and is sent on the next connect.
      if (grants?.some((g) => g.qos === 0x80)) {
        this.#subs.remove(sub);
        throw new MqttSubscribeError(this.name, filter);
      }
    }
    return async () => {
      if (!this.#subs.remove(sub)) return;
      if (this.#subs.has(filter)) return;
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
    this.#keeper.close();
    clearTimeout(this.#connectTimer);
    const wasConnected = this.#connected;
    this.#connected = false;
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
    const session = openSession(s.url, clientOptions(s, tls), (session) => ({
      // Every error mqtt.js emits ends this connection: parser errors (garbage from the peer) would otherwise
      // leave the socket open, and a CONNACK refusal or keepalive timeout has already closed it.
      error: (err) => this.#lose(session, classifyError(err, { connector: this.name, settings: s })),
      close: () => this.#lose(session, null),
      connect: () => {
        session.connack = true;
        this.#resubscribe(session).catch((err) => this.#lose(session, err));
      },
      message: (topic, payload, packet) => {
        if (!session.lost) this.#dispatch(topic, payload, { qos: packet.qos, retain: packet.retain });
      },
    }));
    this.#session = session;
    this.#connectTimer = setTimeout(
      () => this.#lose(session, new MqttTimeoutError(this.name, "connect", s.connectTimeoutMs)),
      s.connectTimeoutMs,
    );
  }

  async #resubscribe(session: Session): Promise<void> {
    const filters = this.#subs.filters();
    const grants = filters.length === 0 ? [] : await this.#sendSubscribe(session, filters);
    if (grants === null || session.lost) return;
    for (const grant of grants) {
      if (grant.qos === 0x80) this.#record(new MqttSubscribeError(this.name, grant.topic));
    }
    clearTimeout(this.#connectTimer);
    this.#keeper.connected();
    this.#keeper.worked();
    this.#connected = true;
    this.#notify(true);
  }

  /**
   * Subscribes `filters` at the highest QoS any handler asked for (one SUBSCRIBE per QoS); `null` when the
   * connection dropped.
   */
  async #sendSubscribe(session: Session, filters: string[]): Promise<ISubscriptionGrant[] | null> {
    const sent = [...this.#subs.request(filters)].map(([qos, list]) =>
      new Promise<ISubscriptionGrant[] | null>((resolve) => {
        session.client.subscribe(
          list,
          { qos },
          (err, grants) => resolve(err || session.lost ? null : grants ?? []),
        );
      })
    );
    const grants: ISubscriptionGrant[] = [];
    for (const g of await Promise.all(sent)) {
      if (g === null) return null;
      grants.push(...g);
    }
    return grants;
  }

  #dispatch(topic: string, payload: Uint8Array, info: MessageInfo): void {
    for (const sub of this.#subs.matching(topic)) {
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
    const permanent = (error instanceof MqttConnectRefusedError && error.permanent) ||
      error instanceof MqttTlsError;
    this.#keeper.down(error, () => this.#start(), { permanent });
  }

  /** Ends a session's client (see {@linkcode endSession}) and tracks it until its socket closed. */
  #end(session: Session, force: boolean): void {
    const ending = endSession(session, { force, timeoutMs: this.#s.connectTimeoutMs });
    this.#ending.add(ending);
    ending.finally(() => this.#ending.delete(ending));
  }

  /** Rejects every publish waiting for its acknowledgement; `cause` is why the connection ended, if known. */
  #rejectPending(cause?: Error): void {
    for (const pending of this.#pending) {
      pending.reject(new MqttConnectionLostError(this.name, pending.topic, cause ? { cause } : undefined));
    }
    this.#pending.clear();
  }

  #record(error: unknown): void {
    this.#keeper.record(error);
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
}
