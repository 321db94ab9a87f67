/**
 * Errors of the controller's API and its error handler: the gateway's (`api/errors.ts`: statuses from error
 * kinds, one error body, no stack trace), plus the issues of a refused request body.
 *
 * @module
 */
import type { Context } from "hono";
import { type ErrorIssue, handleError, STATUS_BY_KIND } from "../../api/errors.ts";
import { KilnError } from "../../errors.ts";

/** A request body that does not validate: each issue names its path (`phases[1].percent`, `spec.wasm`). */
export class RequestInvalidError extends KilnError {
  readonly code = "request_invalid";
  readonly kind = "invalid";
  /** @param issues Every problem found, each with its path (`""` for the whole body). */
  constructor(readonly issues: readonly ErrorIssue[], message?: string) {
    super(
      message ??
        `The request body is invalid: ${
          issues.slice(0, 3).map((i) => `${i.path === "" ? "(body)" : i.path}: ${i.message}`).join("; ")
        }${issues.length > 3 ? ` (and ${issues.length - 3} more)` : ""}`,
    );
  }
}

/** Hono `onError` handler: the gateway's, with the issues of a {@linkcode RequestInvalidError}. */
export function handleFleetError(err: Error, c: Context): Response {
  if (err instanceof RequestInvalidError) {
    return c.json(
      { error: { code: err.code, message: err.message, issues: [...err.issues] } },
      STATUS_BY_KIND[err.kind],
    );
  }
  return handleError(err, c);
}
