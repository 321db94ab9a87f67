/**
 * The connection keeper every connector shares (MQTT, Modbus, OPC UA): its state, its error counters, and
 * when it tries again. A connector says what happened (an attempt succeeded, the connection worked, it was
 * lost, an attempt failed) and gives the keeper its next attempt to schedule; the keeper decides the delay
 * and reports the same status fields for every protocol.
 *
 * Backoff: after the n-th consecutive failure (n from 0) the next attempt waits a uniform pick in
 * [c/2, c], where c = min(`max_backoff_ms`, `backoff_ms` * 2^n) ("equal jitter"): half of the delay is fixed,
 * so a flapping peer is never hammered, half is random, so a fleet of gateways that lost the same broker
 * spreads its reconnections out. The count goes back to 0 once the connection *worked* (the connector says
 * when: a subscription running, a request answered), not after a bare connect, so a peer that accepts TCP
 * and then answers garbage is retried at the slow rate. Defaults: {@linkcode DEFAULT_BACKOFF_MS} and
 * {@linkcode DEFAULT_MAX_BACKOFF_MS}, the same for every connector.
 *
 * State: `closed` once closed; while down, `connecting` until the first attempt failed or worked, then
 * `reconnecting` (or `error` after a failure the connector calls permanent, such as refused credentials:
 * it keeps trying at the slow rate, as an operator may fix the broker's side); while up, `connected` when
 * every point works, `degraded` when the peer refused some of its points and serves the others, `error`
 * when it refused all of them.
 *
 * @module
 */
import { z } from "zod";
import {
  type Clock,
  type ConnectorState,
  type ConnectorStatus,
  type PointStatus,
  SYSTEM_CLOCK,
} from "./mod.ts";

/** Default `backoff_ms` of every connector: the first wait before reconnecting, in milliseconds. */
export const DEFAULT_BACKOFF_MS = 500;
/** Default `max_backoff_ms` of every connector: the longest wait before reconnecting, in milliseconds. */
export const DEFAULT_MAX_BACKOFF_MS = 30_000;
/** The longest `backoff_ms` and `max_backoff_ms` a manifest may set: one hour. */
export const MAX_BACKOFF_SETTING_MS = 3_600_000;

/** A connector's reconnect backoff, in milliseconds. */
export interface BackoffSettings {
  /** The first wait before reconnecting; it doubles after each consecutive failure. */
  readonly backoffMs: number;
  /** The longest wait before reconnecting. */
  readonly maxBackoffMs: number;
}

/**
 * The manifest keys of a connector's backoff (`backoff_ms`, `max_backoff_ms`), for every connector's schema;
 * check them together with {@linkcode checkBackoff}.
 */
export const backoffFields = {
  /** The first wait before reconnecting, in milliseconds; doubles after each failure. @default 500 */
  backoff_ms: z.number().int().min(1).max(MAX_BACKOFF_SETTING_MS).default(DEFAULT_BACKOFF_MS),
  /** The longest wait before reconnecting, in milliseconds. @default 30000 */
  max_backoff_ms: z.number().int().min(1).max(MAX_BACKOFF_SETTING_MS).default(DEFAULT_MAX_BACKOFF_MS),
};

/** Adds a schema issue at `max_backoff_ms` when it is less than `backoff_ms`. */
export function checkBackoff(
  config: { readonly backoff_ms: number; readonly max_backoff_ms: number },
  ctx: z.RefinementCtx,
): void {
  if (config.max_backoff_ms < config.backoff_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["max_backoff_ms"],
      message: `max_backoff_ms (${config.max_backoff_ms}) is less than backoff_ms (${config.backoff_ms})`,
    });
  }
}

/** Options of {@linkcode backoffDelayMs}. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** A source of numbers in [0, 1). @default {Math.random} */
  readonly random?: () => number;
}

/**
 * The delay before the next attempt after `failures` consecutive failures (0 for the first retry), by the
 * equal-jitter rule in the module doc.
 *
 * @example
 * ```ts
 * import { backoffDelayMs } from "./keeper.ts";
 *
 * backoffDelayMs(3, { initialMs: 500, maxMs: 30_000, random: () => 1 }); // 4000
 * ```
 */
export function backoffDelayMs(failures: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(failures, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A connector's time and jitter, which tests set (every connector's options have them). */
export interface ConnectorTimingOptions {
  /** @default {@linkcode SYSTEM_CLOCK} */
  readonly clock?: Clock | undefined;
  /** A source of numbers in [0, 1) for the backoff's jitter. @default {Math.random} */
  readonly random?: (() => number) | undefined;
}

/** Options of {@linkcode ConnectionKeeper}. */
export interface KeeperOptions extends ConnectorTimingOptions {
  /** The connector's name and driver, as its status reports them. */
  readonly name: string;
  readonly kind: string;
  readonly backoff: BackoffSettings;
}

/**
 * The keeper of a point connector's device: named as the device, with its backoff settings, and the
 * connector's `kind`, clock and jitter.
 */
export function createKeeper(
  device: BackoffSettings & { readonly name: string },
  options: ConnectorTimingOptions & { readonly kind: string },
): ConnectionKeeper {
  return new ConnectionKeeper({ ...options, name: device.name, backoff: device });
}

/**
 * The work a connector started and its `close()` waits for: connection attempts, polls. A task that fails
 * other than as the connector expects is not swallowed here: its rejection stays unhandled.
 */
export class ConnectorTasks {
  readonly #running = new Set<Promise<void>>();

  /** Keeps `task` until it settles. */
  track(task: Promise<void>): void {
    this.#running.add(task);
    task.finally(() => this.#running.delete(task));
  }

  /** Resolves once every task tracked so far has settled, however it settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}

/** One connector's connection state, counters and next attempt; see the module doc. */
export class ConnectionKeeper {
  readonly #name: string;
  readonly #kind: string;
  readonly #backoff: BackoffSettings;
  readonly #clock: Clock;
  readonly #random: () => number;
  /** Errors already counted: several paths may report one failure (a timeout fails a read and the link). */
  readonly #counted = new WeakSet<object>();
  #up = false;
  #everUp = false;
  #closed = false;
  #permanent = false;
  #errors = 0;
  #reconnects = 0;
  #failures = 0;
  #lastError: string | null = null;
  #nextAttemptAtMs: number | null = null;
  #cancel: (() => void) | null = null;

  constructor(options: KeeperOptions) {
    this.#name = options.name;
    this.#kind = options.kind;
    this.#backoff = options.backoff;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#random = options.random ?? Math.random;
  }

  /** True while the connection is up. */
  get up(): boolean {
    return this.#up;
  }

  /** True once {@linkcode ConnectionKeeper.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while an attempt is scheduled and not started yet. */
  get waiting(): boolean {
    return this.#cancel !== null;
  }

  /** An attempt succeeded: the connection is up (a reconnect, if it was up before). */
  connected(): void {
    if (this.#closed || this.#up) return;
    this.#up = true;
    this.#permanent = false;
    if (this.#everUp) this.#reconnects++;
    this.#everUp = true;
  }

  /** The connection worked (a request was answered, a subscription runs): the backoff starts over. */
  worked(): void {
    this.#failures = 0;
  }

  /** Counts an error that does not end the connection (a refused point, a failed write); once per object. */
  record(error: unknown): void {
    if (typeof error === "object" && error !== null) {
      if (this.#counted.has(error)) return;
      this.#counted.add(error);
    }
    this.#errors++;
    this.#lastError = error instanceof Error ? error.message : String(error);
  }

  /**
   * The connection was lost or an attempt failed: counts `error` (unless `null`: nothing new to say), marks
   * the connection down and schedules `attempt` after the backoff. `permanent`: the peer refused in a way
   * that retrying will not fix by itself (state `error`).
   */
  down(error: unknown, attempt: () => void, options: { readonly permanent?: boolean } = {}): void {
    this.#up = false;
    if (this.#closed) return;
    if (error !== null) this.record(error);
    this.#permanent = options.permanent ?? false;
    this.retry(attempt);
  }

  /**
   * Schedules `attempt` after the backoff unless one is already scheduled or the keeper is closed; the
   * delay grows with each call until the connection works again.
   */
  retry(attempt: () => void): void {
    if (this.#closed || this.#cancel) return;
    const delayMs = backoffDelayMs(this.#failures++, {
      initialMs: this.#backoff.backoffMs,
      maxMs: this.#backoff.maxBackoffMs,
      random: this.#random,
    });
    this.#nextAttemptAtMs = this.#clock.now() + delayMs;
    this.#cancel = this.#clock.setTimer(() => {
      this.#cancel = null;
      this.#nextAttemptAtMs = null;
      if (!this.#closed) attempt();
    }, delayMs);
  }

  /** Stops: cancels the scheduled attempt; the state is `closed` from now on. */
  close(): void {
    this.#closed = true;
    this.#up = false;
    this.#cancel?.();
    this.#cancel = null;
    this.#nextAttemptAtMs = null;
  }

  /** The state by the rules in the module doc; `points` are the connector's, if it has any. */
  state(points: readonly PointStatus[] = []): ConnectorState {
    if (this.#closed) return "closed";
    if (!this.#up) {
      if (this.#permanent) return "error";
      return this.#everUp || this.#errors > 0 ? "reconnecting" : "connecting";
    }
    const refused = points.reduce((n, p) => n + (p.state === "refused" ? 1 : 0), 0);
    if (refused === 0) return "connected";
    return refused === points.length ? "error" : "degraded";
  }

  /** The connector's status: the keeper's fields, and its points when it has some. */
  status(points?: readonly PointStatus[]): ConnectorStatus {
    return {
      name: this.#name,
      kind: this.#kind,
      state: this.state(points),
      lastError: this.#lastError,
      errors: this.#errors,
      reconnects: this.#reconnects,
      failures: this.#failures,
      nextAttemptAtMs: this.#nextAttemptAtMs,
      backoffMs: this.#backoff.backoffMs,
      maxBackoffMs: this.#backoff.maxBackoffMs,
      ...(points && { points }),
    };
  }
}
