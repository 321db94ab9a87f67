/**
 * Fuel metering (`instrument(bytes, { fuel: true })`): the exact charge of straight-line code and loops, and
 * the interrupt when fuel runs out. The determinism of the count on a real module is in `instrument_test.ts`.
 */
import assert from "node:assert/strict";
import { watAll } from "../../tests/fixtures/wasm/wat_all.ts";
import { FUEL_EXPORT, INITIAL_FUEL, instrument } from "./mod.ts";

/** What the host's `__check` throws to interrupt a module. */
class Interrupt extends Error {}

// deno-lint-ignore no-explicit-any
type Exports = Record<string, any>;

/** Instantiates `source` with fuel metering; `check` decides what happens when fuel runs out. */
function fueled(source: string, check: (fuel: WebAssembly.Global) => number = () => 1000) {
  const { bytes } = instrument(watAll(source), { fuel: true });
  let fuel: WebAssembly.Global | null = null;
  const module = new WebAssembly.Module(bytes);
  const { exports } = new WebAssembly.Instance(module, { kiln: { __check: () => check(fuel!) } });
  fuel = (exports as Exports)[FUEL_EXPORT] as WebAssembly.Global;
  /** Runs `fn` with `budget` fuel; returns the instructions it executed. */
  const metered = (budget: bigint, fn: () => unknown): bigint => {
    fuel!.value = budget;
    fn();
    return budget - (fuel!.value as bigint);
  };
  return { exports: exports as Exports, fuel, metered };
}

Deno.test("a straight-line function is charged exactly its instruction count", () => {
  const { exports, metered, fuel } = fueled(`(module
    (func (export "five") (result i32) i32.const 1 i32.const 2 i32.add i32.const 3 i32.mul)
    (func (export "empty")))`);
  assert.equal(fuel.value, INITIAL_FUEL, "instantiation ran nothing");
  assert.equal(metered(1000n, () => assert.equal(exports.five(), 9)), 6n, "5 instructions and the final end");
  assert.equal(metered(1000n, () => exports.empty()), 1n);
});

Deno.test("a loop of N iterations is charged 7 N + 5 instructions", () => {
  const { exports, metered } = fueled(`(module
    (func (export "count") (param $n i32) (local $i i32)
      block
        loop
          local.get $i
          i32.const 1
          i32.add
          local.tee $i
          local.get $n
          i32.lt_s
          br_if 0
        end
      end))`);
  // block | loop | 7 per iteration | end (loop) | end (block) | end (function)
  for (const n of [1, 2, 10, 1000, 123_457]) {
    assert.equal(metered(10n ** 12n, () => exports.count(n)), 7n * BigInt(n) + 5n, `n = ${n}`);
  }
});

Deno.test("running out of fuel interrupts the module", () => {
  const { exports, fuel } = fueled(
    `(module (func (export "spin") (loop $l (br $l))))`,
    (f) => {
      if ((f.value as bigint) < 0n) throw new Interrupt("out of fuel");
      return 1000;
    },
  );
  fuel.value = 1000n;
  assert.throws(() => exports.spin(), Interrupt);
  // Each iteration is one segment of `br` (1 instruction); the charge that overdrew stopped it.
  assert.equal(fuel.value, -1n);
});
