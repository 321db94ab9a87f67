/**
 * The forwarder drains the outbox (`snapshots/outbox.ts`) through a {@linkcode Publisher}: oldest message
 * first, at most `maxInFlight` unconfirmed at a time, at most `rateMsgsPerS` a second (a token bucket of
 * `burstMsgs`), deleting each message only when the publisher confirms it (MQTT PUBACK or PUBCOMP).
 * Confirmations that arrive together (one socket read) are deleted in one transaction.
 *
 * Delivery is **at least once**: a message whose confirmation was lost (the link dropped after the broker
 * had it, the process died between the confirmation and the ack's commit, or a power cut undid that commit)
 * is sent again, so a receiver drops duplicates by `(stream, seq)`, which the outbox never gives out twice
 * (the payload carries them: see the outbox's payload function). Order: messages leave in outbox order;
 * after a failure everything unconfirmed is sent again from the oldest, so a receiver may see a message
 * after later ones (at most `maxInFlight - 1` places late), and orders by `seq`. With `maxInFlight: 1`
 * nothing is ever reordered.
 *
 * When a publish fails or the link drops, the forwarder stops sending. On a drop it resumes when the
 * publisher reports it is connected again; on a failure with the link up it retries after `retryDelayMs`,
 * doubling up to `maxRetryDelayMs`. After an outage the bucket allows at most `burstMsgs` at once and then
 * `rateMsgsPerS`, so a long backlog does not swamp the link.
 *
 * @example
 * ```ts ignore
 * const outbox = createOutbox(store, { diskBudgetBytes: 64 * 1024 * 1024 });
 * await using forwarder = createForwarder(outbox, mqtt, { rateMsgsPerS: 50, maxInFlight: 8 });
 * outbox.enqueue({ stream: "alerts", kind: "alert", topic: "kiln/alerts", payload }); // sent soon after
 * forwarder.stats(); // { state: "idle", sent: 1, acked: 1, ... }
 * ```
 *
 * @module
 */
import type { Publisher } from "../../hal/mod.ts";
import type { Outbox, OutboxMessage } from "../../snapshots/outbox.ts";

/** Time for the rate limit and retries; injectable so tests need no real time. */
export interface Clock {
  /** A monotonic time in ms. */
  nowMs(): number;
  /** Calls `callback` once after `delayMs`; returns the cancel function. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
  setTimer(callback, delayMs) {
    const id = setTimeout(callback, delayMs);
    return () => clearTimeout(id);
  },
};

/** Options of {@linkcode createForwarder}. */
export interface ForwarderOptions {
  /** Steady send rate, in messages per second; `Infinity` for none. @default 100 */
  readonly rateMsgsPerS?: number;
  /** Messages that may leave at once after a pause (the bucket's size). @default 10 */
  readonly burstMsgs?: number;
  /** Messages sent but not yet confirmed, at most. @default 16 */
  readonly maxInFlight?: number;
  /** First wait before sending again after a failed publish with the link up, in ms. @default 1000 */
  readonly retryDelayMs?: number;
  /** Longest such wait, in ms. @default 30000 */
  readonly maxRetryDelayMs?: number;
  /** How long {@linkcode Forwarder.close} waits for confirmations in flight, in ms. @default 5000 */
  readonly closeTimeoutMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

/** What the forwarder is doing. */
export type ForwarderState =
  | "idle" // nothing to send
  | "sending" // messages in flight or about to be sent
  | "rate_limited" // waiting for a token
  | "retry_wait" // waiting after a failed publish
  | "disconnected" // waiting for the link
  | "closed";

/** What {@linkcode Forwarder.stats} reports (since creation). */
export interface ForwarderStats {
  readonly state: ForwarderState;
  readonly inFlight: number;
  /** Publishes started. */
  readonly sent: number;
  /** Publishes confirmed. */
  readonly acked: number;
  /** Publishes that failed. */
  readonly failed: number;
  /** The last failure's message, kept after recovery; `null` if there never was one. */
  readonly lastError: string | null;
}

/** A running drain of an outbox; close it to stop. */
export interface Forwarder extends AsyncDisposable {
  stats(): ForwarderStats;
  /**
   * Stops sending and waits until the messages in flight are confirmed or failed, or `closeTimeoutMs`
   * passed; unconfirmed messages stay in the outbox for the next start.
   */
  close(): Promise<void>;
}

/** The parts of the outbox the forwarder uses. */
export type ForwarderOutbox = Pick<Outbox, "peek" | "ackMany" | "onEnqueue">;

const READ_AHEAD_MSGS = 64;

/**
 * Starts draining `outbox` through `publisher`, at once if it is connected.
 *
 * @throws {RangeError} when an option is out of range.
 */
export function createForwarder(
  outbox: ForwarderOutbox,
  publisher: Publisher,
  options: ForwarderOptions = {},
): Forwarder {
  const rate = options.rateMsgsPerS ?? 100;
  const burst = options.burstMsgs ?? 10;
  const maxInFlight = options.maxInFlight ?? 16;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5000;
  if (!(rate > 0)) throw new RangeError(`rateMsgsPerS must be above 0, got ${rate}`);
  for (const [name, v] of [["burstMsgs", burst], ["maxInFlight", maxInFlight]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`${name} must be an integer of 1 or more, got ${v}`);
    }
  }
  for (const [name, v] of [["retryDelayMs", retryDelayMs], ["maxRetryDelayMs", maxRetryDelayMs]] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be 0 or more, got ${v}`);
  }
  const clock = options.clock ?? systemClock;

  let closed = false;
  /** Bumped on every failure or drop: confirmations of an older epoch still ack, but no longer steer. */
  let epoch = 0;
  /** The id of the last message taken from the outbox in this epoch. */
  let cursor = 0;
  let queue: OutboxMessage[] = [];
  const inFlight = new Map<number, Promise<void>>();
  /** Every publish not yet settled, of any epoch, for close(). */
  const unsettled = new Set<Promise<void>>();
  let tokens = burst;
  let refilledAtMs = clock.nowMs();
  let cancelTimer: (() => void) | null = null;
  let timerKind: "rate" | "retry" | null = null;
  let nextRetryMs = retryDelayMs;
  let pumpScheduled = false;
  const counts = { sent: 0, acked: 0, failed: 0 };
  let lastError: string | null = null;

  function schedulePump(): void {
    if (pumpScheduled || closed) return;
    pumpScheduled = true;
    queueMicrotask(() => {
      pumpScheduled = false;
      pump();
    });
  }

  function setTimer(kind: "rate" | "retry", delayMs: number): void {
    cancelTimer?.();
    timerKind = kind;
    cancelTimer = clock.setTimer(() => {
      cancelTimer = null;
      timerKind = null;
      pump();
    }, delayMs);
  }

  function takeToken(): number {
    if (rate === Infinity) return 0;
    const now = clock.nowMs();
    tokens = Math.min(burst, tokens + (now - refilledAtMs) * rate / 1000);
    refilledAtMs = now;
    if (tokens >= 1) {
      tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - tokens) * 1000 / rate));
  }

  /** Forgets what is in flight and reads again from the oldest message in the outbox. */
  function restart(): void {
    epoch++;
    cursor = 0;
    queue = [];
    inFlight.clear();
  }

  function pump(): void {
    if (closed || timerKind !== null || !publisher.connected) return;
    while (inFlight.size < maxInFlight) {
      if (queue.length === 0) {
        try {
          queue = outbox.peek(READ_AHEAD_MSGS, cursor);
        } catch (err) {
          return failed(epoch, err, false); // the store failed: try again later
        }
        if (queue.length === 0) return; // idle until the next enqueue
        cursor = queue[queue.length - 1]!.id;
      }
      const waitMs = takeToken();
      if (waitMs > 0) return setTimer("rate", waitMs);
      send(queue.shift()!);
    }
  }

  function send(message: OutboxMessage): void {
    const sentEpoch = epoch;
    counts.sent++;
    let p: Promise<void>;
    try {
      p = publisher.publish(message.topic, message.payload, { qos: message.qos });
    } catch (err) {
      p = Promise.reject(err);
    }
    const settled = p.then(
      () => confirmed(message, sentEpoch),
      (err) => failed(sentEpoch, err),
    );
    inFlight.set(message.id, settled);
    unsettled.add(settled);
    settled.finally(() => unsettled.delete(settled));
  }

  /** Confirmations not yet acked in the outbox: acked together, once per microtask turn. */
  let confirmations: { id: number; epoch: number }[] = [];

  function confirmed(message: OutboxMessage, sentEpoch: number): void {
    counts.acked++;
    if (confirmations.length === 0) queueMicrotask(commitAcks);
    confirmations.push({ id: message.id, epoch: sentEpoch });
  }

  /**
   * Deletes the confirmed messages, in one transaction for all confirmations that arrived together (MQTT
   * PUBACKs read from one socket read): one commit instead of one per message.
   */
  function commitAcks(): void {
    const batch = confirmations;
    if (batch.length === 0) return;
    confirmations = [];
    try {
      // A confirmation is a confirmation, whatever happened since: delete the messages.
      outbox.ackMany(batch.map((c) => c.id));
    } catch (err) {
      // Not deleted: they will be sent again. Treat it as a failure so they are, and report it.
      return failed(epoch, err, false);
    }
    let current = false;
    for (const c of batch) {
      if (c.epoch !== epoch) continue;
      inFlight.delete(c.id);
      current = true;
    }
    if (!current) return;
    nextRetryMs = retryDelayMs;
    pump();
  }

  function failed(sentEpoch: number, err: unknown, count = true): void {
    if (count) counts.failed++;
    lastError = err instanceof Error ? err.message : String(err);
    if (sentEpoch !== epoch || closed) return;
    restart();
    if (publisher.connected) {
      setTimer("retry", nextRetryMs);
      nextRetryMs = Math.min(maxRetryDelayMs, nextRetryMs * 2);
    } // else: wait for the reconnect
  }

  const offConnection = publisher.onConnectionChange((connected) => {
    if (closed) return;
    if (!connected) {
      restart();
      cancelTimer?.();
      cancelTimer = null;
      timerKind = null;
      return;
    }
    if (timerKind === "retry") {
      cancelTimer?.();
      cancelTimer = null;
      timerKind = null;
    }
    nextRetryMs = retryDelayMs;
    schedulePump();
  });
  const offEnqueue = outbox.onEnqueue(schedulePump);
  schedulePump();

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      offConnection();
      offEnqueue();
      cancelTimer?.();
      cancelTimer = null;
      timerKind = null;
      if (unsettled.size === 0) return;
      let cancelWait = () => {};
      const timeout = new Promise<void>((resolve) => {
        cancelWait = clock.setTimer(resolve, closeTimeoutMs);
      });
      await Promise.race([Promise.allSettled([...unsettled]), timeout]);
      cancelWait();
      commitAcks();
    })();
    return closing;
  };

  return {
    stats() {
      let state: ForwarderState;
      if (closed) state = "closed";
      else if (!publisher.connected) state = "disconnected";
      else if (timerKind === "retry") state = "retry_wait";
      else if (timerKind === "rate") state = "rate_limited";
      else if (inFlight.size > 0 || queue.length > 0) state = "sending";
      else state = "idle";
      return { state, inFlight: inFlight.size, ...counts, lastError };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
