/**
 * Roles of the controller's API, by the gateway's rules (`api/auth.ts`): every route but `/`, `/health` and
 * `/openapi.json` needs a bearer token; `viewer` reads (every GET), `operator` creates rollouts and pauses,
 * resumes, approves and aborts them, `admin` manages tokens. The token check, the 401/403 answers and the role order are the
 * gateway's own (`bearerToken`, `roleAllows`, the one error body); only the table of roles differs.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { type Authenticator, bearerAuth, type Principal } from "../../api/auth.ts";
import type { Role } from "../../snapshots/mod.ts";

export type { Authenticator, Principal };

/** The role a request to the controller's API needs, or null when it needs none (`/health`, `/`). */
export function fleetRoleFor(method: string, path: string): Role | null {
  if (path === "/health" || path === "/" || path === "/openapi.json") return null;
  if (path === "/api/v1/tokens" || path.startsWith("/api/v1/tokens/")) return "admin";
  if (method === "GET" || method === "HEAD") return "viewer";
  return "operator";
}

/** Refuses requests without a known token (401 `unauthorized`) or with too small a role (403 `forbidden`). */
export function fleetAuthMiddleware(auth: Authenticator): MiddlewareHandler {
  return bearerAuth(auth, fleetRoleFor, "kiln-fleet");
}
