/**
 * What the trace tests share: a periodic module whose ticks each do one thing a trace event shows, a
 * runtime running it, and a synthetic trace event.
 *
 * @module
 */
import { createRuntime, type Runtime } from "../../runtime/mod.ts";
import type { TraceEvent } from "../../runtime/trace/mod.ts";
import { deploymentPlan, modulePlan, wat, writeFixture } from "../_helpers.ts";

/** The tick at which {@linkcode STEPS_WAT} grows its memory by one page, returns 7, and traps. */
export const GROW_TICK = 3;
export const ERROR_TICK = 5;
export const TRAP_TICK = 8;

/**
 * A periodic module: every tick reads GPIO pin 1 (a capability use), tick {@linkcode GROW_TICK} grows memory
 * by a page, tick {@linkcode ERROR_TICK} returns 7, tick {@linkcode TRAP_TICK} executes `unreachable`.
 */
export const STEPS_WAT = `(module
  (import "kiln" "gpio_read" (func $gpio_read (param i32) (result i32)))
  (memory (export "memory") 1 4)
  (global $ticks (mut i32) (i32.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
    (drop (call $gpio_read (i32.const 1)))
    (if (i32.eq (global.get $ticks) (i32.const ${GROW_TICK}))
      (then (drop (memory.grow (i32.const 1)))))
    (if (i32.eq (global.get $ticks) (i32.const ${TRAP_TICK})) (then (unreachable)))
    (if (result i32) (i32.eq (global.get $ticks) (i32.const ${ERROR_TICK}))
      (then (i32.const 7)) (else (i32.const 0)))))`;

/** A periodic module that counts its ticks and never fails. */
export const TICKER_WAT = `(module
  (memory (export "memory") 1)
  (global $ticks (mut i32) (i32.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
    (i32.const 0)))`;

/**
 * A runtime (not started) running `source` as module `name`, periodic at `periodUs`, metered with fuel, with
 * every call traced.
 */
export async function runtimeWith(
  dir: string,
  source: string,
  options: { name?: string; periodUs?: number; fuel?: number | null; restart?: "never" | "on-failure" } = {},
): Promise<Runtime> {
  const name = options.name ?? "steps";
  const wasm = await writeFixture(dir, `${name}.wasm`, wat(source));
  const policy = options.restart ?? "never";
  const runtime = await createRuntime({
    plan: deploymentPlan([modulePlan({
      name,
      wasm,
      fuel: options.fuel === undefined ? 1_000_000 : options.fuel,
      capabilities: ["read:gpio:pin_1"],
      schedule: { mode: "periodic", periodUs: options.periodUs ?? 5_000, priority: 50 },
      restart: { policy, maxRestarts: policy === "never" ? 0 : 100, backoffMs: 10, maxBackoffMs: 20 },
    })]),
    version: "test",
    log: () => {},
  });
  runtime.traces.configure({ every: 1 }); // off by default
  return runtime;
}

/** A synthetic trace event of module `module`, number `seq`. */
export function traceEvent(module: string, seq: number, over: Partial<TraceEvent> = {}): TraceEvent {
  return {
    module,
    seq,
    load: 1,
    invocation: seq,
    handler: "kiln_on_tick",
    startMs: 1_765_000_000_000 + seq,
    durationUs: 12.5,
    instructions: null,
    allocBytes: 0,
    uses: null,
    outcome: "ok",
    code: null,
    ...over,
  };
}
