import assert from "node:assert/strict";
import { CallBudget } from "./budget.ts";
import { guardImports } from "./host_guard.ts";
import { WasiExit } from "./host_wasi.ts";

/** Waits `ms` of wall time without the event loop (the budget reads the clock, not timers). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* spin */ }
}

Deno.test("a call past its deadline is interrupted at the next check, and every later check interrupts it again", () => {
  const budget = new CallBudget(null);
  budget.arm(1_000);
  assert.notEqual(budget.check(), 0);
  spin(3);
  assert.equal(budget.check(), 0);
  assert.equal(budget.interrupt?.kind, "budget_exceeded");
  assert.equal(budget.check(), 0, "once interrupted, always interrupted within the call");
  budget.arm(1_000_000);
  assert.equal(budget.interrupt, null, "a new call starts clean");
  assert.notEqual(budget.check(), 0);
});

Deno.test("host imports refuse to work past the deadline and return their refusal value", () => {
  const budget = new CallBudget(null);
  let calls = 0;
  const guarded = guardImports({ work: () => ++calls }, budget, { refusal: () => -4 });
  const work = guarded.work as () => number;
  budget.arm(1_000);
  assert.equal(work(), 1);
  spin(3);
  assert.equal(work(), -4, "past the deadline the import does nothing");
  assert.equal(calls, 1);
  assert.equal(budget.interrupt?.kind, "budget_exceeded");
  assert.equal(budget.check(), 0, "and the next check site traps");
});

Deno.test("an exception a host function throws interrupts the call even if the module catches it", () => {
  const budget = new CallBudget(null);
  const guarded = guardImports(
    {
      proc_exit: () => {
        throw new WasiExit(3);
      },
    },
    budget,
    { refusal: () => undefined },
  );
  budget.arm(1_000_000);
  assert.throws(() => (guarded.proc_exit as () => void)(), WasiExit);
  assert.equal(budget.interrupt?.kind, "proc_exit");
  assert.equal(budget.check(), 0);
});

Deno.test("the exempt import (__check) is linked as it is, never refused", () => {
  const budget = new CallBudget(null);
  const check = () => 7;
  const guarded = guardImports({ __check: check }, budget, {
    refusal: () => -4,
    exempt: new Set(["__check"]),
  });
  assert.equal(guarded.__check, check);
});

Deno.test("guarded import tables have no prototype: an import named after an Object member finds nothing", () => {
  const guarded = guardImports({}, new CallBudget(null), { refusal: () => 0 });
  assert.equal(Object.getPrototypeOf(guarded), null);
  assert.equal((guarded as Record<string, unknown>).constructor, undefined);
});
