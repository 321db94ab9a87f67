import assert from "node:assert/strict";
import { conditionInput, evaluateCondition, parseCondition } from "./condition.ts";
import { ConditionSyntaxError } from "./errors.ts";

const figures = { invocations: 1000, errors: 0, crashes: 0, error_rate: 0, p99_us: 500, budget_overruns: 0 };
const input = (over: Partial<typeof figures> = {}, flags = { rolledBack: false, running: true }) =>
  conditionInput({ ...figures, ...over }, flags);

Deno.test("a crash rate over 0.1% or a p99 over 15 ms breaches, and healthy figures do not", () => {
  const c = parseCondition("crash_rate > 0.1% or p99_ms > 15");
  assert.equal(evaluateCondition(c, input()), false);
  assert.equal(evaluateCondition(c, input({ crashes: 2 })), true);
  assert.equal(evaluateCondition(c, input({ crashes: 1 })), false);
  assert.equal(evaluateCondition(c, input({ p99_us: 15_001 })), true);
  assert.deepEqual(c.identifiers, ["crash_rate", "p99_ms"]);
});

Deno.test("and binds tighter than or, not and parentheses change the grouping", () => {
  const a = parseCondition("error_rate >= 5% and invocations > 100 or crashes > 0");
  assert.equal(evaluateCondition(a, input({ crashes: 1 })), true);
  const b = parseCondition("error_rate >= 5% and (invocations > 100 or crashes > 0)");
  assert.equal(evaluateCondition(b, input({ crashes: 1 })), false);
  assert.equal(evaluateCondition(b, input({ error_rate: 0.05 })), true);
  const n = parseCondition("not (crashes == 0) or not not rolled_back != 0");
  assert.equal(evaluateCondition(n, input()), false);
  assert.equal(evaluateCondition(n, input({}, { rolledBack: true, running: true })), true);
});

Deno.test("time units are converted to the identifier's unit, on either side", () => {
  assert.equal(evaluateCondition(parseCondition("p99_us > 15ms"), input({ p99_us: 15_001 })), true);
  assert.equal(evaluateCondition(parseCondition("p99_us > 15ms"), input({ p99_us: 15_000 })), false);
  assert.equal(evaluateCondition(parseCondition("2000us < p99_ms"), input({ p99_us: 2_500 })), true);
  assert.equal(evaluateCondition(parseCondition("p99_ms <= 0.5"), input({ p99_us: 500 })), true);
  assert.equal(
    evaluateCondition(parseCondition("not_running == 1"), input({}, { rolledBack: false, running: false })),
    true,
  );
});

Deno.test("a malformed condition is refused with the position and what was expected", () => {
  const cases: [string, number][] = [
    ["crash_rate >", 12],
    ["crash_rat > 1", 0],
    ["(crashes > 1", 12],
    ["crashes > 1 crashes", 12],
    ["1 > 2", 0],
    ["crashes > 5ms", 10],
    ["crashes $ 1", 8],
    ["", 0],
    ["crashes > 1 and", 15],
  ];
  for (const [source, position] of cases) {
    assert.throws(() => parseCondition(source), (err: unknown) => {
      assert.ok(err instanceof ConditionSyntaxError, source);
      assert.equal(err.code, "condition_invalid");
      assert.equal(err.position, position, source);
      return true;
    });
  }
});
