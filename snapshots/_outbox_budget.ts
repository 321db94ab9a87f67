/**
 * The outbox's disk budget (see "Disk budget" in `outbox.ts`): what a message counts against
 * `diskBudgetBytes` ({@linkcode estimateDiskBytes}), and the eviction that makes room for a new message
 * ({@linkcode evict}: the oldest telemetry first, then the oldest batches, never alerts).
 *
 * @module
 */
import type { OutboxKind } from "./_outbox_types.ts";
import type { OutboxRow, OutboxStatements } from "./_outbox_sql.ts";

// The layout of a row, for estimateDiskBytes(), fitted to measured files (payloads of one size from 10 B
// to 20 KB within 1%, mixed sizes within 2%): the record's own bytes beyond payload, topic and stream (its
// header and the integer columns), a cell's bytes beyond its record (pointer, size and rowid varints), and
// the two index entries beyond the stream name.
const RECORD_OVERHEAD_BYTES = 30;
const utf8 = new TextEncoder();
const CELL_OVERHEAD_BYTES = 6;
const INDEX_OVERHEAD_BYTES = 38;
const PAGE_HEADER_BYTES = 8;

/**
 * The bytes a message takes in the database file, as the disk budget counts them: its share of the table's
 * b-tree pages (as many rows of its size as fit a page, or its overflow pages and the rest; SQLite file
 * format §1.6 and §1.5 "cell payload overflow") plus its index entries. Exact to about 1% when all messages
 * have its size; an upper bound otherwise.
 */
export function estimateDiskBytes(
  payloadBytes: number,
  options: { readonly topic: string; readonly stream: string; readonly pageBytes?: number },
): number {
  const page = options.pageBytes ?? 4096;
  const streamBytes = utf8.encode(options.stream).byteLength;
  const record = payloadBytes + utf8.encode(options.topic).byteLength + streamBytes + RECORD_OVERHEAD_BYTES;
  /** A page's share of one cell of `bytes` among as many as fit. */
  const share = (bytes: number) =>
    page / Math.max(1, Math.floor((page - PAGE_HEADER_BYTES) / (bytes + CELL_OVERHEAD_BYTES)));
  const maxLocal = page - 35;
  let table: number;
  if (record <= maxLocal) {
    table = share(record);
  } else {
    const minLocal = Math.floor((page - 12) * 32 / 255) - 23;
    const k = minLocal + (record - minLocal) % (page - 4);
    const local = k <= maxLocal ? k : minLocal;
    table = Math.ceil((record - local) / (page - 4)) * page + share(local);
  }
  return Math.ceil(table + streamBytes + INDEX_OVERHEAD_BYTES);
}

/** The kinds the budget policy deletes, in order. */
const DROPPABLE: readonly OutboxKind[] = ["telemetry", "batch"];
const EVICT_BATCH = 64;

/**
 * Deletes the oldest droppable messages until `need` bytes are freed or none are left; returns the rest.
 * Each drop is counted for its kind, its stream and its owner. Runs inside the caller's write transaction.
 */
export function evict(sql: OutboxStatements, need: number): number {
  for (const kind of DROPPABLE) {
    while (need > 0) {
      const rows = sql.oldestOf.all(kind, EVICT_BATCH) as unknown as Pick<
        OutboxRow,
        "id" | "stream" | "bytes" | "owner"
      >[];
      if (rows.length === 0) break;
      for (const row of rows) {
        if (need <= 0) break;
        sql.deleteId.run(row.id);
        sql.countDropped.run(row.bytes, kind);
        sql.countStreamDrop.run(row.stream);
        if (row.owner !== null) uncountOwner(sql, row.owner, row.bytes);
        need -= row.bytes;
      }
    }
  }
  return need;
}

/**
 * Takes a message of `bytes` off its owner's count (an ack or a drop), and the owner's row once it has
 * nothing waiting. Runs inside the caller's write transaction.
 */
export function uncountOwner(sql: OutboxStatements, owner: string, bytes: number): void {
  sql.uncountOwner.run(owner, bytes);
  sql.dropIdleOwner.run(owner);
}
