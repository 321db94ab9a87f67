import assert from "node:assert/strict";
import {
  bucketP99,
  DEFAULT_PROBATION,
  judgeProbation,
  P99_MIN_CALLS,
  type ProbationFigures,
} from "./_probation.ts";
import { LATENCY_BOUNDS_US } from "./executor/protocol.ts";

/** Buckets with `n` calls in the bucket whose upper bound is `us`. */
function at(us: number, n: number): number[] {
  const b = LATENCY_BOUNDS_US.map(() => 0).concat(0);
  b[LATENCY_BOUNDS_US.indexOf(us)] = n;
  return b;
}
const add = (a: number[], b: number[]) => a.map((x, i) => x + b[i]!);

const fig = (over: Partial<ProbationFigures> = {}): ProbationFigures => ({
  elapsedMs: 1_000,
  invocations: 200,
  errors: 0,
  crashes: 0,
  budgetOverruns: 0,
  latencyBuckets: at(LATENCY_BOUNDS_US[1]!, 200),
  baselineBuckets: at(LATENCY_BOUNDS_US[1]!, 500),
  ...over,
});

Deno.test("the p99 of bucketed durations is the upper bound of the bucket holding the 99th percentile", () => {
  assert.equal(bucketP99(at(LATENCY_BOUNDS_US[0]!, 0)), null);
  assert.equal(
    bucketP99(add(at(LATENCY_BOUNDS_US[0]!, 99), at(LATENCY_BOUNDS_US[3]!, 1))),
    LATENCY_BOUNDS_US[0],
  );
  assert.equal(
    bucketP99(add(at(LATENCY_BOUNDS_US[0]!, 98), at(LATENCY_BOUNDS_US[3]!, 2))),
    LATENCY_BOUNDS_US[3],
  );
  const inf = LATENCY_BOUNDS_US.map(() => 0).concat(5);
  assert.equal(bucketP99(inf), Infinity);
});

Deno.test("probation rolls back on each condition and names it with its figures", () => {
  const p = DEFAULT_PROBATION;
  assert.deepEqual(judgeProbation(p, fig()), { kind: "pending" });
  const crash = judgeProbation(p, fig({ crashes: 1, elapsedMs: 2_000 }));
  assert.equal(crash.kind === "rollback" && crash.breach, "crash");
  assert.match(crash.kind === "rollback" ? crash.detail : "", /crashed 1 time\(s\) 2000 ms into/);
  const errors = judgeProbation(p, fig({ errors: 20 }));
  assert.equal(errors.kind === "rollback" && errors.breach, "error_rate");
  assert.match(
    errors.kind === "rollback" ? errors.detail : "",
    /20 of its 200 handler calls returned an error \(10\.0%/,
  );
  assert.deepEqual(judgeProbation(p, fig({ errors: 10 })), { kind: "pending" }, "5% is allowed");
  const overruns = judgeProbation(p, fig({ budgetOverruns: 11 }));
  assert.equal(overruns.kind === "rollback" && overruns.breach, "budget_overruns");
  const slow = judgeProbation(p, fig({ latencyBuckets: at(LATENCY_BOUNDS_US[5]!, 200) }));
  assert.equal(slow.kind === "rollback" && slow.breach, "p99");
});

Deno.test("probation judges rates and p99 only on enough calls, and a new module has no p99 to compare", () => {
  const p = DEFAULT_PROBATION;
  assert.deepEqual(judgeProbation(p, fig({ invocations: p.minCalls - 1, errors: p.minCalls - 1 })), {
    kind: "pending",
  });
  const slow = at(LATENCY_BOUNDS_US[5]!, P99_MIN_CALLS - 1);
  assert.deepEqual(judgeProbation(p, fig({ invocations: P99_MIN_CALLS - 1, latencyBuckets: slow })), {
    kind: "pending",
  });
  const fresh = fig({ latencyBuckets: at(LATENCY_BOUNDS_US[5]!, 200), baselineBuckets: null });
  assert.deepEqual(judgeProbation(p, fresh), { kind: "pending" });
});

Deno.test("probation promotes after its window with enough calls, or at its longest with fewer", () => {
  const p = { ...DEFAULT_PROBATION, windowMs: 1_000, invocations: 50, maxWindowMs: 5_000 };
  assert.equal(judgeProbation(p, fig({ elapsedMs: 999 })).kind, "pending");
  assert.equal(judgeProbation(p, fig({ elapsedMs: 1_000 })).kind, "promoted");
  const few = fig({ elapsedMs: 2_000, invocations: 3, latencyBuckets: at(LATENCY_BOUNDS_US[1]!, 3) });
  assert.equal(judgeProbation(p, few).kind, "pending");
  const late = judgeProbation(p, { ...few, elapsedMs: 5_000 });
  assert.equal(late.kind, "promoted");
  assert.match(
    late.kind === "promoted" ? late.detail : "",
    /fewer than 50: promoted at the longest probation/,
  );
});
