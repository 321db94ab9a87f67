/**
 * API tokens with roles. A token is 32 random bytes, shown once when it is created (`kiln_` and base64url);
 * the store keeps only its SHA-256, so a copy of the database gives no access.
 *
 * @example
 * ```ts ignore
 * const { token } = createToken(store.db, { role: "viewer", name: "grafana" });
 * verifyToken(store.db, token); // { id, name: "grafana", role: "viewer" }
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DatabaseSync } from "node:sqlite";
import { KilnError } from "../errors.ts";

/** Roles, each allowed what the one before it is: `viewer` reads, `operator` controls, `admin` changes. */
export const ROLES = ["viewer", "operator", "admin"] as const;
/** A role. */
export type Role = typeof ROLES[number];

/** A stored token, without its secret. */
export interface TokenInfo {
  id: number;
  name: string;
  role: Role;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** No token with that id (or it is already revoked). */
export class TokenUnknownError extends KilnError {
  readonly code = "token_unknown";
  readonly kind = "not_found";
  constructor(readonly id: number) {
    super(`No active API token with id ${id}`);
  }
}

/** True when `role` may do what `needed` may. */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** SHA-256 of a token, hex: what the store keeps. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Creates a token; the returned `token` is the only copy of the secret.
 *
 * @throws {RangeError} when the role is not one of {@linkcode ROLES} or the name is empty.
 */
export function createToken(
  db: DatabaseSync,
  options: { role: Role; name: string },
): { token: string; info: TokenInfo } {
  if (!(ROLES as readonly string[]).includes(options.role)) {
    throw new RangeError(`Unknown role "${options.role}": expected ${ROLES.join(", ")}`);
  }
  if (options.name.trim() === "") throw new RangeError("A token needs a name");
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const token = `kiln_${
    btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
  }`;
  const createdAt = new Date().toISOString();
  const r = db.prepare(
    "INSERT INTO api_tokens (name, role, token_sha256, created_at) VALUES (?, ?, ?, ?)",
  ).run(options.name, options.role, tokenHash(token), createdAt);
  return {
    token,
    info: {
      id: Number(r.lastInsertRowid),
      name: options.name,
      role: options.role,
      createdAt,
      revokedAt: null,
      lastUsedAt: null,
    },
  };
}

/** The active token `token` names, or null; records its use (at most once a minute per token). */
export function verifyToken(db: DatabaseSync, token: string): TokenInfo | null {
  const row = db.prepare(
    `SELECT ${COLUMNS} FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL`,
  ).get(tokenHash(token)) as Row | undefined;
  if (!row) return null;
  const now = new Date();
  if (row.last_used_at === null || now.getTime() - Date.parse(row.last_used_at) > 60_000) {
    db.prepare("UPDATE api_tokens SET last_used_at = ? WHERE id = ?").run(now.toISOString(), row.id);
    row.last_used_at = now.toISOString();
  }
  return toInfo(row);
}

/** Every token, active and revoked, oldest first. */
export function listTokens(db: DatabaseSync): TokenInfo[] {
  return (db.prepare(`SELECT ${COLUMNS} FROM api_tokens ORDER BY id`).all() as unknown as Row[]).map(toInfo);
}

/** Active tokens of a role. */
export function countActiveTokens(db: DatabaseSync, role: Role): number {
  const r = db.prepare("SELECT count(*) AS n FROM api_tokens WHERE role = ? AND revoked_at IS NULL").get(
    role,
  ) as {
    n: number;
  };
  return Number(r.n);
}

/**
 * Revokes a token: it stops working at once.
 *
 * @throws {TokenUnknownError} when there is no active token with that id.
 */
export function revokeToken(db: DatabaseSync, id: number): TokenInfo {
  const r = db.prepare("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(
    new Date().toISOString(),
    id,
  );
  if (Number(r.changes) === 0) throw new TokenUnknownError(id);
  return toInfo(db.prepare(`SELECT ${COLUMNS} FROM api_tokens WHERE id = ?`).get(id) as unknown as Row);
}

const COLUMNS = "id, name, role, created_at, revoked_at, last_used_at";

interface Row {
  id: number;
  name: string;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

function toInfo(r: Row): TokenInfo {
  return {
    id: Number(r.id),
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}
