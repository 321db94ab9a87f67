/**
 * The manifest's `observability` section: per-invocation traces (`runtime/trace/`, `docs/traces.md`) and the
 * OpenTelemetry collector they are exported to.
 *
 * ```yaml
 * observability:
 *   traces: { every: 1, ring: 256 }
 *   otlp:
 *     endpoint: http://collector:4318
 *     every_s: 5
 *     headers: { x-api-key: "..." }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { int, strict } from "./_zod.ts";

/** A header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/** The OTLP/HTTP exporter's settings. */
export const OtlpSchema = strict({
  /** The collector's OTLP/HTTP base URL; spans are posted to `<endpoint>/v1/traces`. */
  endpoint: z.url({ protocol: /^https?$/, error: "the OTLP endpoint must be an http or https URL" }),
  /** Seconds between two batches, 1..3600. */
  every_s: int(1, 3600).default(5),
  /** Extra request headers (an API key for the collector). */
  headers: z.record(
    z.string().regex(HEADER_NAME, "a header name must be an HTTP token"),
    z.string().max(4096),
  )
    .default({}),
  /** A request is given up after this long, ms. */
  timeout_ms: int(100, 60_000).default(10_000),
  /** Spans waiting for the collector at most; the newest past it are dropped and counted. */
  max_queue: int(1, 1_000_000).default(8192),
  /** Spans per request. */
  max_batch: int(1, 10_000).default(512),
});

/** The `observability` section. */
export const ObservabilitySchema = strict({
  traces: strict({
    /** Trace every Nth handler call of each module (1: all; 0, the default: none; see docs/traces.md). */
    every: int(0, 1_000_000).default(0),
    /** Trace events kept per module for `GET /api/v1/modules/:name/traces`. */
    ring: int(1, 100_000).default(256),
  }).prefault({}),
  otlp: OtlpSchema.optional(),
});

/** The `observability` section, parsed. */
export type ObservabilitySpec = z.output<typeof ObservabilitySchema>;
