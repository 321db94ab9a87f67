/**
 * The OPC UA connector: one client session per endpoint with a subscription whose monitored items feed the
 * last {@linkcode Sample} of each node, writes of writable nodes, and reconnection with backoff.
 *
 * Kiln runs its own reconnection rather than node-opcua's: on any break it drops the whole client (secure
 * channel, session, subscription) and builds a new one after the backoff of the connection keeper every
 * connector shares (`../keeper.ts`: from `backoff_ms`, doubling and jittered up to `max_backoff_ms`, back to
 * the start once a subscription is running again, not after a bare connect: a peer that accepts TCP and then
 * answers garbage is retried at the slow rate). One path, so the state below is always true.
 *
 * Quality, so that modules never see an invented value:
 * - no sample until the server has sent a usable value for the node (`getSample` returns `null`);
 * - while the session that sent the value is up, the server's StatusCode decides (Part 4 §7.34.1, its two
 *   top bits): Good → `good`, Uncertain → `uncertain`, Bad → `bad`. A Bad notification keeps the last value
 *   and its `atMs` (a Bad DataValue's value is not to be used, Part 4 §7.7.1);
 * - a value from a session that is gone is `uncertain` (OPC UA's Uncertain_LastUsableValue) while its age is
 *   within the node's `stale_ms`, then `bad`. Its age counts from the last moment it was known current, the
 *   loss of the session that sent it (a subscription sends only changes, so an old `atMs` on a live session
 *   is normal), and keeps counting across reconnects until a new session sends the node: a reconnect never
 *   makes a frozen value younger;
 * - a node the new session's server refuses to monitor (`BadNodeIdUnknown`: the restarted server no longer
 *   has it; or no access) is `bad` at once, whatever its age.
 *
 * State (the keeper's): `connecting` until the first attempt succeeds or fails; `connected` once the
 * subscription runs and every monitored item was accepted; `degraded` while the server refused some of them
 * (each node's state says which, `refused` with the status), `error` when it refused them all; `reconnecting`
 * after a failed attempt, a lost connection or a timeout (no publish response for longer than the
 * subscription's keep-alive allows); `closed`.
 *
 * Errors counted, once each: a failed attempt (refused, timed out, garbage, rejected certificate), a lost
 * connection, a publish timeout, a refused monitored item, a value that is not numeric, a failed write.
 *
 * Time: every step of an attempt is bounded, so that a slow machine makes attempts slow, never stuck:
 * opening the PKI folder (and making the client's certificate on first use), opening the secure channel, and
 * creating the session each by `connect_timeout_ms`; every later request by `timeout_ms`. The trust store is
 * read again at every attempt (`_pki.ts`), so a server certificate the operator trusted counts at the next
 * one, at most `max_backoff_ms` later. `close()` cuts whatever attempt is running and settles in a bounded
 * time in every state (see {@linkcode OpcuaConnector.close}).
 *
 * @module
 */
import type { DataValue } from "node-opcua-client";
import type { ConnectorStatus, PointConnector, PointStatus, Sample } from "../mod.ts";
import {
  type ConnectionKeeper,
  ConnectorTasks,
  type ConnectorTimingOptions,
  createKeeper,
} from "../keeper.ts";
import type { OpcuaEndpoint, OpcuaNode } from "./config.ts";
import {
  OpcuaConnectError,
  OpcuaConnectionLostError,
  OpcuaError,
  OpcuaNotConnectedError,
  OpcuaTimeoutError,
} from "./errors.ts";
import {
  createLink,
  dropLink,
  type Link,
  prepareCertificates,
  readIdentity,
  reason,
  type Timed,
} from "./_link.ts";
import { createCertificates } from "./_pki.ts";
import { HeldSamples } from "./_samples.ts";
import { subscribe, watchdogLimitMs } from "./_subscription.ts";
import { writeValue } from "./_write.ts";

import { type Clock, SYSTEM_CLOCK } from "../mod.ts";
export { type Clock, SYSTEM_CLOCK };

/** Options of {@linkcode createOpcuaConnector}. */
export interface OpcuaConnectorOptions extends ConnectorTimingOptions {
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
  /**
   * Closes the session and the connection, in whatever state the connector is (connecting, in a handshake,
   * reconnecting, connected, the server hung): an attempt in progress is cut at once, the session's close
   * and the disconnect each get `timeout_ms`, then the sockets are closed anyway. Settles within about three
   * times `timeout_ms`; later calls return the first one's promise.
   */
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

class Connector implements OpcuaConnector {
  readonly name: string;
  readonly #endpoint: OpcuaEndpoint;
  readonly #clock: Clock;
  readonly #acceptUnknown: boolean;
  readonly #nodes: Map<string, OpcuaNode>;
  readonly #samples: HeldSamples;
  readonly #refused = new Map<string, string>();
  readonly #keeper: ConnectionKeeper;
  readonly #tasks = new ConnectorTasks();
  /** Aborted by `close()`: every step of an attempt, and a write, stops waiting. */
  readonly #closing = new AbortController();
  #link: Link | null = null;
  #linkIds = 0;
  #started = false;
  #closed = false;
  #closeDone: Promise<void> | null = null;

  constructor(endpoint: OpcuaEndpoint, options: OpcuaConnectorOptions) {
    this.name = endpoint.name;
    this.#endpoint = endpoint;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#acceptUnknown = options.acceptUnknownServerCertificate ?? false;
    this.#nodes = new Map(endpoint.nodes.map((n) => [n.id, n]));
    this.#keeper = createKeeper(endpoint, { kind: "opcua", clock: this.#clock, random: options.random });
    this.#samples = new HeldSamples({
      connector: this.name,
      clock: this.#clock,
      fail: (err) => this.#fail(err),
    });
  }

  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#tasks.track(this.#connect());
  }

  status(): ConnectorStatus {
    const up = this.#link?.up === true;
    return this.#keeper.status(this.#endpoint.nodes.map((node): PointStatus => {
      const refused = up ? this.#refused.get(node.id) : undefined;
      if (refused !== undefined) return { id: node.id, state: "refused", error: refused };
      return { id: node.id, state: up ? "ok" : "waiting", error: null };
    }));
  }

  getSample(pointId: string): Sample | null {
    const node = this.#nodes.get(pointId);
    if (!node) return null;
    return this.#samples.get(node, this.#link?.up === true ? this.#link.id : null);
  }

  *listSamples(): IterableIterator<[string, Sample]> {
    for (const id of this.#samples.ids()) {
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
      await writeValue(session, value, {
        connector: this.name,
        node,
        dataTypes: link.dataTypes,
        what,
        timed: this.#timed,
      });
    } catch (err) {
      if (err instanceof OpcuaError) this.#fail(err);
      throw err;
    }
  }

  close(): Promise<void> {
    this.#closeDone ??= this.#close();
    return this.#closeDone;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
    this.#keeper.close();
    const link = this.#link;
    this.#link = null;
    if (link) await this.#drop(link, true);
    // Each is bounded: its steps stopped waiting at the abort, and drops are bounded.
    await this.#tasks.settled();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Bounds a step of an attempt, or a request: rejects with an {@linkcode OpcuaTimeoutError} when `promise`
   * takes longer than `timeoutMs` (`timeout_ms` unless given), with an {@linkcode OpcuaNotConnectedError} as
   * soon as the connector is closed.
   */
  readonly #timed: Timed = (promise, what, timeoutMs = this.#endpoint.timeoutMs) =>
    this.#race(promise, { what, timeoutMs, signal: this.#closing.signal });

  /** Bounds a step of a drop by `timeout_ms`, whether or not the connector is closed. */
  readonly #bounded: Timed = (promise, what, timeoutMs = this.#endpoint.timeoutMs) =>
    this.#race(promise, { what, timeoutMs, signal: null });

  #race<T>(
    promise: Promise<T>,
    options: { what: string; timeoutMs: number; signal: AbortSignal | null },
  ): Promise<T> {
    const { what, timeoutMs, signal } = options;
    promise.catch(() => {}); // settles after a timeout too; its error then has nobody to tell
    let cancel = () => {};
    const stopped = new Promise<never>((_, reject) => {
      const closed = () => reject(new OpcuaNotConnectedError(this.name, what));
      if (signal?.aborted) return closed();
      const cancelTimer = this.#clock.setTimer(
        () => reject(new OpcuaTimeoutError(this.name, timeoutMs, what)),
        timeoutMs,
      );
      signal?.addEventListener("abort", closed, { once: true });
      cancel = () => {
        cancelTimer();
        signal?.removeEventListener("abort", closed);
      };
    });
    return Promise.race([promise, stopped]).finally(() => cancel());
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#link) return;
    const endpoint = this.#endpoint;
    const pkiError = (err: unknown) =>
      err instanceof OpcuaError ? err : new OpcuaConnectError(
        this.name,
        endpoint.url,
        `cannot use the PKI folder "${endpoint.pkiDir}" (${reason(err)})`,
        { cause: err },
      );
    const connectMs = endpoint.connectTimeoutMs;
    let link: Link;
    try {
      const certificates = await this.#timed(
        createCertificates(endpoint.pkiDir, { acceptUnknown: this.#acceptUnknown }),
        `read the PKI folder "${endpoint.pkiDir}"`,
        connectMs,
      );
      link = createLink(++this.#linkIds, { endpoint, certificates });
    } catch (err) {
      if (this.#closed) return;
      this.#fail(pkiError(err));
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed || this.#link) {
      await this.#drop(link, false);
      return;
    }
    const client = link.client;
    this.#link = link;
    const lost = (err?: unknown) => this.#lost(link, err);
    client.on("start_reconnection", lost);
    client.on("close", lost);
    client.on("abort", lost);
    try {
      // The client's own certificate is made on first use (RSA key generation, seconds on a busy machine),
      // under a file lock in the PKI folder: a step of its own, so that `connect` then finds it made.
      await this.#timed(prepareCertificates(link), `open the PKI folder "${endpoint.pkiDir}"`, connectMs)
        .catch((err) => Promise.reject(pkiError(err)));
      await this.#timed(client.connect(endpoint.url), `connect to ${endpoint.url}`, connectMs);
      const identity = await this.#timed(readIdentity(endpoint), "read the password file");
      link.session = await this.#timed(client.createSession(identity), "create a session", connectMs);
      link.session.on("session_closed", lost);
      await subscribe(link, {
        connector: this.name,
        nodes: endpoint.nodes,
        refused: this.#refused,
        timed: this.#timed,
        alive: () => this.#armWatchdog(link),
        lost: (err) => this.#lost(link, err),
        fail: (err) => this.#fail(err),
        changed: (node, dataValue) => this.#notify(link, node, dataValue),
      });
    } catch (err) {
      if (this.#link === link) this.#link = null;
      if (!this.#closed) {
        const failure = err instanceof OpcuaError
          ? err
          : new OpcuaConnectError(this.name, endpoint.url, reason(err), { cause: err });
        this.#fail(failure);
      }
      await this.#drop(link, false); // close() may be dropping it already: then this waits for that drop
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed || this.#link !== link) return;
    link.up = true;
    for (const id of this.#refused.keys()) this.#samples.refuse(id);
    this.#keeper.connected();
    this.#keeper.worked();
    this.#armWatchdog(link);
  }

  /** A notification for one node; one from a link that was dropped since is ignored. */
  #notify(link: Link, node: OpcuaNode, dataValue: DataValue): void {
    if (this.#link !== link) return;
    this.#samples.notify(node, { dataValue, session: link.id });
  }

  /**
   * Nothing from the server (a notification or a keep-alive) for longer than the subscription's keep-alive
   * period plus `timeout_ms` means the server or the path to it hangs (Part 4 §5.13.1.1).
   */
  #armWatchdog(link: Link): void {
    if (this.#link !== link || this.#closed) return;
    link.cancelWatchdog?.();
    const limitMs = watchdogLimitMs(link.subscription, this.#endpoint.timeoutMs);
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
    this.#samples.sessionLost(link.id);
    this.#fail(err);
    this.#keeper.down(null, () => this.#tasks.track(this.#connect()));
    this.#tasks.track(this.#drop(link, false));
  }

  /** Drops a link (see {@linkcode dropLink}); closes its session politely only on `close()`. */
  #drop(link: Link, polite: boolean): Promise<void> {
    return dropLink(link, { polite, timed: this.#bounded });
  }

  /** After a failed attempt: the next one after the keeper's backoff. */
  #scheduleReconnect(): void {
    if (this.#closed || this.#link) return;
    this.#keeper.down(null, () => this.#tasks.track(this.#connect()));
  }

  #fail(err: OpcuaError): void {
    if (err instanceof OpcuaNotConnectedError) return;
    this.#keeper.record(err);
  }
}
