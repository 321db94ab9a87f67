/**
 * A module's resource account: everything a module can make the host hold or do on its behalf, apart from
 * its memories and tables (counted against `limits.max_memory_mb`), is bounded per module here. The limits
 * and their defaults are in one place ({@linkcode DEFAULT_ACCOUNT_LIMITS}); a manifest may set each under
 * `limits:` (`modules/ABI.md`, "Resource limits").
 *
 * The account is kept twice. {@linkcode ModuleAccount} is the executor's, consulted by the host imports where
 * a module's request enters the host: a call over a limit returns `KILN_ELIMIT` and is counted, so the main
 * thread never receives more than the account allows. `HeldAccount` (`../_held_account.ts`) is the main
 * thread's, defence in depth: it bounds what the runtime keeps per module (output keys, array bytes, topics,
 * log lines, alerts, messages) whatever an executor sends, and counts what it drops. Exceeding a limit
 * throttles the module, never the gateway. Private to `runtime/`.
 *
 * @module
 */
import { nowMs as epochMs } from "./doorbell.ts";

/** The limits of one module's account (manifest `limits:`, in the units their names say). */
export interface AccountLimits {
  /** Distinct scalar output keys (`kiln.output`) a module may hold. */
  readonly maxOutputKeys: number;
  /** Distinct array output keys (`kiln.output_array`) a module may hold. */
  readonly maxArrayKeys: number;
  /** Bytes of array outputs a module may hold, all keys together (4 bytes a value). */
  readonly maxArrayBytes: number;
  /** Messages a module may publish a second (`kiln.publish`; a burst of one second's worth). */
  readonly publishPerS: number;
  /** Payload and topic bytes a module may publish a second. */
  readonly publishBytesPerS: number;
  /** Distinct topics a module may publish on (each is a stream the outbox numbers forever). */
  readonly maxPublishTopics: number;
  /**
   * The share of the outbox's disk budget a module's messages not yet acknowledged (its telemetry and its
   * alerts) may take, from 0 to 1.
   */
  readonly outboxShare: number;
  /** Log lines a module may write a second (`kiln.log`, WASI stdout and stderr together). */
  readonly logLinesPerS: number;
  /** Log bytes a module may write a second. */
  readonly logBytesPerS: number;
  /** Alerts a module may raise a second (`kiln.alert`). */
  readonly alertsPerS: number;
  /**
   * Audit rows a module's refused calls may add a minute; the rest are counted and written as one summary
   * row when the minute ends.
   */
  readonly auditRowsPerMin: number;
}

/** The defaults of every account limit: what a module gets when its manifest does not say. */
export const DEFAULT_ACCOUNT_LIMITS: Readonly<AccountLimits> = Object.freeze({
  maxOutputKeys: 256,
  maxArrayKeys: 32,
  maxArrayBytes: 256 * 1024,
  publishPerS: 50,
  publishBytesPerS: 64 * 1024,
  maxPublishTopics: 32,
  outboxShare: 0.25,
  logLinesPerS: 50,
  logBytesPerS: 16 * 1024,
  alertsPerS: 5,
  auditRowsPerMin: 20,
});

/** What a module was throttled for: the kinds of limit, as its status counts them (`throttled`). */
export const THROTTLE_KINDS = [
  "outputs",
  "arrays",
  "publish",
  "outbox",
  "logs",
  "alerts",
  "audit",
] as const;

/** One kind of limit. */
export type ThrottleKind = typeof THROTTLE_KINDS[number];

/** Refusals (calls that got `KILN_ELIMIT`, or items the host dropped) by kind of limit. */
export type ThrottleCounts = Record<ThrottleKind, number>;

/** The capability a denial is reported under when the account folded it into a count (see {@linkcode ModuleAccount.denial}). */
export const SUPPRESSED_DENIALS = "*";

/** The length of an audit window, in ms. */
export const AUDIT_WINDOW_MS = 60_000;

/** A fresh set of counters, all zero. */
export function noThrottles(): ThrottleCounts {
  return { outputs: 0, arrays: 0, publish: 0, outbox: 0, logs: 0, alerts: 0, audit: 0 };
}

/** Adds `b` into `a`, kind by kind (a missing `b` adds nothing); returns `a`. */
export function addThrottles(
  a: ThrottleCounts,
  b: Partial<ThrottleCounts> | null | undefined,
): ThrottleCounts {
  if (b) { for (const kind of THROTTLE_KINDS) a[kind] += b[kind] ?? 0; }
  return a;
}

/** `limits` over the defaults: a field left out gets {@linkcode DEFAULT_ACCOUNT_LIMITS}'s. */
export function accountLimits(limits?: Partial<AccountLimits> | null): AccountLimits {
  const out = { ...DEFAULT_ACCOUNT_LIMITS };
  if (limits) {
    for (const key of Object.keys(DEFAULT_ACCOUNT_LIMITS) as (keyof AccountLimits)[]) {
      const v = limits[key];
      if (v !== undefined) (out as Record<keyof AccountLimits, number>)[key] = v;
    }
  }
  return out;
}

/** Each limit's key under a module's `limits:` in the manifest (and in its status, `account.limits`). */
export const MANIFEST_KEYS: Readonly<Record<keyof AccountLimits, string>> = Object.freeze({
  maxOutputKeys: "max_output_keys",
  maxArrayKeys: "max_array_keys",
  maxArrayBytes: "max_array_bytes",
  publishPerS: "publish_per_s",
  publishBytesPerS: "publish_bytes_per_s",
  maxPublishTopics: "max_publish_topics",
  outboxShare: "outbox_share",
  logLinesPerS: "log_lines_per_s",
  logBytesPerS: "log_bytes_per_s",
  alertsPerS: "alerts_per_s",
  auditRowsPerMin: "audit_rows_per_min",
});

/** The limits a module's manifest `limits:` section sets (validated by the schema), over the defaults. */
export function accountLimitsOf(limits: { readonly [key: string]: unknown }): AccountLimits {
  const over: Partial<Record<keyof AccountLimits, number>> = {};
  for (const [field, key] of Object.entries(MANIFEST_KEYS) as [keyof AccountLimits, string][]) {
    const v = limits[key];
    if (typeof v === "number") over[field] = v;
  }
  return accountLimits(over);
}

/** The limits by their manifest keys (snake_case), as the module's status shows them. */
export function limitsByManifestKey(limits: AccountLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [field, key] of Object.entries(MANIFEST_KEYS) as [keyof AccountLimits, string][]) {
    out[key] = limits[field];
  }
  return out;
}

/** A clock in milliseconds; monotonic enough for rates. */
export type ClockMs = () => number;

/**
 * A token bucket: `take(n)` succeeds while `n` tokens are left; tokens come back at `ratePerS` up to
 * `capacity`. It starts full.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;

  /**
   * @param ratePerS Tokens added a second.
   * @param capacity The most it holds (a burst). @default ratePerS (one second's worth)
   */
  constructor(
    readonly ratePerS: number,
    readonly capacity: number = ratePerS,
    readonly clock: ClockMs = epochMs,
  ) {
    this.#tokens = capacity;
    this.#last = clock();
  }

  #refill(): void {
    const t = this.clock();
    const dt = Math.max(0, t - this.#last);
    this.#tokens = Math.min(this.capacity, this.#tokens + (dt / 1000) * this.ratePerS);
    this.#last = t;
  }

  /** True when `n` tokens were there to take (and they are taken); false leaves the bucket as it was. */
  take(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Whether `n` tokens are there now, without taking them. */
  has(n = 1): boolean {
    this.#refill();
    return this.#tokens >= n;
  }
}

/**
 * Two buckets charged together (a count and its bytes): an item passes only when both have room. The byte
 * bucket holds at least one item of `maxItemBytes`, so a limit lowered below the largest item still lets
 * such items through, at the byte rate.
 */
export class PairedBuckets {
  readonly #count: TokenBucket;
  readonly #bytes: TokenBucket;
  constructor(
    perS: number,
    bytesPerS: number,
    options: { burstS: number; maxItemBytes: number; clock: ClockMs },
  ) {
    const { burstS, maxItemBytes, clock } = options;
    this.#count = new TokenBucket(perS, Math.max(1, perS * burstS), clock);
    this.#bytes = new TokenBucket(bytesPerS, Math.max(maxItemBytes, bytesPerS * burstS), clock);
  }

  /** True when one item of `bytes` fits both buckets (and is charged to both); false charges neither. */
  take(bytes: number): boolean {
    if (!this.#count.has(1) || !this.#bytes.has(bytes)) return false;
    this.#count.take(1);
    this.#bytes.take(bytes);
    return true;
  }
}

/** The largest log line the host passes on (a WASI line; `kiln.log` cuts at 1 KiB). */
export const MAX_LOG_ITEM_BYTES = 4096;
/** The largest message `kiln.publish` takes: a 256-byte topic and a 64 KiB payload. */
export const MAX_PUBLISH_ITEM_BYTES = 256 + 65_536;

/**
 * The rates both accounts apply, and their refusal counts: log lines and bytes, alerts, and publishes (a
 * topic the module published on, or a new one within `maxPublishTopics`, and the message within the messages
 * and bytes a second). Each bucket holds `burstS` seconds' worth. {@linkcode ModuleAccount} (the executor's)
 * and `HeldAccount` (the main thread's, with twice the burst) extend it.
 */
export abstract class AccountRates {
  readonly limits: Readonly<AccountLimits>;
  /** Refusals by kind. */
  readonly throttled: ThrottleCounts = noThrottles();
  readonly #log: PairedBuckets;
  readonly #alerts: TokenBucket;
  readonly #topics = new Set<string>();
  readonly #publish: PairedBuckets;

  constructor(
    limits: Partial<AccountLimits> | null | undefined,
    options: { burstS: number; clock: ClockMs },
  ) {
    const { burstS, clock } = options;
    const l = this.limits = accountLimits(limits);
    this.#log = new PairedBuckets(l.logLinesPerS, l.logBytesPerS, {
      burstS,
      maxItemBytes: MAX_LOG_ITEM_BYTES,
      clock,
    });
    this.#alerts = new TokenBucket(l.alertsPerS, Math.max(burstS, burstS * l.alertsPerS), clock);
    this.#publish = new PairedBuckets(l.publishPerS, l.publishBytesPerS, {
      burstS,
      maxItemBytes: MAX_PUBLISH_ITEM_BYTES,
      clock,
    });
  }

  /** A log line of `bytes` (UTF-8): within the lines and bytes a second? Counted as `logs` when not. */
  allowLog(bytes: number): boolean {
    if (this.#log.take(bytes)) return true;
    this.throttled.logs++;
    return false;
  }

  /** An alert: within the alerts a second? Counted as `alerts` when not. */
  allowAlert(): boolean {
    if (this.#alerts.take()) return true;
    this.throttled.alerts++;
    return false;
  }

  /**
   * A message of `bytes` (topic and payload) on `topic`: a topic it published on or a new one within
   * `maxPublishTopics`, within the messages and bytes a second? Counted as `publish` when not.
   */
  allowPublish(topic: string, bytes: number): boolean {
    const known = this.#topics.has(topic);
    if ((!known && this.#topics.size >= this.limits.maxPublishTopics) || !this.#publish.take(bytes)) {
      this.throttled.publish++;
      return false;
    }
    if (!known) this.#topics.add(topic);
    return true;
  }

  /** Distinct topics published on. */
  get topics(): number {
    return this.#topics.size;
  }

  /** Counts a refusal decided elsewhere (the outbox share, audit rows). */
  count(kind: ThrottleKind, n = 1): void {
    this.throttled[kind] += n;
  }
}

/** Options of {@linkcode ModuleAccount} and `HeldAccount`. */
export interface AccountOptions {
  /** The clock, in ms. @default the executor's epoch clock (`doorbell.ts`) */
  readonly nowMs?: ClockMs;
}

/**
 * The executor's account of one module instance. Each `allow*` method is the whole check of one host call:
 * true lets it through (and charges it), false means the call returns `KILN_ELIMIT` and was counted in
 * {@linkcode ModuleAccount.throttled}. Not thread-safe; one per instance.
 *
 * @example
 * ```ts
 * const account = new ModuleAccount({ maxOutputKeys: 2 });
 * account.allowOutput("a"); // true
 * account.allowOutput("b"); // true
 * account.allowOutput("c"); // false: a third key; account.throttled.outputs === 1
 * account.allowOutput("a"); // true: a key it holds can always be updated
 * ```
 */
export class ModuleAccount extends AccountRates {
  readonly #clock: ClockMs;
  readonly #outputKeys = new Set<string>();
  /** Array keys held and the bytes of each. */
  readonly #arrays = new Map<string, number>();
  #arrayBytes = 0;
  #denialWindowStart = Number.NEGATIVE_INFINITY;
  readonly #denialKeys = new Set<string>();

  /** @param limits Over {@linkcode DEFAULT_ACCOUNT_LIMITS}. */
  constructor(limits?: Partial<AccountLimits> | null, options: AccountOptions = {}) {
    const clock = options.nowMs ?? epochMs;
    super(limits, { burstS: 1, clock });
    this.#clock = clock;
  }

  /** A scalar output: a key it holds, or a new one within `maxOutputKeys`? Counted as `outputs` when not. */
  allowOutput(key: string): boolean {
    if (this.#outputKeys.has(key)) return true;
    if (this.#outputKeys.size >= this.limits.maxOutputKeys) {
      this.throttled.outputs++;
      return false;
    }
    this.#outputKeys.add(key);
    return true;
  }

  /**
   * An array output of `bytes`: a key it holds or a new one within `maxArrayKeys`, with all arrays together
   * (this one at its new size) within `maxArrayBytes`? Counted as `arrays` when not.
   */
  allowArray(key: string, bytes: number): boolean {
    const held = this.#arrays.get(key);
    const total = this.#arrayBytes - (held ?? 0) + bytes;
    if (
      (held === undefined && this.#arrays.size >= this.limits.maxArrayKeys) ||
      total > this.limits.maxArrayBytes
    ) {
      this.throttled.arrays++;
      return false;
    }
    this.#arrays.set(key, bytes);
    this.#arrayBytes = total;
    return true;
  }

  /**
   * What to report for a refused call: itself while the module has refused calls of at most
   * `auditRowsPerMin` distinct kinds (capability and call) this minute, or the count-only
   * `{ capability: SUPPRESSED_DENIALS }` (counted as `audit`), so a module trying every pin or topic adds
   * a bounded number of distinct denials to a report. Every denial is still reported and counted.
   */
  denial(capability: string, detail: string): { capability: string; detail: string } {
    const t = this.#clock();
    if (t - this.#denialWindowStart >= AUDIT_WINDOW_MS) {
      this.#denialWindowStart = t;
      this.#denialKeys.clear();
    }
    const key = `${capability}\u0000${detail}`;
    if (this.#denialKeys.has(key) || this.#denialKeys.size < this.limits.auditRowsPerMin) {
      this.#denialKeys.add(key);
      return { capability, detail };
    }
    this.throttled.audit++;
    return { capability: SUPPRESSED_DENIALS, detail: "suppressed" };
  }

  /** What the account holds now: output keys, array keys and bytes, topics. */
  held(): { outputKeys: number; arrayKeys: number; arrayBytes: number; topics: number } {
    return {
      outputKeys: this.#outputKeys.size,
      arrayKeys: this.#arrays.size,
      arrayBytes: this.#arrayBytes,
      topics: this.topics,
    };
  }
}
