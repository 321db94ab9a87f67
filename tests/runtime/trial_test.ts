/**
 * A deploy's trial start is a dry run: `kiln_init`'s alert, GPIO write and output happen once (in the real
 * start), and its log line shows twice, the trial's marked `[trial]`.
 */
import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

const INIT_EFFECTS = wat(`(module
  (import "kiln" "alert" (func $alert (param i32 i32 i32) (result i32)))
  (import "kiln" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "kiln" "gpio_write" (func $gpio_write (param i32 i32) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "init ran")
  (data (i32.const 32) "inits")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32)
    (drop (call $alert (i32.const 2) (i32.const 16) (i32.const 8)))
    (drop (call $log (i32.const 1) (i32.const 16) (i32.const 8)))
    (drop (call $gpio_write (i32.const 9) (i32.const 1)))
    (drop (call $output (i32.const 32) (i32.const 5) (f64.const 1)))
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`);

Deno.test("a deploy's trial start holds back kiln_init's alert, GPIO write and output, and marks its log", async () => {
  const dir = await Deno.makeTempDir();
  const base = modulePlan({
    name: "idle",
    wasm: await writeFixture(
      dir,
      "idle.wasm",
      wat(`(module (memory (export "memory") 1)
      (func (export "kiln_abi_version") (result i32) (i32.const 1))
      (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`),
    ),
    schedule: { mode: "periodic", periodUs: 100_000, priority: 50 },
  });
  await using rt = await createRuntime({ plan: deploymentPlan([base]), version: "test", log: () => {} });
  await rt.start();
  const plan = modulePlan({
    name: "effects",
    wasm: await writeFixture(dir, "effects.wasm", INIT_EFFECTS),
    schedule: { mode: "periodic", periodUs: 20_000, priority: 50 },
    capabilities: ["write:gpio:pin_9"],
  });
  const { status } = await rt.replaceModule(plan);
  assert.equal(status.state, "running");
  const logs = await waitFor("both log lines", () => {
    const l = rt.getModuleLogs("effects") ?? [];
    return l.length >= 2 ? l : null;
  });
  assert.deepEqual(logs.map((l) => l.message).sort(), ["[trial] init ran", "init ran"]);
  await waitFor("the output", () => rt.getModule("effects")!.outputs.inits === 1);
  // Give a second alert or write time to arrive, were there one.
  await new Promise((r) => setTimeout(r, 500));
  const alerts = rt.listAlerts(0).filter((a) => a.module === "effects");
  assert.deepEqual(alerts.map((a) => a.message), ["init ran"], "one alert, from the real start");
  const pin9 = rt.plant.listGpio().find((p) => p.pin === 9);
  assert.equal(pin9?.writes, 1, "one GPIO write, from the real start");
  assert.equal(pin9?.value, 1);
  await Deno.remove(dir, { recursive: true });
});
