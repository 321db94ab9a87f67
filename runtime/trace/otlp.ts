/**
 * Exports trace events to an OpenTelemetry collector: OTLP over HTTP, JSON encoding (`otlp_json.ts`),
 * `POST <endpoint>/v1/traces`. It never holds the runtime up: {@linkcode OtlpExporter.enqueue} is a bounded
 * push (past `maxQueue` events the newest are dropped and counted), batches go out every `everyS` or as soon
 * as one is full, each request is aborted after `timeoutMs`, and a collector that is down or answers 429,
 * 502, 503 or 504 is retried with exponential backoff (the failed batch is kept, alone, for the retry; any
 * other refusal drops the batch and counts its spans as rejected). Its memory is bounded by `maxQueue` plus
 * one batch of events, whatever the collector does.
 *
 * @example
 * ```ts ignore
 * await using exporter = new OtlpExporter({
 *   endpoint: "http://collector:4318",
 *   resource: { version: "0.1.0", deviceId: "press-7" },
 * });
 * using _ = runtime.traces.attachExporter(exporter);
 * exporter.start();
 * ```
 *
 * @module
 */
import type { ConnectorState, ConnectorStatus } from "../../hal/mod.ts";
import { OtlpExportError } from "./errors.ts";
import { createRunId, encodeSpans, type OtlpResource } from "./otlp_json.ts";
import type { TraceEvent, TraceExporterHandle } from "./store.ts";

/** Options of {@linkcode OtlpExporter}. */
export interface OtlpExporterOptions {
  /** The collector's OTLP/HTTP base URL (`http://collector:4318`); `/v1/traces` is appended unless present. */
  endpoint: string;
  /** Seconds between batches while events wait. @default 5 */
  everyS?: number;
  /** Extra request headers (an API key). */
  headers?: Readonly<Record<string, string>>;
  /** A request is aborted after this long, ms. @default 10000 */
  timeoutMs?: number;
  /** Events waiting at most; past it the newest are dropped and counted. @default 8192 */
  maxQueue?: number;
  /** Spans per request. @default 512 */
  maxBatch?: number;
  /** The first retry's delay after a failure, ms; doubled per failure in a row. @default 1000 */
  backoffMs?: number;
  /** The longest retry delay, ms. @default 60000 */
  maxBackoffMs?: number;
  /** Who exports (`service.name`, version, device); `runId` is made up when left out. */
  resource: Omit<OtlpResource, "runId"> & { runId?: string };
  /** The HTTP client (a test's). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The clock, epoch ms. @default Date.now */
  nowMs?: () => number;
}

/** Statuses after which a batch is retried (OTLP/HTTP specification, "Retryable Response Codes"). */
const RETRYABLE = new Set([429, 502, 503, 504]);

/** Sends numbered trace events to an OTLP/HTTP collector in batches. */
export class OtlpExporter implements TraceExporterHandle, AsyncDisposable {
  readonly url: string;
  readonly #o: Required<Omit<OtlpExporterOptions, "resource" | "headers">>;
  readonly #headers: Record<string, string>;
  readonly #resource: OtlpResource;
  #queue: TraceEvent[] = [];
  /** The batch that failed and waits for its retry. */
  #retry: TraceEvent[] | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #started = false;
  #closed = false;
  /** Set when disposal starts: nothing is scheduled from then on. */
  #stopping = false;
  #sending: Promise<void> | null = null;
  #abort = new AbortController();
  #state: ConnectorState = "connecting";
  #lastError: string | null = null;
  #failures = 0;
  #nextAttemptAtMs: number | null = null;
  #counts = { exported: 0, dropped: 0, rejected: 0, requests: 0, errors: 0, reconnects: 0 };
  #everWorked = false;

  /**
   * @throws {TypeError} when `endpoint` is not a URL.
   * @throws {RangeError} when it is not http(s), or a number option is out of range.
   */
  constructor(options: OtlpExporterOptions) {
    const url = new URL(options.endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new RangeError(`OTLP endpoint "${options.endpoint}" must be an http or https URL`);
    }
    if (!url.pathname.endsWith("/v1/traces")) url.pathname = url.pathname.replace(/\/?$/, "/v1/traces");
    this.url = url.href;
    this.#o = {
      endpoint: options.endpoint,
      everyS: options.everyS ?? 5,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxQueue: options.maxQueue ?? 8192,
      maxBatch: options.maxBatch ?? 512,
      backoffMs: options.backoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 60_000,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      nowMs: options.nowMs ?? Date.now,
    };
    for (const key of ["everyS", "timeoutMs", "maxQueue", "maxBatch", "backoffMs", "maxBackoffMs"] as const) {
      const v = this.#o[key];
      if (!(v > 0) || !Number.isFinite(v)) {
        throw new RangeError(`OTLP option ${key} must be positive, got ${v}`);
      }
    }
    this.#headers = { ...options.headers, "content-type": "application/json" };
    this.#resource = { ...options.resource, runId: options.resource.runId ?? createRunId() };
  }

  /** Starts sending every `everyS` (and whenever a batch is full). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(this.#o.everyS * 1000);
  }

  /** Queues an event for export; when the queue is full the event is dropped and counted. Never blocks. */
  enqueue(event: TraceEvent): void {
    if (this.#closed || this.#queue.length >= this.#o.maxQueue) {
      this.#counts.dropped++;
      return;
    }
    this.#queue.push(event);
    // A full batch goes out now, unless a request is under way or the collector is being waited for.
    if (
      this.#started && this.#queue.length === this.#o.maxBatch && this.#sending === null &&
      this.#nextAttemptAtMs === null
    ) this.#schedule(0);
  }

  /**
   * Sends what waits, batch by batch, until the queue is empty or a request fails; resolves when done. A
   * collector in its backoff is not tried before its time unless `force`.
   */
  flush(options: { force?: boolean } = {}): Promise<void> {
    if (this.#sending !== null) return this.#sending;
    const due = this.#nextAttemptAtMs === null || this.#o.nowMs() >= this.#nextAttemptAtMs;
    if (!due && !options.force) return Promise.resolve();
    this.#sending = this.#drain().finally(() => this.#sending = null);
    return this.#sending;
  }

  /** Its state as a connector (`GET /api/v1/connectors`, kind `otlp`). */
  status(): ConnectorStatus {
    return {
      name: `otlp:${new URL(this.url).host}`,
      kind: "otlp",
      state: this.#closed ? "closed" : this.#state,
      lastError: this.#lastError,
      errors: this.#counts.errors,
      reconnects: this.#counts.reconnects,
      failures: this.#failures,
      nextAttemptAtMs: this.#nextAttemptAtMs,
      backoffMs: this.#o.backoffMs,
      maxBackoffMs: this.#o.maxBackoffMs,
    };
  }

  /** Its counters: spans exported, dropped (queue full), rejected (refused by the collector), and waiting. */
  stats(): {
    endpoint: string;
    queued: number;
    exported: number;
    dropped: number;
    rejected: number;
    requests: number;
    failed_requests: number;
  } {
    return {
      endpoint: this.url,
      queued: this.#queue.length + (this.#retry?.length ?? 0),
      exported: this.#counts.exported,
      dropped: this.#counts.dropped,
      rejected: this.#counts.rejected,
      requests: this.#counts.requests,
      failed_requests: this.#counts.errors,
    };
  }

  /** Stops: one last attempt at what waits (unless the collector is failing), then aborts any request. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    this.#stopping = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#failures === 0) await this.flush();
    this.#closed = true;
    this.#abort.abort();
    await this.#sending;
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#stopping) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.flush().finally(() => {
        const wait = this.#nextAttemptAtMs === null
          ? this.#o.everyS * 1000
          : Math.max(0, this.#nextAttemptAtMs - this.#o.nowMs());
        if (this.#timer === null) this.#schedule(wait);
      });
    }, delayMs);
  }

  async #drain(): Promise<void> {
    while (!this.#closed) {
      const batch = this.#retry ?? this.#queue.splice(0, this.#o.maxBatch);
      this.#retry = null;
      if (batch.length === 0) return;
      if (!await this.#send(batch)) return;
    }
  }

  /** Posts one batch; true when the collector took it (or refused it for good: it is not retried). */
  async #send(batch: TraceEvent[]): Promise<boolean> {
    this.#counts.requests++;
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.timeoutMs)]);
    let status: number | null = null;
    let body = "";
    try {
      const res = await this.#o.fetch(this.url, {
        method: "POST",
        headers: this.#headers,
        body: JSON.stringify(encodeSpans(batch, this.#resource)),
        signal,
      });
      status = res.status;
      body = await res.text();
    } catch (err) {
      const reason = signal.aborted && !this.#abort.signal.aborted
        ? `no answer within ${this.#o.timeoutMs} ms`
        : (err as Error).message;
      return this.#failed(batch, new OtlpExportError(this.url, null, reason, { cause: err }), true);
    }
    if (status >= 200 && status < 300) {
      const rejected = rejectedSpans(body);
      this.#counts.rejected += rejected;
      this.#counts.exported += batch.length - rejected;
      if (this.#failures > 0 || !this.#everWorked) {
        if (this.#everWorked) this.#counts.reconnects++;
        this.#everWorked = true;
      }
      this.#failures = 0;
      this.#nextAttemptAtMs = null;
      this.#state = "connected";
      return true;
    }
    const err = new OtlpExportError(this.url, status, `the collector answered ${status}`);
    return this.#failed(batch, err, RETRYABLE.has(status));
  }

  #failed(batch: TraceEvent[], err: OtlpExportError, retry: boolean): boolean {
    this.#counts.errors++;
    this.#lastError = err.message;
    this.#failures++;
    this.#state = this.#everWorked ? "reconnecting" : "error";
    const delay = Math.min(this.#o.maxBackoffMs, this.#o.backoffMs * 2 ** Math.min(30, this.#failures - 1));
    this.#nextAttemptAtMs = this.#o.nowMs() + delay;
    if (retry) this.#retry = batch;
    else this.#counts.rejected += batch.length;
    return false;
  }
}

/** `partialSuccess.rejectedSpans` of a collector's answer (a decimal string in JSON), or 0. */
function rejectedSpans(body: string): number {
  if (body === "") return 0;
  try {
    const n = Number(
      (JSON.parse(body) as { partialSuccess?: { rejectedSpans?: unknown } })
        .partialSuccess?.rejectedSpans ?? 0,
    );
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch {
    return 0; // a body that is not JSON (the specification allows an empty one) rejects nothing
  }
}
