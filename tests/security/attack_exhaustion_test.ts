/**
 * The attack suite (see `_attack.ts`): exhaustion: floods of logs, alerts and arrays held by their rate limits, and
 * endless or over-long computation interrupted at its CPU budget or fuel.
 */
import assert from "node:assert/strict";
import type { ModulePlan } from "../../runtime/mod.ts";
import { watAll } from "../fixtures/wasm/wat_all.ts";
import { fixture, FIXTURES, interrupted, runHostile, testInBothExecutors } from "./_harness.ts";

/** Assembles `fixtures/<name>.wat` with the tail-call feature, which the shared `wat()` leaves off. */
async function tailCallFixture(file: string): Promise<Uint8Array> {
  return watAll(await Deno.readTextFile(new URL(`${file}.wat`, FIXTURES)), { debugNames: true });
}

// ---- flooding: rate limits hold and the module keeps running --------------------------------------------

/**
 * A CPU budget the flooding modules cannot reach even on a loaded machine: these cases test the rate limits,
 * and a tick of thousands of host calls must not be cut short by the (separately tested) budget instead.
 */
const FLOOD: Partial<ModulePlan> = { budgetUs: 1_000_000 };

Deno.test("attack: log flooding is contained: lines over the rate are dropped and counted", async () => {
  await runHostile({
    bytes: await fixture("flood_log"),
    plan: FLOOD,
    expect: {
      until: (m) => m.logs_dropped > 2000 && m.invocations >= 3,
      check: (m, rt) => {
        assert.equal(m.state, "running");
        assert.equal(m.restarts, 0);
        assert.equal(m.outputs.rc, -4, "a dropped line returns ELIMIT");
        // Only the rate limit's burst and refill got through, out of thousands.
        const kept = rt.getModuleLogs("hostile")!.length;
        assert.ok(kept >= 1 && kept < 200, `${kept} lines kept`);
      },
    },
  });
});

Deno.test("attack: alert flooding is contained: alerts are rate limited to a few per second", async () => {
  const t0 = performance.now();
  await runHostile({
    bytes: await fixture("flood_alert"),
    plan: FLOOD,
    expect: {
      until: (m) => m.outputs.rc === -4 && m.invocations >= 20,
      check: async (m, rt) => {
        assert.equal(m.state, "running");
        assert.equal(m.restarts, 0);
        await new Promise((r) => setTimeout(r, 300));
        const raised = rt.listAlerts().filter((a) => a.module === "hostile").length;
        // The bucket holds 5 and refills at 5/s; the instance started after t0. Thousands were attempted.
        const bound = 5 + 5 * (performance.now() - t0) / 1000;
        assert.ok(raised >= 1 && raised <= bound, `${raised} alerts raised, at most ${bound} allowed`);
      },
    },
  });
});

Deno.test("attack: output_array flooding at the maximum size every tick is contained", async () => {
  await runHostile({
    bytes: await fixture("flood_output_array"),
    plan: FLOOD,
    expect: {
      until: (m) => m.outputs.rc === 0 && m.invocations >= 20,
      check: (m, rt) => {
        assert.equal(m.state, "running");
        assert.equal(m.restarts, 0);
        assert.equal(rt.getModuleArrays("hostile")?.spectrum?.length, 4096);
      },
    },
  });
});

// ---- CPU: budgets and fuel, enforced by load-time instrumentation ---------------------------------------
// Without the interrupt checks an endless loop would block its executor, and the neighbour in it, for good
// (the harness bounds the deploy too, so a start that never returns fails its case instead of hanging). Each
// case runs twice, the looping module in the normal executor and in the realtime one.

testInBothExecutors(
  "attack: an infinite loop in the tick handler is contained: interrupted at its budget and restarted",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await fixture("cpu_loop_tick"),
      plan: { budgetUs: 2_000 },
      expect: interrupted(/^spin$/, (m) => m.restarts >= 1),
      timeoutMs: 5_000,
    });
  },
);

testInBothExecutors(
  "attack: an infinite loop in kiln_init is contained: interrupted, the module fails to start",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await fixture("cpu_loop_init"),
      plan: { budgetUs: 2_000 },
      expect: interrupted(/^init_spin$/, (m) => m.state === "failed"),
      timeoutMs: 5_000,
    });
  },
);

testInBothExecutors(
  "attack: an infinite loop in the start function is contained: interrupted, the module fails to start",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await fixture("cpu_loop_start"),
      plan: { budgetUs: 2_000 },
      expect: interrupted(/^start_spin$/, (m) => m.state === "failed"),
      timeoutMs: 5_000,
    });
  },
);

testInBothExecutors(
  "attack: an endless loop calling a looping function is contained: interrupted at its budget",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await fixture("cpu_loop_calls_looping_function"),
      plan: { budgetUs: 2_000 },
      expect: interrupted(/^(outer|churn)$/, (m) => m.restarts >= 1),
      timeoutMs: 5_000,
    });
  },
);

testInBothExecutors(
  "attack: endless tail-call recursion (no loops, constant stack) is contained: interrupted at its budget",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await tailCallFixture("cpu_tail_call_recursion"),
      plan: { budgetUs: 2_000 },
      expect: interrupted(/^(ping|pong)$/, (m) => m.restarts >= 1),
      timeoutMs: 5_000,
    });
  },
);

testInBothExecutors(
  "attack: a long finite loop over its fuel limit is contained as fuel_exhausted",
  async (priority) => {
    await runHostile({
      priority,
      bytes: await fixture("cpu_fuel_long_loop"),
      // A generous time budget leaves fuel the only limit the loop can hit (100,000 instructions take well
      // under a millisecond); not more, as a crashed module waits out its hard budget before its restart.
      plan: { budgetUs: 500_000, fuel: 100_000 },
      expect: {
        until: (m) => m.restarts >= 1 && m.last_fault?.kind === "fuel_exhausted",
        check: (m) => assert.equal(m.last_fault?.function, "count"),
      },
      timeoutMs: 5_000,
    });
  },
);
