/**
 * Per-invocation trace events, on the executor's side: {@linkcode TraceQueue} holds what an executor's
 * instances traced until its next 100 ms report (bounded: past {@linkcode MAX_QUEUED_TRACES} it counts what
 * it drops), and {@linkcode CallTracer} is one instance's view of it: whether the next call is traced (every
 * `traceEvery`-th), the capabilities the running call used, and the event once the call returned or trapped.
 * The main thread numbers the events per module (`runtime/trace/store.ts`).
 *
 * @example
 * ```ts
 * const queue = new TraceQueue();
 * const tracer = new CallTracer(queue, "anomaly", 1);
 * const start = tracer.begin(1, 65_536)!;
 * tracer.end("kiln_on_tick", start, { rc: 0, thrown: null, instructions: null, memoryBytes: 131_072 });
 * queue.take().traces[0]?.allocBytes; // 65536: the call grew the memory by a page
 * ```
 *
 * @module
 */
import { nowMs } from "./doorbell.ts";
import { ModuleTrap } from "./traps.ts";
import type { InvocationTrace, TraceOutcome } from "./protocol.ts";

/** Trace events an executor queues per report (100 ms); more are counted as dropped. */
export const MAX_QUEUED_TRACES = 1000;

/** What an executor's instances traced since its last report. */
export class TraceQueue {
  #events: InvocationTrace[] = [];
  #dropped = 0;
  readonly #max: number;

  /** @param max Events kept per report. @default {MAX_QUEUED_TRACES} */
  constructor(max = MAX_QUEUED_TRACES) {
    this.#max = max;
  }

  /** Queues an event, or counts it as dropped when the queue is full. */
  push(event: InvocationTrace): void {
    if (this.#events.length < this.#max) this.#events.push(event);
    else this.#dropped++;
  }

  /** The events queued and the number dropped since the last take (the queue starts again empty). */
  take(): { traces: InvocationTrace[]; dropped: number } {
    const out = { traces: this.#events, dropped: this.#dropped };
    this.#events = [];
    this.#dropped = 0;
    return out;
  }
}

/** Where a traced call started: its number, the executor's clock (epoch ms) and the memory's size, bytes. */
export interface CallStart {
  invocation: number;
  atMs: number;
  memoryBytes: number;
}

/** How a traced call ended: its result, or what it threw; its fuel and the memory's size after it. */
export interface CallEnd {
  rc: number | bigint;
  /** A {@linkcode ModuleTrap} (its fault names the outcome), or null when the call returned. */
  thrown: unknown;
  instructions: number | null;
  memoryBytes: number;
}

/** One instance's tracing: which calls are traced and what each used. Not re-entrant, as instances. */
export class CallTracer {
  readonly #queue: TraceQueue;
  readonly #module: string;
  readonly #every: number;
  #uses: Record<string, number> | null = null;
  #active = false;

  /** @param every Trace every `every`-th call (1: all of them). */
  constructor(queue: TraceQueue, module: string, every: number) {
    this.#queue = queue;
    this.#module = module;
    this.#every = Math.max(1, Math.floor(every));
  }

  /** Starts call number `invocation` (from 1): its start when it is traced, else null. */
  begin(invocation: number, memoryBytes: number): CallStart | null {
    this.#active = invocation % this.#every === 0;
    if (!this.#active) return null;
    this.#uses = null;
    return { invocation, atMs: nowMs(), memoryBytes };
  }

  /** A granted capability used by the running call. */
  use(capability: string): void {
    if (!this.#active) return;
    const uses = this.#uses ??= Object.create(null) as Record<string, number>;
    uses[capability] = (uses[capability] ?? 0) + 1;
  }

  /** Ends the traced call of `handler` that `start` began, and queues its event. */
  end(handler: string, start: CallStart, end: CallEnd): void {
    const durationUs = (nowMs() - start.atMs) * 1000;
    this.#active = false;
    let outcome: TraceOutcome = "ok";
    let code: string | null = null;
    if (end.thrown !== null) {
      const kind = end.thrown instanceof ModuleTrap ? end.thrown.fault.kind : "host_error";
      outcome = kind === "budget_exceeded" || kind === "fuel_exhausted" ? "budget_exceeded" : "trap";
      code = kind;
    } else if (end.rc !== 0) {
      outcome = "error";
      code = String(end.rc);
    }
    this.#queue.push({
      module: this.#module,
      invocation: start.invocation,
      handler,
      startMs: start.atMs,
      durationUs,
      instructions: end.instructions,
      allocBytes: Math.max(0, end.memoryBytes - start.memoryBytes),
      uses: this.#uses,
      outcome,
      code,
    });
    this.#uses = null;
  }
}
