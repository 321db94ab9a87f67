/**
 * The fuzz run (`deno task fuzz [--count N] [--seed S] [--budget-us U] [--margin-ms M] [--workers W]`):
 * random valid modules from binaryen's `wasm-opt --translate-to-fuzz` through Kiln's pipeline (validate,
 * footprint, cap, instrument, compile, instantiate, a call of every export under budget) in a worker with
 * permissions "none", watched from the main thread (`tests/fuzz/_fuzz.ts`). Prints a summary, writes it to
 * `bench/results/fuzz.json`, and exits 1 when a module broke a rule: each finding names its seed and the
 * file the module was kept in; `--seed <seed> --count 1` runs that module again.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { machine, writeResult } from "./_plan.ts";
import { runFuzz } from "../tests/fuzz/_fuzz.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    count: { type: "string", default: "10000" },
    seed: { type: "string" },
    "budget-us": { type: "string", default: "5000" },
    "margin-ms": { type: "string", default: "250" },
    workers: { type: "string", default: "1" },
    "no-write": { type: "boolean", default: false },
  },
});

/** A non-negative integer option, or a usage error. */
function integer(name: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got "${text}"`);
    Deno.exit(2);
  }
  return n;
}

const count = integer("count", values.count);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : integer("seed", values.seed);
console.log(`fuzz: ${count} modules from seed ${seed}`);
let last = performance.now();
const summary = await runFuzz({
  count,
  seed,
  budgetUs: integer("budget-us", values["budget-us"]),
  marginMs: integer("margin-ms", values["margin-ms"]),
  workers: Math.max(1, integer("workers", values.workers)),
  onProgress: (done, total) => {
    if (done === total || performance.now() - last > 10_000) {
      last = performance.now();
      console.log(`  ${done} / ${total}`);
    }
  },
});

const { findings, ...figures } = summary;
console.log(JSON.stringify(figures, null, 2));
const c = summary.call_ms, i = summary.interrupted_over_budget_ms;
console.log(
  `${summary.generated} modules in ${summary.duration_s} s; calls p50 / p99 / max ${c.p50} / ${c.p99} / ` +
    `${c.max} ms; interrupted calls past their budget p99 / max ${i.p99} / ${i.max} ms; max memory ` +
    `${summary.max_memory_bytes} bytes (${summary.max_memory_of_cap} of its cap); ${summary.escapes} escapes`,
);
for (const f of summary.over_margin_unconfirmed) {
  console.log(`unconfirmed (within the margin on a second run): seed ${f.seed} (${f.profile}): ${f.detail}`);
}
for (const f of findings.slice(0, 50)) {
  console.log(`FINDING ${f.kind} seed ${f.seed} (${f.profile}): ${f.detail}${f.file ? ` [${f.file}]` : ""}`);
}
if (findings.length > 50) console.log(`... and ${findings.length - 50} more findings`);
if (!values["no-write"]) {
  await writeResult("fuzz", {
    machine: await machine(),
    method: "deno task fuzz: wasm-opt --translate-to-fuzz modules from seeded random bytes (profiles and " +
      "edits in tests/fuzz/_variant.ts) through readModule, validateModule, the footprint rule, capMemory, " +
      "instrument, compile, instantiate under the init budget and a call of each export (zero arguments) " +
      "under budget_us x 1.5 (the first at the init budget), in a worker with permissions none; times are " +
      "performance.now() around each call",
    ...summary,
  });
}
Deno.exit(findings.length > 0 ? 1 : 0);
