import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

/** Spins for `ms` milliseconds of the module's clock on every window. */
const spin = (ms: number) =>
  `(local.set $end (i64.add (call $now) (i64.const ${ms * 1000})))
    (block $done (loop $l (br_if $done (i64.ge_s (call $now) (local.get $end))) (br $l)))`;

async function runtimeWith(windowMs: number) {
  const dir = await Deno.makeTempDir();
  const body = windowMs > 0 ? spin(windowMs) : "";
  // A window of 256 samples at 25.6 kHz is 10 ms of signal.
  const source = streamModuleWat(body).replace(
    "(memory (export",
    `(import "kiln" "now_us" (func $now (result i64)))\n  (memory (export`,
  ).replace(
    "(param $ptr i32) (param $n i32) (result i32)",
    "(param $ptr i32) (param $n i32) (result i32) (local $end i64)",
  );
  const rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "analyser",
        wasm: await writeFixture(dir, "analyser.wasm", wat(source)),
        capabilities: ["read:sim:vib"],
        budgetUs: 10_000_000,
      }),
    ]),
    version: "test",
    log: () => {},
  });
  await rt.start();
  return rt;
}

Deno.test("a stream module slower than its sensor is reported behind, then what no longer fits is dropped and counted", async () => {
  // 100 ms of work per 10 ms window: it falls further behind with every window.
  await using rt = await runtimeWith(100);
  const m = await waitFor("dropped samples", () => {
    const s = rt.getModule("analyser")!;
    return s.dropped_samples > 0 && s;
  });
  assert.ok(m.behind && "ms" in m.behind, JSON.stringify(m.behind));
  assert.ok(m.behind.samples > 0);
  // The executor holds at most 8 batches of this source; the time they span is what the module is behind.
  assert.equal(m.behind.ms, Math.round((m.behind.samples / 25_600) * 10_000) / 10);
  assert.equal(m.state, "running", "falling behind is reported, not a fault");
});
