/**
 * `GET /api/v1/modules/:name/history?keys=a,b&seconds=300`: a module's recent numeric outputs, so a chart
 * is full when the page loads, from the runtime's output history (`runtime/history/`): one point per 250 ms
 * bucket (its last value) for each scalar key, the last 300 s at most, and the latest value of each array.
 *
 * @module
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { ModuleUnknownError } from "../../runtime/mod.ts";
import { HISTORY_MAX_ARRAY_KEYS, HISTORY_MAX_KEYS, HISTORY_SECONDS } from "../../runtime/history/mod.ts";
import type { ModuleHistory } from "../../runtime/history/mod.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { Json } from "../_json.ts";
import type { HistoryReader, ModuleControl } from "../ports.ts";

export type { HistoryReader };

/** Keys one request may name (`keys`): every scalar and array key a module can have in the history. */
export const MAX_HISTORY_QUERY_KEYS = HISTORY_MAX_KEYS + HISTORY_MAX_ARRAY_KEYS;

/**
 * A module's history as JSON: `module`, `bucket_ms`, `now` (epoch ms), `outputs` (per key `t`: epoch ms,
 * `v`: numbers, null for a non-finite value, oldest first), `arrays` (per key `t`: epoch ms of its latest
 * value, `v`: its numbers) and `dropped_keys`. Times are epoch numbers, not RFC 3339 strings as elsewhere in
 * the API: they are a chart's x axis, 1,200 to a key. The key records have no prototype: the keys are the
 * module's.
 */
export function historyJson(module: string, h: ModuleHistory): Json {
  const outputs = Object.create(null) as Record<string, Json>;
  for (const [key, points] of h.outputs) outputs[key] = { t: points.t, v: points.v };
  const arrays = Object.create(null) as Record<string, Json>;
  for (const [key, point] of h.arrays) {
    arrays[key] = { t: point.t, v: Array.from(point.v, (x) => Number.isFinite(x) ? x : null) };
  }
  return {
    module,
    bucket_ms: h.bucketMs,
    now: h.nowMs,
    outputs,
    arrays,
    dropped_keys: h.droppedKeys,
  };
}

/**
 * Routes under `/api/v1/modules`: `GET /:name/history` (viewer). `keys` (optional, comma-separated, at most
 * {@linkcode MAX_HISTORY_QUERY_KEYS}; keys the module never set are left out) and `seconds` (1 to 300,
 * default 300).
 *
 * @throws {ModuleUnknownError} 404 `module_unknown` for a module the runtime does not have.
 * @throws {BadRequestError} 400 `bad_request` for a bad `keys` or `seconds`, naming the parameter.
 * @throws {NotFoundError} 404 `history_unavailable` when the runtime keeps no history (`history` is null).
 */
export function historyRoutes(
  modules: Pick<ModuleControl, "getModule">,
  history: HistoryReader | null,
): Hono {
  const app = new Hono();
  app.get("/:name/history", (c) => {
    const name = c.req.param("name");
    if (history === null) {
      throw new NotFoundError("history_unavailable", "This runtime keeps no output history");
    }
    if (modules.getModule(name) === null) throw new ModuleUnknownError(name);
    const keys = keysQuery(c);
    const seconds = secondsQuery(c);
    return c.json(historyJson(name, history.query(name, { seconds, ...(keys && { keys }) })));
  });
  return app;
}

/** `keys`: undefined when absent (every key), else the set of names it lists. */
function keysQuery(c: Context): Set<string> | undefined {
  const raw = c.req.query("keys");
  if (raw === undefined) return undefined;
  const keys = new Set(raw.split(",").filter((k) => k !== ""));
  if (keys.size === 0) {
    throw new BadRequestError(`Query parameter "keys" must list output keys separated by commas, got ""`);
  }
  if (keys.size > MAX_HISTORY_QUERY_KEYS) {
    throw new BadRequestError(
      `Query parameter "keys" names ${keys.size} keys; at most ${MAX_HISTORY_QUERY_KEYS} at once`,
    );
  }
  return keys;
}

/** `seconds`: an integer from 1 to 300, 300 when absent. */
function secondsQuery(c: Context): number {
  const raw = c.req.query("seconds");
  if (raw === undefined) return HISTORY_SECONDS;
  const n = Number(raw);
  if (!/^[0-9]+$/.test(raw) || n < 1 || n > HISTORY_SECONDS) {
    throw new BadRequestError(
      `Query parameter "seconds" must be an integer from 1 to ${HISTORY_SECONDS}, got "${raw.slice(0, 32)}"`,
    );
  }
  return n;
}
