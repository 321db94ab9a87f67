/**
 * The one place that turns errors into HTTP responses: `{ "error": code, "detail": text }` (and `"issues"`
 * for an error that lists them, such as an invalid manifest) with a status from a table of error codes. Unexpected errors are logged and answered with a 500 that carries no stack.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { KilnError } from "../errors.ts";

/** HTTP status per Kiln error code; codes not listed are 400 when a user caused them. */
const STATUS_BY_CODE: Readonly<Record<string, ContentfulStatusCode>> = {
  module_unknown: 404,
  sensor_unknown: 404,
  pin_unknown: 404,
  audit_unavailable: 404,
  not_found: 404,
  module_state: 409,
  module_exists: 409,
  event_too_large: 413,
  manifest_invalid: 422,
  module_rejected: 422,
  deploy_failed: 422,
  deploy_unavailable: 404,
  payload_too_large: 413,
  checksum_mismatch: 422,
  limit_exceeded: 422,
  bad_request: 400,
  executor_failed: 503,
  snapshot_store_failed: 503,
  snapshots_unavailable: 404,
  uplink_unavailable: 404,
};

/** An error raised by a route for a malformed request. */
export class BadRequestError extends KilnError {
  readonly code = "bad_request";
}

/** A route's resource does not exist. */
export class NotFoundError extends KilnError {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Hono `onError` handler. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof KilnError) {
    const status = Object.hasOwn(STATUS_BY_CODE, err.code) ? STATUS_BY_CODE[err.code]! : 400;
    // An error that lists its problems (an invalid manifest: each issue's path and message, and for a policy
    // limit its code, the limit, the value asked for and the value allowed) gives the list as data too.
    const issues = "issues" in err && Array.isArray(err.issues) ? { issues: err.issues } : {};
    return c.json({ error: err.code, detail: err.message, ...issues }, status);
  }
  if (err instanceof HTTPException) {
    return c.json({ error: "http_error", detail: err.message || "Request failed" }, err.status);
  }
  console.error(`Unexpected error answering ${c.req.method} ${c.req.path}:`, err);
  return c.json({ error: "internal", detail: "Internal error; see the runtime's log" }, 500);
}

/**
 * Reads a JSON object body, or throws {@linkcode BadRequestError} naming what is wrong. The object has no
 * prototype: a field the client did not send is `undefined`, never a member of `Object.prototype`.
 */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new BadRequestError("Request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError("Request body must be a JSON object");
  }
  // JSON.parse makes "__proto__" an own key; Object.assign onto a null-prototype object keeps it one.
  return Object.assign(Object.create(null) as Record<string, unknown>, body);
}
