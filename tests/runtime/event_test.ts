import assert from "node:assert/strict";
import { createRuntime, EventTooLargeError, ModuleStateError } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/**
 * An event module: on each event it writes GPIO pin 8 high when the payload's first byte is non-zero (an
 * API event) or when the event is a GPIO edge to high, and outputs the last kind and length.
 */
const estop = `(module
  (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 0) "kind")
  (data (i32.const 8) "len")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (drop (call $out (i32.const 0) (i32.const 4) (f64.convert_i32_s (local.get $kind))))
    (drop (call $out (i32.const 8) (i32.const 3) (f64.convert_i32_s (local.get $len))))
    ;; kind 1 (api): byte 0 is the level; kind 2 (gpio): u32 pin, u32 level
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then (drop (call $w (i32.const 8) (i32.load8_u (local.get $ptr))))))
    (if (i32.eq (local.get $kind) (i32.const 2))
      (then (drop (call $w (i32.const 8) (i32.load (i32.add (local.get $ptr) (i32.const 4)))))))
    (i32.const 0)))`;

/** A low-priority periodic module whose every tick spins for about `ms` milliseconds. */
const slow = (ms: number) =>
  `(module
  (import "kiln" "now_us" (func $now (result i64)))
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (local $end i64)
    (local.set $end (i64.add (call $now) (i64.const ${ms * 1000})))
    (block $done (loop $l (br_if $done (i64.ge_s (call $now) (local.get $end))) (br $l)))
    (i32.const 0)))`;

async function runtimeWith(trigger: string, extra: Parameters<typeof modulePlan>[0][] = []) {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "estop.wasm", wat(estop));
  const extras = await Promise.all(
    extra.map(async (e) => ({ ...e, wasm: await writeFixture(dir, `${e.name}.wasm`, wat(e.wasm)) })),
  );
  const rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "estop",
        wasm,
        schedule: { mode: "event", trigger, priority: 90 },
        capabilities: ["write:gpio:pin_8", "read:gpio:pin_3"],
      }),
      ...extras.map((e) => modulePlan(e)),
    ]),
    version: "test",
    log: () => {},
  });
  await rt.start();
  return rt;
}

Deno.test("an API event reaches the event module and its actuator write is carried out, with its latency recorded", async () => {
  await using rt = await runtimeWith("api");
  assert.equal(rt.getModule("estop")!.executor, "realtime");
  assert.equal(rt.plant.listGpio()[8]!.value, 0);
  rt.triggerEvent("estop", new Uint8Array([1, 2, 3]));
  await waitFor("pin 8 high", () => rt.plant.listGpio()[8]!.value === 1);
  const m = await waitFor(
    "the latency",
    () => rt.getModule("estop")!.event_latency_us && rt.getModule("estop")!,
  );
  assert.equal(m.events, 1);
  assert.ok(m.event_latency_us!.p50 > 0);
  await waitFor("the outputs", () => rt.getModule("estop")!.outputs.len === 3);
  assert.equal(rt.getModule("estop")!.outputs.kind, 1);
});

Deno.test("a GPIO edge triggers the event module bound to that pin", async () => {
  await using rt = await runtimeWith("gpio:pin_3");
  rt.plant.setGpioInput(3, 1);
  await waitFor("pin 8 to follow pin 3 up", () => rt.plant.listGpio()[8]!.value === 1);
  rt.plant.setGpioInput(3, 0);
  await waitFor("pin 8 to follow pin 3 down", () => rt.plant.listGpio()[8]!.value === 0);
  rt.plant.setGpioInput(3, 0); // no edge: no event
  await waitFor("the kind output", () => rt.getModule("estop")!.outputs.kind === 2);
  assert.equal(rt.getModule("estop")!.events, 2);
});

Deno.test("API events reach any event module, and are refused for other modes and payloads over 4 KiB", async () => {
  // An operator's command (a reset) reaches a module triggered by a pin, as an API event (kind 1).
  await using rt = await runtimeWith("gpio:pin_3");
  rt.triggerEvent("estop", new Uint8Array([1]));
  await waitFor(
    "the API event",
    () => rt.getModule("estop")!.outputs.kind === 1 && rt.plant.listGpio()[8]!.value === 1,
  );
  assert.throws(() => rt.triggerEvent("estop", new Uint8Array(5000)), EventTooLargeError);
  const dir = await Deno.makeTempDir();
  await using other = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "tick",
        wasm: await writeFixture(dir, "tick.wasm", wat(slow(0))),
        schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
      }),
    ]),
    version: "test",
    log: () => {},
  });
  await other.start();
  assert.throws(() => other.triggerEvent("tick", new Uint8Array(1)), ModuleStateError);
});

Deno.test("an event is handled while a low-priority module is in the middle of a long invocation", async () => {
  // The slow module's ticks spin for 1.5 s each in the normal executor; the event module runs in realtime.
  await using rt = await runtimeWith("api", [{
    name: "slow",
    wasm: slow(1500),
    budgetUs: 10_000_000,
    schedule: { mode: "periodic", periodUs: 100_000, priority: 10 },
  }]);
  // The first slow tick starts 100 ms after start and is still running for well over a second.
  await new Promise((r) => setTimeout(r, 200));
  rt.triggerEvent("estop", new Uint8Array([1]));
  await waitFor("the actuator", () => rt.plant.listGpio()[8]!.value === 1);
  // The slow module has not finished a single tick yet: the event did not wait for it.
  assert.equal(rt.getModule("slow")!.invocations, 0);
  assert.equal(rt.getModule("slow")!.executor, "normal");
});
