/**
 * The CI share of the fuzz run (`deno task fuzz` runs 10,000): a few hundred modules from binaryen's
 * `wasm-opt --translate-to-fuzz`, plus the kept modules of `corpus/`, through Kiln's pipeline and a call of
 * every export under budget, in a worker with permissions "none" watched from the main thread. Needs
 * `wasm-opt` (Debian package `binaryen`, which `.ci/run` installs).
 *
 * The seed is fixed so that CI is reproducible; `KILN_FUZZ_SEED` picks another. A failure names each
 * module's seed and the file it was kept in; `deno task fuzz --seed <seed> --count 1` runs it again.
 *
 * @module
 */
import assert from "node:assert/strict";
import { nowMs } from "../../runtime/executor/doorbell.ts";
import { type FuzzSummary, FuzzWorker, type Outcome, runFuzz } from "./_fuzz.ts";

const SEED = Number(Deno.env.get("KILN_FUZZ_SEED") ?? 20_261_127);
const COUNT = 300;
/** How far past its armed budget a call may end on a loaded 2-core machine (a bound, not a timing). */
const MARGIN_MS = 250;

/** The findings of one kind, one line each, for an assertion message. */
function listed(s: FuzzSummary, kinds: readonly string[]): string {
  return s.findings
    .filter((f) => kinds.includes(f.kind))
    .map((f) => `seed ${f.seed} (${f.profile}) ${f.kind}: ${f.detail}${f.file ? ` [kept in ${f.file}]` : ""}`)
    .join("\n");
}

Deno.test("random modules from binaryen go through validate, instrument, instantiate and budgeted calls without escaping", async (t) => {
  const s = await runFuzz({
    count: COUNT,
    seed: SEED,
    marginMs: MARGIN_MS,
    corpus: new URL("./corpus/", import.meta.url),
  });
  const failed = Object.values(s.generation_failed).reduce((a, b) => a + b, 0);

  await t.step("binaryen generated nearly every module", () => {
    assert.ok(
      failed <= COUNT / 20,
      `wasm-opt failed ${failed} times: ${JSON.stringify(s.generation_failed)}`,
    );
  });
  await t.step("no worker hung or died, and the harness handled every module", () => {
    assert.equal(s.escapes, 0, listed(s, ["escape"]));
    assert.equal(s.harness_errors, 0, listed(s, ["harness_error"]));
  });
  await t.step("every call ended within its budget plus the margin", () => {
    assert.equal(listed(s, ["over_margin"]), "");
  });
  await t.step("every memory stayed within its cap", () => {
    assert.equal(listed(s, ["over_cap"]), "");
    assert.ok(s.max_memory_of_cap <= 1, `a memory reached ${s.max_memory_of_cap} of its cap`);
  });
  await t.step("refused features were refused with the right class, supported ones were not", () => {
    assert.equal(listed(s, ["accepted_refused", "wrong_refusal", "unexpected_refusal", "late_refusal"]), "");
  });
  await t.step("validated modules were instrumented and compiled", () => {
    assert.equal(listed(s, ["instrumentation"]), "");
  });
  await t.step("the run covered interrupts, fuel, traps and each refused feature", () => {
    const calls = s.calls_by_outcome;
    assert.ok((calls.budget_exceeded ?? 0) > 0, `no call was interrupted: ${JSON.stringify(calls)}`);
    assert.ok((calls.fuel_exhausted ?? 0) > 0, `no call ran out of fuel: ${JSON.stringify(calls)}`);
    assert.ok((calls.returned ?? 0) > 0 && (calls.out_of_bounds ?? 0) > 0, JSON.stringify(calls));
    assert.ok(s.calls_at_cap > 0, "no memory grew to its cap");
    const refused = Object.keys(s.refused_by_class).join(" ");
    for (const feature of ["threads", "multi-memory", "memory64", "gc"]) {
      assert.match(refused, new RegExp(`WasmUnsupportedError\\(${feature}\\)`), `no ${feature} refusal`);
    }
  });
});

Deno.test("the fuzz watchdog terminates a worker that overruns its call's deadline and reports an escape", async () => {
  const worker = new FuzzWorker();
  const watchdog = setInterval(() => worker.watch(nowMs(), 100), 20);
  // Generous: under `deno test` the worker's module graph is type-checked before it starts.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(
      () => resolve({ kind: "error", detail: "the watchdog did not act within 60 s" }),
      60_000,
    );
  });
  try {
    const outcome = await Promise.race([worker.stall(), timeout]);
    assert.equal(outcome.kind, "escape", outcome.kind === "error" ? outcome.detail : "");
    assert.match(outcome.kind === "escape" ? outcome.detail : "", /stage "call" \(call 0\)/);
    assert.ok(worker.dead);
  } finally {
    clearTimeout(timer);
    clearInterval(watchdog);
    worker.terminate();
  }
});
