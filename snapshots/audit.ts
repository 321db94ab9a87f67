/**
 * The audit log: grants at deploy, revocations at stop, denied calls, and per-capability use and denial
 * counts.
 *
 * Denials are bounded per module ({@linkcode AuditLog.recordDenials}): at most `rowsPerMin` rows a module
 * a minute; the rest are counted and written as one summary row, `"N more denials by <module> suppressed"`
 * under the capability {@linkcode SUPPRESSED_CAPABILITY}, when the minute ends. So a module that tries every
 * pin or topic grows the database by a few rows a minute, and the counts stay exact: a module's denials in
 * `capability_use`, its own capabilities' and the suppressed ones', add up to every refused call.
 *
 * @module
 */
import type { Store } from "./store.ts";

/** One audit event. */
export interface AuditEvent {
  id: number;
  at: string;
  module: string;
  /** `signature`: a module's signature check; `capability` is its outcome, `detail` the signer or reason. */
  kind: "grant" | "revoke" | "denial" | "signature" | "alert_ack";
  capability: string;
  detail: string | null;
}

/** Use and denial counts of one capability of one module. */
export interface CapabilityUse {
  module: string;
  capability: string;
  uses: number;
  denials: number;
  last_at: string;
}

/** Filters of {@linkcode AuditLog.listEvents}. */
export interface AuditQuery {
  module?: string;
  kind?: AuditEvent["kind"];
  /** Only events with an id above this. */
  after?: number;
  /** @default 100 */
  limit?: number;
}

/** The capability of a summary row: denials counted, not written one by one. */
export const SUPPRESSED_CAPABILITY = "*";

/** One or several identical refused calls, for {@linkcode AuditLog.recordDenials}. */
export interface DenialRecord {
  module: string;
  /** The capability the call needed. */
  capability: string;
  /** The call. */
  detail: string;
  /** How many identical calls it stands for, at least 1. */
  count: number;
  /** Already folded into a count where it was made (the executor): counted, never a row of its own. */
  suppressed?: boolean;
}

/** What {@linkcode AuditLog.recordDenials} did. */
export interface DenialOutcome {
  /** The records written as rows, in order. */
  written: DenialRecord[];
  /** Denials counted toward a summary row instead, by module. */
  suppressed: Map<string, number>;
  /** The summary rows of windows that had ended, written first. */
  summaries: SuppressedSummary[];
}

/** A summary row written by {@linkcode AuditLog.flushSuppressed}. */
export interface SuppressedSummary {
  module: string;
  /** The denials it stands for. */
  count: number;
}

/** Options of {@linkcode AuditLog}. */
export interface AuditLogOptions {
  /** The length of a module's denial window, in ms. @default 60_000 */
  windowMs?: number;
}

/** One module's current denial window. */
interface DenialWindow {
  startMs: number;
  rows: number;
  suppressed: number;
}

/** The audit log on a {@linkcode Store}. */
export class AuditLog {
  #store: Store;
  readonly #windowMs: number;
  /** Open denial windows, by module; a window is forgotten when it ends. */
  readonly #windows = new Map<string, DenialWindow>();

  /** @throws {RangeError} when `windowMs` is not a positive number. */
  constructor(store: Store, options: AuditLogOptions = {}) {
    this.#store = store;
    this.#windowMs = options.windowMs ?? 60_000;
    if (!(this.#windowMs > 0) || !Number.isFinite(this.#windowMs)) {
      throw new RangeError(`The audit denial window must be a positive number of ms, got ${this.#windowMs}`);
    }
  }

  /**
   * Records refused calls, at most `rowsPerMin(module)` rows per module per window (a minute by default):
   * a record within it is one row (`detail` gets ` xN` for N identical calls) and adds its count to its
   * capability's denials; past it, or marked `suppressed`, its count waits for the module's summary row,
   * which {@linkcode AuditLog.flushSuppressed} writes when the window ends. Windows that ended are
   * summarised first.
   *
   * @throws {Error} when the database refuses the write: this call's rows are lost then (what it counted
   *   toward a summary row is kept).
   */
  recordDenials(
    events: readonly DenialRecord[],
    options: { rowsPerMin: (module: string) => number; at?: Date },
  ): DenialOutcome {
    const at = options.at ?? new Date();
    const summaries = this.flushSuppressed({ at });
    const t = at.getTime();
    const written: DenialRecord[] = [];
    const suppressed = new Map<string, number>();
    for (const e of events) {
      let w = this.#windows.get(e.module);
      if (!w) this.#windows.set(e.module, w = { startMs: t, rows: 0, suppressed: 0 });
      if (!e.suppressed && w.rows < options.rowsPerMin(e.module)) {
        w.rows++;
        written.push(e);
      } else {
        w.suppressed += e.count;
        suppressed.set(e.module, (suppressed.get(e.module) ?? 0) + e.count);
      }
    }
    this.record(
      written.map((d) => ({
        module: d.module,
        kind: "denial" as const,
        capability: d.capability,
        detail: d.count > 1 ? `${d.detail} x${d.count}` : d.detail,
        count: d.count,
      })),
      at,
    );
    return { written, suppressed, summaries };
  }

  /**
   * Writes the summary row of every module whose denial window has ended by `at` (with `all`, of every
   * window: at shutdown), for the denials it counted instead of writing, and forgets those windows.
   * Returns the summaries written.
   *
   * @throws {Error} when the database refuses the write (the counts are kept for the next call then).
   */
  flushSuppressed(options: { at?: Date; all?: boolean } = {}): SuppressedSummary[] {
    const at = options.at ?? new Date();
    const t = at.getTime();
    const ended: [string, DenialWindow][] = [];
    for (const [module, w] of this.#windows) {
      if (options.all || t - w.startMs >= this.#windowMs) ended.push([module, w]);
    }
    const summaries = ended.filter(([, w]) => w.suppressed > 0).map(([module, w]) => ({
      module,
      count: w.suppressed,
    }));
    this.record(
      summaries.map(({ module, count }) => ({
        module,
        kind: "denial" as const,
        capability: SUPPRESSED_CAPABILITY,
        detail: `${count} more denials by ${module} suppressed`,
        count,
      })),
      at,
    );
    for (const [module] of ended) this.#windows.delete(module);
    return summaries;
  }

  /** The denials of `module` counted in its open window and not yet written in a summary row. */
  pendingSuppressed(module: string): number {
    return this.#windows.get(module)?.suppressed ?? 0;
  }

  /**
   * Records events, all in one transaction. A denial may stand for `count` identical refused calls (default 1),
   * all added to the capability's denial count.
   */
  record(events: (Omit<AuditEvent, "id" | "at"> & { count?: number })[], at = new Date()): void {
    if (events.length === 0) return;
    const db = this.#store.db;
    const insert = db.prepare(
      "INSERT INTO audit_events (at, module, kind, capability, detail) VALUES (?, ?, ?, ?, ?)",
    );
    const denial = db.prepare(
      `INSERT INTO capability_use (module, capability, denials, last_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (module, capability) DO UPDATE SET denials = denials + excluded.denials, last_at = excluded.last_at`,
    );
    const ts = at.toISOString();
    db.exec("BEGIN");
    try {
      for (const e of events) {
        insert.run(ts, e.module, e.kind, e.capability, e.detail);
        if (e.kind === "denial") denial.run(e.module, e.capability, e.count ?? 1, ts);
      }
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Adds use counts: `{ capability: uses }` for one module. */
  addUses(module: string, uses: Record<string, number>, at = new Date()): void {
    const entries = Object.entries(uses).filter(([, n]) => n > 0);
    if (entries.length === 0) return;
    const db = this.#store.db;
    const upsert = db.prepare(
      `INSERT INTO capability_use (module, capability, uses, last_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (module, capability) DO UPDATE SET uses = uses + excluded.uses, last_at = excluded.last_at`,
    );
    db.exec("BEGIN");
    try {
      for (const [cap, n] of entries) upsert.run(module, cap, n, at.toISOString());
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Events, oldest first, filtered. */
  listEvents(query: AuditQuery = {}): AuditEvent[] {
    const where: string[] = ["id > ?"];
    const args: (string | number)[] = [query.after ?? 0];
    if (query.module) {
      where.push("module = ?");
      args.push(query.module);
    }
    if (query.kind) {
      where.push("kind = ?");
      args.push(query.kind);
    }
    args.push(Math.min(Math.max(1, query.limit ?? 100), 10_000));
    return this.#store.db.prepare(
      `SELECT id, at, module, kind, capability, detail FROM audit_events WHERE ${where.join(" AND ")}
       ORDER BY id LIMIT ?`,
    ).all(...args) as unknown as AuditEvent[];
  }

  /** Use and denial counts, per module and capability. */
  listUses(module?: string): CapabilityUse[] {
    const sql = "SELECT module, capability, uses, denials, last_at FROM capability_use" +
      (module ? " WHERE module = ?" : "") + " ORDER BY module, capability";
    const stmt = this.#store.db.prepare(sql);
    return (module ? stmt.all(module) : stmt.all()) as unknown as CapabilityUse[];
  }
}
