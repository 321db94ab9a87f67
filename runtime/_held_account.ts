/**
 * The main thread's side of a module's resource account (see `executor/account.ts`): what the runtime keeps for a
 * module, bounded whatever its executor sends. Private to `runtime/`.
 *
 * @module
 */
import { type AccountLimits, type AccountOptions, AccountRates, TokenBucket } from "./executor/account.ts";
import { nowMs as epochMs } from "./executor/doorbell.ts";

/**
 * The main thread's account of one module (its slot), across its instances: the outputs and arrays the
 * runtime keeps for it (null-prototype records, bounded), and rate limits with twice the executor's burst
 * (reports arrive in 100 ms batches, and late), so a well-behaved executor never trips them. Counts what it
 * drops in {@linkcode HeldAccount.throttled}.
 */
export class HeldAccount extends AccountRates {
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
  readonly #denialLines: TokenBucket;

  /** @param limits Over {@linkcode DEFAULT_ACCOUNT_LIMITS}. */
  constructor(limits?: Partial<AccountLimits> | null, options: AccountOptions = {}) {
    const clock = options.nowMs ?? epochMs;
    super(limits, { burstS: 2, clock });
    const l = this.limits;
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

  /**
   * A log line for a refused call when there is no audit log to bound them: as many a minute as it would
   * have rows (`audit_rows_per_min`). Not counted: the denial itself is.
   */
  allowDenialLine(): boolean {
    return this.#denialLines.take();
  }

  /** What the runtime holds for the module: output keys, array keys and bytes, topics. */
  held(): { outputKeys: number; arrayKeys: number; arrayBytes: number; topics: number } {
    return {
      outputKeys: this.#outputKeys,
      arrayKeys: this.#arrayKeys,
      arrayBytes: this.#arrayBytes,
      topics: this.topics,
    };
  }
}
