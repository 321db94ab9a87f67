/**
 * The attack suite's cases: hostile modules and inputs, one behaviour per case, each run beside healthy
 * neighbours by `runHostile` (`_harness.ts`). A case asserts the specific refusal (error class,
 * `code`, and a reason naming what is wrong) or the specific containment (state, fault, the error code the
 * module saw, counters); the harness then asserts that the neighbours kept processing and the runtime
 * stayed healthy. The cases are split by class of attack, one file each: `attack_binary_test.ts`
 * (malformed binaries), `attack_imports_test.ts` (forbidden imports and exports), `attack_memory_test.ts`
 * (memory and tables), `attack_traps_test.ts` (traps and failed starts), `attack_host_calls_test.ts`
 * (host-call and WASI abuse), `attack_exhaustion_test.ts` (flooding and CPU). This file holds what several
 * of them use.
 *
 * The WAT sources are in `fixtures/`, one behaviour per file; malformed binaries are built in the cases byte
 * by byte, since no assembler produces them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { leb } from "../fixtures/wasm/bytes.ts";
import type { Containment, Expectation } from "./_harness.ts";

/** UTF-8, for names and text in hand-built binaries. */
export const utf8 = new TextEncoder();
/** A `name` in the binary format: LEB128 length, then UTF-8 bytes. */
export const name = (s: string): number[] => [...leb(utf8.encode(s).length), ...utf8.encode(s)];

/** A `check` of {@linkcode Containment}. */
export type Check = NonNullable<Containment["check"]>;

/**
 * A host call the module makes every tick and reports as an output (`key`, default `"rc"`): it keeps getting
 * `value`, and the module keeps running (a bad call is an error code, never a crash); then `check` runs.
 */
export function answered(value: number, options: { key?: string; check?: Check } = {}): Expectation {
  const key = options.key ?? "rc";
  return {
    until: (m) => m.outputs[key] === value && m.invocations >= 3,
    check: async (m, rt, audit) => {
      assert.equal(m.state, "running");
      assert.equal(m.restarts, 0);
      assert.equal(m.last_fault, null);
      await options.check?.(m, rt, audit);
    },
  };
}
