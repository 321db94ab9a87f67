import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

const spin = `(module
  (memory (export "memory") 1)
  (global $ticks (mut i32) (i32.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func $spin (loop $forever (br $forever)))
  (func (export "kiln_on_tick") (param i64) (result i32)
    ;; The first call runs normally, every later one spins forever.
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
    (if (i32.gt_u (global.get $ticks) (i32.const 1)) (then (call $spin)))
    (i32.const 0)))`;

Deno.test("a module that loops forever in its handler is interrupted within twice its budget, restarted, and its neighbour keeps running", async () => {
  const dir = await Deno.makeTempDir();
  const good = await writeFixture(dir, "good.wasm", wat(streamModuleWat()));
  const bad = await writeFixture(dir, "spin.wasm", wat(spin));
  const budgetUs = 2_000;
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({ name: "good", wasm: good }),
      modulePlan({
        name: "spin",
        wasm: bad,
        budgetUs,
        schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
        restart: { policy: "on-failure", maxRestarts: 100, backoffMs: 10, maxBackoffMs: 20 },
      }),
    ]),
    version: "test",
    log: () => {},
  });
  await rt.start();
  const before = rt.getModule("good")!.invocations;
  const m = await waitFor("spin to be interrupted and restarted twice", () => {
    const s = rt.getModule("spin")!;
    return s.restarts >= 2 && s;
  });
  assert.equal(m.last_fault?.kind, "budget_exceeded");
  assert.equal(m.last_fault?.function, "spin", "the fault names the looping function");
  await waitFor("the neighbour to keep running", () => rt.getModule("good")!.invocations > before + 20);
  assert.equal(rt.getModule("good")!.restarts, 0);
});

Deno.test("an infinite loop in kiln_init is interrupted at the init budget", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(
    dir,
    "init.wasm",
    wat(streamModuleWat("", `(func (export "kiln_init") (result i32) (loop $l (br $l)) (i32.const 0))`)),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "init",
        wasm,
        restart: { policy: "never", maxRestarts: 0, backoffMs: 1, maxBackoffMs: 1 },
      }),
    ]),
    version: "test",
    log: () => {},
  });
  await rt.start();
  const m = rt.getModule("init")!;
  assert.equal(m.state, "failed");
  assert.equal(m.last_fault?.kind, "budget_exceeded");
});

Deno.test("with a fuel limit, instructions are counted per call and a long loop runs out of fuel", async () => {
  const dir = await Deno.makeTempDir();
  // Loops $n times per tick; $n grows by 100 every tick, so after about 140 ticks it needs more than its fuel.
  const wasm = await writeFixture(
    dir,
    "fuel.wasm",
    wat(`(module
      (memory (export "memory") 1)
      (global $n (mut i32) (i32.const 10))
      (func (export "kiln_abi_version") (result i32) (i32.const 1))
      (func (export "kiln_on_tick") (param i64) (result i32)
        (local $i i32)
        (block $done (loop $l
          (br_if $done (i32.ge_u (local.get $i) (global.get $n)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (global.set $n (i32.add (global.get $n) (i32.const 100)))
        (i32.const 0)))`),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "fuel",
        wasm,
        fuel: 100_000,
        schedule: { mode: "periodic", periodUs: 5_000, priority: 50 },
        restart: { policy: "never", maxRestarts: 0, backoffMs: 1, maxBackoffMs: 1 },
      }),
    ]),
    version: "test",
    log: () => {},
  });
  await rt.start();
  const metered = await waitFor("a metered call", () => {
    const s = rt.getModule("fuel")!;
    return (s.instructions?.last ?? 0) > 0 && s;
  });
  assert.ok(metered.instructions!.total >= metered.instructions!.last);
  const m = await waitFor(
    "fuel to run out",
    () => rt.getModule("fuel")!.state === "failed" && rt.getModule("fuel")!,
  );
  assert.equal(m.last_fault?.kind, "fuel_exhausted");
});
