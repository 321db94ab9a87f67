/**
 * `kiln replay <trace> [--module other.wasm] [--runs N] [--tolerance T] [--json]`: replays a recorded trace
 * offline (`runtime/record/`) and compares every effect with the recording, bit for bit or within the float
 * tolerance; prints the first divergence with its invocation and a diff, and with `--runs` each run's output
 * hash. Exit codes: 0 identical, 1 diverged (or an unreadable trace or module), 2 wrong usage.
 *
 * @module
 */
import { createReplayer, readTrace, type ReplayRun } from "../runtime/record/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Help lines of `kiln replay`, for `kiln --help`. */
export const REPLAY_HELP = `  kiln replay <trace> [--module FILE.wasm] [--runs N] [--tolerance T] [--json]
      Replay a trace offline with its recorded clock and inputs (the recorded module, or another build)
      and compare every output, alert, publish, channel write and actuation bit for bit (floats within T).
      Prints the first divergence with its invocation and a diff; with --runs, each run's output hash.
      Exit 0 identical, 1 diverged.`;

/** Runs `kiln replay`; 0 when every run matched the recording and the hashes agree, 1 otherwise. */
export async function replayCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      module: { type: "string" },
      runs: { type: "string", default: "1" },
      tolerance: { type: "string", default: "0" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("replay takes one trace file");
  const runs = Number(values.runs);
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 1_000_000) {
    throw new UsageError(`--runs must be an integer from 1 to 1000000, got "${values.runs}"`);
  }
  const tolerance = Number(values.tolerance);
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new UsageError(`--tolerance must be a number of at least 0, got "${values.tolerance}"`);
  }
  const path = positionals[0]!;
  const trace = readTrace(await Deno.readFile(path), path);
  const replayer = await createReplayer(trace, { ...(values.module && { wasm: values.module }), tolerance });
  const h = trace.header;
  const results: ReplayRun[] = [];
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) {
    const run = replayer.run();
    results.push(run);
    if (run.divergence !== null) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const hashes = new Set(results.map((r) => r.hash));
  const divergence = results.find((r) => r.divergence !== null)?.divergence ?? null;
  const identical = divergence === null && hashes.size === 1;
  if (values.json) {
    console.log(JSON.stringify(
      {
        module: h.module,
        recorded_sha256: h.sha256,
        replayed_sha256: replayer.sha256,
        invocations: trace.invocations.length,
        runs: results.map((r) => ({ hash: r.hash, invocations: r.invocations })),
        identical,
        divergence,
        invocations_per_s: Math.round(results.reduce((n, r) => n + r.invocations, 0) / seconds),
      },
      null,
      2,
    ));
    return identical ? 0 : 1;
  }
  const other = replayer.sha256 === h.sha256
    ? "the recorded build"
    : `another build than recorded (${short(h.sha256)})`;
  console.log(
    `trace ${path}: module "${h.module}", ${trace.invocations.length} invocations (the start included), ` +
      `recorded ${new Date(h.recordedAtMs).toISOString()}, stopped by ${trace.stop}`,
  );
  console.log(`module ${values.module ?? h.wasm}: sha256 ${short(replayer.sha256)}, ${other}`);
  if (runs > 1) results.forEach((r, i) => console.log(`run ${i + 1}: ${r.hash}`));
  else console.log(`output hash ${results[0]!.hash}`);
  if (divergence !== null) {
    const d = divergence;
    console.log(
      `diverged at invocation ${d.invocation} (${d.entry})` +
        `${
          d.call === null ? "" : `, host call ${d.call}`
        }: ${d.what}\n- recorded: ${d.expected}\n+ replayed: ${d.actual}`,
    );
    return 1;
  }
  if (hashes.size > 1) {
    console.log(`${results.length} runs: ${hashes.size} different output hashes`);
    return 1;
  }
  console.log(
    `${results.length} run${results.length === 1 ? "" : "s"}: identical to the recording` +
      `${results.length > 1 ? ", all output hashes identical" : ""} (${
        Math.round(results.length * trace.invocations.length / seconds)
      } invocations/s)`,
  );
  return 0;
}

function short(sha: string): string {
  return `${sha.slice(0, 12)}...`;
}
