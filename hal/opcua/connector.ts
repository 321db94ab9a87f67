/**
 * The OPC UA connector: one client session per endpoint with a subscription whose monitored items feed the
 * last {@linkcode Sample} of each node, writes of writable nodes, and reconnection with backoff.
 *
 * Kiln runs its own reconnection rather than node-opcua's: on any break it drops the whole client (secure
 * channel, session, subscription) and builds a new one after `backoff_ms`, doubling up to `max_backoff_ms`,
 * back to `backoff_ms` once a subscription is running again (not after a bare connect: a peer that accepts
 * TCP and then answers garbage is retried at the slow rate). One path, so the state below is always true.
 *
 * Quality, so that modules never see an invented value:
 * - no sample until the server has sent a usable value for the node (`getSample` returns `null`);
 * - while the session is up, the server's StatusCode decides (Part 4 §7.34.1, its two top bits): Good →
 *   `good`, Uncertain → `uncertain`, Bad → `bad`. A Bad notification keeps the last value and its `atMs`
 *   (a Bad DataValue's value is not to be used, Part 4 §7.7.1);
 * - when the session is lost, each value is kept with its `atMs` and turns `uncertain` (OPC UA's
 *   Uncertain_LastUsableValue), then `bad` once the connection has been down for longer than the node's
 *   `stale_ms`; it is live again with the first notification of the next session. The age counts from the
 *   loss, not from `atMs`: a subscription sends only changes, so an old `atMs` on a live session is normal.
 *
 * State: `connecting` until the first attempt succeeds or fails; `connected` once the subscription runs and
 * every monitored item was accepted; `error` while connected but the server refused some monitored items
 * (unknown node, no access); `reconnecting` after a failed attempt, a lost connection or a timeout (no
 * publish response for longer than the subscription's keep-alive allows); `closed`.
 *
 * Errors counted, once each: a failed attempt (refused, timed out, garbage, rejected certificate), a lost
 * connection, a publish timeout, a refused monitored item, a value that is not numeric, a failed write.
 *
 * @module
 */
import {
  AttributeIds,
  type ClientMonitoredItem,
  type ClientSession,
  ClientSubscription,
  DataType,
  type DataValue,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  StatusCodes,
  TimestampsToReturn,
  type UserIdentityInfo,
  UserTokenType,
} from "node-opcua-client";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { ConnectorState, ConnectorStatus, PointConnector, Quality, Sample } from "../mod.ts";
import { toNumber, toVariant } from "./codec.ts";
import type { OpcuaEndpoint, OpcuaNode } from "./config.ts";
import {
  OpcuaConnectError,
  OpcuaConnectionLostError,
  OpcuaError,
  OpcuaNotConnectedError,
  OpcuaStatusError,
  OpcuaTimeoutError,
  OpcuaUnsupportedTypeError,
} from "./errors.ts";

import { type Clock, SYSTEM_CLOCK } from "../mod.ts";
export { type Clock, SYSTEM_CLOCK };

/** Options of {@linkcode createOpcuaConnector}. */
export interface OpcuaConnectorOptions {
  /** @default {@linkcode SYSTEM_CLOCK} */
  readonly clock?: Clock;
  /**
   * Accept a server certificate that is not in `<pki_dir>/trusted/certs` (and copy it there, as node-opcua
   * does). Off in production: an operator trusts a server by putting its certificate there. @default false
   */
  readonly acceptUnknownServerCertificate?: boolean;
}

/** An OPC UA endpoint's connector: its nodes are monitored items of one subscription. */
export interface OpcuaConnector extends PointConnector {
  /**
   * Writes a number to a writable node, in the node's own data type (read from the server first): a Boolean
   * takes 0 or 1, an integer type an integer in its range, Float and Double any finite number. Resolves once
   * the server answered Good; it is not queued while the endpoint is down.
   *
   * @throws {RangeError} when there is no such point, or the value does not fit the node's data type.
   * @throws {TypeError} when the point is not writable or the value is not a number.
   * @throws {OpcuaUnsupportedTypeError} when the node's data type is not numeric (or 64-bit).
   * @throws {OpcuaError} when the write fails: not connected, timeout, bad status.
   */
  write(pointId: string, value: number): Promise<void>;
  /** Closes the session and the connection; settles within about twice `timeout_ms`. */
  close(): Promise<void>;
}

/**
 * Creates the connector of one endpoint; nothing happens until {@linkcode OpcuaConnector.start}.
 *
 * @example
 * ```ts ignore
 * import { createOpcuaConnector } from "./connector.ts";
 *
 * await using plc = createOpcuaConnector(endpoint);
 * plc.start();
 * plc.getSample("oven_temp"); // null until the first notification, then { value, quality, atMs }
 * ```
 */
export function createOpcuaConnector(
  endpoint: OpcuaEndpoint,
  options: OpcuaConnectorOptions = {},
): OpcuaConnector {
  return new Connector(endpoint, options);
}

/** What Kiln keeps of a node's value. */
interface Held {
  readonly value: number;
  /** The server's quality of the latest notification. */
  readonly quality: Quality;
  readonly atMs: number;
  /** The session that sent it: older ones are aged. */
  readonly session: number;
}

/** node-opcua 2.186's client implementation makes its certificate with this (not in its public types). */
interface CertificateMaker {
  createDefaultCertificate?(): Promise<void>;
}

/** One attempt's client and what hangs off it. */
interface Link {
  readonly id: number;
  readonly client: OPCUAClient;
  session: ClientSession | null;
  subscription: ClientSubscription | null;
  /** Node ids to their built-in data type, read before the first write of each. */
  readonly dataTypes: Map<string, DataType>;
  /** Cancels the publish watchdog. */
  cancelWatchdog: (() => void) | null;
  up: boolean;
}

const SECURITY_MODES = {
  none: MessageSecurityMode.None,
  sign_and_encrypt: MessageSecurityMode.SignAndEncrypt,
} as const;

class Connector implements OpcuaConnector {
  readonly name: string;
  readonly #endpoint: OpcuaEndpoint;
  readonly #clock: Clock;
  readonly #acceptUnknown: boolean;
  readonly #nodes: Map<string, OpcuaNode>;
  readonly #held = new Map<string, Held>();
  readonly #refused = new Set<string>();
  readonly #inflight = new Set<Promise<void>>();
  #certificates: OPCUACertificateManager | null = null;
  #link: Link | null = null;
  #linkIds = 0;
  #started = false;
  #closed = false;
  #everConnected = false;
  #errors = 0;
  #reconnects = 0;
  #lastError: string | null = null;
  #backoffMs: number;
  #cancelReconnect: (() => void) | null = null;
  /** When the last session was lost; `null` while one is up or before the first. */
  #downSinceMs: number | null = null;

  constructor(endpoint: OpcuaEndpoint, options: OpcuaConnectorOptions) {
    this.name = endpoint.name;
    this.#endpoint = endpoint;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#acceptUnknown = options.acceptUnknownServerCertificate ?? false;
    this.#nodes = new Map(endpoint.nodes.map((n) => [n.id, n]));
    this.#backoffMs = endpoint.backoffMs;
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#track(this.#connect());
  }

  status(): ConnectorStatus {
    return {
      name: this.name,
      kind: "opcua",
      state: this.#state(),
      lastError: this.#lastError,
      errors: this.#errors,
      reconnects: this.#reconnects,
    };
  }

  getSample(pointId: string): Sample | null {
    const held = this.#held.get(pointId);
    const node = this.#nodes.get(pointId);
    if (!held || !node) return null;
    return { value: held.value, quality: this.#quality(held, node), atMs: held.atMs };
  }

  *listSamples(): IterableIterator<[string, Sample]> {
    for (const id of [...this.#held.keys()]) {
      const sample = this.getSample(id);
      if (sample) yield [id, sample];
    }
  }

  async write(pointId: string, value: number): Promise<void> {
    const node = this.#nodes.get(pointId);
    if (!node) throw new RangeError(`Endpoint "${this.name}" has no point "${pointId}"`);
    if (!node.writable) throw new TypeError(`Cannot write point "${pointId}": it is not marked writable`);
    if (typeof value !== "number") throw new TypeError(`A value must be a number, got ${typeof value}`);
    const what = `write node "${node.nodeId}"`;
    const link = this.#link;
    if (this.#closed || !link?.up || !link.session) throw new OpcuaNotConnectedError(this.name, what);
    const session = link.session;
    try {
      let dataType = link.dataTypes.get(node.nodeId);
      if (dataType === undefined) {
        const current = await this.#timed(
          session.read({ nodeId: node.nodeId, attributeId: AttributeIds.Value }),
          what,
        );
        // An Uncertain value still has its type; only a Bad one has none to trust.
        if (current.statusCode.value >>> 30 >= 2) {
          this.#check(current.statusCode.value, current.statusCode.name, what);
        }
        dataType = current.value.dataType;
        link.dataTypes.set(node.nodeId, dataType);
      }
      const variant = toVariant(value, dataType, this.name, node.nodeId);
      const status = await this.#timed(
        session.write({ nodeId: node.nodeId, attributeId: AttributeIds.Value, value: { value: variant } }),
        what,
      );
      this.#check(status.value, status.name, what);
    } catch (err) {
      if (err instanceof OpcuaError) this.#fail(err);
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelReconnect?.();
    this.#cancelReconnect = null;
    const link = this.#link;
    this.#link = null;
    if (link) await this.#drop(link, true);
    await Promise.allSettled([...this.#inflight]);
    await this.#certificates?.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #state(): ConnectorState {
    if (this.#closed) return "closed";
    if (!this.#link?.up) return this.#everConnected || this.#errors > 0 ? "reconnecting" : "connecting";
    return this.#refused.size > 0 ? "error" : "connected";
  }

  #quality(held: Held, node: OpcuaNode): Quality {
    if (held.quality === "bad") return "bad";
    const live = this.#link?.up === true && held.session === this.#link.id;
    if (live) return held.quality;
    const downMs = this.#clock.now() - (this.#downSinceMs ?? this.#clock.now());
    return downMs <= node.staleMs ? "uncertain" : "bad";
  }

  #track(promise: Promise<void>): void {
    this.#inflight.add(promise);
    promise.finally(() => this.#inflight.delete(promise));
  }

  /** Rejects with an {@linkcode OpcuaTimeoutError} when `promise` takes longer than `timeout_ms`. */
  #timed<T>(promise: Promise<T>, what: string): Promise<T> {
    const { timeoutMs } = this.#endpoint;
    let cancel = () => {};
    const timeout = new Promise<never>((_, reject) => {
      cancel = this.#clock.setTimer(
        () => reject(new OpcuaTimeoutError(this.name, timeoutMs, what)),
        timeoutMs,
      );
    });
    promise.catch(() => {}); // settles after a timeout too; its error then has nobody to tell
    return Promise.race([promise, timeout]).finally(cancel);
  }

  #check(code: number, name: string, what: string): void {
    // The two top bits of a StatusCode are its severity: 00 Good, 01 Uncertain, 10 Bad (Part 4 §7.34.1).
    if (code >>> 30 !== 0) throw new OpcuaStatusError(this.name, code, name, what);
  }

  async #certificateManager(): Promise<OPCUACertificateManager> {
    if (!this.#certificates) {
      this.#certificates = new OPCUACertificateManager({
        rootFolder: this.#endpoint.pkiDir,
        automaticallyAcceptUnknownCertificate: this.#acceptUnknown,
      });
    }
    await this.#certificates.initialize();
    return this.#certificates;
  }

  async #identity(): Promise<UserIdentityInfo> {
    const { username, passwordFile } = this.#endpoint;
    if (username === null || passwordFile === null) return { type: UserTokenType.Anonymous };
    const password = (await Deno.readTextFile(passwordFile)).replace(/\r?\n$/, "");
    return { type: UserTokenType.UserName, userName: username, password };
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#link) return;
    const endpoint = this.#endpoint;
    let certificates: OPCUACertificateManager;
    try {
      certificates = await this.#certificateManager();
    } catch (err) {
      if (this.#closed) return;
      const why = `cannot use the PKI folder "${endpoint.pkiDir}" (${reason(err)})`;
      this.#fail(new OpcuaConnectError(this.name, endpoint.url, why, { cause: err }));
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed || this.#link) return;
    const client: OPCUAClient = OPCUAClient.create({
      applicationName: "Kiln",
      clientName: `kiln-${endpoint.name}`,
      endpointMustExist: false,
      securityMode: SECURITY_MODES[endpoint.securityMode],
      securityPolicy: SecurityPolicy[endpoint.securityPolicy],
      // One attempt per client: Kiln's own backoff decides when to try again (see the module doc).
      connectionStrategy: { maxRetry: 0, initialDelay: endpoint.backoffMs, maxDelay: endpoint.maxBackoffMs },
      clientCertificateManager: certificates,
      transportTimeout: endpoint.timeoutMs,
      defaultTransactionTimeout: endpoint.timeoutMs,
      requestedSessionTimeout: Math.max(10_000, 4 * endpoint.timeoutMs),
      keepSessionAlive: false,
    });
    const link: Link = {
      id: ++this.#linkIds,
      client,
      session: null,
      subscription: null,
      dataTypes: new Map(),
      cancelWatchdog: null,
      up: false,
    };
    this.#link = link;
    const lost = (err?: unknown) => this.#lost(link, err);
    client.on("start_reconnection", lost);
    client.on("close", lost);
    client.on("abort", lost);
    try {
      // The client's own certificate is made on first use (RSA key generation, seconds on a busy machine),
      // under a file lock in the PKI folder: outside the connect's timeout, so that a slow first start does
      // not time out and leave the next attempts waiting on the lock. `connect` then finds it made.
      await (client as unknown as CertificateMaker).createDefaultCertificate?.();
      await this.#timed(client.connect(endpoint.url), `connect to ${endpoint.url}`);
      link.session = await this.#timed(client.createSession(await this.#identity()), "create a session");
      link.session.on("session_closed", lost);
      await this.#subscribe(link);
    } catch (err) {
      if (this.#closed || this.#link !== link) return;
      const failure = err instanceof OpcuaError
        ? err
        : new OpcuaConnectError(this.name, endpoint.url, reason(err), { cause: err });
      this.#fail(failure);
      this.#link = null;
      await this.#drop(link, false);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed || this.#link !== link) return;
    link.up = true;
    this.#downSinceMs = null;
    if (this.#everConnected) this.#reconnects++;
    this.#everConnected = true;
    this.#backoffMs = endpoint.backoffMs;
    this.#armWatchdog(link);
  }

  async #subscribe(link: Link): Promise<void> {
    const session = link.session!;
    const fastest = Math.min(...this.#endpoint.nodes.map((n) => n.samplingMs));
    const publishingMs = Math.max(50, fastest);
    const subscription = ClientSubscription.create(session, {
      requestedPublishingInterval: publishingMs,
      requestedMaxKeepAliveCount: 10,
      requestedLifetimeCount: 60,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    link.subscription = subscription;
    const alive = () => this.#armWatchdog(link);
    subscription.on("keepalive", alive);
    subscription.on("received_notifications", alive);
    // The server ended the subscription (its lifetime ran out, Part 4 §5.13.1.1) or the client failed it.
    const lost = (err?: unknown) => this.#lost(link, err ?? "the subscription was terminated");
    subscription.on("terminated", lost);
    subscription.on("error", lost);
    await this.#timed(
      new Promise<void>((resolve, reject) => {
        subscription.once("started", () => resolve());
        subscription.once("internal_error", reject);
      }),
      "create a subscription",
    );
    this.#refused.clear();
    for (const node of this.#endpoint.nodes) {
      const what = `monitor node "${node.nodeId}"`;
      let item: ClientMonitoredItem;
      try {
        item = await this.#timed(
          subscription.monitor(
            { nodeId: node.nodeId, attributeId: AttributeIds.Value },
            { samplingInterval: node.samplingMs, discardOldest: true, queueSize: 1 },
            TimestampsToReturn.Both,
          ),
          what,
        );
      } catch (err) {
        if (!(err instanceof Error) || err instanceof OpcuaTimeoutError) throw err;
        // node-opcua may reject with a plain Error naming the StatusCode (e.g. BadNodeIdUnknown).
        const name = /Bad[A-Za-z]+/.exec(err.message)?.[0] ?? "Bad";
        const code = (StatusCodes as unknown as Record<string, { value: number } | undefined>)[name]?.value ??
          0x80000000;
        this.#refused.add(node.id);
        this.#fail(new OpcuaStatusError(this.name, code, name, what, { cause: err }));
        continue;
      }
      // A refused item (Part 4 §5.12.2.2, MonitoredItemCreateResult) resolves with a Bad status code.
      if (item.statusCode.value >>> 30 === 2) {
        this.#refused.add(node.id);
        this.#fail(new OpcuaStatusError(this.name, item.statusCode.value, item.statusCode.name, what));
        continue;
      }
      item.on("changed", (dataValue: DataValue) => this.#notify(link, node, dataValue));
    }
  }

  /** A notification (Part 4 §7.22.2 DataChangeNotification) for one node. */
  #notify(link: Link, node: OpcuaNode, dataValue: DataValue): void {
    if (this.#link !== link) return;
    const severity = dataValue.statusCode.value >>> 30;
    const quality: Quality = severity === 0 ? "good" : severity === 1 ? "uncertain" : "bad";
    const previous = this.#held.get(node.id);
    const atMs = this.#clock.now();
    if (quality === "bad") {
      if (previous) this.#held.set(node.id, { ...previous, quality, session: link.id });
      return;
    }
    const value = toNumber(dataValue.value);
    if (value === null) {
      this.#fail(
        new OpcuaUnsupportedTypeError(
          this.name,
          node.nodeId,
          DataType[dataValue.value.dataType] ?? "unknown",
        ),
      );
      if (previous) this.#held.set(node.id, { ...previous, quality: "bad", session: link.id });
      return;
    }
    this.#held.set(node.id, { value, quality, atMs, session: link.id });
  }

  /**
   * Nothing from the server (a notification or a keep-alive) for longer than the subscription's keep-alive
   * period plus `timeout_ms` means the server or the path to it hangs (Part 4 §5.13.1.1).
   */
  #armWatchdog(link: Link): void {
    if (this.#link !== link || this.#closed) return;
    link.cancelWatchdog?.();
    const subscription = link.subscription;
    const publishingMs = subscription?.publishingInterval ?? 1000;
    const keepAlive = subscription?.maxKeepAliveCount ?? 10;
    const limitMs = publishingMs * keepAlive + this.#endpoint.timeoutMs;
    link.cancelWatchdog = this.#clock.setTimer(() => {
      link.cancelWatchdog = null;
      if (this.#link !== link || !link.up) return;
      this.#lose(link, new OpcuaTimeoutError(this.name, limitMs, "receive a publish response"));
    }, limitMs);
  }

  /** A break reported by node-opcua while the link is up. */
  #lost(link: Link, err: unknown): void {
    if (this.#link !== link || !link.up) return;
    const why = reason(err ?? "closed");
    this.#lose(link, new OpcuaConnectionLostError(this.name, this.#endpoint.url, why, { cause: err }));
  }

  #lose(link: Link, err: OpcuaError): void {
    if (this.#link !== link || this.#closed) return;
    link.up = false;
    this.#link = null;
    this.#downSinceMs = this.#clock.now();
    this.#fail(err);
    this.#track(this.#drop(link, false));
    this.#scheduleReconnect();
  }

  /** Drops a link's client; closes its session politely only on `close()` (a lost server would not answer). */
  async #drop(link: Link, polite: boolean): Promise<void> {
    link.up = false;
    link.cancelWatchdog?.();
    link.cancelWatchdog = null;
    // A dropped link's late errors have nobody to tell: the loss that dropped it is already counted, and an
    // EventEmitter "error" without a listener would throw.
    link.client.removeAllListeners();
    link.subscription?.removeAllListeners();
    link.subscription?.on("error", () => {});
    const session = link.session;
    session?.removeAllListeners();
    link.session = null;
    if (polite && session) {
      await this.#timed(session.close(true), "close the session").catch(() => {});
    }
    await this.#timed(link.client.disconnect(), "disconnect").catch(() => {});
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#cancelReconnect || this.#link) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#endpoint.maxBackoffMs);
    this.#cancelReconnect = this.#clock.setTimer(() => {
      this.#cancelReconnect = null;
      this.#track(this.#connect());
    }, delay);
  }

  #fail(err: OpcuaError): void {
    if (err instanceof OpcuaNotConnectedError) return;
    this.#errors++;
    this.#lastError = err.message;
  }
}

function reason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0]!.trim() || "unknown error";
}
