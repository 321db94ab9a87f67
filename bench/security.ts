/**
 * The attack suite's results as figures: runs `deno test -A tests/security/attack_test.ts` (hostile modules
 * and inputs, each beside a healthy neighbour) and counts its cases from Deno's summary line. A failed case
 * is counted as an escape: the suite asserts the specific refusal or containment, so a failure means a
 * hostile module got further than it should have (or the suite is broken, which the list of failures shows).
 *
 * Run: `deno run -A bench/security.ts`; writes bench/results/security.json.
 *
 * @module
 */
import { machine, ROOT, writeResult } from "./_plan.ts";

const SUITE = "tests/security/attack_test.ts";

const t0 = performance.now();
const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", SUITE],
  cwd: ROOT,
  stdout: "piped",
  stderr: "piped",
  env: { NO_COLOR: "1" },
}).output();
const seconds = Math.round((performance.now() - t0) / 100) / 10;
const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
// e.g. "ok | 70 passed | 0 failed (30s)", "FAILED | 68 passed (3 steps) | 2 failed | 1 ignored (31s)"
const summary = /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/m
  .exec(out);
if (!summary) {
  throw new Error(
    `Cannot find the summary of "deno test ${SUITE}" (exit code ${code}):\n${out.slice(-3000)}`,
  );
}
const passed = Number(summary[2]);
const failed = Number(summary[4]);
const declared = (await Deno.readTextFile(`${ROOT}${SUITE}`)).match(/^Deno\.test\(/gm)?.length ?? 0;
const failures = [...out.matchAll(/^(.+?) \.\.\. FAILED/gm)].map((m) => m[1]!.trim());
const report = {
  machine: await machine(),
  method: `deno test -A ${SUITE}; attack_cases = passed + failed cases of Deno's summary line; escapes = ` +
    `failed cases (each case asserts the specific refusal or containment beside a healthy neighbour)`,
  suite: SUITE,
  attack_cases: passed + failed,
  passed,
  escapes: failed,
  declared_tests: declared,
  failures,
  exit_code: code,
  suite_s: seconds,
};
await writeResult("security", report);
console.log(JSON.stringify(report, null, 2));
