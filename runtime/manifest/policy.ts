/**
 * The manifest's `policy:` section: the most this gateway may ever grant. `allow` lists the capabilities a
 * module may ask for; the limits bound what a module may ask of the gateway itself (its priority, its CPU
 * budgets, its memory, how long it may block a thread, how many modules run), so that a deploy cannot give
 * itself priority 99, the realtime executor or a budget of minutes. The checks that apply them are in
 * `_ceilings.ts`; a manifest (at start, or merged with a deploy over the API) over a limit is refused with
 * every violation listed, each naming the field, the value asked for and the limit.
 *
 * | key | bounds | default |
 * |---|---|---|
 * | `max_priority` | `schedule.priority` | 90 |
 * | `max_budget_us` | `limits.budget_us` | 100000 (100 ms) |
 * | `max_init_budget_us` | the init budget, {@linkcode initBudgetUs} of `limits.budget_us` | 2000000 (2 s) |
 * | `max_memory_mb` | `limits.max_memory_mb` | 64 |
 * | `max_fuel` | `limits.fuel`; a module that sets none is metered at this | none (no metering) |
 * | `max_block_timeout_us` | `channels.<id>.block_timeout_us` of a `block-writer` channel | 10000 (10 ms) |
 * | `max_channel_bytes` | `channels.<id>.size_bytes` | 16777216 (16 MiB) |
 * | `min_snapshot_interval_s` | `persistence.snapshot_interval_s` (a floor) | 1 |
 * | `max_modules` | the number of modules | 32 |
 * | `max_limits.<key>` | each resource account limit, `limits.<key>` (`publish_per_s`, ...), its default included; added in `schema.ts` | none |
 *
 * The `realtime` executor (event modules and priority {@linkcode REALTIME_PRIORITY} or more) is a grant of its
 * own: the capability `use:executor:realtime`, in the module's `capabilities` and covered by `policy.allow`.
 *
 * This file holds the section's shape and defaults only (it imports nothing of the manifest), so that
 * `schema.ts` can build on it.
 *
 * @module
 */
import { z } from "zod";

/** Priority at or above which a module runs in the `realtime` executor instead of `normal`. */
export const REALTIME_PRIORITY = 70;

/** The start function, `kiln_init` and the first handler call get this multiple of `budget_us`... */
export const INIT_BUDGET_FACTOR = 10;
/** ...and at least this long, in microseconds: initialising and lazily compiling a module takes milliseconds. */
export const MIN_INIT_BUDGET_US = 50_000;

/**
 * The init budget of a module whose `limits.budget_us` is `budgetUs`, in microseconds: what its start
 * function, `_initialize`, `kiln_alloc`, `kiln_init` and first handler call may take together.
 *
 * @example
 * ```ts
 * import { initBudgetUs } from "./policy.ts";
 *
 * initBudgetUs(10_000); // 100_000
 * initBudgetUs(1_000); // 50_000
 * ```
 */
export function initBudgetUs(budgetUs: number): number {
  return Math.max(INIT_BUDGET_FACTOR * budgetUs, MIN_INIT_BUDGET_US);
}

/** How long a `block-writer` channel's writer waits when `block_timeout_us` is left out, microseconds. */
export const DEFAULT_BLOCK_TIMEOUT_US = 1_000;

/** The limits of `policy:` when the manifest leaves them out. `max_fuel` has none: no metering by default. */
export const DEFAULT_POLICY_LIMITS = {
  max_priority: 90,
  max_budget_us: 100_000,
  max_init_budget_us: 2_000_000,
  max_memory_mb: 64,
  max_block_timeout_us: 10_000,
  max_channel_bytes: 16 * 1024 * 1024,
  min_snapshot_interval_s: 1,
  max_modules: 32,
} as const;

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);

/** The keys of `policy:` and their schemas; `schema.ts` makes it a strict object. */
export const POLICY_SHAPE = {
  /** Capability patterns a module may be granted, e.g. `read:sim:*`, `use:executor:realtime`. */
  allow: z.array(z.string()).default([]),
  /** The highest `schedule.priority`, 0..99. */
  max_priority: int(0, 99).default(DEFAULT_POLICY_LIMITS.max_priority),
  /** The longest `limits.budget_us`, microseconds. */
  max_budget_us: int(1).default(DEFAULT_POLICY_LIMITS.max_budget_us),
  /** The longest init budget ({@linkcode initBudgetUs}), microseconds; at least its 50 ms floor. */
  max_init_budget_us: int(MIN_INIT_BUDGET_US).default(DEFAULT_POLICY_LIMITS.max_init_budget_us),
  /** The largest `limits.max_memory_mb`, MiB. */
  max_memory_mb: z.number().positive().max(4096).default(DEFAULT_POLICY_LIMITS.max_memory_mb),
  /** The largest `limits.fuel`; when set, a module without `limits.fuel` is metered at it. */
  max_fuel: int(1).optional(),
  /** The longest `block_timeout_us` of a `block-writer` channel, microseconds. */
  max_block_timeout_us: int(1, 0xffff_ffff).default(DEFAULT_POLICY_LIMITS.max_block_timeout_us),
  /** The largest channel `size_bytes`. */
  max_channel_bytes: int(64, 64 * 1024 * 1024).default(DEFAULT_POLICY_LIMITS.max_channel_bytes),
  /** The shortest `persistence.snapshot_interval_s`, seconds, at least 0.1. */
  min_snapshot_interval_s: z.number().min(0.1).default(DEFAULT_POLICY_LIMITS.min_snapshot_interval_s),
  /** The most modules the manifest (with a deploy's module added) may hold. */
  max_modules: int(1).default(DEFAULT_POLICY_LIMITS.max_modules),
};

/** The numeric limits of `policy:`, by key: everything but `allow`. */
export type PolicyLimitKey = Exclude<keyof typeof POLICY_SHAPE, "allow">;
