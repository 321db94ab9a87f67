/**
 * A new version's probation after a deploy: promoted when it lasts its window, rolled back to the version
 * it replaced (code and memory, from the old version's stop snapshot) when it crashes after its first
 * calls, when its error rate or its p99 handler time breaks the bounds, with the reason in its status and a
 * critical alert; and no verdict once an operator stops it.
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan, Snapshotter } from "../../runtime/mod.ts";
import { DEFAULT_PROBATION, type ProbationPlan } from "../../runtime/_probation.ts";
import { openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/**
 * A periodic counter: each tick adds 1 to the word at 2048 and outputs it as `count`, and `version` as
 * `version`. `crashAt`: the tick at which it executes `unreachable`; `failEvery`: every how many ticks it
 * returns 1; `spin`: loop iterations per tick (time spent).
 */
function counter(version: number, opts: { crashAt?: number; failEvery?: number; spin?: number } = {}) {
  const spin = opts.spin ?? 0;
  return wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (data (i32.const 24) "version")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32) (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (local $i i32) (local $n i32)
    (local.set $n (i32.add (i32.load (i32.const 2048)) (i32.const 1)))
    (i32.store (i32.const 2048) (local.get $n))
    (i32.store (i32.const 2056) (i32.add (i32.load (i32.const 2056)) (i32.const 1)))
    ${
    opts.crashAt
      ? `(if (i32.ge_u (i32.load (i32.const 2056)) (i32.const ${opts.crashAt})) (then unreachable))`
      : ""
  }
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const ${spin})))
      (i32.store (i32.const 4096) (i32.add (i32.load (i32.const 4096)) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (local.get $n))))
    (drop (call $output (i32.const 24) (i32.const 7) (f64.const ${version})))
    ${
    opts.failEvery
      ? `(if (i32.eqz (i32.rem_u (i32.load (i32.const 2056)) (i32.const ${opts.failEvery}))) (then (return (i32.const 1))))`
      : ""
  }
    (i32.const 0)))`);
}

const PROBATION: ProbationPlan = {
  ...DEFAULT_PROBATION,
  windowMs: 10_000,
  invocations: 50,
  maxWindowMs: 60_000,
};

async function setup(v1: Uint8Array) {
  const dir = await Deno.makeTempDir();
  const plan = async (version: string, bytes: Uint8Array, over: Partial<ModulePlan> = {}) =>
    modulePlan({
      name: "counter",
      wasm: await writeFixture(dir, `counter_${version}.wasm`, bytes),
      schedule: { mode: "periodic", periodUs: 20_000, priority: 50 },
      persistence: { warmUpIterations: null, intervalS: null, keep: 3 },
      budgetUs: 100_000,
      probation: PROBATION,
      ...over,
    });
  const store = openStore(`${dir}/kiln.db`);
  const snapshots = new Snapshotter(store.path);
  const lines: string[] = [];
  const rt = await createRuntime({
    plan: deploymentPlan([await plan("v1", v1)]),
    version: "test",
    snapshots,
    log: (l) => typeof l === "string" && lines.push(l),
  });
  await rt.start();
  const rollbacks: string[] = [];
  rt.onRollback((name, record) => rollbacks.push(`${name}:${record.breach}`));
  return {
    rt,
    plan,
    lines,
    rollbacks,
    async [Symbol.asyncDispose]() {
      rt.close();
      await snapshots.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const count = (rt: { getModule(n: string): { outputs: Record<string, number> } | null }) =>
  rt.getModule("counter")!.outputs.count ?? 0;

/** Deploys v2 over a running v1, waits for the rollback and checks v1 is back with its memory. */
async function rollsBack(v2: Uint8Array, breach: string, over: Partial<ModulePlan> = {}, v1Calls = 40) {
  await using s = await setup(counter(1));
  const { rt } = s;
  await waitFor(`v1 counting past ${v1Calls}`, () => count(rt) > v1Calls, 30_000);
  const v1 = rt.getModule("counter")!;
  const v1Count = count(rt);
  const { status } = await rt.replaceModule(await s.plan("v2", v2, over));
  assert.equal(status.state, "running", "the deploy itself succeeds: its first calls were fine");
  assert.notEqual(status.sha256, v1.sha256);
  assert.ok(status.probation, "the new version is on probation");
  assert.equal(status.probation.replaces_sha256, v1.sha256);

  const back = await waitFor(
    "the rollback to v1",
    () => {
      const m = rt.getModule("counter")!;
      return m.sha256 === v1.sha256 && m.state === "running" && m.last_rollback ? m : null;
    },
    30_000,
  );
  assert.equal(back.last_rollback!.breach, breach);
  assert.equal(back.last_rollback!.from_sha256, status.sha256);
  assert.equal(back.last_rollback!.to_sha256, v1.sha256);
  assert.equal(back.probation, null);
  assert.deepEqual(s.rollbacks, [`counter:${breach}`]);
  const alert = rt.listAlerts(0).find((a) => a.module === "counter" && a.severity === "critical");
  assert.ok(alert, "a critical alert says so");
  assert.match(alert.message, /Rolled back/);
  // v1's memory came back with its code: its count goes on from where it stopped (at least v1Count), not
  // from 1 as a fresh kiln_init would.
  const calls = back.invocations;
  await waitFor("v1 ticking again", () => rt.getModule("counter")!.invocations > calls + 3);
  assert.equal(rt.getModule("counter")!.outputs.version, 1);
  assert.ok(count(rt) > v1Count, `v1's count ${count(rt)} went on from ${v1Count}`);
  assert.notEqual(
    rt.getModule("counter")!.snapshot?.restored_from ?? null,
    null,
    "v1 resumed from its stop snapshot",
  );
  return s.lines;
}

Deno.test("a version that crashes two seconds after the deploy is rolled back to the old code and memory", async () => {
  // 20 ms ticks: the 100th is about two seconds after the swap, well after the first call.
  const lines = await rollsBack(counter(2, { crashAt: 100 }), "crash");
  assert.ok(lines.some((l) => /rolled back on probation: it crashed/.test(l)), lines.join("\n"));
});

Deno.test("a version whose handler returns errors too often is rolled back", async () => {
  await rollsBack(counter(2, { failEvery: 4 }), "error_rate");
});

Deno.test("a version whose p99 handler time is far over the old version's is rolled back", async () => {
  // Three million loop iterations a call, with interrupt checks: milliseconds against v1's microseconds. A
  // p99 is compared once each side made 100 calls (v1 150 before the deploy).
  await rollsBack(counter(2, { spin: 3_000_000 }), "p99", {
    probation: { ...PROBATION, windowMs: 30_000, maxOverrunRate: 1 },
  }, 150);
});

Deno.test("a version that lasts its probation is promoted and stays", async () => {
  await using s = await setup(counter(1));
  const { rt } = s;
  await waitFor("v1 counting", () => count(rt) > 5);
  const { status } = await rt.replaceModule(
    await s.plan("v2", counter(2), { probation: { ...PROBATION, windowMs: 500, invocations: 10 } }),
  );
  assert.ok(status.probation);
  await waitFor("promotion", () => rt.getModule("counter")!.probation === null, 20_000);
  const m = rt.getModule("counter")!;
  assert.equal(m.sha256, status.sha256);
  assert.equal(m.last_rollback, null);
  assert.equal(m.state, "running");
  assert.ok(s.lines.some((l) => /promoted/.test(l)), s.lines.join("\n"));
  assert.deepEqual(s.rollbacks, []);
});

Deno.test("a version stopped by an operator while on probation is not rolled back", async () => {
  await using s = await setup(counter(1));
  const { rt } = s;
  await waitFor("v1 counting", () => count(rt) > 5);
  const { status } = await rt.replaceModule(await s.plan("v2", counter(2, { crashAt: 60 })));
  await rt.stopModule("counter");
  // Longer than the crash would have taken to happen and be judged.
  await new Promise((r) => setTimeout(r, 2_000));
  const m = rt.getModule("counter")!;
  assert.equal(m.sha256, status.sha256);
  assert.equal(m.state, "stopped");
  assert.equal(m.probation, null);
  assert.equal(m.last_rollback, null);
  assert.deepEqual(s.rollbacks, []);
});

Deno.test("a swap back to the old version shows only its own outputs, never the replaced version's", async () => {
  await using s = await setup(counter(1));
  const { rt } = s;
  await waitFor("v1 counting", () => count(rt) > 5);
  // v2 ticks every millisecond, so its executor always has outputs of it waiting for the next report.
  const v2 = wat(`(module
    (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "v2only")
    (func (export "kiln_abi_version") (result i32) (i32.const 1))
    (func (export "kiln_on_tick") (param i64) (result i32)
      (drop (call $output (i32.const 16) (i32.const 6) (f64.const 2)))
      (i32.const 0)))`);
  for (let round = 0; round < 5; round++) {
    await rt.replaceModule(
      await s.plan("v2", v2, { schedule: { mode: "periodic", periodUs: 1_000, priority: 50 } }),
    );
    await waitFor("v2's output", () => rt.getModule("counter")!.outputs.v2only === 2);
    await rt.replaceModule(await s.plan("v1", counter(1)));
    const calls = rt.getModule("counter")!.invocations;
    await waitFor("v1 reporting", () => rt.getModule("counter")!.invocations > calls + 2);
    const outputs = rt.getModule("counter")!.outputs;
    assert.deepEqual(
      Object.keys(outputs).sort(),
      ["count", "version"],
      `round ${round}: ${JSON.stringify(outputs)}`,
    );
  }
});
