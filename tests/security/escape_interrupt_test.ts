/**
 * Hostile modules of the `interrupt` class: code that catches the CPU budget's interrupt with Wasm exception
 * handling (legacy `try`/`catch_all`, `try_table` with `catch_all` and `catch_all_ref`, `rethrow`,
 * `throw_ref`) and returns, or re-enters its loop, in a handler, the start function and `kiln_init`. The
 * interrupt must end the whole call whatever the module catches: the module crashes with `budget_exceeded`
 * (or fails to start), the interrupt comes within its margin of the limit, and the executor keeps running
 * the neighbours ({@linkcode runHostile}). Every case runs in both executors.
 */
import assert from "node:assert/strict";
import {
  assertInterruptedInTime,
  type Containment,
  fixture,
  interrupted,
  rejectedFor,
  runHostile,
  testInBothExecutors,
} from "./_harness.ts";

/** A handler interrupted at its budget, the interrupt not caught: crashed and restarted. */
const crashesOverBudget = (): Containment =>
  interrupted(/spin|kiln_on_tick/, (m) => m.restarts >= 1, assertInterruptedInTime);

/** A start that catches its interrupt: interrupted all the same at every attempt, the module `failed`. */
const failsOverBudget = (fn: RegExp): Containment =>
  interrupted(fn, (m) => m.state === "failed", (m) => {
    assertInterruptedInTime(m);
    assert.equal(m.invocations, 0, "no handler ran: the module never started");
  });

/** A 2 ms budget: a handler is interrupted at 3 ms, the start (init budget) at 50 ms. */
const PLAN = { budgetUs: 2_000 };

const handlerCases: [string, string][] = [
  ["a loop inside legacy try/catch_all around a call that runs past budget", "interrupt_legacy_catch_all"],
  [
    "a loop inside try_table (catch_all) around a call that runs past budget",
    "interrupt_try_table_catch_all",
  ],
  ["a loop that re-enters itself after catch_all caught the interrupt", "interrupt_reenter_after_catch"],
  ["a loop of rethrow from an inner catch_all to an outer one that re-enters", "interrupt_rethrow_loop"],
];

for (const [what, file] of handlerCases) {
  testInBothExecutors(
    `escape[interrupt]: ${what} is interrupted within its budget margin and crashes with budget_exceeded`,
    async (priority) =>
      runHostile({
        priority,
        bytes: await fixture(file),
        plan: PLAN,
        expect: crashesOverBudget(),
        timeoutMs: 5_000,
      }),
  );
}

// exnref (`catch_all_ref`, `throw_ref`) may be refused at deploy instead, as a feature Kiln does not run.
const exnrefCases: [string, string][] = [
  ["a catch_all_ref (exnref) handler around a call that runs past budget", "interrupt_catch_all_ref"],
  ["a throw_ref of the caught exnref into an outer handler that re-enters", "interrupt_throw_ref_loop"],
];

for (const [what, file] of exnrefCases) {
  testInBothExecutors(
    `escape[interrupt]: ${what} is interrupted within its budget margin (or exnref refused at deploy)`,
    async (priority) =>
      runHostile({
        priority,
        bytes: await fixture(file),
        plan: PLAN,
        expect: { refused: rejectedFor(/exnref|exception/i), orContained: crashesOverBudget() },
        timeoutMs: 5_000,
      }),
  );
}

testInBothExecutors(
  "escape[interrupt]: a start function catching its interrupt in a loop is interrupted at every attempt and fails to start",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("interrupt_catch_in_start"),
      plan: PLAN,
      expect: failsOverBudget(/spin|start_catch/),
      timeoutMs: 5_000,
    }),
);

testInBothExecutors(
  "escape[interrupt]: kiln_init catching its interrupt in a loop is interrupted at every attempt and fails to start",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("interrupt_catch_in_init"),
      plan: PLAN,
      expect: failsOverBudget(/spin|kiln_init/),
      timeoutMs: 5_000,
    }),
);
