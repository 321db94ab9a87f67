/**
 * Recording overhead on the stream path through the real runtime (issue #19: "recording must not make the
 * module miss its deadlines (measure the overhead)"): N simulated 25.6 kHz vibration sensors, each with fft
 * and anomaly (`vibrationPipeline`, as `bench/stream.ts`), in the runtime's executor workers, recorded through
 * the runtime's own entry point (`Runtime.recordings.start`, what `POST /api/v1/modules/:name/record` calls):
 * the executors' recorders copy, the main thread encodes and compresses, and the traces are written to a
 * temporary trace directory, as on a gateway.
 *
 * Three sides, in rounds whose order rotates (`inRounds`), on one runtime per sensor count: `off` (nothing
 * recorded), `anomaly` (every anomaly module recorded), `all` (every fft and every anomaly module). Per side:
 * samples/s consumed, dropped samples, invocations/s, the process's CPU (all threads, % of one core), the
 * fft and anomaly modules' mean handler time (from their latency histograms) and p99 (from per-call trace
 * events: tracing is on, every call, on every side alike), budget overruns, and the trace bytes written per
 * second, module restarts and the faults that caused them (modules restart on failure here, as on a
 * gateway, instead of ending the benchmark); the overhead as ratios against `off`. Each recording stays far under the live cap (64 MiB per
 * trace, `MAX_LIVE_TRACE_BYTES`); a recording the cap or the executor's per-report limit cut is named in
 * `cut` (empty when none was).
 *
 * Run: `deno run -A bench/record_stream.ts [--sensors 1,12] [--rounds N] [--seconds N] [--out FILE]`; prints
 * the JSON (and writes it to FILE). `bench/replay.ts` runs it in a process of its own and keeps its figures
 * under `recording_stream` in bench/results/replay.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime, ModuleStateError, type ModuleStatus, type Runtime } from "../runtime/mod.ts";
import { MAX_LIVE_TRACE_BYTES } from "../runtime/record/mod.ts";
import { distribution, inRounds, machine, plan, vibrationPipeline } from "./_plan.ts";

const arg = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1]! : fallback;
};
const SENSORS = arg("--sensors", "1,12").split(",").map(Number);
const ROUNDS = Number(arg("--rounds", "3"));
const SECONDS = Number(arg("--seconds", "4"));
const OUT = Deno.args.includes("--out") ? arg("--out", "") : null;
const RATE_HZ = 25_600;
const RESTART = { policy: "on-failure", maxRestarts: 1000, backoffMs: 100, maxBackoffMs: 100 } as const;
/** How long a recording's start (its memory image, in the executor's next report) may take. */
const START_TIMEOUT_MS = 10_000;

type Side = "off" | "anomaly" | "all";
const KINDS = ["fft", "anomaly"] as const;
type Kind = (typeof KINDS)[number];
const kindOf = (name: string): Kind | null =>
  name.startsWith("fft_") ? "fft" : name.startsWith("anomaly_") ? "anomaly" : null;

/** One window of one side. */
interface Window {
  samplesPerS: number;
  invocationsPerS: number;
  droppedSamples: number;
  cpuPercent: number;
  /** Per kind: mean handler time (histogram), p99 (trace events), budget overruns, calls. */
  handler: Record<Kind, { meanUs: number; p99Us: number | null; overruns: number; calls: number }>;
  traceBytesPerS: number;
  recordedInvocations: number;
  /** Recordings that ended other than by the bench's own stop (`stopped`): "module: stop (error)". */
  cut: string[];
  /** Module restarts in the window, and each restarted module's last error. */
  restarts: number;
  faults: string[];
}

/** Waits for a report to land (the fft modules' sample count changes), so that counts and time match. */
async function freshReport(rt: Runtime): Promise<{ ms: ModuleStatus[]; t: number }> {
  const consumed = (ms: ModuleStatus[]) =>
    ms.filter((m) => kindOf(m.name) === "fft").reduce((a, m) => a + m.samples_in, 0);
  const seen = consumed(rt.listModules());
  for (;;) {
    const ms = rt.listModules();
    if (consumed(ms) !== seen) return { ms, t: performance.now() };
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function measure(sensors: number) {
  const ids = Array.from({ length: sensors }, (_, i) => `vibration_${i + 1}`);
  const traceDir = await Deno.makeTempDir({ prefix: "kiln-bench-traces-" });
  /** The runtime's log, shown when a module is not running (a bench module is never restarted). */
  const logs: string[] = [];
  const rt = await createRuntime({
    plan: plan(
      ids.map((id, i) => ({ id, kind: "vibration" as const, rateHz: RATE_HZ, seed: i + 1 })),
      // Restarted after a fault, as a gateway would (the benchmarks' default is never): a fault in a round
      // is counted and named in its side's figures instead of ending the benchmark.
      ids.flatMap(vibrationPipeline).map((m) => ({ ...m, restart: RESTART })),
    ),
    version: "bench",
    traceDir,
    log: (entry) => void logs.push(typeof entry === "string" ? entry : JSON.stringify(entry)),
  });
  // Every call traced, on every side: the p99 from exact durations, at the same cost with and without.
  rt.traces.configure({ every: 1 });
  let collecting: Map<Kind, number[]> | null = null;
  using _sub = rt.traces.subscribe((e) => {
    const kind = kindOf(e.module);
    if (collecting !== null && kind !== null) collecting.get(kind)!.push(e.durationUs);
  });
  await rt.start();
  try {
    await new Promise((r) => setTimeout(r, 1500)); // warm up: V8 tiers the modules up
    const recordedBy = (side: Side) =>
      rt.listModules().map((m) => m.name).filter((n) =>
        side === "all" ? kindOf(n) !== null : side === "anomaly" ? kindOf(n) === "anomaly" : false
      );
    const window = async (side: Side): Promise<Window> => {
      const recStart = performance.now();
      const names: string[] = [];
      const cut: string[] = [];
      for (const name of recordedBy(side)) {
        try {
          // Bounded well past the window; the bench stops them itself after it (closeAll: `stopped`).
          await rt.recordings.start(name, {
            durationMs: (SECONDS + 30) * 1000,
            maxBytes: MAX_LIVE_TRACE_BYTES,
          });
          names.push(name);
        } catch (err) {
          // Restarting after a fault (counted in `faults` of the window it happened in): not recorded.
          if (!(err instanceof ModuleStateError)) throw err;
          cut.push(`${name}: not recorded (${(err as Error).message})`);
        }
      }
      const deadline = performance.now() + START_TIMEOUT_MS;
      while (names.some((n) => (rt.recordings.status(n)?.invocations ?? 0) === 0)) {
        if (performance.now() > deadline) {
          throw new Error(`Recordings of ${names.join(", ")} did not start\n${logs.slice(-20).join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      const { ms: before, t: t0 } = await freshReport(rt);
      const cpu0 = process.cpuUsage();
      collecting = new Map(KINDS.map((k) => [k, []]));
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const { ms: after, t: t1 } = await freshReport(rt);
      const durations = collecting;
      collecting = null;
      const cpu = process.cpuUsage(cpu0);
      await rt.recordings.closeAll();
      const recS = (performance.now() - recStart) / 1000;
      const elapsed = (t1 - t0) / 1000;
      const sum = (ms: ModuleStatus[], f: (m: ModuleStatus) => number, keep: (m: ModuleStatus) => boolean) =>
        ms.filter(keep).reduce((a, m) => a + f(m), 0);
      const delta = (f: (m: ModuleStatus) => number, keep: (m: ModuleStatus) => boolean = () => true) =>
        sum(after, f, keep) - sum(before, f, keep);
      const statuses = names.map((n) => rt.recordings.status(n)!);
      const handler = Object.fromEntries(KINDS.map((k) => {
        const of = (m: ModuleStatus) => kindOf(m.name) === k;
        const calls = delta((m) => m.latency_histogram.counts.reduce((a, c) => a + c, 0), of);
        const d = durations.get(k)!;
        return [k, {
          meanUs: Math.round((delta((m) => m.latency_histogram.sum_us, of) / Math.max(1, calls)) * 10) / 10,
          p99Us: d.length === 0 ? null : distribution(d).p99,
          overruns: delta((m) => m.budget_overruns, of),
          calls,
        }];
      })) as Window["handler"];
      return {
        samplesPerS: delta((m) => m.samples_in, (m) => kindOf(m.name) === "fft") / elapsed,
        invocationsPerS: delta((m) => m.invocations) / elapsed,
        droppedSamples: delta((m) => m.dropped_samples),
        cpuPercent: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
        handler,
        traceBytesPerS: statuses.reduce((a, s) => a + s.sizeBytes, 0) / recS,
        recordedInvocations: statuses.reduce((a, s) => a + Math.max(0, s.invocations - 1), 0),
        cut: [
          ...cut,
          ...statuses.filter((s) => s.stop !== "stopped").map((s) => `${s.module}: ${s.stop} (${s.error})`),
        ],
        restarts: delta((m) => m.restarts),
        faults: after.filter((m) => m.restarts > (before.find((b) => b.name === m.name)?.restarts ?? 0))
          .map((m) => `${m.name}: ${m.last_error}`),
      };
    };
    const rounds = await inRounds<Side, Window>(ROUNDS, {
      off: () => window("off"),
      anomaly: () => window("anomaly"),
      all: () => window("all"),
    });
    const states = [...new Set(rt.listModules().map((m) => m.state))];
    return { sensors, rounds, states };
  } finally {
    rt.close();
    await rt.recordings.closeAll();
    await Deno.remove(traceDir, { recursive: true }).catch(() => {});
  }
}

const median = (xs: number[]) => {
  const s = xs.toSorted((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** One side's figures: medians over its rounds (sums for counts). */
function side(ws: Window[]) {
  const handler = Object.fromEntries(KINDS.map((k) => {
    const p99s = ws.map((w) => w.handler[k].p99Us).filter((x): x is number => x !== null);
    return [k, {
      mean_us: r1(median(ws.map((w) => w.handler[k].meanUs))),
      p99_us: p99s.length === 0 ? null : r1(median(p99s)),
      budget_overruns_count: ws.reduce((a, w) => a + w.handler[k].overruns, 0),
      calls_count: ws.reduce((a, w) => a + w.handler[k].calls, 0),
    }];
  }));
  return {
    samples_per_s: Math.round(median(ws.map((w) => w.samplesPerS))),
    dropped_samples_count: ws.reduce((a, w) => a + w.droppedSamples, 0),
    invocations_per_s: Math.round(median(ws.map((w) => w.invocationsPerS))),
    cpu_percent: r1(median(ws.map((w) => w.cpuPercent))),
    handler,
    trace_bytes_per_s: Math.round(median(ws.map((w) => w.traceBytesPerS))),
    recorded_invocations_count: ws.reduce((a, w) => a + w.recordedInvocations, 0),
    cut: ws.flatMap((w) => w.cut),
    restarts_count: ws.reduce((a, w) => a + w.restarts, 0),
    faults: ws.flatMap((w) => w.faults),
  };
}

/** Each sensor count's figures, by `sensors_<n>`. */
const runs: Record<string, unknown> = Object.create(null);
for (const n of SENSORS) {
  const m = await measure(n);
  const off = side(m.rounds.off), anomaly = side(m.rounds.anomaly), all = side(m.rounds.all);
  const ratios = (s: ReturnType<typeof side>) => ({
    samples_per_s_ratio: r3(s.samples_per_s / off.samples_per_s),
    cpu_ratio: r3(s.cpu_percent / off.cpu_percent),
    fft_mean_us_ratio: r3(s.handler.fft!.mean_us / off.handler.fft!.mean_us),
    anomaly_mean_us_ratio: r3(s.handler.anomaly!.mean_us / off.handler.anomaly!.mean_us),
  });
  runs[`sensors_${n}`] = {
    sensors: n,
    offered_samples_per_s: n * RATE_HZ,
    sides: { off, anomaly, all },
    overhead: { anomaly: ratios(anomaly), all: ratios(all) },
    states: m.states,
  };
}
const result = {
  machine: await machine(),
  method:
    `${ROUNDS} rounds of ${SECONDS} s per side (off, anomaly, all), in rotating order, on one runtime ` +
    "per sensor count after 1.5 s of warm-up; each window from one executor report to another; recordings " +
    "started through Runtime.recordings.start (the API's entry point) before the window and stopped after " +
    "it, traces written to a temporary directory; every call traced (every: 1) on every side for the p99; " +
    "figures are medians over the rounds (counts summed); cpu_percent is the whole process (all threads) " +
    "as a percentage of one core; trace_bytes_per_s is the traces' final size over the recording's span",
  cap: {
    max_trace_bytes: MAX_LIVE_TRACE_BYTES,
    note: "every recording ended by the bench (stopped) unless named in its side's cut",
  },
  runs,
};
if (OUT !== null) await Deno.writeTextFile(OUT, JSON.stringify(result, null, 2) + "\n");
console.log(JSON.stringify(result, null, 2));
