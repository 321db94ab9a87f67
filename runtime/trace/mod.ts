/**
 * Per-invocation traces (issue #19, `docs/traces.md`): each handler call an executor runs becomes a trace
 * event (handler, start and duration on the executor's clock, instructions when metered, bytes the call grew
 * memory by, capabilities used, outcome), carried to the main thread in the executor's 100 ms report,
 * numbered per module and kept in a ring ({@linkcode TraceStore}, `Runtime.traces`), shown by
 * `GET /api/v1/modules/:name/traces` and the stream's `traces/<module>` topic, and exported as OpenTelemetry
 * spans over OTLP/HTTP JSON ({@linkcode OtlpExporter}) to the collector the manifest names.
 *
 * @example
 * ```ts ignore
 * const runtime = await createRuntime(options);
 * await using exporter = startTraceExport(runtime.traces, manifest.observability, {
 *   version: runtime.version,
 *   deviceId: manifest.device.id,
 * });
 * await runtime.start();
 * ```
 *
 * @module
 */
import type { Manifest } from "../manifest/mod.ts";
import { OtlpExporter } from "./otlp.ts";
import type { OtlpResource } from "./otlp_json.ts";
import type { TraceStore } from "./store.ts";

export {
  DEFAULT_TRACE_EVERY,
  DEFAULT_TRACE_RING,
  MAX_TRACED_MODULES,
  type TraceEvent,
  type TraceExporterHandle,
  type TraceListener,
  TraceStore,
  type TraceStoreOptions,
  type TraceStoreStats,
} from "./store.ts";
export { OtlpExporter, type OtlpExporterOptions } from "./otlp.ts";
export {
  encodeSpans,
  type OtlpAttribute,
  type OtlpResource,
  type OtlpSpan,
  type OtlpTracesRequest,
  SCOPE_NAME,
  SPAN_KIND_INTERNAL,
  spanOf,
  STATUS_ERROR,
  STATUS_UNSET,
} from "./otlp_json.ts";
export { OtlpExportError } from "./errors.ts";

/** The manifest's `observability` section, parsed. */
export type ObservabilitySpec = Manifest["observability"];

/** What {@linkcode startTraceExport} returns: the exporter (or null), disposed with the handle. */
export interface TraceExport extends AsyncDisposable {
  readonly exporter: OtlpExporter | null;
}

/**
 * Applies the manifest's `observability` section to a runtime's trace store (sampling and ring size: call it
 * before the runtime starts its modules) and, when it names a collector, attaches and starts an
 * {@linkcode OtlpExporter}. Disposing the handle detaches the exporter and sends what waits, once.
 *
 * @throws {RangeError} when a setting is out of range (the manifest's schema has already checked them).
 */
export function startTraceExport(
  store: TraceStore,
  observability: ObservabilitySpec,
  resource: Omit<OtlpResource, "runId">,
): TraceExport {
  store.configure({ every: observability.traces.every, ringSize: observability.traces.ring });
  const otlp = observability.otlp;
  if (otlp === undefined) return { exporter: null, [Symbol.asyncDispose]: () => Promise.resolve() };
  const exporter = new OtlpExporter({
    endpoint: otlp.endpoint,
    everyS: otlp.every_s,
    headers: otlp.headers,
    timeoutMs: otlp.timeout_ms,
    maxQueue: otlp.max_queue,
    maxBatch: otlp.max_batch,
    resource,
  });
  const attached = store.attachExporter(exporter);
  exporter.start();
  return {
    exporter,
    async [Symbol.asyncDispose]() {
      attached[Symbol.dispose]();
      await exporter[Symbol.asyncDispose]();
    },
  };
}
