/**
 * Bearer-token authorization for the API: every route but `/health` (and `/metrics` when public) needs a
 * token, and a role by what the request does. `viewer` reads, `operator` controls modules (start, stop,
 * restart, snapshot, events) and the simulated plant, `admin` changes the deployment (deploy, delete,
 * rollback) and the tokens.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Role } from "../snapshots/mod.ts";
import { roleAllows } from "../snapshots/mod.ts";
import { errorResponse, ForbiddenError, UnauthorizedError } from "./errors.ts";

/** Who a token belongs to. */
export interface Principal {
  name: string;
  role: Role;
}

/** Checks a bearer token; returns who it is, or null for an unknown or revoked token. */
export interface Authenticator {
  verify(token: string): Principal | null;
}

/** Options of {@linkcode authMiddleware}. */
export interface AuthOptions {
  /** Serve `/metrics` without a token. @default false */
  metricsPublic?: boolean;
}

/** The role a request needs, or null when it needs none. */
export function roleFor(method: string, path: string, options: AuthOptions = {}): Role | null {
  if (path === "/health" || path === "/" || path === "/openapi.json" || path.startsWith("/ui")) return null;
  if (path === "/metrics") return options.metricsPublic ? null : "viewer";
  // The stream authenticates its WebSocket itself (browsers cannot send headers on one).
  if (path === "/api/v1/stream") return null;
  if (path.startsWith("/api/v1/tokens")) return "admin";
  if (method === "GET" || method === "HEAD") return "viewer";
  if (path === "/api/v1/modules" || (method === "DELETE" && path.startsWith("/api/v1/modules/"))) {
    return "admin"; // deploy and delete
  }
  if (method === "POST" && /^\/api\/v1\/modules\/[^/]+\/rollback$/.test(path)) {
    return "admin"; // a rollback deploys a kept version
  }
  if (method === "POST" && /^\/api\/v1\/modules\/[^/]+\/shadow(\/promote)?$/.test(path)) {
    return "admin"; // a shadow loads code; a promotion deploys it
  }
  return "operator";
}

/** The bearer token of a request, or null. */
export function bearerToken(c: Context): string | null {
  const header = c.req.header("authorization") ?? "";
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** Refuses requests without a token (401 `unauthorized`) or with too small a role (403 `forbidden`). */
export function authMiddleware(auth: Authenticator, options: AuthOptions = {}): MiddlewareHandler {
  return bearerAuth(auth, (method, path) => roleFor(method, path, options), "kiln");
}

/**
 * The bearer-token check of every Kiln API: the role `roleOf` says a request needs (none: it passes), a
 * 401 `unauthorized` without a known token (with `WWW-Authenticate` naming `realm`), a 403 `forbidden` when
 * the token's role is too small; the principal is set on the context as `principal`.
 */
export function bearerAuth(
  auth: Authenticator,
  roleOf: (method: string, path: string) => Role | null,
  realm: string,
): MiddlewareHandler {
  return async (c, next) => {
    const needed = roleOf(c.req.method, c.req.path);
    if (needed === null) return await next();
    const token = bearerToken(c);
    const who = token === null ? null : auth.verify(token);
    if (who === null) {
      c.header("WWW-Authenticate", `Bearer realm="${realm}"`);
      return errorResponse(
        c,
        new UnauthorizedError(
          token === null
            ? "This needs a token: send the header Authorization: Bearer <token>"
            : "The token is unknown or revoked",
        ),
      );
    }
    if (!roleAllows(who.role, needed)) {
      return errorResponse(
        c,
        new ForbiddenError(
          needed,
          who.role,
          `${c.req.method} ${c.req.path} needs the ${needed} role; the token "${who.name}" has ${who.role}`,
        ),
      );
    }
    c.set("principal" as never, who as never);
    await next();
  };
}
