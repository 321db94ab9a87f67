/**
 * The controller's API tokens: the gateway's token scheme (`snapshots/tokens.ts`: 32 random bytes shown once,
 * only their SHA-256 kept, roles viewer/operator/admin) in a small SQLite file of the controller's data
 * directory, `<dir>/fleet_tokens.db`, apart from `fleet.db` so the rollout store's schema stays the
 * controller's own. At first start (no active admin token and no `KILN_ADMIN_TOKEN`) an admin token is
 * created and written to `<dir>/admin.token` (mode 0600), as `kiln run` does.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { timingSafeEqual } from "node:crypto";
import {
  countActiveTokens,
  createToken,
  listTokens,
  revokeToken,
  type Role,
  type TokenInfo,
  verifyToken,
} from "../../snapshots/mod.ts";
import { FleetStoreError } from "../errors.ts";
import type { Principal } from "./auth.ts";

/** The token file's schema: the gateway's `api_tokens` table (snapshots migration 004), version 1. */
const SCHEMA = `
CREATE TABLE api_tokens (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL,
  role          TEXT    NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  token_sha256  TEXT    NOT NULL UNIQUE,
  created_at    TEXT    NOT NULL,
  revoked_at    TEXT,
  last_used_at  TEXT
);`;

/** The environment variable whose value, when set, is an admin token (as for `kiln run`). */
export const FLEET_ADMIN_TOKEN_ENV = "KILN_ADMIN_TOKEN";

/** The controller's token store. Owns its connection: dispose it. */
export class FleetTokens implements Disposable {
  readonly #db: DatabaseSync;
  /** The database file. */
  readonly path: string;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
  }

  /**
   * Opens (creating if needed) `<dir>/fleet_tokens.db`.
   *
   * @throws {FleetStoreError} when the file cannot be opened or was written by a newer Kiln.
   */
  static open(dir: string): FleetTokens {
    const path = join(dir, "fleet_tokens.db");
    let db: DatabaseSync | undefined;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      const version = Number(
        (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      );
      if (version > 1) {
        throw new Error(`its schema version ${version} is newer than this Kiln's 1; upgrade Kiln`);
      }
      if (version === 0) {
        db.exec("BEGIN IMMEDIATE");
        try {
          db.exec(SCHEMA);
          db.exec("PRAGMA user_version = 1");
          db.exec("COMMIT");
        } catch (err) {
          db.exec("ROLLBACK");
          throw err;
        }
      }
    } catch (err) {
      db?.close();
      throw new FleetStoreError(path, (err as Error).message, { cause: err });
    }
    return new FleetTokens(db, path);
  }

  /**
   * Creates a token; the returned `token` is the only copy of its secret.
   *
   * @throws {RangeError} for an unknown role or an empty name.
   */
  create(role: Role, name: string): { token: string; info: TokenInfo } {
    return createToken(this.#db, { role, name });
  }

  /** Every token, active and revoked, oldest first. */
  list(): TokenInfo[] {
    return listTokens(this.#db);
  }

  /**
   * Revokes a token: it stops working at once.
   *
   * @throws {TokenUnknownError} when no active token has that id.
   */
  revoke(id: number): TokenInfo {
    return revokeToken(this.#db, id);
  }

  /** Who an active token belongs to, or null. */
  verify(token: string): Principal | null {
    const t = verifyToken(this.#db, token);
    return t === null ? null : { name: t.name, role: t.role };
  }

  /** Active tokens of a role. */
  countActive(role: Role): number {
    return countActiveTokens(this.#db, role);
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options of {@linkcode fleetAuthenticator}. */
export interface FleetAuthOptions {
  /** An admin token accepted besides the stored ones (`KILN_ADMIN_TOKEN`), or null. */
  readonly envToken: string | null;
  /** Where the first-start admin token is written. */
  readonly dataDir: string;
  /** Where the line announcing a created admin token goes. @default console.log */
  readonly log?: (line: string) => void;
}

/**
 * Checks bearer tokens against `tokens` and `envToken`. Without `envToken` and without an active admin token,
 * creates one first, writes it to `<dataDir>/admin.token` (mode 0600) and logs it once.
 *
 * @throws {Deno.errors.PermissionDenied} or another `Deno.errors` error when `admin.token` cannot be written.
 */
export async function fleetAuthenticator(
  tokens: FleetTokens,
  options: FleetAuthOptions,
): Promise<{ verify(token: string): Principal | null }> {
  if (options.envToken === null && tokens.countActive("admin") === 0) {
    const { token } = tokens.create("admin", "admin");
    const path = join(options.dataDir, "admin.token");
    await Deno.writeTextFile(path, `${token}\n`, { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    (options.log ?? console.log)(
      `kiln fleet: created the admin token (shown once; also in ${path}):\n  ${token}`,
    );
  }
  const env = options.envToken === null ? null : new TextEncoder().encode(options.envToken);
  return {
    verify(token) {
      if (env !== null) {
        const given = new TextEncoder().encode(token);
        if (given.length === env.length && timingSafeEqual(given, env)) {
          return { name: FLEET_ADMIN_TOKEN_ENV, role: "admin" };
        }
      }
      return tokens.verify(token);
    },
  };
}
