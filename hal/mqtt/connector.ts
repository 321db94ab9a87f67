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
import { connect } from "mqtt";
import type { IClientOptions, ISubscriptionGrant, MqttClient } from "mqtt";
import type { ConnectorState, ConnectorStatus, PublishOptions } from "../mod.ts";
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
import {
  backoffDelayMs,
  checkOptions,
  checkQos,
  type MessageHandler,
  type MessageInfo,
  type MqttConnector,
  type MqttConnectorOptions,
  type MqttTlsOptions,
  type Qos,
  type Settings,
  type SubscribeOptions,
} from "./options.ts";

export {
  backoffDelayMs,
  type BackoffOptions,
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
      clean: !s.persistentSession,
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
