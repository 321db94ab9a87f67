/**
 * A new version's probation: for a window of time and calls after a deploy swaps it in, its own figures are
 * judged against rollback conditions (a crash, its error rate, its budget overruns, its p99 handler time
 * against the version it replaced); breaking one rolls it back. The judgement is a pure function of the
 * figures ({@linkcode judgeProbation}), so every rule is testable without a runtime. Private to `runtime/`.
 *
 * @module
 */
import { LATENCY_BOUNDS_US } from "./executor/protocol.ts";

/** The rollback conditions and the window of a module's probation (the manifest's `probation:`). */
export interface ProbationPlan {
  /** The shortest probation, ms. */
  readonly windowMs: number;
  /** Handler calls the new version must have made before it is promoted (after `windowMs`). */
  readonly invocations: number;
  /** The longest probation, ms: promoted then on its figures so far, however few calls it made. */
  readonly maxWindowMs: number;
  /** Crashes allowed (any fault: a trap, a budget interrupt, a watchdog stall). */
  readonly maxCrashes: number;
  /** Handler calls returning non-zero, as a fraction of calls, above which it is rolled back. */
  readonly maxErrorRate: number;
  /** Calls over `budget_us` (not interrupted, under the hard budget), as a fraction of calls. */
  readonly maxOverrunRate: number;
  /**
   * Its p99 handler time over this many times the old version's is a rollback (once both made
   * {@linkcode P99_MIN_CALLS} calls).
   */
  readonly p99Factor: number;
  /** Calls needed before a rate or a p99 is judged (fewer say too little). */
  readonly minCalls: number;
}

/** The defaults of `probation:` (documented in the manifest reference). */
export const DEFAULT_PROBATION: ProbationPlan = {
  windowMs: 10_000,
  invocations: 50,
  maxWindowMs: 120_000,
  maxCrashes: 0,
  maxErrorRate: 0.05,
  maxOverrunRate: 0.05,
  p99Factor: 3,
  minCalls: 20,
};

/** What probation watches of the new version, counted since its start. */
export interface ProbationFigures {
  readonly elapsedMs: number;
  readonly invocations: number;
  readonly errors: number;
  readonly crashes: number;
  readonly budgetOverruns: number;
  /** Its handler durations by {@linkcode LATENCY_BOUNDS_US} bucket (the last is +Inf). */
  readonly latencyBuckets: readonly number[];
  /** The old version's, over its life; null for a new module (then p99 is not judged). */
  readonly baselineBuckets: readonly number[] | null;
}

/** Which condition a version broke. */
export type ProbationBreach = "crash" | "error_rate" | "budget_overruns" | "p99";

/** The verdict: still on probation, promoted, or rolled back (with the condition and its figures). */
export type ProbationVerdict =
  | { readonly kind: "pending" }
  | { readonly kind: "promoted"; readonly detail: string }
  | { readonly kind: "rollback"; readonly breach: ProbationBreach; readonly detail: string };

/**
 * The p99 of bucketed durations: the upper bound of the bucket holding the 99th percentile call, in
 * microseconds (`Infinity` for the last, unbounded bucket), or null with no calls.
 */
export function bucketP99(
  buckets: readonly number[],
  bounds: readonly number[] = LATENCY_BOUNDS_US,
): number | null {
  const total = buckets.reduce((s, n) => s + n, 0);
  if (total === 0) return null;
  const rank = Math.ceil(total * 0.99);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= rank) return bounds[i] ?? Infinity;
  }
  return Infinity;
}

/** Calls each side needs before p99s are compared: a p99 of fewer than 100 calls is their slowest. */
export const P99_MIN_CALLS = 100;

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Judges a version on probation by its figures; see {@linkcode ProbationPlan} for each condition. */
export function judgeProbation(plan: ProbationPlan, f: ProbationFigures): ProbationVerdict {
  if (f.crashes > plan.maxCrashes) {
    return {
      kind: "rollback",
      breach: "crash",
      detail: `it crashed ${f.crashes} time(s) ${
        Math.round(f.elapsedMs)
      } ms into its probation (allowed ${plan.maxCrashes})`,
    };
  }
  if (f.invocations >= plan.minCalls) {
    const errorRate = f.errors / f.invocations;
    if (errorRate > plan.maxErrorRate) {
      return {
        kind: "rollback",
        breach: "error_rate",
        detail: `${f.errors} of its ${f.invocations} handler calls returned an error (${
          pct(errorRate)
        }, allowed ${pct(plan.maxErrorRate)})`,
      };
    }
    const overrunRate = f.budgetOverruns / f.invocations;
    if (overrunRate > plan.maxOverrunRate) {
      return {
        kind: "rollback",
        breach: "budget_overruns",
        detail: `${f.budgetOverruns} of its ${f.invocations} handler calls ran over budget_us (${
          pct(overrunRate)
        }, allowed ${pct(plan.maxOverrunRate)})`,
      };
    }
    const baselineCalls = f.baselineBuckets?.reduce((s, n) => s + n, 0) ?? 0;
    const enough = Math.max(plan.minCalls, P99_MIN_CALLS);
    const p99 = f.invocations >= enough ? bucketP99(f.latencyBuckets) : null;
    const old = baselineCalls >= enough ? bucketP99(f.baselineBuckets!) : null;
    if (p99 !== null && old !== null && p99 > plan.p99Factor * old) {
      return {
        kind: "rollback",
        breach: "p99",
        detail: `its p99 handler time is ${
          p99 === Infinity ? "over the last bucket" : `<= ${p99} us`
        }, over ${plan.p99Factor}x the replaced version's (<= ${old} us)`,
      };
    }
  }
  const enoughCalls = f.invocations >= plan.invocations;
  if ((f.elapsedMs >= plan.windowMs && enoughCalls) || f.elapsedMs >= plan.maxWindowMs) {
    return {
      kind: "promoted",
      detail: `${f.invocations} handler calls in ${Math.round(f.elapsedMs / 1000)} s within every condition${
        enoughCalls ? "" : ` (fewer than ${plan.invocations}: promoted at the longest probation)`
      }`,
    };
  }
  return { kind: "pending" };
}
