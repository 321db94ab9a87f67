/**
 * Hostile modules of the `blocking` class: code that parks its executor's thread instead of spinning on it,
 * where no interrupt check runs: `memory.atomic.wait32`/`wait64` on a shared memory with an infinite (or a
 * long) timeout, in a handler, `kiln_init` and the start function. Shared memories are refused at deploy with
 * the reason; atomics on an unshared memory run, and a wait on one traps. Each case runs beside the harness's
 * neighbours ({@linkcode runHostile}), the waiting ones in both executors (a parked `realtime` executor would
 * hold the events and the emergency stop).
 */
import assert from "node:assert/strict";
import { WasmUnsupportedError } from "../../runtime/wasm/mod.ts";
import { type Expectation, fixture, refusedFor, runHostile, testInBothExecutors } from "./_harness.ts";

/** Refused at deploy because memory 0 is shared, the reason saying so. */
const sharedRefused = (): Expectation => refusedFor(/[Mm]emory 0 .*shared/, WasmUnsupportedError);

const waits: [string, string][] = [
  ["memory.atomic.wait32 with an infinite timeout in a handler", "blocking_wait32_tick"],
  ["memory.atomic.wait64 with an infinite timeout in a handler", "blocking_wait64_tick"],
  ["memory.atomic.wait32 with a 60 s timeout in a handler", "blocking_wait32_long_timeout"],
  ["memory.atomic.wait32 with an infinite timeout in kiln_init", "blocking_wait32_init"],
  ["memory.atomic.wait32 with an infinite timeout in the start function", "blocking_wait32_start"],
];

for (const [what, file] of waits) {
  testInBothExecutors(
    `escape[blocking]: a shared memory with ${what} is refused at deploy, the reason naming the shared memory`,
    async (priority) =>
      runHostile({ priority, bytes: await fixture(file), expect: sharedRefused(), timeoutMs: 5_000 }),
  );
}

Deno.test("escape[blocking]: a shared memory that no code waits on is refused at deploy all the same", async () => {
  await runHostile({ bytes: await fixture("blocking_shared_no_wait"), expect: sharedRefused() });
});

testInBothExecutors(
  "escape[blocking]: memory.atomic.wait32 on an unshared memory traps, and the module is restarted",
  async (priority) =>
    runHostile({
      priority,
      bytes: await fixture("blocking_wait_unshared"),
      expect: {
        until: (m) => m.restarts >= 1,
        check: (m) => {
          assert.equal(m.last_fault?.function, "park");
          assert.ok(
            !["host_error", "budget_exceeded"].includes(m.last_fault?.kind ?? ""),
            `a Wasm trap, not ${m.last_fault?.kind}`,
          );
          assert.match(m.last_fault?.message ?? "", /atomic|wait|shared/i);
        },
      },
      timeoutMs: 5_000,
    }),
);

Deno.test("escape[blocking]: atomic read-modify-write and notify on an unshared memory run as plain accesses", async () => {
  await runHostile({
    bytes: await fixture("blocking_atomics_unshared"),
    expect: {
      until: (m) => (m.outputs.count ?? 0) >= 3,
      check: (m) => {
        assert.equal(m.state, "running");
        assert.equal(m.restarts, 0);
        assert.equal(m.last_fault, null);
      },
    },
  });
});
