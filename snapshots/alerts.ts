/**
 * The alert log: the alerts modules and the runtime raised, kept in the store across restarts, numbered from 1
 * for the life of the store, and acknowledged by operators (each acknowledgement audited). Bounded to the
 * newest {@linkcode MAX_KEPT_ALERTS}. Writes are batched: the alerts added in one synchronous run (one
 * executor report) are inserted in one transaction, on the next microtask; a read or an acknowledgement
 * writes what is pending first.
 *
 * @example
 * ```ts ignore
 * const alerts = new AlertLog(store);
 * const seq = alerts.add({ module: "fft", severity: "warning", message: "hot", at: Date.now() }, "module");
 * alerts.ack(seq, "alice");
 * alerts.list({ after: 0, acked: false });
 * ```
 *
 * @module
 */
import type { Store } from "./store.ts";

/** How many alerts the log keeps: older ones are deleted as new ones are inserted. */
export const MAX_KEPT_ALERTS = 10_000;

/** Who raised an alert: a module (`kiln.alert`) or the runtime (a crash, a failure, a rollback). */
export type AlertSource = "module" | "runtime";

/** An alert as raised, before it is numbered. */
export interface NewAlert {
  module: string;
  severity: "warning" | "critical";
  message: string;
  /** When it was raised, milliseconds since the epoch. */
  at: number;
}

/** An alert as kept: numbered, with its source and acknowledgement. */
export interface KeptAlert extends NewAlert {
  seq: number;
  source: AlertSource;
  /** When an operator acknowledged it, milliseconds since the epoch; null while unacknowledged. */
  ackedAtMs: number | null;
  /** The name of the token that acknowledged it; null while unacknowledged. */
  ackedBy: string | null;
}

/** Which alerts {@linkcode AlertLog.list} returns; every field narrows. */
export interface AlertQuery {
  /** Only alerts with a sequence number above this. @default 0 */
  after?: number;
  module?: string;
  severity?: "warning" | "critical";
  /** true: only acknowledged ones; false: only unacknowledged ones. */
  acked?: boolean;
}

/** Options of {@linkcode AlertLog}. */
export interface AlertLogOptions {
  /** @default {@linkcode MAX_KEPT_ALERTS} */
  maxKept?: number;
  /**
   * Told when a batch of alerts cannot be written (the disk is full, the store is closed); the batch is
   * dropped from the store (the stream and the uplink have had it). @default `console.error`
   */
  onWriteError?: (err: Error, count: number) => void;
}

interface Row {
  seq: number;
  module: string;
  severity: "warning" | "critical";
  message: string;
  at_ms: number;
  source: AlertSource;
  acked_at_ms: number | null;
  acked_by: string | null;
}

/** The store's alerts: add (batched per synchronous run), list with filters, acknowledge. */
export class AlertLog {
  readonly #store: Store;
  readonly #maxKept: number;
  readonly #onWriteError: (err: Error, count: number) => void;
  #seq: number;
  #pending: KeptAlert[] = [];

  /** Continues the numbering from the newest alert the store holds. */
  constructor(store: Store, options: AlertLogOptions = {}) {
    this.#store = store;
    this.#maxKept = options.maxKept ?? MAX_KEPT_ALERTS;
    this.#onWriteError = options.onWriteError ??
      ((err, count) => console.error(`kiln: cannot keep ${count} alert(s) in the store: ${err.message}`));
    const row = store.db.prepare("SELECT MAX(seq) AS seq FROM alerts").get() as { seq: number | null };
    this.#seq = row.seq ?? 0;
  }

  /** The sequence number of the newest alert, 0 when there is none. */
  get lastSeq(): number {
    return this.#seq;
  }

  /** Numbers an alert and queues it for the next batch; returns it as kept. */
  add(alert: NewAlert, source: AlertSource): KeptAlert {
    const kept: KeptAlert = { seq: ++this.#seq, ...alert, source, ackedAtMs: null, ackedBy: null };
    if (this.#pending.push(kept) === 1) queueMicrotask(() => this.#flushSafely());
    return kept;
  }

  /**
   * Writes the pending alerts in one transaction, deleting those past the bound.
   *
   * @throws {Error} what SQLite throws (the batch is kept pending).
   */
  flush(): void {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    const db = this.#store.db;
    const insert = db.prepare(
      "INSERT INTO alerts (seq, module, severity, message, at_ms, source) VALUES (?, ?, ?, ?, ?, ?)",
    );
    db.exec("BEGIN IMMEDIATE");
    try {
      for (const a of batch) insert.run(a.seq, a.module, a.severity, a.message, a.at, a.source);
      db.prepare("DELETE FROM alerts WHERE seq <= ?").run(this.#seq - this.#maxKept);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
    this.#pending = [];
  }

  #flushSafely(): void {
    try {
      this.flush();
    } catch (err) {
      const count = this.#pending.length;
      this.#pending = [];
      this.#onWriteError(err as Error, count);
    }
  }

  /** The alerts `query` selects, oldest first (pending ones written first). */
  list(query: AlertQuery = {}): KeptAlert[] {
    this.flush();
    const where = ["seq > ?"];
    const args: (string | number)[] = [query.after ?? 0];
    if (query.module !== undefined) {
      where.push("module = ?");
      args.push(query.module);
    }
    if (query.severity !== undefined) {
      where.push("severity = ?");
      args.push(query.severity);
    }
    if (query.acked !== undefined) {
      where.push(query.acked ? "acked_at_ms IS NOT NULL" : "acked_at_ms IS NULL");
    }
    const rows = this.#store.db.prepare(`SELECT * FROM alerts WHERE ${where.join(" AND ")} ORDER BY seq`)
      .all(...args) as unknown as Row[];
    return rows.map(fromRow);
  }

  /**
   * Acknowledges alert `seq` as `by`, and audits it (kind `alert_ack`, `capability` "alert:SEQ") in the same
   * transaction. Idempotent: an alert already acknowledged keeps its first acknowledgement, and no new
   * audit row is written. Returns the alert as kept, or null when the log has no alert `seq`.
   *
   * @throws {Error} what SQLite throws.
   */
  ack(seq: number, by: string, atMs = Date.now()): KeptAlert | null {
    this.flush();
    const db = this.#store.db;
    db.exec("BEGIN IMMEDIATE");
    try {
      const changed = db.prepare(
        "UPDATE alerts SET acked_at_ms = ?, acked_by = ? WHERE seq = ? AND acked_at_ms IS NULL",
      ).run(atMs, by, seq).changes;
      const row = db.prepare("SELECT * FROM alerts WHERE seq = ?").get(seq) as Row | undefined;
      if (changed > 0 && row) {
        db.prepare(
          "INSERT INTO audit_events (at, module, kind, capability, detail) VALUES (?, ?, 'alert_ack', ?, ?)",
        ).run(new Date(atMs).toISOString(), row.module, `alert:${seq}`, `acknowledged by ${by}`);
      }
      db.exec("COMMIT");
      return row === undefined ? null : fromRow(row);
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  }
}

function fromRow(r: Row): KeptAlert {
  return {
    seq: r.seq,
    module: r.module,
    severity: r.severity,
    message: r.message,
    at: r.at_ms,
    source: r.source,
    ackedAtMs: r.acked_at_ms,
    ackedBy: r.acked_by,
  };
}
