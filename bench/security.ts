/**
 * The security suite's results as figures: runs every `tests/security/*_test.ts` file (hostile modules and
 * inputs, each beside healthy neighbours), one `deno test` process per file, and counts its cases by class
 * from the test names: `escape[<class>]: ...` counts under `<class>` (`instrumentation`, `interrupt`,
 * `blocking`, `host_budget`, `memory`, ...), `<word>: ...` under `<word>` (`attack`, `flood`), and a name
 * with neither under its file's name (`prototype_test.ts` under `prototype`, `ceilings_*_test.ts` under
 * `ceilings`). A failed case is counted as an escape: each case asserts the specific refusal or containment,
 * so a failure means a hostile module got further than it should have (or the suite is broken, which the
 * list of failures shows). A file that did not finish (a crash, or over {@linkcode FILE_TIMEOUT_MS}) is
 * listed in `incomplete`, and its cases that never reported are not counted.
 *
 * Run: `deno run -A bench/security.ts [file_test.ts ...]` (all files by default); writes
 * bench/results/security.json.
 *
 * @module
 */
import { machine, ROOT, writeResult } from "./_plan.ts";

/** The folder of the suite, relative to the repository. */
export const SUITE_DIR = "tests/security/";
/** A file still running after this long is stopped and listed as incomplete. */
export const FILE_TIMEOUT_MS = 600_000;

/** One case's outcome, from Deno's report line `name ... ok (12ms)`. */
export interface CaseResult {
  name: string;
  file: string;
  class: string;
  outcome: "ok" | "FAILED" | "ignored";
}

/** Cases and escapes (failed cases) of one class. */
export interface ClassCount {
  cases: number;
  escapes: number;
}

/**
 * The class of a case: `escape[<class>]: ...` gives `<class>`, `<word>: ...` or `<word>[...]: ...` gives
 * `<word>` (`attack`, `flood`), anything else the file's name without `_test.ts`.
 */
export function classify(name: string, file: string): string {
  const escape = /^escape\[([a-z0-9_]+)\]/.exec(name);
  if (escape) return escape[1]!;
  const word = /^([a-z0-9_]+)(?:\[[^\]]*\])?:\s/.exec(name);
  if (word) return word[1]!;
  // ceilings_limits_test.ts, ceilings_realtime_test.ts, ...: one class, split over files by concern.
  return file.replace(/^.*\//, "").replace(/_test\.ts$/, "").replace(/^ceilings_.+$/, "ceilings");
}

/**
 * The top-level cases in one file's `deno test` output (NO_COLOR): lines `name ... ok|FAILED|ignored`, not
 * indented (steps are). A test that printed output is reported again after the output, on such a line.
 */
export function parseCases(output: string, file: string): CaseResult[] {
  const cases: CaseResult[] = [];
  for (const m of output.matchAll(/^(\S.*?) \.\.\. (ok|FAILED|ignored)(?: \([^)]*\))?\s*$/gm)) {
    const name = m[1]!;
    cases.push({ name, file, class: classify(name, file), outcome: m[2] as CaseResult["outcome"] });
  }
  return cases;
}

/** Cases and escapes per class, classes in name order; ignored cases are not counted. */
export function countByClass(cases: readonly CaseResult[]): Record<string, ClassCount> {
  const counts = new Map<string, ClassCount>();
  for (const c of cases) {
    if (c.outcome === "ignored") continue;
    const count = counts.get(c.class) ?? { cases: 0, escapes: 0 };
    count.cases++;
    if (c.outcome === "FAILED") count.escapes++;
    counts.set(c.class, count);
  }
  return Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

/** Runs one file; its output (stdout and stderr), exit code, and whether it ran out of time. */
async function runFile(file: string): Promise<{ output: string; code: number; timedOut: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "-A", `${SUITE_DIR}${file}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    // A backstop behind the SIGKILL below (SIGTERM, a minute after it), so the guard sees the bound.
    signal: AbortSignal.timeout(FILE_TIMEOUT_MS + 60_000),
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, FILE_TIMEOUT_MS);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const text = new TextDecoder();
  return { output: text.decode(stdout) + text.decode(stderr), code, timedOut };
}

async function main(args: readonly string[]): Promise<void> {
  const all = (await Array.fromAsync(Deno.readDir(`${ROOT}${SUITE_DIR}`)))
    .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
    .map((e) => e.name)
    .sort();
  const unknown = args.filter((a) => !all.includes(a));
  if (unknown.length > 0) {
    throw new Error(`Not in ${SUITE_DIR}: ${unknown.join(", ")}; there: ${all.join(", ")}`);
  }
  const files = args.length > 0 ? [...args] : all;

  const t0 = performance.now();
  const cases: CaseResult[] = [];
  const incomplete: string[] = [];
  const perFile: { file: string; cases: number; escapes: number; exit_code: number; suite_s: number }[] = [];
  for (const file of files) {
    const started = performance.now();
    const { output, code, timedOut } = await runFile(file);
    const found = parseCases(output, file);
    cases.push(...found);
    // Deno's summary, e.g. "ok | 70 passed | 0 failed (30s)" or "FAILED | 68 passed (3 steps) | 2 failed (31s)".
    const summary = /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/m.exec(output);
    if (timedOut || !summary) {
      incomplete.push(
        `${file}: ${
          timedOut ? `stopped after ${FILE_TIMEOUT_MS / 1000} s` : `no summary (exit code ${code})`
        }; ` +
          `${found.length} cases reported${
            timedOut ? "" : `; ${output.trim().split("\n").slice(-3).join(" / ")}`
          }`,
      );
    } else if (
      Number(summary[2]) + Number(summary[3]) !== found.filter((c) => c.outcome !== "ignored").length
    ) {
      incomplete.push(
        `${file}: the summary counts ${summary[2]} + ${summary[3]} cases, ${found.length} were read`,
      );
    }
    perFile.push({
      file: `${SUITE_DIR}${file}`,
      cases: found.filter((c) => c.outcome !== "ignored").length,
      escapes: found.filter((c) => c.outcome === "FAILED").length,
      exit_code: code,
      suite_s: Math.round((performance.now() - started) / 100) / 10,
    });
  }
  const counted = cases.filter((c) => c.outcome !== "ignored");
  const failed = counted.filter((c) => c.outcome === "FAILED");
  const report = {
    machine: await machine(),
    method:
      `deno test -A on each of ${SUITE_DIR}*_test.ts, one process per file; a case's class is its name's ` +
      `escape[<class>] or <word>: prefix, else its file's name; attack_cases = cases reported ok or FAILED; ` +
      `escapes = FAILED cases (each case asserts the specific refusal or containment beside healthy neighbours)`,
    suite: `${SUITE_DIR}*_test.ts`,
    files: perFile,
    attack_cases: counted.length,
    passed: counted.length - failed.length,
    escapes: failed.length,
    by_class: countByClass(cases),
    failures: failed.map((c) => `${c.file}: ${c.name}`),
    incomplete,
    suite_s: Math.round((performance.now() - t0) / 100) / 10,
  };
  await writeResult("security", report);
  console.log(JSON.stringify(report, null, 2));
}

if (import.meta.main) await main(Deno.args);
