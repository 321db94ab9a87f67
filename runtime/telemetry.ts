/**
 * Pushed telemetry: the events the runtime emits as things happen (a module's outputs, its arrays, its status
 * after a transition or a report, a module removed, the runtime's health, alerts, log lines and published
 * messages), and {@linkcode Telemetry}, the small synchronous bus they go through. The API's stream
 * subscribes to it (`api/stream/feed.ts`); nothing reads the runtime on a timer.
 *
 * The bus keeps nothing: an event goes to the listeners subscribed at that moment, at once, and is gone. What
 * a listener does with it is bounded by the listener (the stream's hub queues a bounded number of frames per
 * connection and counts what it drops). With no listener, the runtime builds no event at all
 * ({@linkcode Telemetry.active}).
 *
 * @example
 * ```ts ignore
 * using _ = runtime.telemetry.subscribe((e) => {
 *   if (e.type === "outputs") console.log(e.module, e.outputs, new Date(e.at));
 * });
 * ```
 *
 * @module
 */
import type { AlertEvent, LogEvent } from "./executor/protocol.ts";
import type { Health, ModuleStatus, PublishedMessage } from "./status.ts";
import type { TraceEvent } from "./trace/store.ts";

/** What changed a module's status: one of its transitions, its executor's report, a deploy. */
export type ModuleStatusCause = "transition" | "report" | "deployed";

/** One telemetry event. Times (`at`) are milliseconds since the epoch. */
export type TelemetryEvent =
  /**
   * A module's scalar outputs after one handler call set some of them: every output it holds, by the keys it
   * gave them (a null-prototype record), as of `at`, when the call set them. One event per call, so none is
   * lost to the 100 ms report.
   */
  | {
    readonly type: "outputs";
    readonly module: string;
    readonly at: number;
    readonly outputs: Readonly<Record<string, number>>;
  }
  /** A module's vector outputs after a report that carried some: every array it holds (null-prototype). */
  | {
    readonly type: "arrays";
    readonly module: string;
    readonly at: number;
    readonly arrays: Readonly<Record<string, Float32Array>>;
  }
  /** A module's status: after a transition (starting, running, crashed, failed, stopped), a report or a deploy. */
  | {
    readonly type: "module";
    readonly module: string;
    readonly at: number;
    readonly cause: ModuleStatusCause;
    readonly status: ModuleStatus;
  }
  /** A module was removed (deleted, or a deploy of a new one rolled back). */
  | { readonly type: "removed"; readonly module: string; readonly at: number }
  /** The runtime's own state changed (started, stopping). */
  | { readonly type: "health"; readonly at: number; readonly health: Health }
  /** An alert a module raised, with the runtime's alert sequence number (`GET /api/v1/alerts?after=`). */
  | { readonly type: "alert"; readonly alert: AlertEvent & { readonly seq: number } }
  /** A log line a module wrote and the runtime kept, numbered from 1 across modules. */
  | { readonly type: "log"; readonly seq: number; readonly line: LogEvent }
  /** A message a module published, with its sequence number (`GET /api/v1/messages?after=`). */
  | { readonly type: "message"; readonly message: PublishedMessage }
  /** One traced handler call, numbered per module (`trace/store.ts`; `GET .../traces?since_seq=`). */
  | { readonly type: "trace"; readonly trace: TraceEvent };

/** Receives every event emitted while it is subscribed. */
export type TelemetryListener = (event: TelemetryEvent) => void;

/** What a {@linkcode Telemetry} bus has done. */
export interface TelemetryStats {
  /** Listeners subscribed now. */
  listeners: number;
  /** Events emitted while someone listened. */
  emitted: number;
  /** Calls of a listener that threw; the event still went to the others. */
  errors: number;
  /** The last such error's message, or null. */
  last_error: string | null;
}

/**
 * A synchronous event bus: {@linkcode Telemetry.emit} calls every listener at once, in the order they
 * subscribed. A listener that throws is counted ({@linkcode Telemetry.stats}) and reported once on
 * `console.error` until an event reaches every listener again: telemetry never takes the runtime down with it.
 */
export class Telemetry {
  #listeners = new Set<TelemetryListener>();
  #emitted = 0;
  #errors = 0;
  #lastError: string | null = null;

  /** Whether anyone listens: the runtime builds events only then. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /**
   * Adds a listener until the returned handle is disposed.
   *
   * @example
   * ```ts ignore
   * using _ = telemetry.subscribe((e) => seen.push(e));
   * ```
   */
  subscribe(listener: TelemetryListener): Disposable {
    const entry: TelemetryListener = (e) => listener(e); // its own identity: one listener may subscribe twice
    this.#listeners.add(entry);
    return { [Symbol.dispose]: () => this.#listeners.delete(entry) };
  }

  /** Hands `event` to every listener. It never throws. */
  emit(event: TelemetryEvent): void {
    if (this.#listeners.size === 0) return;
    this.#emitted++;
    let failed: string | null = null;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#errors++;
        failed = err instanceof Error ? err.message : String(err);
        // Said once when listeners start failing, not on every event; the count is in stats().
        if (this.#lastError === null) {
          console.error(`A telemetry listener failed on a "${event.type}" event: ${failed}`);
        }
        this.#lastError = failed;
      }
    }
    if (failed === null) this.#lastError = null;
  }

  /** The bus's counters. */
  stats(): TelemetryStats {
    return {
      listeners: this.#listeners.size,
      emitted: this.#emitted,
      errors: this.#errors,
      last_error: this.#lastError,
    };
  }
}
