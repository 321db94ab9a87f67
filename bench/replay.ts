/**
 * Recording and replay (issue #19), on the demo's stream path (`examples/demo.yaml`: machine 1's 25.6 kHz
 * accelerometer → fft → the `vibration_features` ring → anomaly), run in the executor's own
 * `ModuleInstance`s in this process (`runtime/record/in_process.ts`):
 *
 * - **Recording overhead**: samples/s through fft and anomaly with anomaly recorded and without, in
 *   alternating rounds of the same run, and anomaly's mean handler time both ways (what its deadline sees).
 *   As in the gateway, the recorder only copies; the trace's encoding and compression (the main thread's
 *   work there) is timed apart, per invocation. These isolate the copy's cost.
 * - **Recording overhead through the runtime** (`recording_stream`): `bench/record_stream.ts`, run in a
 *   process of its own, records 1 and 12 simulated sensors' fft and anomaly modules live, in the runtime's
 *   executor workers, through the entry point of `POST /api/v1/modules/:name/record`, against rounds
 *   without: samples/s, drops, CPU, handler mean and p99, overruns, trace bytes/s.
 * - **Replay speed**: invocations/s of `kiln replay` on that trace, against the live rate (the demo's
 *   50 windows/s: 25,600 Hz / hop 512) and against the same path's in-process throughput.
 * - **Determinism**: the example modules fft and anomaly (300 windows, a bearing fault from the 150th),
 *   temperature and aggregator (300 ticks, overheating part-way) recorded offline and replayed 1000 times
 *   each: the share of runs with the first run's output hash and no divergence (the seed's
 *   `determinism_consistency`); and the event module safety (the temperature module's trip record when
 *   its probe overheats, then 299 API events from an events file, resets and refused bodies).
 *
 * Run: `deno run -A bench/replay.ts [--rounds N] [--runs N] [--no-stream]`; writes
 * bench/results/replay.json (`--no-stream` keeps the file's older `recording_stream`).
 *
 * @module
 */
import { loadManifest } from "../runtime/manifest/mod.ts";
import { planDeployment } from "../runtime/mod.ts";
import { createReplayer, readTrace, recordInProcess } from "../runtime/record/mod.ts";
import { distribution, machine, ROOT, writeResult } from "./_plan.ts";
import type { InProcessOptions } from "../runtime/record/mod.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
const ROUNDS = arg("--rounds", 10);
const RUNS = arg("--runs", 1000);
/** Simulated signal per overhead round: 20 s of machine 1, 1000 anomaly windows. */
const ROUND_MS = 20_000;
const WINDOWS = 300;
const FAULT_AT_MS = 3000;

const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));

// ---- recording overhead ----------------------------------------------------------------------------------
const withRec: number[] = [], withoutRec: number[] = [];
const handlerWith: number[] = [], handlerWithout: number[] = [];
const writeShare: number[] = [];
let traceBytesPerInvocation = 0;
for (let round = 0; round < ROUNDS + 1; round++) {
  // Alternate which goes first; round 0 is a warm-up (V8 tiers the modules up) and is not counted.
  for (const record of round % 2 === 0 ? [true, false] : [false, true]) {
    const r = await recordInProcess(plan, "anomaly", {
      simulatedMs: ROUND_MS,
      record,
      maxBytes: 1 << 30,
    });
    if (round === 0) continue;
    const rate = r.samples / (r.driveMs / 1000);
    (record ? withRec : withoutRec).push(rate);
    (record ? handlerWith : handlerWithout).push(r.meanHandlerUs);
    if (record) {
      traceBytesPerInvocation = r.bytes.length / r.invocations;
      writeShare.push(r.writeMs / r.invocations * 1000);
    }
  }
}
const median = (xs: number[]) => distribution(xs, 1).p50;
const samplesWith = median(withRec), samplesWithout = median(withoutRec);

// ---- replay speed and determinism ---------------------------------------------------------------------
async function determinism(module: string, faultAtMs: number, more: Partial<InProcessOptions> = {}) {
  const { bytes } = await recordInProcess(plan, module, { invocations: WINDOWS, faultAtMs, ...more });
  const trace = readTrace(bytes);
  const replayer = await createReplayer(trace);
  const first = replayer.run();
  let same = first.divergence === null ? 1 : 0;
  const t0 = performance.now();
  for (let i = 1; i < RUNS; i++) {
    const run = replayer.run();
    if (run.divergence === null && run.hash === first.hash) same++;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    invocations_count: trace.invocations.length,
    runs_count: RUNS,
    identical_runs_count: same,
    determinism_consistency_percent: Math.round((same / RUNS) * 10_000) / 100,
    output_hash: first.hash,
    trace_bytes: bytes.length,
    replay_invocations_per_s: Math.round(((RUNS - 1) * trace.invocations.length) / seconds),
  };
}
const modules = {
  fft: await determinism("fft", FAULT_AT_MS),
  anomaly: await determinism("anomaly", FAULT_AT_MS),
  // 300 ticks of 100 ms with overheating from 1 s on: it warns (warn_c), tripping would take longer.
  temperature: await determinism("temperature", 1000),
  // 300 ticks of 1 s, overheating from 100 s on.
  aggregator: await determinism("aggregator", 100_000),
  // Overheating from 1 s trips at about 41 s (the temperature module's record), then an API event every
  // second from 42 s, a reset and a body it refuses in turn.
  safety: await determinism("safety", 1000, {
    eventsFile: {
      path: "bench-events.jsonl",
      text: Array.from(
        { length: WINDOWS - 1 },
        (_, i) =>
          JSON.stringify({ at_ms: 42_000 + i * 1000, kind: "api", payload: i % 2 === 0 ? "0" : "hello" }),
      ).join("\n"),
    },
  }),
};
const liveRate = 25_600 / 512;

/**
 * `bench/record_stream.ts` in a process of its own (its workers and JIT apart from this one's); its JSON, or
 * the older figures with `--no-stream`.
 */
async function recordingStream(): Promise<unknown> {
  if (Deno.args.includes("--no-stream")) {
    const old = await Deno.readTextFile(new URL("results/replay.json", import.meta.url)).catch(() => "{}");
    return JSON.parse(old).recording_stream ?? null;
  }
  const out = await Deno.makeTempFile({ prefix: "kiln-record-stream-", suffix: ".json" });
  try {
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("record_stream.ts", import.meta.url).pathname, "--out", out],
      stdout: "inherit",
      stderr: "inherit",
      signal: AbortSignal.timeout(300_000),
    }).output();
    if (!child.success) throw new Error(`bench/record_stream.ts failed (exit ${child.code})`);
    return JSON.parse(await Deno.readTextFile(out));
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}
const recordingStreamResult = await recordingStream();
const pathRate = samplesWithout / 512;

await writeResult("replay", {
  machine: await machine(),
  recording: {
    rounds: ROUNDS,
    samples_per_s_without_recording: Math.round(samplesWithout),
    samples_per_s_with_recording: Math.round(samplesWith),
    overhead_percent: Math.round((samplesWithout / samplesWith - 1) * 1000) / 10,
    handler_us_without_recording: Math.round(median(handlerWithout) * 10) / 10,
    handler_us_with_recording: Math.round(median(handlerWith) * 10) / 10,
    trace_bytes_per_invocation: Math.round(traceBytesPerInvocation),
    /** The main thread's share: encoding and compressing one invocation's record. */
    write_us_per_invocation: Math.round(median(writeShare) * 10) / 10,
    note: "demo stream path (fft -> vibration_features ring -> anomaly) in this process's ModuleInstances, " +
      "anomaly recorded or not; medians over alternating rounds of 20 s of simulated signal each",
  },
  /** Through the runtime's executors and live recordings (`bench/record_stream.ts`). */
  recording_stream: recordingStreamResult,
  replay: {
    invocations_per_s: modules.anomaly.replay_invocations_per_s,
    live_invocations_per_s: liveRate,
    speedup_ratio: Math.round(modules.anomaly.replay_invocations_per_s / liveRate),
    path_invocations_per_s: Math.round(pathRate),
  },
  determinism: modules,
});
console.log(JSON.stringify({ samplesWith, samplesWithout, modules }, null, 2));
