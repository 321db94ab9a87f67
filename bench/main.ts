/**
 * `deno task bench [--only a,b] [--report-only]`: runs each benchmark in its own process (so one cannot skew
 * another's JIT or heap), each writing `bench/results/<name>.json`, then gathers them into the report of
 * issue 8: `bench/results/latest.json` and a dated copy (`bench/results/<YYYY-MM-DD>.json`), checked against
 * `bench/report_schema.ts`, the scaling curves as CSV and SVG, `bench/results/latest.md` (the README's
 * Performance table and charts), and prints the table.
 *
 * With `--only`, the benchmarks not run keep their older results, and the report says which figures are
 * from this run (`sources.<name>.in_this_run`). `--report-only` runs nothing and rebuilds the report from the
 * results on disk. Each benchmark's output goes to a log file in a temporary directory, named on failure.
 *
 * @module
 */
import { buildReport, REPORT_SOURCES } from "./_report.ts";
import { formatTable, markdown, reportRows } from "./_table.ts";

/** The benchmarks, in the order they run: `bench/<name>.ts` writes `bench/results/<name>.json`. */
const BENCHES: readonly { name: string; what: string }[] = [
  { name: "compute", what: "FFT and autoencoder modules and an FP32 matmul, Wasm vs native gcc -O2" },
  { name: "instrumentation", what: "cost of the interrupt checks and fuel metering" },
  { name: "channels", what: "channel ring latency and throughput between workers" },
  { name: "executor_channels", what: "channel latency between two executors, through the runtime" },
  { name: "events", what: "event trigger to actuator write, idle and under streaming load" },
  { name: "periodic", what: "1 kHz tick lateness, idle and under streaming load" },
  { name: "stream", what: "FFT + anomaly on 1, 4 and 12 sensors at 25.6 kHz" },
  { name: "rate", what: "throughput and CPU against the sample rate" },
  { name: "cold_start", what: "module start with and without a snapshot, by memory size" },
  { name: "isolation", what: "memory and CPU against the number of modules; 10 concurrent modules" },
  { name: "api", what: "GET /api/v1/modules with wrk; WebSocket fan-out to 100 subscribers" },
  { name: "security", what: "the attack suite's cases and escapes" },
  { name: "outbox", what: "store-and-forward outbox write and drain rates" },
  { name: "fleet", what: "a rollout to 100, 1,000, 3,000 and 10,000 simulated devices over one Mosquitto" },
  {
    name: "replay",
    what: "recording overhead on the stream path (in process, and live through the runtime on 1 and 12 " +
      "sensors: bench/record_stream.ts), replay speed, 1000-run determinism",
  },
  { name: "package", what: "size of deno task package's one-file install, its first and later runs" },
  { name: "footprint", what: "resident memory of kiln run's process tree: demo, no module, 10 and 50 idle" },
];
/** A benchmark running longer than this is stopped and counted as failed... */
const TIMEOUT_MS = 240_000;
/**
 * ...except these, by name: the security section runs every attack suite file; the fleet section gives each
 * of its four sizes 5 minutes; the replay section runs bench/record_stream.ts (about 100 s) after its own
 * 1000-run replays of five modules.
 */
const TIMEOUT_MS_OF: Readonly<Record<string, number>> = {
  security: 1_200_000,
  fleet: 1_500_000,
  replay: 480_000,
};

const started = performance.now();
const onlyIndex = Deno.args.indexOf("--only");
const only = onlyIndex >= 0 ? new Set((Deno.args[onlyIndex + 1] ?? "").split(",").filter(Boolean)) : null;
const reportOnly = Deno.args.includes("--report-only");
const unknown = only ? [...only].filter((n) => !BENCHES.some((b) => b.name === n)) : [];
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark ${unknown.map((n) => `"${n}"`).join(", ")}; known: ${
      BENCHES.map((b) => b.name).join(", ")
    }`,
  );
  Deno.exit(2);
}
if (BENCHES.some((b) => !REPORT_SOURCES.includes(b.name))) {
  throw new Error("A benchmark is missing from the report");
}

/** Runs `bench/<name>.ts`, its output (stdout, then stderr) to `log`; its exit code, null at the timeout. */
async function runBench(name: string, log: string): Promise<number | null> {
  const timeoutMs = Object.hasOwn(TIMEOUT_MS_OF, name) ? TIMEOUT_MS_OF[name]! : TIMEOUT_MS;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`${name}.ts`, import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
    // A backstop behind the SIGKILL below (SIGTERM, a minute after it), so the guard sees the bound.
    signal: AbortSignal.timeout(timeoutMs + 60_000),
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const { code, signal, stdout, stderr } = await child.output();
  clearTimeout(timer);
  await Deno.writeFile(log, new Uint8Array([...stdout, ...stderr]));
  return signal === "SIGKILL" ? null : code;
}

const ran = new Set<string>();
const failed = new Set<string>();
if (!reportOnly) {
  const logs = await Deno.makeTempDir({ prefix: "kiln-bench-logs-" });
  for (const b of BENCHES) {
    if (only && !only.has(b.name)) continue;
    const t0 = performance.now();
    console.log(`== ${b.name}: ${b.what}`);
    const log = `${logs}/${b.name}.log`;
    const code = await runBench(b.name, log);
    const seconds = Math.round((performance.now() - t0) / 1000);
    ran.add(b.name);
    if (code === 0) {
      console.log(`   done in ${seconds} s`);
      continue;
    }
    failed.add(b.name);
    const tail = (await Deno.readTextFile(log)).trimEnd().split("\n").slice(-15).join("\n");
    console.error(
      `   FAILED after ${seconds} s (${code === null ? "stopped at its timeout" : `exit ${code}`}); ` +
        `log: ${log}\n${tail.replace(/^/gm, "   | ")}`,
    );
  }
}

const runS = (performance.now() - started) / 1000;
const report = await buildReport({
  ran,
  failed,
  runS,
  command: `deno task bench${Deno.args.length > 0 ? ` ${Deno.args.join(" ")}` : ""}`,
});
const rows = reportRows(report);
const results = new URL("results/", import.meta.url);
const json = JSON.stringify(report, null, 2) + "\n";
await Deno.writeTextFile(new URL("latest.json", results), json);
await Deno.writeTextFile(new URL(`${report.generated_at.slice(0, 10)}.json`, results), json);
await Deno.writeTextFile(new URL("latest.md", results), markdown(report, rows));

console.log(`\n${formatTable(rows)}\n`);
const stale = Object.entries(report.sources).filter(([, s]) => !s.in_this_run && s.status === "ok").map((
  [n],
) => n);
if (stale.length > 0) console.log(`Older results (not run now): ${stale.join(", ")}`);
console.log(
  `Wrote bench/results/latest.json, bench/results/${report.generated_at.slice(0, 10)}.json, ` +
    `bench/results/latest.md and the curves in ${Math.round(runS)} s`,
);
Deno.exit(failed.size > 0 ? 1 : 0);
