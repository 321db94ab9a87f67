/**
 * Kiln's SQLite database (`kiln.db` in the data directory), on the built-in `node:sqlite`: WAL mode, and
 * versioned schema migrations from `migrations/NNN_name.sql` applied at open. A database from an older
 * Kiln is upgraded; one from a newer Kiln is refused.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { StoreError, StoreVersionError } from "./errors.ts";
import { migrations } from "./_migrations.ts";

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /** Open read-only (for `kiln audit` beside a running runtime). @default false */
  readOnly?: boolean;
}

/** An open database. Owns the connection: dispose it. */
export interface Store extends Disposable {
  readonly db: DatabaseSync;
  readonly path: string;
  /** The schema version after migrations. */
  readonly version: number;
  close(): void;
}

/**
 * Opens (creating if needed) the database at `path` and brings its schema up to date.
 *
 * @throws {StoreVersionError} when the database comes from a newer Kiln.
 * @throws {StoreError} when the file cannot be opened or is not a database.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: options.readOnly ?? false });
    // First, so that the statements below wait for another connection's lock instead of failing.
    db.exec("PRAGMA busy_timeout = 5000");
    if (!options.readOnly) {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
    }
  } catch (err) {
    throw new StoreError(path, (err as Error).message, { cause: err });
  }
  try {
    const version = migrate(db, path, options.readOnly ?? false);
    return {
      db,
      path,
      version,
      close: () => db.isOpen && db.close(),
      [Symbol.dispose]() {
        if (db.isOpen) db.close();
      },
    };
  } catch (err) {
    db.close();
    if (err instanceof StoreVersionError) throw err;
    throw new StoreError(path, (err as Error).message, { cause: err });
  }
}

function migrate(db: DatabaseSync, path: string, readOnly: boolean): number {
  const current = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  const all = migrations();
  const latest = all.length;
  if (current > latest) throw new StoreVersionError(path, current, latest);
  if (readOnly || current === latest) return current;
  for (let v = current; v < latest; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(all[v]!.sql);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw new Error(`migration ${all[v]!.name} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  return latest;
}
