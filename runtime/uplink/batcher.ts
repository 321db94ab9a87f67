/**
 * Mode C aggregation: module outputs collected over an interval (60 s by default) and queued in the outbox as
 * one compressed message of kind `"batch"`, instead of one message per value.
 *
 * ## Payload format `kiln.batch.v1`
 *
 * The payload is a zstd frame (RFC 8878; starts with `28 b5 2f fd`) or, with `codec: "gzip"`, a gzip member
 * (RFC 1952; starts with `1f 8b`), holding UTF-8 JSON:
 *
 * ```json
 * {
 *   "format": "kiln.batch.v1",
 *   "device": "gw-demo-01",
 *   "stream": "kiln/batch",
 *   "seq": 17,
 *   "start_ms": 1764085200000,
 *   "end_ms": 1764085259900,
 *   "count": 3,
 *   "series": [
 *     { "module": "temperature", "name": "temp_c", "t": [0, 59900], "v": [45.1, 45.3] },
 *     { "module": "fft", "name": "band_energy", "t": [120], "v": [[0.5, 0.25, "NaN", 1]] }
 *   ]
 * }
 * ```
 *
 * - `stream` and `seq` are the outbox's: a receiver drops a batch it has seen (same pair) and detects a
 *   missing one by a gap in `seq`.
 * - `start_ms` and `end_ms` are the earliest and latest output times in the batch (ms since the epoch);
 *   `device` is present only when configured.
 * - One `series` per `(module, name)`, in order of first appearance; `t[i]` is the i-th output's time as
 *   ms after `start_ms`, and `v[i]` its value, in the order they were added.
 * - A value is a number or an array of numbers. JSON has no NaN or infinities: those are the strings
 *   `"NaN"`, `"Infinity"` and `"-Infinity"`. Float32Array values are written with the fewest digits that
 *   read back to the same float32.
 *
 * {@linkcode decodeBatch} reads it back.
 *
 * Outputs wait in memory until their batch is queued: a crash loses at most one interval of them, as the
 * issue allows for Mode C. Once queued, a batch has the outbox's guarantees.
 *
 * @example
 * ```ts ignore
 * using batcher = createBatcher(outbox, { topic: "kiln/gw-01/batch", intervalMs: 60_000 });
 * batcher.add({ module: "temperature", name: "temp_c", value: 45.1, atMs: Date.now() });
 * // every 60 s: one outbox message of kind "batch"; on dispose, the rest.
 * ```
 *
 * @module
 */
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import type { Outbox, OutboxMessage } from "../../snapshots/outbox.ts";
import { type Clock, systemClock } from "./forwarder.ts";

/** The format name in every batch. */
export const BATCH_FORMAT = "kiln.batch.v1";

/** One module output. */
export interface BatchOutput {
  readonly module: string;
  readonly name: string;
  readonly value: number | ArrayLike<number>;
  /** When the module produced it, in ms since the epoch. */
  readonly atMs: number;
}

/** A decoded batch (see the module doc for the wire format). */
export interface DecodedBatch {
  readonly device: string | null;
  readonly stream: string;
  readonly seq: number;
  readonly startMs: number;
  readonly endMs: number;
  /** In series order, then in the order added. */
  readonly outputs: { module: string; name: string; value: number | number[]; atMs: number }[];
}

/** Compression of a batch. */
export type BatchCodec = "zstd" | "gzip";

/** Options of {@linkcode createBatcher}. */
export interface BatcherOptions {
  /** The MQTT topic of the batches. */
  readonly topic: string;
  /** The outbox stream. @default the topic */
  readonly stream?: string;
  /** How often a batch is queued, in ms. @default 60000 */
  readonly intervalMs?: number;
  /** @default 1 */
  readonly qos?: 0 | 1 | 2;
  /** @default "zstd" */
  readonly codec?: BatchCodec;
  /** A batch is queued early when it reaches this many outputs. @default 10000 */
  readonly maxOutputs?: number;
  /** Written into each batch when given. */
  readonly device?: string;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** What {@linkcode Batcher.stats} reports. */
export interface BatcherStats {
  /** Outputs waiting for the next batch. */
  readonly pendingOutputs: number;
  /** Batches queued in the outbox. */
  readonly batches: number;
  /** Outputs in those batches. */
  readonly outputs: number;
  /** Outputs lost because their batch could not be queued. */
  readonly droppedOutputs: number;
  /** Why the last batch could not be queued; `null` if that never happened. */
  readonly lastError: string | null;
}

/** Collects outputs and queues them as batches; dispose it to queue the rest and stop. */
export interface Batcher extends Disposable {
  /**
   * Adds one output to the current batch; queues the batch at once when it reaches `maxOutputs`.
   *
   * @throws {TypeError} when a field has the wrong type.
   */
  add(output: BatchOutput): void;
  /**
   * Queues the current batch now. Returns the stored message, or `null` when there was nothing to send.
   *
   * @throws {Error} what the outbox throws (e.g. `OutboxWriteError`); the batch's outputs are then counted
   * as dropped.
   */
  flush(): OutboxMessage | null;
  stats(): BatcherStats;
  /** Queues what is pending and stops the timer. */
  close(): void;
}

interface Series {
  module: string;
  name: string;
  atMs: number[];
  values: (number | ArrayLike<number>)[];
}

/**
 * Starts batching into `outbox`: a batch every `intervalMs` (none when nothing was added).
 *
 * @throws {RangeError} when `intervalMs` or `maxOutputs` is out of range.
 * @throws {TypeError} when the topic is empty or the codec unknown.
 */
export function createBatcher(outbox: Pick<Outbox, "enqueue">, options: BatcherOptions): Batcher {
  const { topic, device } = options;
  const stream = options.stream ?? topic;
  const intervalMs = options.intervalMs ?? 60_000;
  const maxOutputs = options.maxOutputs ?? 10_000;
  const codec = options.codec ?? "zstd";
  const qos = options.qos ?? 1;
  const clock = options.clock ?? systemClock;
  if (typeof topic !== "string" || topic === "") throw new TypeError("A batcher needs a topic");
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) {
    throw new RangeError(`intervalMs must be above 0, got ${intervalMs}`);
  }
  if (!Number.isSafeInteger(maxOutputs) || maxOutputs < 1) {
    throw new RangeError(`maxOutputs must be an integer of 1 or more, got ${maxOutputs}`);
  }
  if (codec !== "zstd" && codec !== "gzip") {
    throw new TypeError(`Unknown batch codec ${JSON.stringify(codec)}`);
  }

  let series = new Map<string, Series>();
  let pending = 0;
  const counts = { batches: 0, outputs: 0, droppedOutputs: 0 };
  let lastError: string | null = null;
  let closed = false;

  const startedMs = clock.nowMs();
  let ticks = 0;
  let cancelTimer = clock.setTimer(tick, intervalMs);
  function tick(): void {
    // Fixed rate: the k-th batch at start + k * interval, however late this timer ran.
    ticks = Math.max(ticks + 1, Math.floor((clock.nowMs() - startedMs) / intervalMs));
    cancelTimer = clock.setTimer(tick, Math.max(0, startedMs + (ticks + 1) * intervalMs - clock.nowMs()));
    try {
      flush();
    } catch {
      // Counted and kept in lastError by flush(); the timer has nobody to throw to.
    }
  }

  function flush(): OutboxMessage | null {
    if (pending === 0) return null;
    const taken = [...series.values()];
    const count = pending;
    series = new Map();
    pending = 0;
    try {
      const message = outbox.enqueue({
        stream,
        kind: "batch",
        topic,
        qos,
        payload: (seq) => encodeBatch(taken, { stream, seq, device, codec }),
      });
      counts.batches++;
      counts.outputs += count;
      return message;
    } catch (err) {
      counts.droppedOutputs += count;
      lastError = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  function close(): void {
    if (closed) return;
    closed = true;
    cancelTimer();
    flush();
  }

  return {
    add(output) {
      const { module, name, value, atMs } = output;
      if (typeof module !== "string" || typeof name !== "string") {
        throw new TypeError("A batch output needs a module and a name");
      }
      if (typeof atMs !== "number" || !Number.isFinite(atMs)) {
        throw new TypeError(`A batch output needs a finite atMs, got ${atMs}`);
      }
      if (typeof value !== "number" && (typeof value !== "object" || typeof value?.length !== "number")) {
        throw new TypeError("A batch output's value must be a number or an array of numbers");
      }
      const key = `${module}\u0000${name}`;
      let s = series.get(key);
      if (!s) series.set(key, s = { module, name, atMs: [], values: [] });
      s.atMs.push(atMs);
      s.values.push(value);
      if (++pending >= maxOutputs) flush();
    },
    flush,
    stats: () => ({ pendingOutputs: pending, ...counts, lastError }),
    close,
    [Symbol.dispose]: close,
  };
}

function encodeBatch(
  series: Series[],
  header: { stream: string; seq: number; device: string | undefined; codec: BatchCodec },
): Uint8Array {
  let startMs = Infinity;
  let endMs = -Infinity;
  let count = 0;
  for (const s of series) {
    for (const t of s.atMs) {
      if (t < startMs) startMs = t;
      if (t > endMs) endMs = t;
    }
    count += s.atMs.length;
  }
  const json = JSON.stringify({
    format: BATCH_FORMAT,
    ...(header.device === undefined ? {} : { device: header.device }),
    stream: header.stream,
    seq: header.seq,
    start_ms: startMs,
    end_ms: endMs,
    count,
    series: series.map((s) => ({
      module: s.module,
      name: s.name,
      t: s.atMs.map((t) => t - startMs),
      v: s.values.map(encodeValue),
    })),
  });
  const bytes = new TextEncoder().encode(json);
  return new Uint8Array(header.codec === "zstd" ? zstdCompressSync(bytes) : gzipSync(bytes));
}

function encodeValue(value: number | ArrayLike<number>): unknown {
  if (typeof value === "number") return encodeNumber(value);
  const f32 = value instanceof Float32Array;
  return Array.from(value, (x) => encodeNumber(f32 ? shortestFloat32(x) : x));
}

function encodeNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x); // "NaN", "Infinity", "-Infinity"
}

/** The number with the fewest significant digits that is the same float32 as `x`. */
function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return Number(x.toPrecision(9)); // 9 digits always read back to the same float32
}

const MAX_DECODED_BYTES = 64 * 1024 * 1024;

/**
 * Reads a batch payload (zstd or gzip, told apart by their magic bytes).
 *
 * @throws {SyntaxError} when it is not a `kiln.batch.v1` payload.
 */
export function decodeBatch(payload: Uint8Array): DecodedBatch {
  let json: string;
  try {
    const zstd = payload[0] === 0x28 && payload[1] === 0xb5 && payload[2] === 0x2f && payload[3] === 0xfd;
    const gzip = payload[0] === 0x1f && payload[1] === 0x8b;
    if (!zstd && !gzip) throw new Error("neither a zstd frame nor a gzip member");
    const raw = zstd
      ? zstdDecompressSync(payload, { maxOutputLength: MAX_DECODED_BYTES })
      : gunzipSync(payload, { maxOutputLength: MAX_DECODED_BYTES });
    json = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch (err) {
    throw new SyntaxError(`Cannot decode a batch: ${(err as Error).message}`, { cause: err });
  }
  const doc = JSON.parse(json) as {
    format?: unknown;
    device?: unknown;
    stream?: unknown;
    seq?: unknown;
    start_ms?: unknown;
    end_ms?: unknown;
    series?: unknown;
  };
  if (doc?.format !== BATCH_FORMAT) {
    throw new SyntaxError(
      `Cannot decode a batch: format is ${JSON.stringify(doc?.format)}, not "${BATCH_FORMAT}"`,
    );
  }
  if (
    typeof doc.stream !== "string" || typeof doc.seq !== "number" || typeof doc.start_ms !== "number" ||
    typeof doc.end_ms !== "number" || !Array.isArray(doc.series)
  ) {
    throw new SyntaxError("Cannot decode a batch: a header field is missing or of the wrong type");
  }
  const startMs = doc.start_ms;
  const outputs: DecodedBatch["outputs"] = [];
  for (const s of doc.series as { module: unknown; name: unknown; t: unknown; v: unknown }[]) {
    if (
      typeof s?.module !== "string" || typeof s.name !== "string" || !Array.isArray(s.t) ||
      !Array.isArray(s.v) ||
      s.t.length !== s.v.length
    ) {
      throw new SyntaxError("Cannot decode a batch: a series is malformed");
    }
    for (let i = 0; i < s.t.length; i++) {
      const v = s.v[i] as unknown;
      outputs.push({
        module: s.module,
        name: s.name,
        atMs: startMs + Number(s.t[i]),
        value: Array.isArray(v) ? v.map(decodeNumber) : decodeNumber(v),
      });
    }
  }
  return {
    device: typeof doc.device === "string" ? doc.device : null,
    stream: doc.stream,
    seq: doc.seq,
    startMs,
    endMs: doc.end_ms,
    outputs,
  };
}

function decodeNumber(x: unknown): number {
  if (typeof x === "number") return x;
  if (x === "NaN" || x === "Infinity" || x === "-Infinity") return Number(x);
  throw new SyntaxError(`Cannot decode a batch: ${JSON.stringify(x)} is not a value`);
}
