/**
 * `GET /api/v1/modules/:name/traces?since_seq=&limit=`: a module's per-invocation trace events, oldest first,
 * from the runtime's ring (`runtime/trace/`), and {@linkcode traceJson}, their JSON shape (the stream's
 * `traces/<module>` frames use it too).
 *
 * @module
 */
import { Hono } from "hono";
import { ModuleUnknownError } from "../../runtime/mod.ts";
import type { TraceEvent } from "../../runtime/trace/mod.ts";
import { isoTime, type Json } from "../_json.ts";
import { queryCount } from "../_query.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { ModuleControl, TraceReader } from "../ports.ts";

export type { TraceReader };

/** Events one request returns at most (`limit`); the default is 100. */
export const MAX_TRACES_PER_REQUEST = 1000;

/**
 * A trace event as JSON: `seq` (per module, from 1), the call's `handler`, `invocation` (the instance's call
 * number) and `load`, `start_at`/`end_at` (RFC 3339, ms) with `start_unix_us` and `duration_us` for precision,
 * `instructions` (null unless metered), `alloc_bytes`, `uses` (capability to count), `outcome` and `code`.
 */
export function traceJson(e: TraceEvent): Json {
  const uses = Object.create(null) as Record<string, number>;
  for (const [capability, n] of Object.entries(e.uses ?? {})) uses[capability] = n;
  return {
    seq: e.seq,
    module: e.module,
    load: e.load,
    invocation: e.invocation,
    handler: e.handler,
    start_at: isoTime(e.startMs),
    end_at: isoTime(e.startMs + e.durationUs / 1000),
    start_unix_us: Math.round(e.startMs * 1000),
    duration_us: Math.round(e.durationUs * 1000) / 1000,
    instructions: e.instructions,
    alloc_bytes: e.allocBytes,
    uses,
    outcome: e.outcome,
    code: e.code,
  };
}

/**
 * Routes under `/api/v1/modules`: `GET /:name/traces`. Without a trace store (a runtime that has none),
 * answers 404 `traces_unavailable`.
 */
export function tracesRoutes(modules: Pick<ModuleControl, "getModule">, traces: TraceReader | null): Hono {
  const app = new Hono();
  app.get("/:name/traces", (c) => {
    const name = c.req.param("name");
    if (traces === null) {
      throw new NotFoundError("traces_unavailable", "This runtime keeps no trace events");
    }
    if (modules.getModule(name) === null) throw new ModuleUnknownError(name);
    const sinceSeq = queryCount(c, "since_seq", 0);
    const limit = queryCount(c, "limit", 100);
    if (limit < 1 || limit > MAX_TRACES_PER_REQUEST) {
      throw new BadRequestError(
        `Query parameter "limit" must be 1..${MAX_TRACES_PER_REQUEST}, got "${c.req.query("limit")}"`,
      );
    }
    const s = traces.stats();
    return c.json({
      module: name,
      every: traces.every,
      ring: traces.ringSize,
      next_seq: traces.nextSeq(name),
      traces: traces.list(name, { sinceSeq, limit }).map(traceJson),
      store: {
        received: s.received,
        dropped_by_executors: s.droppedByExecutors,
        evicted: s.evicted,
        modules: s.modules,
      },
      exporters: traces.exporterStats().map((x) => ({ name: x.name, ...x.stats })),
    });
  });
  return app;
}
