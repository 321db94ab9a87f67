/**
 * The one place that turns errors into HTTP responses. Every error Kiln raises declares a kind (`../errors.ts`),
 * and one exhaustive table gives each kind its status: a kind without a status does not compile. Every non-2xx
 * JSON response has one body:
 *
 * ```json
 * { "error": { "code": "module_unknown", "message": "No module named \"nope\"" } }
 * ```
 *
 * and, for an error that lists its problems (an invalid manifest, a refused module), `error.issues`: each with
 * its `path`, its `line` (null when unknown) and its `message`, and for a policy limit its `code`, `limit`,
 * `requested` and `allowed`. Unexpected errors are logged and answered as `internal` (500) with no stack.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type ErrorKind, KilnError } from "../errors.ts";
import { ManifestError } from "../runtime/manifest/mod.ts";
import { ModuleRejectedError } from "../runtime/mod.ts";

/** The HTTP status of each kind of error. Exhaustive: `Record` fails to compile when a kind is missing. */
export const STATUS_BY_KIND: Readonly<Record<ErrorKind, ContentfulStatusCode>> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rejected: 422,
  wrong_protocol: 426,
  internal: 500,
  failed: 502,
  unavailable: 503,
  timeout: 504,
};

/** One problem of a refused request, as `kiln validate` prints it: where, on which line, and what. */
export interface ErrorIssue {
  /** Dotted path of the offending key, e.g. `modules.fft.capabilities[1]`; `""` for the whole document. */
  path: string;
  /** 1-based line in the text the client sent (a deploy's `spec`), or null when unknown. */
  line: number | null;
  message: string;
  /** 1-based column, when known. */
  column?: number;
  /** A refusal by the device policy: `policy_limit_exceeded` or `realtime_not_granted`. */
  code?: string;
  /** The policy limit, e.g. `policy.max_budget_us`, and what was asked for and allowed. */
  limit?: string;
  requested?: number | string;
  allowed?: number | string;
}

/** The body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; issues?: ErrorIssue[] };
}

/** A malformed request: a body that is not JSON, a missing field, a bad query parameter. */
export class BadRequestError extends KilnError {
  readonly code = "bad_request";
  readonly kind = "invalid";
}

/**
 * A route's resource does not exist, or this runtime has no such part (`uplink_unavailable`,
 * `snapshots_unavailable`, `audit_unavailable`, `deploy_unavailable`); `not_found` for an unknown route.
 */
export class NotFoundError extends KilnError {
  readonly kind = "not_found";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** A request without a token, or with one Kiln does not know (or revoked). */
export class UnauthorizedError extends KilnError {
  readonly code = "unauthorized";
  readonly kind = "unauthorized";
}

/** A token whose role does not allow the request. */
export class ForbiddenError extends KilnError {
  readonly code = "forbidden";
  readonly kind = "forbidden";
  /** @param needed The role the request needs. @param role The token's role. */
  constructor(readonly needed: string, readonly role: string, message: string) {
    super(message);
  }
}

/** A request body over the size limit. */
export class PayloadTooLargeError extends KilnError {
  readonly code = "payload_too_large";
  readonly kind = "too_large";
  /** @param limitBytes The limit of that route, bytes. */
  constructor(readonly limitBytes: number) {
    super(`The request body is over the ${limitBytes}-byte limit`);
  }
}

/** A plain HTTP request to the WebSocket stream. */
export class UpgradeRequiredError extends KilnError {
  readonly code = "upgrade_required";
  readonly kind = "wrong_protocol";
}

/** The stream has as many connections as it takes. */
export class TooManyConnectionsError extends KilnError {
  readonly code = "too_many_connections";
  readonly kind = "unavailable";
  /** @param open The connections open now, which is the limit. */
  constructor(readonly open: number) {
    super(`The stream already has ${open} connections, its limit`);
  }
}

/** An error Hono raised (`HTTPException`), with the kind of its status. */
export class HttpError extends KilnError {
  readonly code = "http_error";
  readonly kind: ErrorKind;
  /** @param status The status Hono chose; the answer has the status of the nearest kind. */
  constructor(readonly status: number, message: string, options?: ErrorOptions) {
    super(message || `Request failed (HTTP ${status})`, options);
    this.kind = kindOfStatus(status);
  }
}

/** An error Kiln did not expect (a bug): its details go to the log, not to the client. */
export class InternalError extends KilnError {
  readonly code = "internal";
  readonly kind = "internal";
  constructor(options?: ErrorOptions) {
    super("Internal error; see the runtime's log", options);
  }
}

/** The kind whose status is `status`; else `internal` for a 5xx and `invalid` for anything else. */
function kindOfStatus(status: number): ErrorKind {
  const kind = (Object.keys(STATUS_BY_KIND) as ErrorKind[]).find((k) => STATUS_BY_KIND[k] === status);
  return kind ?? (status >= 500 ? "internal" : "invalid");
}

/**
 * The problems an error lists, as {@linkcode ErrorIssue}s: an invalid manifest's issues, a refused module's
 * reasons (at its `wasm`); undefined for an error that lists none.
 */
export function issuesOf(err: KilnError): ErrorIssue[] | undefined {
  if (err instanceof ManifestError) {
    return err.issues.map((i) => ({
      path: i.path,
      line: i.line ?? null,
      message: i.message,
      ...(i.column !== undefined && { column: i.column }),
      ...(i.code !== undefined && { code: i.code }),
      ...(i.limit !== undefined && { limit: i.limit }),
      ...(i.requested !== undefined && { requested: i.requested }),
      ...(i.allowed !== undefined && { allowed: i.allowed }),
    }));
  }
  if (err instanceof ModuleRejectedError) {
    return err.reasons.map((message) => ({ path: `modules.${err.module}.wasm`, line: null, message }));
  }
  return undefined;
}

/** The body of an error response for `err`. */
export function errorBody(err: KilnError): ErrorBody {
  const issues = issuesOf(err);
  return { error: { code: err.code, message: err.message, ...(issues && { issues }) } };
}

/** Answers `err` with the status of its kind and the one error body. */
export function errorResponse(c: Context, err: KilnError): Response {
  return c.json(errorBody(err), STATUS_BY_KIND[err.kind]);
}

/** Hono `onError` handler: every error a route or middleware throws ends here. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof KilnError) return errorResponse(c, err);
  if (err instanceof HTTPException) {
    return errorResponse(c, new HttpError(err.status, err.message, { cause: err }));
  }
  console.error(`Unexpected error answering ${c.req.method} ${c.req.path}:`, err);
  return errorResponse(c, new InternalError({ cause: err }));
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
