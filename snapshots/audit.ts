/**
 * The audit log: grants at deploy, revocations at stop, every denied call, and per-capability use counts.
 *
 * @module
 */
import type { Store } from "./store.ts";

/** One audit event. */
export interface AuditEvent {
  id: number;
  at: string;
  module: string;
  kind: "grant" | "revoke" | "denial";
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

/** The audit log on a {@linkcode Store}. */
export class AuditLog {
  #store: Store;

  constructor(store: Store) {
    this.#store = store;
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
