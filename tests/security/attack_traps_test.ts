/**
 * The attack suite (see `_attack.ts`): traps in handlers, in the start function and in the init sequence: each is
 * contained to its module, which crashes and is restarted or fails to start.
 */
import assert from "node:assert/strict";
import type { ModulePlan } from "../../runtime/mod.ts";
import { type Expectation, fixture, refusedFor, runHostile } from "./_harness.ts";

/** Stream mode on the simulated vibration sensor, as a stream module is deployed. */
const STREAM: ModulePlan["schedule"] = {
  mode: "stream",
  source: "sim:vib",
  window: 256,
  hop: 256,
  priority: 50,
};

/** A trap in a handler: the module crashed with fault `kind` in function `fn` and was restarted. */
function crashedWith(kind: string, fn: string): Expectation {
  return {
    until: (m) => m.restarts >= 1,
    check: (m) => {
      assert.equal(m.last_fault?.kind, kind);
      assert.equal(m.last_fault?.function, fn);
      assert.ok(m.invocations >= 1, "it trapped in a handler, after starting");
      assert.match(m.last_error ?? "", new RegExp(`^${kind.replaceAll("_", " ")} in ${fn}: `));
    },
  };
}

/**
 * A module that cannot start: every attempt fails with `fault` (its message matching, when given), and the
 * restart policy (3 restarts) gives up: `failed`, without ever having run a handler.
 */
function failsToStart(fault: { kind: string; function: string; message?: RegExp }): Expectation {
  return {
    until: (m) => m.state === "failed",
    check: (m) => {
      assert.equal(m.last_fault?.kind, fault.kind);
      assert.equal(m.last_fault?.function, fault.function);
      if (fault.message) assert.match(m.last_fault?.message ?? "", fault.message);
      assert.equal(m.restarts, 3, "restarted up to max_restarts, then given up");
      assert.equal(m.invocations, 0);
    },
  };
}

// ---- traps: contained, the module crashes and is restarted -----------------------------------------------

Deno.test("attack: unreachable in a handler crashes only that module, which is restarted", async () => {
  await runHostile({ bytes: await fixture("trap_unreachable"), expect: crashedWith("unreachable", "boom") });
});

Deno.test("attack: an out-of-bounds load is contained as an out_of_bounds trap", async () => {
  await runHostile({ bytes: await fixture("trap_oob_load"), expect: crashedWith("out_of_bounds", "peek") });
});

Deno.test("attack: an out-of-bounds store is contained as an out_of_bounds trap", async () => {
  await runHostile({ bytes: await fixture("trap_oob_store"), expect: crashedWith("out_of_bounds", "poke") });
});

Deno.test("attack: a division by zero is contained as a divide_by_zero trap", async () => {
  await runHostile({
    bytes: await fixture("trap_divide_by_zero"),
    expect: crashedWith("divide_by_zero", "ratio"),
  });
});

Deno.test("attack: INT32_MIN / -1 is contained as an integer_overflow trap", async () => {
  await runHostile({
    bytes: await fixture("trap_integer_overflow"),
    expect: crashedWith("integer_overflow", "overflow"),
  });
});

Deno.test("attack: truncating NaN to an integer is contained as an invalid_conversion trap", async () => {
  await runHostile({
    bytes: await fixture("trap_invalid_conversion"),
    expect: crashedWith("invalid_conversion", "truncate"),
  });
});

Deno.test("attack: unbounded recursion is contained as a stack_overflow trap", async () => {
  await runHostile({
    bytes: await fixture("trap_stack_overflow"),
    expect: crashedWith("stack_overflow", "recurse"),
  });
});

Deno.test("attack: call_indirect with a mismatched signature is contained as an indirect_call trap", async () => {
  await runHostile({
    bytes: await fixture("trap_indirect_signature"),
    expect: crashedWith("indirect_call", "dispatch"),
  });
});

Deno.test("attack: call_indirect to a null table entry is contained as an indirect_call trap", async () => {
  await runHostile({
    bytes: await fixture("trap_indirect_null"),
    expect: crashedWith("indirect_call", "dispatch"),
  });
});

Deno.test("attack: a trap in the start function is contained: the fault names the start function", async () => {
  await runHostile({
    bytes: await fixture("trap_in_start"),
    expect: failsToStart({ kind: "unreachable", function: "start_boom" }),
  });
});

Deno.test("attack: a trap in kiln_init is contained: the module fails to start", async () => {
  await runHostile({
    bytes: await fixture("trap_in_init"),
    expect: failsToStart({ kind: "unreachable", function: "init_boom" }),
  });
});

Deno.test("attack: kiln_init returning non-zero is contained as init_failed", async () => {
  await runHostile({
    bytes: await fixture("init_returns_error"),
    expect: failsToStart({ kind: "init_failed", function: "kiln_init", message: /^kiln_init returned 7$/ }),
  });
});

Deno.test("attack: kiln_alloc returning 0 in stream mode is contained as init_failed", async () => {
  await runHostile({
    bytes: await fixture("alloc_returns_zero"),
    plan: { schedule: STREAM },
    expect: failsToStart({
      kind: "init_failed",
      function: "kiln_alloc",
      message: /kiln_alloc\(512\) for the sample buffer returned 0\b/,
    }),
  });
});

Deno.test("attack: kiln_alloc returning a pointer past the end of memory is contained as init_failed", async () => {
  await runHostile({
    bytes: await fixture("alloc_past_end"),
    plan: { schedule: STREAM },
    expect: failsToStart({
      kind: "init_failed",
      function: "kiln_alloc",
      message: /kiln_alloc\(512\) for the sample buffer returned 65520, not a usable buffer/,
    }),
  });
});

Deno.test("attack: a module that does not export its memory is refused", async () => {
  await runHostile({
    bytes: await fixture("no_memory_export"),
    expect: refusedFor(/^export "memory": the module must export its memory/),
  });
});

Deno.test("attack: a module whose kiln_abi_version returns 2 is contained as init_failed", async () => {
  await runHostile({
    bytes: await fixture("abi_version_2"),
    expect: failsToStart({
      kind: "init_failed",
      function: "kiln_abi_version",
      message: /kiln_abi_version returned 2, this host implements ABI 1/,
    }),
  });
});
