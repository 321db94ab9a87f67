/**
 * {@linkcode OutputHistory}: the recent numeric outputs of every module, so a chart is full when a page
 * loads (`GET /api/v1/modules/:name/history`). It listens to the runtime's telemetry (`outputs`, `arrays`,
 * `removed`) on the main thread and keeps, per module, one {@linkcode SeriesRing} per scalar output key and
 * the latest value of each array output.
 *
 * Bounds: {@linkcode HISTORY_MAX_KEYS} scalar keys and {@linkcode HISTORY_MAX_ARRAY_KEYS} array keys per
 * module (a key past them is counted in `droppedKeys`, not stored), {@linkcode HISTORY_POINTS} points per key
 * (one per {@linkcode HISTORY_BUCKET_MS} bucket: {@linkcode HISTORY_SECONDS} seconds), 16 bytes a point. So
 * memory is at most modules x 64 x 1,200 x 16 bytes (about 1.2 MiB a module), plus the arrays, which the
 * runtime's account already bounds (`max_array_bytes`) and which are the very buffers the runtime holds.
 *
 * @module
 */
import type { TelemetryEvent } from "../telemetry.ts";
import { type SeriesPoints, SeriesRing } from "./ring.ts";

/** The width of a history bucket, ms: a key keeps at most one point, its last value, per bucket. */
export const HISTORY_BUCKET_MS = 250;
/** How far back the history reaches, seconds. */
export const HISTORY_SECONDS = 300;
/** Points kept per key: {@linkcode HISTORY_SECONDS} of {@linkcode HISTORY_BUCKET_MS} buckets (1,200). */
export const HISTORY_POINTS = (HISTORY_SECONDS * 1000) / HISTORY_BUCKET_MS;
/** Scalar output keys kept per module. */
export const HISTORY_MAX_KEYS = 64;
/** Array output keys kept per module. */
export const HISTORY_MAX_ARRAY_KEYS = 16;
/** Distinct refused keys remembered per module, so `droppedKeys` counts each once; past it, it stops growing. */
const MAX_DROPPED_REMEMBERED = 1024;

/** The latest value of one array output, and when it came (epoch ms). */
export interface ArrayPoint {
  readonly t: number;
  readonly v: Float32Array;
}

/** What {@linkcode OutputHistory.query} returns for one module. */
export interface ModuleHistory {
  /** The bucket width, ms. */
  readonly bucketMs: number;
  /** When the query ran, epoch ms; points are at or after `nowMs - seconds * 1000`. */
  readonly nowMs: number;
  /** Each scalar key's points, oldest first (a Map: the keys are the module's). */
  readonly outputs: Map<string, SeriesPoints>;
  /** Each array key's latest value. */
  readonly arrays: Map<string, ArrayPoint>;
  /** Distinct keys refused because the module had its fill of keys (scalar and array together). */
  readonly droppedKeys: number;
}

/** What to read: the keys (all when absent), how far back. */
export interface HistoryQuery {
  /** Output or array keys to return; unknown ones are left out. @default every key */
  readonly keys?: ReadonlySet<string>;
  /** How far back, seconds, 1 to {@linkcode HISTORY_SECONDS}. @default 300 */
  readonly seconds?: number;
  /** Now, epoch ms (tests). @default Date.now() */
  readonly nowMs?: number;
}

/** What the history holds, all modules together. */
export interface HistoryStats {
  modules: number;
  keys: number;
  points: number;
  /** Bytes of the typed arrays allocated (arrays' buffers not included: the runtime holds them anyway). */
  allocated_bytes: number;
}

class ModuleRings {
  readonly series = new Map<string, SeriesRing>();
  readonly arrays = new Map<string, ArrayPoint>();
  readonly dropped = new Set<string>();

  drop(key: string): void {
    if (this.dropped.size < MAX_DROPPED_REMEMBERED) this.dropped.add(key);
  }
}

/**
 * The recent outputs of each module, bounded (see the module doc). Feed it with
 * {@linkcode OutputHistory.subscribe} or its `record*` methods; read it with {@linkcode OutputHistory.query}.
 *
 * @example
 * ```ts ignore
 * const history = new OutputHistory();
 * using _ = history.subscribe(runtime.telemetry);
 * const fft = history.query("fft", { keys: new Set(["rms_g"]), seconds: 60 });
 * ```
 */
export class OutputHistory {
  /** Per module; the names are the manifest's and the keys the modules': Maps only. */
  #modules = new Map<string, ModuleRings>();

  /** Listens to `telemetry` until the returned handle is disposed. */
  subscribe(telemetry: { subscribe(listener: (e: TelemetryEvent) => void): Disposable }): Disposable {
    return telemetry.subscribe((e) => this.take(e));
  }

  /** Takes in one telemetry event: outputs and arrays are recorded, a removed module forgotten. */
  take(e: TelemetryEvent): void {
    if (e.type === "outputs") this.recordOutputs(e.module, e.at, e.outputs);
    else if (e.type === "arrays") this.recordArrays(e.module, e.at, e.arrays);
    else if (e.type === "removed") this.remove(e.module);
  }

  /**
   * Records a module's scalar outputs as of `atMs` (epoch ms): every key in `outputs` (own properties).
   * A key past {@linkcode HISTORY_MAX_KEYS} is counted as dropped.
   */
  recordOutputs(module: string, atMs: number, outputs: Readonly<Record<string, number>>): void {
    const m = this.#rings(module);
    for (const key in outputs) {
      if (!Object.hasOwn(outputs, key)) continue;
      let ring = m.series.get(key);
      if (ring === undefined) {
        if (m.series.size >= HISTORY_MAX_KEYS) {
          m.drop(key);
          continue;
        }
        ring = new SeriesRing(HISTORY_POINTS, HISTORY_BUCKET_MS);
        m.series.set(key, ring);
      }
      ring.push(atMs, outputs[key]!);
    }
  }

  /**
   * Records a module's array outputs as of `atMs`: the latest value of each key. The buffer is kept, not
   * copied: the runtime replaces a module's array on each report and never writes into the old one. A key
   * past {@linkcode HISTORY_MAX_ARRAY_KEYS} is counted as dropped. An unchanged buffer keeps its time.
   */
  recordArrays(module: string, atMs: number, arrays: Readonly<Record<string, Float32Array>>): void {
    const m = this.#rings(module);
    for (const key in arrays) {
      if (!Object.hasOwn(arrays, key)) continue;
      const values = arrays[key]!;
      const held = m.arrays.get(key);
      if (held === undefined && m.arrays.size >= HISTORY_MAX_ARRAY_KEYS) {
        m.drop(key);
        continue;
      }
      if (held?.v !== values) m.arrays.set(key, { t: atMs, v: values });
    }
  }

  /** Forgets a module's history (it was removed). */
  remove(module: string): void {
    this.#modules.delete(module);
  }

  /** Whether the history holds anything of `module`. */
  has(module: string): boolean {
    return this.#modules.has(module);
  }

  /**
   * A module's history: the points of each key within the last `seconds`, each array's latest value. A
   * module with no outputs yet (or not known) gets empty maps.
   *
   * @throws {RangeError} when `seconds` is not an integer from 1 to {@linkcode HISTORY_SECONDS}.
   */
  query(module: string, query: HistoryQuery = {}): ModuleHistory {
    const seconds = query.seconds ?? HISTORY_SECONDS;
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > HISTORY_SECONDS) {
      throw new RangeError(`"seconds" must be an integer from 1 to ${HISTORY_SECONDS}, got ${seconds}`);
    }
    const nowMs = query.nowMs ?? Date.now();
    const sinceMs = nowMs - seconds * 1000;
    const outputs = new Map<string, SeriesPoints>();
    const arrays = new Map<string, ArrayPoint>();
    const m = this.#modules.get(module);
    if (m !== undefined) {
      const wanted = (key: string) => query.keys === undefined || query.keys.has(key);
      for (const [key, ring] of m.series) if (wanted(key)) outputs.set(key, ring.since(sinceMs));
      for (const [key, point] of m.arrays) if (wanted(key)) arrays.set(key, point);
    }
    return { bucketMs: HISTORY_BUCKET_MS, nowMs, outputs, arrays, droppedKeys: m?.dropped.size ?? 0 };
  }

  /** Modules, keys, points and bytes held now. */
  stats(): HistoryStats {
    const s: HistoryStats = { modules: this.#modules.size, keys: 0, points: 0, allocated_bytes: 0 };
    for (const m of this.#modules.values()) {
      for (const ring of m.series.values()) {
        s.keys++;
        s.points += ring.size;
        s.allocated_bytes += ring.allocatedBytes;
      }
    }
    return s;
  }

  #rings(module: string): ModuleRings {
    let m = this.#modules.get(module);
    if (m === undefined) {
      m = new ModuleRings();
      this.#modules.set(module, m);
    }
    return m;
  }
}
