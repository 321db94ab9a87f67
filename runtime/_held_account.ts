/**
 * The main thread's side of a module's resource account (see `_account.ts`): what the runtime keeps for a
 * module, bounded whatever its executor sends. Private to `runtime/`.
 *
 * @module
 */
import {
  type AccountLimits,
  accountLimits,
  type AccountOptions,
  MAX_LOG_ITEM_BYTES,
  noThrottles,
  PairedBuckets,
  PublishGate,
  type ThrottleCounts,
  type ThrottleKind,
  TokenBucket,
} from "./_account.ts";
import { nowMs as epochMs } from "./_timing.ts";

/**
 * The main thread's account of one module (its slot), across its instances: the outputs and arrays the
 * runtime keeps for it (null-prototype records, bounded), and rate limits with twice the executor's burst
 * (reports arrive in 100 ms batches, and late), so a well-behaved executor never trips them. Counts what it
 * drops in {@linkcode HeldAccount.throttled}.
 */
export class HeldAccount {
  readonly limits: Readonly<AccountLimits>;
  /** Drops by kind, on the main thread, since the slot was made. */
  readonly throttled: ThrottleCounts = noThrottles();
  /** The latest value of each scalar output (at most `maxOutputKeys`). */
  readonly outputs: Record<string, number> = Object.create(null);
  /** The latest value of each array output (at most `maxArrayKeys`, `maxArrayBytes` together). */
  readonly arrays: Record<string, Float32Array> = Object.create(null);
  /** Whether the module's share of the outbox was full at the last look. */
  outboxFull = false;
  /** What its executor was last told of `outboxFull`. */
  outboxFullSent = false;
  #outputKeys = 0;
  #arrayKeys = 0;
  #arrayBytes = 0;
  readonly #log: PairedBuckets;
  readonly #publish: PublishGate;
  readonly #alerts: TokenBucket;
  readonly #denialLines: TokenBucket;

  /** @param limits Over {@linkcode DEFAULT_ACCOUNT_LIMITS}. */
  constructor(limits?: Partial<AccountLimits> | null, options: AccountOptions = {}) {
    this.limits = accountLimits(limits);
    const clock = options.nowMs ?? epochMs;
    const l = this.limits;
    this.#log = new PairedBuckets(l.logLinesPerS, l.logBytesPerS, {
      burstS: 2,
      maxItemBytes: MAX_LOG_ITEM_BYTES,
      clock,
    });
    this.#publish = new PublishGate(l, { burstS: 2, clock });
    this.#alerts = new TokenBucket(l.alertsPerS, Math.max(2, 2 * l.alertsPerS), clock);
    this.#denialLines = new TokenBucket(l.auditRowsPerMin / 60, l.auditRowsPerMin, clock);
  }

  /** Keeps a scalar output; false (counted as `outputs`) for a new key past `maxOutputKeys`. */
  setOutput(key: string, value: number): boolean {
    if (!Object.hasOwn(this.outputs, key)) {
      if (this.#outputKeys >= this.limits.maxOutputKeys) {
        this.throttled.outputs++;
        return false;
      }
      this.#outputKeys++;
    }
    this.outputs[key] = value;
    return true;
  }

  /** Keeps an array output; false (counted as `arrays`) for a new key or size past the limits. */
  setArray(key: string, values: Float32Array): boolean {
    const held = Object.hasOwn(this.arrays, key) ? this.arrays[key]!.byteLength : null;
    const total = this.#arrayBytes - (held ?? 0) + values.byteLength;
    if ((held === null && this.#arrayKeys >= this.limits.maxArrayKeys) || total > this.limits.maxArrayBytes) {
      this.throttled.arrays++;
      return false;
    }
    if (held === null) this.#arrayKeys++;
    this.arrays[key] = values;
    this.#arrayBytes = total;
    return true;
  }

  /** A log line of `bytes`; false (counted as `logs`) past twice a second's lines or bytes. */
  allowLog(bytes: number): boolean {
    if (this.#log.take(bytes)) return true;
    this.throttled.logs++;
    return false;
  }

  /** An alert; false (counted as `alerts`) past twice a second's alerts. */
  allowAlert(): boolean {
    if (this.#alerts.take()) return true;
    this.throttled.alerts++;
    return false;
  }

  /** A published message of `bytes` on `topic`; false (counted as `publish`) past the topics or rates. */
  allowPublish(topic: string, bytes: number): boolean {
    if (this.#publish.take(topic, bytes)) return true;
    this.throttled.publish++;
    return false;
  }

  /**
   * A log line for a refused call when there is no audit log to bound them: as many a minute as it would
   * have rows (`audit_rows_per_min`). Not counted: the denial itself is.
   */
  allowDenialLine(): boolean {
    return this.#denialLines.take();
  }

  /** Counts drops decided elsewhere (the outbox share, audit rows). */
  count(kind: ThrottleKind, n = 1): void {
    this.throttled[kind] += n;
  }

  /** What the runtime holds for the module: output keys, array keys and bytes, topics. */
  held(): { outputKeys: number; arrayKeys: number; arrayBytes: number; topics: number } {
    return {
      outputKeys: this.#outputKeys,
      arrayKeys: this.#arrayKeys,
      arrayBytes: this.#arrayBytes,
      topics: this.#publish.topics,
    };
  }
}
