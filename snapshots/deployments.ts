/**
 * The gateway's desired state in the store: `deployments`, an append-only record of every accepted action on
 * its modules (who, when, which binary, which manifest entry), and `module_versions`, the versions each module
 * keeps for a rollback. The runtime replays the record over the manifest file at a start
 * (`runtime/lifecycle/`); the binaries and data blobs the digests name live in the data directory.
 *
 * @example
 * ```ts ignore
 * const v = createVersion(store.db, { module: "fft", sha256, entry: {...}, data: {}, source: "api", actor: "ci" });
 * recordDeployment(store.db, { action: "deploy", module: "fft", actor: "ci", sha256, versionSeq: v.seq });
 * listDeployments(store.db, { module: "fft" });
 * ```
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { imageRefDigests } from "./image_refs.ts";

/** What a row of `deployments` records. */
export const DEPLOYMENT_ACTIONS = [
  "manifest",
  "deploy",
  "replace",
  "remove",
  "stop",
  "start",
  "rollback",
] as const;
/** An accepted action. */
export type DeploymentAction = typeof DEPLOYMENT_ACTIONS[number];

/** Where a version came from: the manifest file, or a deploy over the API. */
export type VersionSource = "manifest" | "api";

/** One accepted action. */
export interface DeploymentRecord {
  id: number;
  /** ISO 8601, UTC. */
  at: string;
  action: DeploymentAction;
  /** Null only for the manifest file's own row. */
  module: string | null;
  /** Who: the API token's name, `manifest` or `cli`. */
  actor: string;
  /** The module's sha256 (the file's, for the manifest file's row); null when the action sets none. */
  sha256: string | null;
  /** The module's version ({@linkcode ModuleVersion.seq}) the action set, or null. */
  versionSeq: number | null;
  /** The signed version, when the module is signed. */
  version: string | null;
  /** The signature bundle's digest or signer, when the module is signed. */
  signature: string | null;
  /** The manifest entry the action set (parsed JSON), or null. */
  entry: unknown;
  /** Why: the rule that decided a start, a rollback's from-version. */
  detail: string | null;
}

/** A row to append to `deployments`. */
export interface NewDeployment {
  action: DeploymentAction;
  module: string | null;
  actor: string;
  sha256?: string | null;
  versionSeq?: number | null;
  version?: string | null;
  signature?: string | null;
  /** Stored as JSON. */
  entry?: unknown;
  detail?: string | null;
  /** @default now */
  at?: string;
}

/** Filters of {@linkcode listDeployments}. */
export interface DeploymentQuery {
  module?: string;
  /** Only rows with an id above this. */
  after?: number;
  /** The newest this many (still returned oldest first). @default all */
  limit?: number;
}

/** One kept version of a module. */
export interface ModuleVersion {
  module: string;
  /** Per module, from 1, never reused. */
  seq: number;
  /** Of the `.wasm`: its blob's name. */
  sha256: string;
  /** The manifest entry (parsed JSON), without `wasm`. */
  entry: Record<string, unknown>;
  /** The data blobs' digests by data name. */
  data: Map<string, string>;
  source: VersionSource;
  actor: string;
  /** ISO 8601, UTC. */
  createdAt: string;
  version: string | null;
  signature: string | null;
}

/** A version to add with {@linkcode createVersion}. */
export interface NewVersion {
  module: string;
  sha256: string;
  entry: Record<string, unknown>;
  data: ReadonlyMap<string, string>;
  source: VersionSource;
  actor: string;
  version?: string | null;
  signature?: string | null;
}

/**
 * Whether the store has the record at all: a store a Kiln before it wrote, opened read-only, was not
 * migrated.
 */
export function hasDeploymentRecord(db: DatabaseSync): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deployments'").get() !==
    undefined;
}

/** Appends one accepted action; returns it as stored. */
export function recordDeployment(db: DatabaseSync, row: NewDeployment): DeploymentRecord {
  const at = row.at ?? new Date().toISOString();
  const r = db.prepare(
    `INSERT INTO deployments (at, action, module, actor, sha256, version_seq, version, signature, entry, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    at,
    row.action,
    row.module,
    row.actor,
    row.sha256 ?? null,
    row.versionSeq ?? null,
    row.version ?? null,
    row.signature ?? null,
    row.entry === undefined || row.entry === null ? null : JSON.stringify(row.entry),
    row.detail ?? null,
  );
  return {
    id: Number(r.lastInsertRowid),
    at,
    action: row.action,
    module: row.module,
    actor: row.actor,
    sha256: row.sha256 ?? null,
    versionSeq: row.versionSeq ?? null,
    version: row.version ?? null,
    signature: row.signature ?? null,
    entry: row.entry ?? null,
    detail: row.detail ?? null,
  };
}

/** Accepted actions, oldest first (`limit` keeps the newest of them). */
export function listDeployments(db: DatabaseSync, query: DeploymentQuery = {}): DeploymentRecord[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (query.module !== undefined) {
    where.push("module = ?");
    args.push(query.module);
  }
  if (query.after !== undefined) {
    where.push("id > ?");
    args.push(query.after);
  }
  const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
  const sql = query.limit === undefined
    ? `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments ${filter} ORDER BY id`
    : `SELECT * FROM (SELECT ${DEPLOYMENT_COLUMNS} FROM deployments ${filter} ORDER BY id DESC LIMIT ?)
       ORDER BY id`;
  if (query.limit !== undefined) args.push(query.limit);
  return (db.prepare(sql).all(...args) as unknown as DeploymentRow[]).map(toDeployment);
}

/** The newest row of the manifest file itself (module NULL), or null before the first start recorded one. */
export function lastManifestRecord(db: DatabaseSync): DeploymentRecord | null {
  const row = db.prepare(
    `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments WHERE action = 'manifest' AND module IS NULL
     ORDER BY id DESC LIMIT 1`,
  ).get() as DeploymentRow | undefined;
  return row ? toDeployment(row) : null;
}

/** Adds a version of a module, numbered one past its newest (kept or not). */
export function createVersion(db: DatabaseSync, v: NewVersion): ModuleVersion {
  const last = db.prepare("SELECT max(seq) AS seq FROM module_versions WHERE module = ?").get(v.module) as {
    seq: number | null;
  };
  // Numbers are never reused, also after pruning: the record names versions by number.
  const used = db.prepare(
    "SELECT max(version_seq) AS seq FROM deployments WHERE module = ?",
  ).get(v.module) as { seq: number | null };
  const seq = Math.max(Number(last.seq ?? 0), Number(used.seq ?? 0)) + 1;
  const createdAt = new Date().toISOString();
  db.prepare(
    `INSERT INTO module_versions (module, seq, sha256, entry, data, source, actor, created_at, version, signature)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    v.module,
    seq,
    v.sha256,
    JSON.stringify(v.entry),
    JSON.stringify(Object.fromEntries(v.data)),
    v.source,
    v.actor,
    createdAt,
    v.version ?? null,
    v.signature ?? null,
  );
  return {
    module: v.module,
    seq,
    sha256: v.sha256,
    entry: v.entry,
    data: new Map(v.data),
    source: v.source,
    actor: v.actor,
    createdAt,
    version: v.version ?? null,
    signature: v.signature ?? null,
  };
}

/** The kept versions of a module, newest first. */
export function listVersions(db: DatabaseSync, module: string): ModuleVersion[] {
  return (db.prepare(`SELECT ${VERSION_COLUMNS} FROM module_versions WHERE module = ? ORDER BY seq DESC`)
    .all(module) as unknown as VersionRow[]).map(toVersion);
}

/** The modules that keep at least one version. */
export function listVersionedModules(db: DatabaseSync): string[] {
  return (db.prepare("SELECT DISTINCT module FROM module_versions ORDER BY module").all() as {
    module: string;
  }[])
    .map((r) => r.module);
}

/** One kept version, or null. */
export function getVersion(db: DatabaseSync, module: string, seq: number): ModuleVersion | null {
  const row = db.prepare(`SELECT ${VERSION_COLUMNS} FROM module_versions WHERE module = ? AND seq = ?`)
    .get(module, seq) as VersionRow | undefined;
  return row ? toVersion(row) : null;
}

/**
 * Deletes a module's versions but the newest `keep` and those in `pinned` (the one running); returns what
 * it deleted.
 */
export function pruneVersions(
  db: DatabaseSync,
  module: string,
  options: { keep: number; pinned: readonly number[] },
): ModuleVersion[] {
  const old = (db.prepare(
    `SELECT ${VERSION_COLUMNS} FROM module_versions WHERE module = ? ORDER BY seq DESC LIMIT -1 OFFSET ?`,
  ).all(module, Math.max(1, options.keep)) as unknown as VersionRow[]).map(toVersion)
    .filter((v) => !options.pinned.includes(v.seq));
  const del = db.prepare("DELETE FROM module_versions WHERE module = ? AND seq = ?");
  for (const v of old) del.run(module, v.seq);
  return old;
}

/**
 * Every digest the kept versions name (binaries, data blobs, and a signature that is a bundle's digest) and
 * the image cache names (`image_refs.ts`): the blobs that must stay.
 */
export function referencedDigests(db: DatabaseSync): Set<string> {
  const digests = new Set<string>();
  const rows = db.prepare("SELECT sha256, data, signature FROM module_versions").all() as {
    sha256: string;
    data: string;
    signature: string | null;
  }[];
  for (const r of rows) {
    digests.add(r.sha256);
    if (r.signature !== null && /^[0-9a-f]{64}$/.test(r.signature)) digests.add(r.signature);
    for (const d of Object.values(JSON.parse(r.data) as Record<string, string>)) digests.add(d);
  }
  // The image cache (image_refs.ts): a registry that is down later still finds its module here.
  for (const d of imageRefDigests(db)) digests.add(d);
  return digests;
}

/**
 * Runs `fn` in one transaction (`BEGIN IMMEDIATE`): an action and the version it adds are recorded together
 * or not at all.
 */
export function inTransaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

const DEPLOYMENT_COLUMNS =
  "id, at, action, module, actor, sha256, version_seq, version, signature, entry, detail";
const VERSION_COLUMNS = "module, seq, sha256, entry, data, source, actor, created_at, version, signature";

interface DeploymentRow {
  id: number;
  at: string;
  action: DeploymentAction;
  module: string | null;
  actor: string;
  sha256: string | null;
  version_seq: number | null;
  version: string | null;
  signature: string | null;
  entry: string | null;
  detail: string | null;
}

interface VersionRow {
  module: string;
  seq: number;
  sha256: string;
  entry: string;
  data: string;
  source: VersionSource;
  actor: string;
  created_at: string;
  version: string | null;
  signature: string | null;
}

function toDeployment(r: DeploymentRow): DeploymentRecord {
  return {
    id: Number(r.id),
    at: r.at,
    action: r.action,
    module: r.module,
    actor: r.actor,
    sha256: r.sha256,
    versionSeq: r.version_seq === null ? null : Number(r.version_seq),
    version: r.version,
    signature: r.signature,
    entry: r.entry === null ? null : JSON.parse(r.entry),
    detail: r.detail,
  };
}

function toVersion(r: VersionRow): ModuleVersion {
  // The data names are the manifest's: a Map, never a plain object's keys.
  const data = new Map(Object.entries(JSON.parse(r.data) as Record<string, string>));
  return {
    module: r.module,
    seq: Number(r.seq),
    sha256: r.sha256,
    entry: JSON.parse(r.entry) as Record<string, unknown>,
    data,
    source: r.source,
    actor: r.actor,
    createdAt: r.created_at,
    version: r.version,
    signature: r.signature,
  };
}
