/**
 * Recording a running module (`docs/record_replay.md`): `POST /api/v1/modules/:name/record` starts one
 * (operator; body `{ "for_s"?, "invocations"?, "max_bytes"? }`), `GET /api/v1/modules/:name/record` says where
 * it stands, `GET /api/v1/modules/:name/record/trace` downloads the last finished trace, which `kiln replay`
 * replays.
 *
 * @module
 */
import { Hono } from "hono";
import { MAX_LIVE_TRACE_BYTES } from "../../runtime/record/mod.ts";
import type { LiveRecordingRequest, LiveRecordingStatus } from "../../runtime/record/mod.ts";
import { isoTime, type Json } from "../_json.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { RecordingControl } from "../ports.ts";

/** The longest recording a request may ask for, in seconds (a day). */
export const MAX_RECORD_SECONDS = 86_400;
/** The most invocations a request may ask for. */
export const MAX_RECORD_INVOCATIONS = 100_000_000;

/**
 * A recording's status as JSON: `module`, `state` (`recording`, `done`), `invocations` (handler calls
 * recorded, the start not counted), `size_bytes`, `stop` (why it ended, or null), `started_at`, `path` (the
 * trace on the gateway, or null when kept in memory) and `error`.
 */
export function recordingJson(s: LiveRecordingStatus): Json {
  return {
    module: s.module,
    state: s.state,
    invocations: Math.max(0, s.invocations - 1),
    size_bytes: s.sizeBytes,
    stop: s.stop,
    started_at: isoTime(s.startedAtMs),
    path: s.path,
    error: s.error,
  };
}

/** Reads the body of a `POST .../record`: every field optional, each a positive integer within its bound. */
async function requestOf(req: Request): Promise<LiveRecordingRequest> {
  const text = await req.text();
  let body: unknown = {};
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new BadRequestError(`Expected a JSON body: ${(err as Error).message}`);
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError(`Expected a JSON object, e.g. {"invocations": 500}`);
  }
  const fields = new Map(Object.entries(body));
  for (const key of fields.keys()) {
    if (!["for_s", "invocations", "max_bytes"].includes(key)) {
      throw new BadRequestError(`Unknown field "${key}": a recording takes for_s, invocations and max_bytes`);
    }
  }
  const positive = (key: string, max: number, integer: boolean): number | null => {
    const v = fields.get(key);
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !(v > 0) || v > max || (integer && !Number.isSafeInteger(v))) {
      throw new BadRequestError(
        `Field "${key}" must be a positive ${integer ? "integer" : "number"} up to ${max}, got ${
          JSON.stringify(v)
        }`,
      );
    }
    return v;
  };
  const forS = positive("for_s", MAX_RECORD_SECONDS, false);
  return {
    invocations: positive("invocations", MAX_RECORD_INVOCATIONS, true),
    durationMs: forS === null ? null : Math.max(1, Math.round(forS * 1000)),
    maxBytes: positive("max_bytes", MAX_LIVE_TRACE_BYTES, true),
  };
}

/** Routes under `/api/v1/modules`; without recordings (a runtime that has none), 404 `recording_unavailable`. */
export function recordRoutes(recordings: RecordingControl | null): Hono {
  const app = new Hono();
  const control = (): RecordingControl => {
    if (recordings === null) {
      throw new NotFoundError("recording_unavailable", "This runtime does not record modules");
    }
    return recordings;
  };
  app.post("/:name/record", async (c) => {
    const r = control();
    const request = await requestOf(c.req.raw);
    const status = await r.start(c.req.param("name"), request);
    return c.json(recordingJson(status), 201);
  });
  app.get("/:name/record", (c) => {
    const name = c.req.param("name");
    const status = control().status(name);
    if (status === null) {
      throw new NotFoundError("recording_not_found", `No recording of module "${name}" was started`);
    }
    return c.json(recordingJson(status));
  });
  app.get("/:name/record/trace", async (c) => {
    const name = c.req.param("name");
    const bytes = await control().trace(name);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${name.replace(/[^A-Za-z0-9_.-]/g, "_")}.ktrace"`,
    });
  });
  return app;
}
