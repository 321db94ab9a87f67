/**
 * Hostile modules of the `host_budget` class: loops whose time goes into host calls rather than Wasm (the
 * largest `output_array`, logs, publishes and WASI writes, parameter, data and input look-ups), and one WASI
 * write that amplifies its input (1024 iovecs of 64 KiB). On a 2 ms budget (interrupted at 3 ms) each call
 * must end `budget_exceeded` within the interrupt's margin of its limit: the runtime's own counts (the fault's
 * "interrupted after" and the module's `max_us`, microseconds it measured) are checked against the limit with
 * a generous factor; the test takes no timing of its own. Each case runs in both executors beside the
 * harness's neighbours ({@linkcode runHostile}), which must keep their rate.
 */
import assert from "node:assert/strict";
import type { ModulePlan, ModuleStatus } from "../../runtime/mod.ts";
import { writeFixture } from "../_helpers.ts";
import {
  assertInterruptedInTime,
  fixture,
  interrupted,
  interruptMarginUs,
  runHostile,
  testInBothExecutors,
} from "./_harness.ts";

/** The budget of every case: 2 ms, so a handler call is interrupted at 3 ms. */
const BUDGET_US = 2_000;
const HARD_LIMIT_US = BUDGET_US * 1.5;

/** Interrupted within the margin, and no handler call (the module's `max_us`) ran longer. */
function withinBudget(m: ModuleStatus): void {
  assertInterruptedInTime(m);
  assert.ok(
    m.max_us <= interruptMarginUs(HARD_LIMIT_US),
    `a handler call ran ${m.max_us} us against a limit of ${HARD_LIMIT_US} us ` +
      `(at most ${interruptMarginUs(HARD_LIMIT_US)} us)`,
  );
}

/** Runs `file` on the 2 ms budget with `plan`, expecting it interrupted in time and restarted. */
async function hostLoop(file: string, priority: number, plan: Partial<ModulePlan> = {}): Promise<void> {
  await runHostile({
    priority,
    bytes: await fixture(file),
    plan: { budgetUs: BUDGET_US, ...plan },
    expect: interrupted(/flood|spin|kiln_on_tick/, (m) => m.restarts >= 1, withinBudget),
    timeoutMs: 8_000,
  });
}

testInBothExecutors(
  "escape[host_budget]: a tight loop of output_array with 4096 values is interrupted within its budget margin",
  (priority) => hostLoop("host_output_array_loop", priority),
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of log with a 64 KiB line is interrupted within its budget margin",
  (priority) => hostLoop("host_log_max_loop", priority),
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of publish to a granted topic with a 64 KiB payload is interrupted within its budget margin",
  (priority) => hostLoop("host_publish_max_loop", priority, { capabilities: ["write:mqtt:kiln/#"] }),
);

testInBothExecutors(
  "escape[host_budget]: one WASI fd_write of 1024 iovecs of 64 KiB is cut short within its budget margin",
  (priority) => hostLoop("host_fd_write_iovecs_once", priority),
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of WASI fd_write with 16 iovecs of 64 KiB is interrupted within its budget margin",
  (priority) => hostLoop("host_fd_write_loop", priority),
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of param_f64 with a 1 KiB key is interrupted within its budget margin",
  (priority) => hostLoop("host_param_loop", priority),
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of data for its blob is interrupted within its budget margin",
  async (priority) => {
    const dir = await Deno.makeTempDir();
    try {
      const blob = await writeFixture(dir, "blob.bin", new Uint8Array(4096).fill(7));
      await hostLoop("host_data_loop", priority, { data: [{ name: "blob", path: blob, sha256: null }] });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

testInBothExecutors(
  "escape[host_budget]: a tight loop of input on a granted input is interrupted within its budget margin",
  (priority) =>
    hostLoop("host_input_loop", priority, { capabilities: ["read:sim:temp"], inputs: ["sim:temp"] }),
);
