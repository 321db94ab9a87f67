/**
 * The soak's arithmetic: percentiles, a least-squares slope, a median, and the per-stream ledger of
 * sequence numbers (which arrived, how often, in what order), all pure so the test can check them.
 *
 * @module
 */

/**
 * The `q`-quantile (0..1) of `values` by the nearest-rank method; `null` for none.
 *
 * @example
 * ```ts
 * import { percentile } from "./_stats.ts";
 * percentile([5, 1, 3, 2, 4], 0.5); // 3
 * ```
 */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** The median of `values`; `null` for none. */
export function median(values: readonly number[]): number | null {
  return percentile(values, 0.5);
}

/**
 * The least-squares line through `points` (`[x, y]`): its slope (y per x) and intercept; `null` with fewer
 * than two distinct x.
 *
 * @example
 * ```ts
 * import { leastSquares } from "./_stats.ts";
 * leastSquares([[0, 1], [1, 3], [2, 5]]); // { slope: 2, intercept: 1 }
 * ```
 */
export function leastSquares(
  points: readonly (readonly [number, number])[],
): { slope: number; intercept: number } | null {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/** What a receiver saw of one stream's sequence numbers. */
export interface StreamLedger {
  /** Distinct sequence numbers received. */
  readonly distinct: number;
  /** The lowest and highest received; 0 when none. */
  readonly first: number;
  readonly last: number;
  /** Sequence numbers between `first` and `last` never received. */
  readonly gaps: number;
  /** Arrivals of a sequence number already received (QoS 1 may resend). */
  readonly duplicates: number;
  /** First arrivals lower than one that arrived before them. */
  readonly outOfOrder: number;
}

/**
 * The sequence numbers received on one stream, in a bitmap that grows as they do (an hour of a 10 msg/s
 * stream is 4.5 KB).
 */
export class SeqTracker {
  #bits = new Uint8Array(1024);
  #distinct = 0;
  #first = 0;
  #last = 0;
  #duplicates = 0;
  #outOfOrder = 0;

  /**
   * Records one arrival of `seq` (1, 2, 3, ...).
   *
   * @throws {RangeError} when `seq` is not a positive safe integer.
   */
  add(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 1) {
      throw new RangeError(`A sequence number must be 1 or more, got ${seq}`);
    }
    const byte = seq >> 3;
    if (byte >= this.#bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.#bits.length * 2));
      grown.set(this.#bits);
      this.#bits = grown;
    }
    const bit = 1 << (seq & 7);
    if (this.#bits[byte]! & bit) {
      this.#duplicates++;
      return;
    }
    this.#bits[byte]! |= bit;
    if (seq < this.#last) this.#outOfOrder++;
    this.#distinct++;
    this.#first = this.#first === 0 ? seq : Math.min(this.#first, seq);
    this.#last = Math.max(this.#last, seq);
  }

  /** Whether `seq` arrived. */
  has(seq: number): boolean {
    return ((this.#bits[seq >> 3] ?? 0) & (1 << (seq & 7))) !== 0;
  }

  /** The figures so far. */
  ledger(): StreamLedger {
    const span = this.#last === 0 ? 0 : this.#last - this.#first + 1;
    return {
      distinct: this.#distinct,
      first: this.#first,
      last: this.#last,
      gaps: span - this.#distinct,
      duplicates: this.#duplicates,
      outOfOrder: this.#outOfOrder,
    };
  }
}

/** One kind's accounting: what the outbox numbered and dropped against what arrived. */
export interface KindAccount {
  /** Sequence numbers the outbox gave out for this kind during the run (`enqueued`). */
  readonly enqueued: number;
  /** Distinct ones received. */
  readonly received: number;
  /** Deleted by the outbox's budget policy (`dropped`). */
  readonly dropped: number;
  /** Never received: `enqueued - received`. */
  readonly missing: number;
  /** Missing beyond what the outbox counts as dropped: `max(0, missing - dropped)`; must be 0. */
  readonly unexplained: number;
  /** Dropped from the outbox yet received (sent before the budget policy deleted them, then acknowledged). */
  readonly droppedYetReceived: number;
  readonly duplicates: number;
}

/**
 * Accounts for one kind: every sequence number the outbox gave out (`enqueued`) either arrived or is among
 * those it dropped. Streams start at 1 (a fresh data directory), so `enqueued` counts exactly the numbers
 * given out.
 */
export function accountKind(
  outbox: { readonly enqueued: number; readonly dropped: number },
  streams: readonly StreamLedger[],
): KindAccount {
  const received = streams.reduce((s, l) => s + l.distinct, 0);
  const missing = Math.max(0, outbox.enqueued - received);
  return {
    enqueued: outbox.enqueued,
    received,
    dropped: outbox.dropped,
    missing,
    unexplained: Math.max(0, missing - outbox.dropped),
    droppedYetReceived: Math.max(0, outbox.dropped - missing),
    duplicates: streams.reduce((s, l) => s + l.duplicates, 0),
  };
}
