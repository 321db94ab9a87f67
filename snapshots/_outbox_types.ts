/**
 * The shapes the outbox hands out (a stored message, the counters, streams and owners), apart from
 * `outbox.ts` so that its private parts (`_outbox_sql.ts`, `_outbox_budget.ts`) can name them without
 * importing the outbox itself. Re-exported by `outbox.ts`; import them from there (or `mod.ts`).
 *
 * @module
 */

/** What a message is; decides what the budget policy drops (telemetry first, then batches, never alerts). */
export type OutboxKind = "alert" | "telemetry" | "batch";

/** Every kind, in the order the budget policy keeps them (most precious first). */
export const OUTBOX_KINDS: readonly OutboxKind[] = ["alert", "batch", "telemetry"];

/** A stored message. */
export interface OutboxMessage {
  /** Its place in the queue: the drain order. */
  readonly id: number;
  readonly stream: string;
  /** Its number in its stream, from 1. */
  readonly seq: number;
  readonly kind: OutboxKind;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: 0 | 1 | 2;
  /** When it was enqueued, in ms since the epoch. */
  readonly createdAtMs: number;
  /** What it counts against the disk budget: `estimateDiskBytes` (`_outbox_budget.ts`). */
  readonly sizeBytes: number;
  /** Who it is charged to (`OutboxEntry.owner`), or null. */
  readonly owner: string | null;
}

/** What one owner has waiting. */
export interface OutboxOwner {
  readonly owner: string;
  /** Messages waiting. */
  readonly depth: number;
  /** Their size against the budget. */
  readonly sizeBytes: number;
}

/** Counters of one kind, kept across restarts. */
export interface OutboxKindStats {
  /** Messages waiting. */
  readonly depth: number;
  /** Their size against the budget. */
  readonly sizeBytes: number;
  readonly enqueued: number;
  /** Acknowledged by the transport and deleted. */
  readonly delivered: number;
  /** Deleted by the budget policy. */
  readonly dropped: number;
  readonly droppedBytes: number;
  /**
   * Stored although the outbox was over its budget (alerts, or the newest message when only alerts were left
   * to drop).
   */
  readonly overBudget: number;
}

/** What `Outbox.stats` reports. */
export interface OutboxStats {
  /** Messages waiting. */
  readonly depth: number;
  readonly sizeBytes: number;
  readonly diskBudgetBytes: number;
  /** Age of the oldest waiting message, in ms; `null` when empty. */
  readonly oldestAgeMs: number | null;
  readonly kinds: Readonly<Record<OutboxKind, OutboxKindStats>>;
}

/** One stream's sequence numbers and drops. */
export interface OutboxStream {
  readonly stream: string;
  /** The last sequence number given out. */
  readonly lastSeq: number;
  /** Its messages deleted by the budget policy. */
  readonly dropped: number;
}
