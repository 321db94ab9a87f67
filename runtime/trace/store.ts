/**
 * The main thread's side of per-invocation traces: {@linkcode TraceStore} takes the trace events each
 * executor's report carries, numbers them per module (`seq`, from 1, contiguous: the order the module's
 * executor ran them, the same on every device for the same execution), keeps the last `ringSize` of each
 * module, and hands each to its listeners (the OTLP exporter) and to the runtime's telemetry (the stream's
 * `traces/<module>` frames). No wall-clock order across modules is promised.
 *
 * @module
 */
import type { ConnectorStatus } from "../../hal/mod.ts";
import type { FromExecutor, InvocationTrace } from "../executor/protocol.ts";

/** One numbered trace event: what the executor traced, its module's `seq`, and the instance's load id. */
export interface TraceEvent extends InvocationTrace {
  /** Per module, from 1, without gaps among the events the runtime received. */
  readonly seq: number;
  /** The load id of the instance that ran the call, when its executor said (a new load restarts `invocation`). */
  readonly load: number | null;
}

/** Where a store emits its events while someone listens: the runtime's `Telemetry` (`../telemetry.ts`). */
export interface TraceTelemetry {
  readonly active: boolean;
  emit(event: { readonly type: "trace"; readonly trace: TraceEvent }): void;
}

/** Settings of a {@linkcode TraceStore}. */
export interface TraceStoreOptions {
  /** Trace events kept per module, 1..100000. @default {DEFAULT_TRACE_RING} */
  ringSize?: number;
  /** Trace every `every`-th handler call of each instance; 0 traces none. @default {DEFAULT_TRACE_EVERY} */
  every?: number;
}

/** Default {@linkcode TraceStoreOptions.ringSize}. */
export const DEFAULT_TRACE_RING = 256;
/**
 * Default {@linkcode TraceStoreOptions.every}: off. A traced call costs its executor about 0.5 us to record
 * and about as much again to send, and the main thread about 1 us (docs/traces.md, "Cost").
 */
export const DEFAULT_TRACE_EVERY = 0;
/** Modules whose rings are kept at once; a new one past it evicts the ring seen least recently. */
export const MAX_TRACED_MODULES = 256;

/** What a {@linkcode TraceStore} has done. */
export interface TraceStoreStats {
  /** Events taken in since start. */
  received: number;
  /** Events the executors could not queue (over their per-report cap), so never numbered. */
  droppedByExecutors: number;
  /** Events pushed out of a full ring (still exported when they were taken in). */
  evicted: number;
  /** Modules with a ring now. */
  modules: number;
}

/** Receives every numbered trace event as it is taken in. */
export type TraceListener = (event: TraceEvent) => void;

/** A fixed-size ring of one module's events and its next `seq`. */
class ModuleRing {
  readonly events: (TraceEvent | undefined)[];
  /** The next event's index in `events`, and the number held. */
  head = 0;
  size = 0;
  nextSeq = 1;
  constructor(capacity: number) {
    this.events = new Array(capacity);
  }
  /** Adds an event; true when it pushed out the oldest. */
  push(e: TraceEvent): boolean {
    this.events[this.head] = e;
    this.head = (this.head + 1) % this.events.length;
    if (this.size < this.events.length) {
      this.size++;
      return false;
    }
    return true;
  }
  /** The held events, oldest first. */
  *list(): Generator<TraceEvent> {
    const n = this.events.length;
    for (let i = 0; i < this.size; i++) yield this.events[(this.head - this.size + i + n) % n]!;
  }
}

/**
 * Per-module rings of numbered trace events.
 *
 * @example
 * ```ts
 * const store = new TraceStore({ ringSize: 2 });
 * const call = {
 *   module: "m", invocation: 1, handler: "kiln_on_tick", startMs: 0, durationUs: 5,
 *   instructions: null, allocBytes: 0, uses: null, outcome: "ok", code: null,
 * } as const;
 * store.take({ traces: [call, { ...call, invocation: 2 }, { ...call, invocation: 3 }] });
 * store.list("m").map((e) => e.seq); // [2, 3]
 * ```
 */
export class TraceStore {
  #rings = new Map<string, ModuleRing>();
  #ringSize: number;
  #every: number;
  #listeners = new Set<TraceListener>();
  #telemetry: TraceTelemetry | null;
  #stats: TraceStoreStats = { received: 0, droppedByExecutors: 0, evicted: 0, modules: 0 };
  /** What the exporters attached (`attachExporter`) say of themselves, for `GET /api/v1/connectors`. */
  #exporters = new Set<TraceExporterHandle>();

  /**
   * @param telemetry Where each event is emitted (as `{ type: "trace" }`) while someone listens.
   * @throws {RangeError} when an option is out of range.
   */
  constructor(options: TraceStoreOptions = {}, telemetry: TraceTelemetry | null = null) {
    this.#ringSize = DEFAULT_TRACE_RING;
    this.#every = DEFAULT_TRACE_EVERY;
    this.#telemetry = telemetry;
    this.configure(options);
  }

  /** Trace every `every`-th call of each instance (0: none); instances started from now on use it. */
  get every(): number {
    return this.#every;
  }

  /** Events kept per module. */
  get ringSize(): number {
    return this.#ringSize;
  }

  /**
   * Changes the settings (before the runtime starts: instances take `every` when they are loaded; a new
   * ring size applies to rings created from then on).
   *
   * @throws {RangeError} when `ringSize` is not 1..100000 or `every` is not a non-negative integer.
   */
  configure(options: TraceStoreOptions): void {
    const { ringSize = this.#ringSize, every = this.#every } = options;
    if (!Number.isInteger(ringSize) || ringSize < 1 || ringSize > 100_000) {
      throw new RangeError(`Trace ring size must be an integer in 1..100000, got ${ringSize}`);
    }
    if (!Number.isInteger(every) || every < 0) {
      throw new RangeError(`Trace sampling "every" must be a non-negative integer, got ${every}`);
    }
    this.#ringSize = ringSize;
    this.#every = every;
  }

  /** Adds a listener of every numbered event until the handle is disposed. */
  subscribe(listener: TraceListener): Disposable {
    const entry: TraceListener = (e) => listener(e);
    this.#listeners.add(entry);
    return { [Symbol.dispose]: () => this.#listeners.delete(entry) };
  }

  /** Takes in the trace events of one executor report (in the order the executor ran the calls). */
  take(report: {
    traces?: readonly InvocationTrace[];
    tracesDropped?: number;
    loads?: Readonly<Record<string, number>>;
  }): void {
    this.#stats.droppedByExecutors += report.tracesDropped ?? 0;
    const telemetry = this.#telemetry?.active ? this.#telemetry : null;
    for (const t of report.traces ?? []) {
      const ring = this.#ring(t.module);
      const load = report.loads && Object.hasOwn(report.loads, t.module) ? report.loads[t.module]! : null;
      const event: TraceEvent = { ...t, seq: ring.nextSeq++, load };
      this.#stats.received++;
      if (ring.push(event)) this.#stats.evicted++;
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (err) {
          console.error(`A trace listener failed: ${(err as Error).message}`);
        }
      }
      telemetry?.emit({ type: "trace", trace: event });
    }
  }

  /**
   * A module's kept events with `seq` above `sinceSeq`, oldest first, at most `limit` of them; empty for a
   * module with none.
   */
  list(module: string, options: { sinceSeq?: number; limit?: number } = {}): TraceEvent[] {
    const ring = this.#rings.get(module);
    if (!ring) return [];
    const since = options.sinceSeq ?? 0;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const out: TraceEvent[] = [];
    for (const e of ring.list()) {
      if (out.length >= limit) break;
      if (e.seq > since) out.push(e);
    }
    return out;
  }

  /** The `seq` the module's next event will get (1 when it has none). */
  nextSeq(module: string): number {
    return this.#rings.get(module)?.nextSeq ?? 1;
  }

  /** Drops a module's ring (it was removed); a module deployed again under its name numbers from 1. */
  forget(module: string): void {
    this.#rings.delete(module);
  }

  /**
   * Attaches an exporter (the OTLP exporter, `otlp.ts`): it gets every event from now on, and its status is
   * listed among the connectors, until the returned handle is disposed.
   */
  attachExporter(exporter: TraceExporterHandle): Disposable {
    const subscription = this.subscribe((e) => exporter.enqueue(e));
    this.#exporters.add(exporter);
    return {
      [Symbol.dispose]: () => {
        subscription[Symbol.dispose]();
        this.#exporters.delete(exporter);
      },
    };
  }

  /** The attached exporters' connector statuses. */
  connectorStatuses(): ConnectorStatus[] {
    return [...this.#exporters].map((e) => e.status());
  }

  /** The attached exporters' counters, by exporter name. */
  exporterStats(): { name: string; stats: Readonly<Record<string, number | string | null>> }[] {
    return [...this.#exporters].map((e) => ({ name: e.status().name, stats: e.stats() }));
  }

  /** The store's counters. */
  stats(): TraceStoreStats {
    return { ...this.#stats, modules: this.#rings.size };
  }

  #ring(module: string): ModuleRing {
    let ring = this.#rings.get(module);
    if (ring) {
      // Most recently seen last, so that eviction takes the module seen least recently.
      this.#rings.delete(module);
      this.#rings.set(module, ring);
      return ring;
    }
    if (this.#rings.size >= MAX_TRACED_MODULES) {
      const oldest = this.#rings.keys().next().value!;
      this.#rings.delete(oldest);
    }
    ring = new ModuleRing(this.#ringSize);
    this.#rings.set(module, ring);
    return ring;
  }
}

/** What {@linkcode TraceStore.attachExporter} needs of an exporter. */
export interface TraceExporterHandle {
  /** Queues an event; never blocks, never throws (a full queue counts a drop). */
  enqueue(event: TraceEvent): void;
  /** Its state as a connector (`GET /api/v1/connectors`). */
  status(): ConnectorStatus;
  /** Its counters (snake_case keys: they go out as JSON). */
  stats(): Readonly<Record<string, number | string | null>>;
}

type Report = Extract<FromExecutor, { type: "report" }>;

/** An executor's callbacks with its reports' trace events also taken in by `store` (after the report). */
export function tracedEvents<E extends { onReport(r: Report): void }>(events: E, store: TraceStore): E {
  const onReport = events.onReport;
  return {
    ...events,
    onReport: (r: Report) => {
      onReport(r);
      if (r.traces !== undefined || r.tracesDropped !== undefined) store.take(r);
    },
  };
}
