/**
 * The store-and-forward outbox: a durable FIFO of outbound messages (alerts, telemetry, Mode C batches) in
 * the store's SQLite database. A message is written here before it is sent and deleted only when the
 * transport confirms delivery ({@linkcode Outbox.ack}); the forwarder (`runtime/uplink/forwarder.ts`) drains it.
 *
 * Guarantees:
 *
 * - **Durable once returned.** {@linkcode Outbox.enqueue} commits one transaction (the message, its stream's
 *   sequence number and the counters) before it returns. The store runs SQLite in WAL mode with
 *   `synchronous = NORMAL`: a commit is written to the WAL file, without an fsync. So a message whose
 *   `enqueue` returned survives a crash of the process (SIGKILL, an uncaught error, the OOM killer): the
 *   kernel still holds the write. It may not survive a power loss or a kernel crash, which can take the last
 *   commits since the WAL was last synced (at checkpoints); the database stays consistent either way. The
 *   same holds for {@linkcode Outbox.ack}: an acknowledgement lost to a power cut only means a message is
 *   sent twice. (`tests/persistence/outbox_crash_test.ts` kills writers at random points.)
 * - **Sequence numbers.** Each stream numbers its messages 1, 2, 3, ... in enqueue order; a number is never
 *   given out twice, also across restarts and after its messages are delivered or dropped. A gap at the
 *   receiver means a message was dropped by the budget policy (counted per stream and per kind), or has not
 *   arrived yet. The number reaches a receiver only inside the payload (MQTT 3.1.1 has no message
 *   properties): give `enqueue` a payload function, which is called with the number.
 * - **Disk budget.** Every message counts what it takes in the database file against `diskBudgetBytes`:
 *   {@linkcode estimateDiskBytes}, its share of SQLite's pages and index entries (within 2% of the file for
 *   one size or mixed sizes, in `bench/outbox.ts` and the tests). Not counted: the WAL file (up to about
 *   4 MiB, SQLite's checkpoint at 1000 pages) and pages left part-empty when telemetry between alerts is
 *   dropped. The file never shrinks; freed pages are reused. A message that would take the outbox over its
 *   budget first deletes the oldest telemetry, then the oldest batches, until it fits; alerts are never
 *   dropped, and neither is the new message. If only alerts (and the new message) remain and it still does
 *   not fit, it is stored anyway and counted as `overBudget` of its kind. So after an enqueue the outbox
 *   holds at most `max(diskBudgetBytes, bytes of alerts + the new message)`, and every drop is counted in
 *   {@linkcode Outbox.stats} and {@linkcode Outbox.listStreams}.
 * - **Owners' shares.** A message may be charged to an owner (a module: `owner`), which then has at most
 *   `ownerMaxBytes` waiting: a message that would take it over is refused before anything is stored or
 *   dropped ({@linkcode OutboxShareExceededError}). What each owner has waiting is counted in the same
 *   transactions as the rows ({@linkcode Outbox.ownerBytes}, {@linkcode Outbox.listOwners}), so one module
 *   cannot fill the budget and make the policy drop everyone else's telemetry, nor, with alerts, grow the
 *   outbox past its budget.
 * - **Write cost.** Each transaction writes about six 4 KiB pages to the WAL (the row, two indexes, the
 *   stream's counter, the kind counters, the id sequence): 27-30 KB of writes per message enqueued alone,
 *   1-3.4 KB per message with {@linkcode Outbox.enqueueMany} of 100 (`bench/outbox.ts`). On flash storage,
 *   producers of frequent telemetry should enqueue in batches (or use Mode C).
 *
 * One {@linkcode Outbox} per store: it is the only writer of its tables.
 *
 * @example
 * ```ts ignore
 * using store = openStore("data/kiln.db");
 * const outbox = createOutbox(store, { diskBudgetBytes: 64 * 1024 * 1024 });
 * const m = outbox.enqueue({ stream: "temperature", kind: "telemetry", topic: "kiln/t", payload });
 * m.seq; // 1, 2, 3, ... per stream
 * for (const msg of outbox.peek(10)) {
 *   await publisher.publish(msg.topic, msg.payload, { qos: msg.qos });
 *   outbox.ack(msg.id);
 * }
 * ```
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import type { Store } from "./store.ts";
import { estimateDiskBytes, evict, uncountOwner } from "./_outbox_budget.ts";
import {
  type OutboxRow,
  prepareOutboxStatements,
  readOwnerBytes,
  readOwners,
  readStats,
  readStreams,
  toMessage,
} from "./_outbox_sql.ts";
import {
  OUTBOX_KINDS,
  type OutboxKind,
  type OutboxMessage,
  type OutboxOwner,
  type OutboxStats,
  type OutboxStream,
} from "./_outbox_types.ts";

export { estimateDiskBytes } from "./_outbox_budget.ts";
export {
  OUTBOX_KINDS,
  type OutboxKind,
  type OutboxKindStats,
  type OutboxMessage,
  type OutboxOwner,
  type OutboxStats,
  type OutboxStream,
} from "./_outbox_types.ts";

/** A message to {@linkcode Outbox.enqueue}. */
export interface OutboxEntry {
  /** The sequence-number stream, e.g. a module's alerts or a sensor's telemetry. Not empty. */
  readonly stream: string;
  readonly kind: OutboxKind;
  /** The MQTT topic to publish on. Not empty. */
  readonly topic: string;
  /**
   * The bytes to send, or a function that makes them from the message's sequence number (called once, inside
   * the enqueue's transaction), for payloads that carry their own `(stream, seq)` so a receiver can find
   * gaps and duplicates.
   */
  readonly payload: Uint8Array | ((seq: number) => Uint8Array);
  /** @default 1 */
  readonly qos?: 0 | 1 | 2;
  /**
   * Who the message is charged to (a module), so that what one owner has waiting can be bounded
   * ({@linkcode Outbox.ownerBytes}); none when left out.
   */
  readonly owner?: string;
  /**
   * The most `owner` may have waiting, in budget bytes, this message included: over it, the message is
   * refused ({@linkcode OutboxShareExceededError}) and nothing is stored, nor any other message dropped.
   */
  readonly ownerMaxBytes?: number;
}

/** Options of {@linkcode createOutbox}. */
export interface OutboxOptions {
  /** The most the waiting messages may take, in bytes as counted by the budget (see the module doc). */
  readonly diskBudgetBytes: number;
  /**
   * The largest message accepted, in budget bytes ({@linkcode estimateDiskBytes}).
   * @default the smaller of 1 MiB and `diskBudgetBytes`
   */
  readonly maxMessageBytes?: number;
  /** The clock for `createdAtMs` and ages, in ms since the epoch. @default Date.now */
  readonly nowMs?: () => number;
}

/** The durable queue of outbound messages. */
export interface Outbox {
  /**
   * Stores a message and gives it the next sequence number of its stream; applies the budget policy. Durable
   * against a process crash once it returns (see the module doc).
   *
   * @throws {TypeError} when the stream or topic is empty, the kind unknown or the payload no Uint8Array.
   * @throws {RangeError} when qos is not 0, 1 or 2.
   * @throws {OutboxMessageTooLargeError} when the message is larger than `maxMessageBytes`.
   * @throws {OutboxShareExceededError} when it would take its owner over `ownerMaxBytes`.
   * @throws {OutboxWriteError} when the database refuses the write (disk full, read-only store).
   * Whatever the payload function throws is passed on; nothing is stored then.
   */
  enqueue(entry: OutboxEntry): OutboxMessage;
  /**
   * Stores several messages in one transaction, in order: all of them or none. Cheaper per message than
   * {@linkcode Outbox.enqueue} (one commit, and fewer pages written to the WAL), for producers with many
   * messages at once. Throws as `enqueue` does. A message of the batch may already be dropped by the budget
   * policy when the batch alone is larger than the budget.
   */
  enqueueMany(entries: readonly OutboxEntry[]): OutboxMessage[];
  /** Up to `limit` waiting messages with an id above `afterId`, oldest first. */
  peek(limit: number, afterId?: number): OutboxMessage[];
  /**
   * Deletes a delivered message and counts it. Returns false when it was no longer there (acknowledged
   * before, or dropped by the budget policy while it was in flight).
   *
   * @throws {OutboxWriteError} when the database refuses the write.
   */
  ack(id: number): boolean;
  /**
   * Acknowledges several messages in one transaction; returns how many were still there.
   *
   * @throws {OutboxWriteError} when the database refuses the write.
   */
  ackMany(ids: readonly number[]): number;
  stats(): OutboxStats;
  /** Every stream ever used, by name. */
  listStreams(): OutboxStream[];
  /** What `owner` has waiting, in budget bytes (as {@linkcode OutboxMessage.sizeBytes} counts); 0 for nothing. */
  ownerBytes(owner: string): number;
  /** Every owner with messages waiting, by name. */
  listOwners(): OutboxOwner[];
  /**
   * Calls `listener` after each enqueue has committed (the forwarder wakes on it); returns the unsubscribe
   * function. An error thrown by a listener does not fail the enqueue: it is rethrown in a microtask.
   */
  onEnqueue(listener: (message: OutboxMessage) => void): () => void;
}

/** A message is larger than the outbox accepts. */
export class OutboxMessageTooLargeError extends KilnError {
  readonly code = "outbox_message_too_large";
  readonly kind = "too_large";
  constructor(readonly stream: string, readonly sizeBytes: number, readonly maxMessageBytes: number) {
    super(
      `Cannot queue a message on stream "${stream}": it takes ${sizeBytes} bytes, ` +
        `the outbox accepts at most ${maxMessageBytes}`,
    );
  }
}

/** A message would take its owner over its share of the outbox ({@linkcode OutboxEntry.ownerMaxBytes}). */
export class OutboxShareExceededError extends KilnError {
  readonly code = "outbox_share_exceeded";
  readonly kind = "rejected";
  constructor(
    readonly owner: string,
    readonly sizeBytes: number,
    readonly ownerBytes: number,
    readonly ownerMaxBytes: number,
  ) {
    super(
      `Cannot queue a message of ${sizeBytes} bytes for "${owner}": it has ${ownerBytes} bytes waiting, ` +
        `its share of the outbox is ${ownerMaxBytes}`,
    );
  }
}

/** The database refused an outbox write; nothing of it was stored. */
export class OutboxWriteError extends KilnError {
  readonly code = "outbox_write_failed";
  readonly kind = "unavailable";
  constructor(readonly operation: "enqueue" | "ack", message: string, options?: ErrorOptions) {
    super(`Cannot ${operation} in the outbox: ${message}`, options);
  }
}

/**
 * Opens the outbox on `store` (whose schema includes migration 003).
 *
 * @throws {RangeError} when `diskBudgetBytes` or `maxMessageBytes` is not a positive integer.
 */
export function createOutbox(store: Store, options: OutboxOptions): Outbox {
  const budget = options.diskBudgetBytes;
  if (!Number.isSafeInteger(budget) || budget <= 0) {
    throw new RangeError(`The outbox disk budget must be a positive integer of bytes, got ${budget}`);
  }
  const maxMessage = options.maxMessageBytes ?? Math.min(1024 * 1024, budget);
  if (!Number.isSafeInteger(maxMessage) || maxMessage <= 0) {
    throw new RangeError(`The outbox maxMessageBytes must be a positive integer, got ${maxMessage}`);
  }
  const nowMs = options.nowMs ?? Date.now;
  const db = store.db;
  const pageBytes = Number((db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
  const sql = prepareOutboxStatements(db);
  const listeners = new Set<(message: OutboxMessage) => void>();

  /** Checks an entry before any write; returns what its payload adds to its budget size. */
  function check(entry: OutboxEntry): { qos: 0 | 1 | 2; sizeOf: (payload: unknown) => number } {
    const { stream, kind, topic } = entry;
    const qos = entry.qos ?? 1;
    if (typeof stream !== "string" || stream === "") {
      throw new TypeError(`An outbox message needs a stream name, got ${JSON.stringify(stream)}`);
    }
    if (typeof topic !== "string" || topic === "") {
      throw new TypeError(`An outbox message needs a topic, got ${JSON.stringify(topic)}`);
    }
    if (!OUTBOX_KINDS.includes(kind)) {
      throw new TypeError(
        `Unknown outbox message kind ${JSON.stringify(kind)}; known: ${OUTBOX_KINDS.join(", ")}`,
      );
    }
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new RangeError(`MQTT qos must be 0, 1 or 2, got ${qos}`);
    if (entry.owner !== undefined && (typeof entry.owner !== "string" || entry.owner === "")) {
      throw new TypeError(`An outbox message's owner must be a name, got ${JSON.stringify(entry.owner)}`);
    }
    const sizeOf = (payload: unknown): number => {
      if (!(payload instanceof Uint8Array)) throw new TypeError("An outbox payload must be a Uint8Array");
      const sizeBytes = estimateDiskBytes(payload.byteLength, { topic, stream, pageBytes });
      if (sizeBytes > maxMessage) throw new OutboxMessageTooLargeError(stream, sizeBytes, maxMessage);
      return sizeBytes;
    };
    if (typeof entry.payload !== "function") sizeOf(entry.payload);
    return { qos, sizeOf };
  }

  /**
   * Runs `fn` in one write transaction. A database error becomes an {@linkcode OutboxWriteError}; an error of
   * the caller's (a payload function, its result) is passed on as it is. Either way nothing is written.
   */
  function transaction<T>(operation: "enqueue" | "ack", fn: (callerError: (err: unknown) => never) => T): T {
    const caller = { failed: false, err: undefined as unknown };
    const callerError = (err: unknown): never => {
      caller.failed = true;
      caller.err = err;
      throw err;
    };
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = fn(callerError);
        db.exec("COMMIT");
        return result;
      } catch (err) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw err;
      }
    } catch (err) {
      if (caller.failed) throw caller.err;
      throw new OutboxWriteError(operation, (err as Error).message, { cause: err });
    }
  }

  function enqueueAll(entries: readonly OutboxEntry[]): OutboxMessage[] {
    const checked = entries.map(check);
    const createdAtMs = Math.round(nowMs());
    const messages = transaction("enqueue", (callerError) =>
      entries.map((entry, i) => {
        const { stream, kind, topic } = entry;
        const owner = entry.owner ?? null;
        const { qos, sizeOf } = checked[i]!;
        const seq = Number((sql.nextSeq.get(stream) as { last_seq: number }).last_seq);
        let payload: Uint8Array;
        let sizeBytes: number;
        try {
          payload = typeof entry.payload === "function" ? entry.payload(seq) : entry.payload;
          sizeBytes = sizeOf(payload);
        } catch (err) {
          return callerError(err);
        }
        if (owner !== null && entry.ownerMaxBytes !== undefined) {
          // Before any drop: a refused message takes nothing of anyone else's.
          const held = readOwnerBytes(sql, owner);
          if (held + sizeBytes > entry.ownerMaxBytes) {
            return callerError(new OutboxShareExceededError(owner, sizeBytes, held, entry.ownerMaxBytes));
          }
        }
        const total = Number((sql.total.get() as { n: number | null }).n ?? 0);
        const stillNeeded = total + sizeBytes > budget ? evict(sql, total + sizeBytes - budget) : 0;
        const { lastInsertRowid } = sql.insert.run(
          stream,
          seq,
          kind,
          topic,
          payload,
          qos,
          createdAtMs,
          sizeBytes,
          owner,
        );
        sql.countEnqueued.run(sizeBytes, stillNeeded > 0 ? 1 : 0, kind);
        if (owner !== null) sql.countOwner.run(owner, sizeBytes);
        const id = Number(lastInsertRowid);
        return {
          id,
          stream,
          seq,
          kind,
          topic,
          payload,
          qos,
          createdAtMs,
          sizeBytes,
          owner,
        } satisfies OutboxMessage;
      }));
    for (const message of messages) {
      for (const listener of listeners) {
        try {
          listener(message);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
    return messages;
  }

  function ackAll(ids: readonly number[]): number {
    return transaction("ack", () => {
      let deleted = 0;
      for (const id of ids) {
        const row = sql.deleteId.get(id) as Pick<OutboxRow, "kind" | "bytes" | "owner"> | undefined;
        if (!row) continue;
        sql.countDelivered.run(row.bytes, row.kind);
        if (row.owner !== null) uncountOwner(sql, row.owner, row.bytes);
        deleted++;
      }
      return deleted;
    });
  }

  return {
    enqueue(entry) {
      return enqueueAll([entry])[0]!;
    },

    enqueueMany(entries) {
      return entries.length === 0 ? [] : enqueueAll(entries);
    },

    peek(limit, afterId = 0) {
      if (!Number.isSafeInteger(limit) || limit < 0) {
        throw new RangeError(`peek needs a limit of zero or more messages, got ${limit}`);
      }
      return (sql.peek.all(afterId, limit) as unknown as OutboxRow[]).map(toMessage);
    },

    ack(id) {
      return ackAll([id]) === 1;
    },

    ackMany(ids) {
      return ids.length === 0 ? 0 : ackAll(ids);
    },

    stats() {
      return readStats(sql, { diskBudgetBytes: budget, nowMs });
    },

    listStreams() {
      return readStreams(sql);
    },

    ownerBytes(owner) {
      return readOwnerBytes(sql, owner);
    },

    listOwners() {
      return readOwners(sql);
    },

    onEnqueue(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
