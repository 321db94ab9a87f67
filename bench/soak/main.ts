/**
 * `deno task soak [--duration 60m] [options]`: the demo gateway beside a Modbus PLC, an OPC UA server and
 * Mosquitto (each in its own process) for a configurable time, with faults on a schedule (broker restarts,
 * PLC kills, OPC UA server restarts, module crashes, disk-budget pressure on the outbox) and checks
 * throughout: resident memory slope, every message accounted for by sequence number, every fault recovered
 * within its backoff, no 5xx, stable latency percentiles. Writes `bench/results/soak.json` (or
 * `--out-dir`), `soak_memory.svg` and `soak_latency.svg`, prints a summary, and exits 1 when a check fails.
 *
 * Exit codes: 0 every check passed (or was skipped: too short to judge), 1 a check failed or the run broke
 * off, 2 a usage error, 130/143 stopped by SIGINT/SIGTERM (results are still written). Whatever ends it,
 * every process it started is stopped, and killed when it does not stop in time; the whole run is bounded
 * by its duration plus `OVERHEAD_MS` (`_options.ts`). See `docs/soak.md`.
 *
 * @module
 */
import { machine } from "../_plan.ts";
import { OVERHEAD_MS, parseSoakArgs, SOAK_HELP, SoakUsageError } from "./_options.ts";
import { descendants } from "./_procs.ts";
import { passed, summary, writeResults } from "./_report.ts";
import { runSoak } from "./_run.ts";

const DEFAULT_OUT_DIR = new URL("../results", import.meta.url).pathname;

async function main(): Promise<number> {
  let options;
  try {
    options = parseSoakArgs(Deno.args, DEFAULT_OUT_DIR);
  } catch (err) {
    if (err instanceof SoakUsageError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (options === "help") {
    console.log(SOAK_HELP);
    return 0;
  }
  try {
    descendants(); // the process census reads /proc, which Deno opens only with --allow-all
  } catch (err) {
    console.error(
      `soak: cannot read /proc (${(err as Error).message}); run it with -A, as deno task soak does`,
    );
    return 2;
  }
  const stop = new AbortController();
  let signalled: Deno.Signal | null = null;
  const onSignal = (s: Deno.Signal) => () => {
    if (signalled === null) console.error(`soak: ${s}, stopping and cleaning up`);
    signalled = s;
    stop.abort();
  };
  const onInt = onSignal("SIGINT");
  const onTerm = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const deadline = setTimeout(() => {
    console.error(`soak: past its duration plus ${OVERHEAD_MS / 60_000} min; stopping`);
    stop.abort();
  }, options.durationMs + OVERHEAD_MS);
  try {
    const { report, charts } = await runSoak(options, stop.signal, (line) => console.log(line));
    const full = { ...report, machine: await machine() };
    await writeResults(options.outDir, full, charts);
    console.log(summary(report));
    console.log(`soak: results in ${options.outDir}/soak.json`);
    if (signalled === "SIGINT") return 130;
    if (signalled === "SIGTERM") return 143;
    return passed(report) ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}

Deno.exit(await main());
