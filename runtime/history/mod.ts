/**
 * Recent history for the dashboard (issue #21): {@linkcode OutputHistory}, a bounded ring per module and
 * output key of its recent numeric outputs (one point per 250 ms bucket, the last 300 s, at most 64 keys a
 * module) and the latest value of each array output, fed by the runtime's telemetry; and
 * {@linkcode ProcessSampler}, the gateway process's memory, CPU share (over the last ~5 s) and load average.
 * Both live on the main thread; the runtime makes them (`Runtime.history`, `Runtime.processFigures()`) and
 * the API reads them through its observability port.
 *
 * @example
 * ```ts ignore
 * const runtime = await createRuntime(options);
 * await runtime.start();
 * const h = runtime.history.query("fft", { seconds: 60 });
 * console.log(h.outputs.get("rms_g")?.v.at(-1), runtime.processFigures().cpuPercent);
 * ```
 *
 * @module
 */
export {
  type ArrayPoint,
  HISTORY_BUCKET_MS,
  HISTORY_MAX_ARRAY_KEYS,
  HISTORY_MAX_KEYS,
  HISTORY_POINTS,
  HISTORY_SECONDS,
  type HistoryQuery,
  type HistoryStats,
  type ModuleHistory,
  OutputHistory,
} from "./history.ts";
export { type SeriesPoints, SeriesRing } from "./ring.ts";
export {
  CPU_SAMPLE_MS,
  CPU_WINDOW_MS,
  type ProcessClock,
  type ProcessFigures,
  ProcessSampler,
} from "./process.ts";
