/**
 * The outbox's SQL: the statements `createOutbox` prepares on the store's database (the tables,
 * `outbox`, `outbox_streams` with each stream's last sequence number, and `outbox_kinds` with the counters,
 * are in `migrations/003_outbox.sql`; each message's owner and `outbox_owners` in `005_outbox_owners.sql`),
 * and the reads that turn their rows into the shapes of `outbox.ts`.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type {
  OutboxKind,
  OutboxKindStats,
  OutboxMessage,
  OutboxOwner,
  OutboxStats,
  OutboxStream,
} from "./_outbox_types.ts";

/** A row of the `outbox` table. */
export interface OutboxRow {
  id: number;
  stream: string;
  seq: number;
  kind: OutboxKind;
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  created_at_ms: number;
  bytes: number;
  /** The module it is charged to, or null. */
  owner: string | null;
}

const COLUMNS = "id, stream, seq, kind, topic, payload, qos, created_at_ms, bytes, owner";

/** The statements of one outbox, from {@linkcode prepareOutboxStatements}. */
export type OutboxStatements = ReturnType<typeof prepareOutboxStatements>;

/** Prepares every statement the outbox runs on `db` (whose schema includes migration 003). */
export function prepareOutboxStatements(db: DatabaseSync) {
  return {
    nextSeq: db.prepare(
      `INSERT INTO outbox_streams (stream, last_seq) VALUES (?, 1)
       ON CONFLICT (stream) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
    ),
    insert: db.prepare(
      `INSERT INTO outbox (stream, seq, kind, topic, payload, qos, created_at_ms, bytes, owner)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    total: db.prepare("SELECT sum(size_bytes) AS n FROM outbox_kinds"),
    oldestOf: db.prepare("SELECT id, stream, bytes, owner FROM outbox WHERE kind = ? ORDER BY id LIMIT ?"),
    deleteId: db.prepare("DELETE FROM outbox WHERE id = ? RETURNING kind, bytes, owner"),
    ownerBytes: db.prepare("SELECT size_bytes FROM outbox_owners WHERE owner = ?"),
    owners: db.prepare("SELECT owner, depth, size_bytes FROM outbox_owners ORDER BY owner"),
    countOwner: db.prepare(
      `INSERT INTO outbox_owners (owner, depth, size_bytes) VALUES (?1, 1, ?2)
       ON CONFLICT (owner) DO UPDATE SET depth = depth + 1, size_bytes = size_bytes + ?2`,
    ),
    uncountOwner: db.prepare(
      "UPDATE outbox_owners SET depth = depth - 1, size_bytes = size_bytes - ?2 WHERE owner = ?1",
    ),
    dropIdleOwner: db.prepare("DELETE FROM outbox_owners WHERE owner = ? AND depth <= 0"),
    countEnqueued: db.prepare(
      `UPDATE outbox_kinds SET depth = depth + 1, size_bytes = size_bytes + ?1, enqueued = enqueued + 1,
       over_budget = over_budget + ?2 WHERE kind = ?3`,
    ),
    countDropped: db.prepare(
      `UPDATE outbox_kinds SET depth = depth - 1, size_bytes = size_bytes - ?1, dropped = dropped + 1,
       dropped_bytes = dropped_bytes + ?1 WHERE kind = ?2`,
    ),
    countStreamDrop: db.prepare("UPDATE outbox_streams SET dropped = dropped + 1 WHERE stream = ?"),
    countDelivered: db.prepare(
      `UPDATE outbox_kinds SET depth = depth - 1, size_bytes = size_bytes - ?1, delivered = delivered + 1
       WHERE kind = ?2`,
    ),
    peek: db.prepare(`SELECT ${COLUMNS} FROM outbox WHERE id > ? ORDER BY id LIMIT ?`),
    kinds: db.prepare(
      `SELECT kind, depth, size_bytes, enqueued, delivered, dropped, dropped_bytes, over_budget
       FROM outbox_kinds`,
    ),
    oldest: db.prepare("SELECT created_at_ms FROM outbox ORDER BY id LIMIT 1"),
    streams: db.prepare("SELECT stream, last_seq, dropped FROM outbox_streams ORDER BY stream"),
  };
}

/**
 * The counters of every kind and their sums, and the age of the oldest waiting message against `nowMs`
 * (ms since the epoch).
 */
export function readStats(
  sql: OutboxStatements,
  options: { readonly diskBudgetBytes: number; readonly nowMs: () => number },
): OutboxStats {
  const rows = sql.kinds.all() as unknown as {
    kind: OutboxKind;
    depth: number;
    size_bytes: number;
    enqueued: number;
    delivered: number;
    dropped: number;
    dropped_bytes: number;
    over_budget: number;
  }[];
  const kinds = {} as Record<OutboxKind, OutboxKindStats>;
  let depth = 0;
  let sizeBytes = 0;
  for (const r of rows) {
    kinds[r.kind] = {
      depth: r.depth,
      sizeBytes: r.size_bytes,
      enqueued: r.enqueued,
      delivered: r.delivered,
      dropped: r.dropped,
      droppedBytes: r.dropped_bytes,
      overBudget: r.over_budget,
    };
    depth += r.depth;
    sizeBytes += r.size_bytes;
  }
  const oldest = sql.oldest.get() as { created_at_ms: number } | undefined;
  const { diskBudgetBytes, nowMs } = options;
  return {
    depth,
    sizeBytes,
    diskBudgetBytes,
    oldestAgeMs: oldest ? Math.max(0, Math.round(nowMs()) - oldest.created_at_ms) : null,
    kinds,
  };
}

/** Every stream ever used, by name: its last sequence number and its drops. */
export function readStreams(sql: OutboxStatements): OutboxStream[] {
  return (sql.streams.all() as unknown as { stream: string; last_seq: number; dropped: number }[])
    .map((r) => ({ stream: r.stream, lastSeq: r.last_seq, dropped: r.dropped }));
}

/** A row as the message it stores. */
export function toMessage(r: OutboxRow): OutboxMessage {
  return {
    id: r.id,
    stream: r.stream,
    seq: r.seq,
    kind: r.kind,
    topic: r.topic,
    payload: r.payload,
    qos: r.qos,
    createdAtMs: r.created_at_ms,
    sizeBytes: r.bytes,
    owner: r.owner,
  };
}

/** Every owner with messages waiting: how many and their size against the budget. */
export function readOwners(sql: OutboxStatements): OutboxOwner[] {
  return (sql.owners.all() as unknown as { owner: string; depth: number; size_bytes: number }[])
    .map((r) => ({ owner: r.owner, depth: r.depth, sizeBytes: r.size_bytes }));
}

/** The size against the budget of what `owner` has waiting: 0 when nothing. */
export function readOwnerBytes(sql: OutboxStatements, owner: string): number {
  const row = sql.ownerBytes.get(owner) as { size_bytes: number } | undefined;
  return row ? Number(row.size_bytes) : 0;
}
