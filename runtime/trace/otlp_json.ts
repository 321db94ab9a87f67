/**
 * Trace events as OpenTelemetry spans in the OTLP/HTTP JSON encoding (OTLP specification 1.x, "JSON Protobuf
 * Encoding": `traceId`/`spanId` as hex, 64-bit integers as decimal strings, enums as numbers, lowerCamelCase
 * field names). One span per traced handler call, each its own trace (a root span of kind INTERNAL), so a
 * collector never holds a trace open across calls. The ids are derived, not random: `spanId` is the module's
 * FNV-1a hash and the event's `seq`, `traceId` the exporter's run id (random per process) and the same 8
 * bytes, so the same call exported twice (a retry) keeps its ids.
 *
 * Written here rather than with `@opentelemetry/otlp-transformer`: that package converts the SDK's
 * `ReadableSpan` objects, which would bring `sdk-trace-base`, `resources`, `core` and protobufjs into the
 * gateway to build spans Kiln does not otherwise have; the JSON shape for this one kind of span is small.
 *
 * @module
 */
import type { TraceEvent } from "./store.ts";

/** `Span.SpanKind.SPAN_KIND_INTERNAL` (opentelemetry-proto `trace/v1/trace.proto`). */
export const SPAN_KIND_INTERNAL = 1;
/** `Status.StatusCode`: unset for a call that returned 0, error for any other outcome. */
export const STATUS_UNSET = 0;
export const STATUS_ERROR = 2;
/** The instrumentation scope's name. */
export const SCOPE_NAME = "kiln.runtime";

/** An OTLP `AnyValue` as JSON. */
export type OtlpValue =
  | { stringValue: string }
  | { intValue: string }
  | { doubleValue: number }
  | { boolValue: boolean };

/** An OTLP `KeyValue` as JSON. */
export interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

/** An OTLP `Span` as JSON, as {@linkcode encodeSpans} fills it. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
  status: { code: number; message?: string };
}

/** The body of `POST /v1/traces`: an `ExportTraceServiceRequest` as JSON. */
export interface OtlpTracesRequest {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { scope: { name: string; version: string }; spans: OtlpSpan[] }[];
  }[];
}

/** Who exports: the resource attributes of every span. */
export interface OtlpResource {
  /** `service.name`. @default "kiln" */
  serviceName?: string;
  /** `service.version`, Kiln's version. */
  version: string;
  /** `host.name` and `kiln.device.id`: the manifest's `device.id`. */
  deviceId: string;
  /** 16 hex digits identifying this process's run; the first half of every trace id. */
  runId: string;
}

/** A fresh run id: 8 random bytes, hex. */
export function createRunId(): string {
  return hex(crypto.getRandomValues(new Uint8Array(8)));
}

/** Encodes trace events as one OTLP/HTTP JSON request (one resource, one scope). */
export function encodeSpans(events: readonly TraceEvent[], resource: OtlpResource): OtlpTracesRequest {
  return {
    resourceSpans: [{
      resource: {
        attributes: [
          str("service.name", resource.serviceName ?? "kiln"),
          str("service.version", resource.version),
          str("host.name", resource.deviceId),
          str("kiln.device.id", resource.deviceId),
        ],
      },
      scopeSpans: [{
        scope: { name: SCOPE_NAME, version: resource.version },
        spans: events.map((e) => spanOf(e, resource.runId)),
      }],
    }],
  };
}

/** One event's span. */
export function spanOf(e: TraceEvent, runId: string): OtlpSpan {
  const spanId = fnv1a32(e.module) + (e.seq >>> 0).toString(16).padStart(8, "0");
  const startNs = BigInt(Math.round(e.startMs * 1000)) * 1000n;
  const endNs = startNs + BigInt(Math.max(0, Math.round(e.durationUs * 1000)));
  const attributes: OtlpAttribute[] = [
    str("kiln.module", e.module),
    int("kiln.seq", e.seq),
    int("kiln.invocation", e.invocation),
    str("kiln.handler", e.handler),
    str("kiln.outcome", e.outcome),
    { key: "kiln.duration_us", value: { doubleValue: e.durationUs } },
    int("kiln.alloc_bytes", e.allocBytes),
  ];
  if (e.load !== null) attributes.push(int("kiln.load", e.load));
  if (e.instructions !== null) attributes.push(int("kiln.instructions", e.instructions));
  if (e.code !== null) attributes.push(str("kiln.code", e.code));
  for (const [capability, n] of Object.entries(e.uses ?? {})) {
    attributes.push(int(`kiln.uses.${capability}`, n));
  }
  return {
    traceId: runId + spanId,
    spanId,
    name: `${e.module} ${e.handler}`,
    kind: SPAN_KIND_INTERNAL,
    startTimeUnixNano: startNs.toString(),
    endTimeUnixNano: endNs.toString(),
    attributes,
    status: e.outcome === "ok"
      ? { code: STATUS_UNSET }
      : { code: STATUS_ERROR, message: e.code === null ? e.outcome : `${e.outcome}: ${e.code}` },
  };
}

function str(key: string, value: string): OtlpAttribute {
  return { key, value: { stringValue: value } };
}

function int(key: string, value: number): OtlpAttribute {
  return { key, value: { intValue: String(Math.trunc(value)) } };
}

/** FNV-1a, 32 bits, of the UTF-16 code units of `s`, as 8 hex digits (never all zero: 0 becomes 1). */
function fnv1a32(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h === 0 ? 1 : h).toString(16).padStart(8, "0");
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
