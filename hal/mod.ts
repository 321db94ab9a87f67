/**
 * The hardware-abstraction layer: the few interfaces through which the runtime reaches the plant and the
 * cloud, whatever the protocol. Each protocol is a driver in its own folder (`hal/sim/`, `hal/mqtt/`,
 * `hal/modbus/`), and each maps its resources onto capability names (`read:modbus:plc1/hr/100-199`,
 * `write:mqtt:factory/line_1/alerts`), which the runtime checks before a module's request reaches a driver.
 *
 * Modules never block on the network: the runtime polls or subscribes on their behalf and hands values to
 * their next invocation (a PLC's scan cycle), and carries out their writes asynchronously.
 *
 * A protocol whose connectors carry plant values is a `PointDriver` (`point_driver.ts`): its
 * manifest schema, its points' capabilities, its plan and how its {@linkcode PointConnector}s are made.
 * `drivers.ts` is their registry, which the runtime iterates instead of naming protocols. Both are entries of
 * their own (this file imports nothing, so every driver can import it). Each connector composes the
 * connection keeper (`keeper.ts`).
 *
 * @example A driver's value as the runtime sees it
 * ```ts
 * import type { Sample } from "./mod.ts";
 *
 * const speed: Sample = { value: 1480, quality: "good", atMs: Date.now() };
 * ```
 *
 * @module
 */

/** Time and timers, so tests can run a connector (its polls, timeouts and backoff) on fake time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `callback` after `delayMs`; returns a function that cancels it. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/** The real clock: `Date.now` and `setTimeout`. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimer: (callback, delayMs) => {
    const id = setTimeout(callback, delayMs);
    return () => clearTimeout(id);
  },
};

/** How far a value can be trusted, as OPC UA says it (Part 4 §7.34): good, uncertain, or bad. */
export type Quality = "good" | "uncertain" | "bad";

/** One value read from the plant, with its quality and when it was read (ms since the epoch). */
export interface Sample {
  readonly value: number;
  readonly quality: Quality;
  readonly atMs: number;
}

/**
 * A connector's connection state, as the API reports it: `degraded` while connected with some of its points
 * refused by the peer (the others work), `error` when all are refused or the peer refused the connection in
 * a way retrying will not fix by itself (see `keeper.ts`).
 */
export type ConnectorState = "connecting" | "connected" | "degraded" | "reconnecting" | "error" | "closed";

/**
 * One point of a connector (a Modbus point, an OPC UA node): `ok` while the peer serves it, `refused` when
 * the peer refused it (a Modbus exception, an OPC UA Bad status such as `BadNodeIdUnknown`; `error` says
 * which), `waiting` while the connection is down or before its first read on this connection.
 */
export interface PointStatus {
  readonly id: string;
  readonly state: "ok" | "refused" | "waiting";
  /** Why it was refused; `null` unless `refused`. */
  readonly error: string | null;
}

/** What a connector reports about itself (`GET /api/v1/connectors`). */
export interface ConnectorStatus {
  readonly name: string;
  /** The driver: `mqtt`, `modbus`, `opcua`. */
  readonly kind: string;
  readonly state: ConnectorState;
  /** The last error's message, kept after recovery; `null` if there never was one. */
  readonly lastError: string | null;
  /** Errors since start (failed connects, timeouts, protocol errors). */
  readonly errors: number;
  /** Successful connects after the first. */
  readonly reconnects: number;
  /** Failed attempts since the connection last worked (connectors that reconnect). */
  readonly failures?: number;
  /** When the next attempt starts (ms since the epoch); `null` unless one is waiting for its backoff. */
  readonly nextAttemptAtMs?: number | null;
  /** The connector's `backoff_ms` and `max_backoff_ms` (connectors that reconnect). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Each point's state (Modbus devices and OPC UA endpoints). */
  readonly points?: readonly PointStatus[];
}

/**
 * A source and sink of plant values, whatever the protocol: a Modbus device's points, an OPC UA endpoint's
 * nodes. The runtime reads samples into modules' inputs and carries out their writes through it.
 */
export interface PointConnector extends AsyncDisposable {
  readonly name: string;
  /** Starts connecting (and polling or subscribing); it reconnects by itself until it is closed. */
  start(): void;
  /** Its state, last error and counters. */
  status(): ConnectorStatus;
  /** The last sample of a point, or `null` if it never had a usable value. */
  getSample(pointId: string): Sample | null;
  /** Every point that has a sample, with it. */
  listSamples(): IterableIterator<[string, Sample]>;
  /**
   * Writes an engineering value to a writable point; resolves once the device confirmed it. Never queued
   * while the device is down: a late actuator command is dangerous.
   */
  write(pointId: string, value: number): Promise<void>;
  /** Stops and closes the connection. */
  close(): Promise<void>;
}

/** Options of one {@linkcode Publisher.publish}. */
export interface PublishOptions {
  /** MQTT quality of service. @default 1 */
  readonly qos?: 0 | 1 | 2;
  readonly retain?: boolean;
}

/**
 * Where outbound messages go: the store-and-forward outbox's transport. `publish` resolves only when
 * delivery is confirmed (MQTT PUBACK for QoS 1, PUBCOMP for QoS 2; written to the socket for QoS 0), and
 * rejects at once when the link is down, so the caller keeps the message instead of a driver's memory.
 */
export interface Publisher {
  /** True while messages can be sent. */
  readonly connected: boolean;
  /** Sends one message; see the interface for when it settles. */
  publish(topic: string, payload: Uint8Array, options?: PublishOptions): Promise<void>;
  /** Calls `listener` on every change of {@linkcode Publisher.connected}; returns the unsubscribe function. */
  onConnectionChange(listener: (connected: boolean) => void): () => void;
}
