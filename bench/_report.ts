/**
 * Gathers the benchmarks' results (`bench/results/<name>.json`) into the report of issue 8, checked against
 * {@linkcode ReportSchema}. A figure whose benchmark has no results, failed, or wrote an older format is
 * `{ value: null, reason }`, never filled in.
 *
 * @module
 */
import os from "node:os";
import {
  type Distribution,
  FLEET_SIZES,
  type Report,
  ReportSchema,
  SCHEMA_VERSION,
  SecurityClass,
  type Target,
  type Unavailable,
} from "./report_schema.ts";
import { distribution, ROOT } from "./_plan.ts";
import { toolVersion } from "./_native.ts";
import { writeCurves } from "./_curves.ts";
import { loadSource, type RunInfo, type Source } from "./_source.ts";
import { fleetCurve } from "./fleet/_chart.ts";

export type { RunInfo, Source } from "./_source.ts";

const U = (reason: string): Unavailable => ({ value: null, reason });

/** The value at a dotted path (`"loaded.trigger_to_actuator_us"`), or undefined. */
function dig(x: unknown, path: string): unknown {
  let at: unknown = x;
  for (const key of path.split(".")) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

function absent(src: Source, path: string): Unavailable {
  return U(
    src.data === null ? src.reason : `"${path}" is not in bench/results/${src.name}.json (an older format?)`,
  );
}

/** A number from a source. */
function num(src: Source, path: string): number | Unavailable {
  const v = dig(src.data, path);
  return typeof v === "number" && Number.isFinite(v) ? v : absent(src, path);
}

/** A distribution from a source: its p50 and p99 at least. */
function dist(src: Source, path: string): Distribution | Unavailable {
  const v = dig(src.data, path) as Record<string, unknown> | undefined;
  if (!v || typeof v.p50 !== "number" || typeof v.p99 !== "number") return absent(src, path);
  const out: Distribution = { p50: v.p50, p99: v.p99 };
  if (typeof v.p999 === "number") out.p999 = v.p999;
  if (typeof v.max === "number") out.max = v.max;
  if (typeof v.n === "number") out.n = v.n;
  return out;
}

/** A distribution of the raw runs at `path` (an array of numbers). */
function runs(src: Source, path: string): Distribution | Unavailable {
  const v = dig(src.data, path);
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "number")) return absent(src, path);
  return distribution(v as number[], 2);
}

/** A figure with its target; an unavailable figure stays as it is. */
function track<T extends number | Distribution>(
  figure: T | Unavailable,
  target: Target,
): { value: T; target: Target; met: boolean } | Unavailable {
  if (figure !== null && typeof figure === "object" && "reason" in figure) return figure;
  const v = typeof figure === "number" ? figure : (figure as Distribution)[target.stat ?? "p50"];
  const met = "at_most" in target ? v <= target.at_most : v >= target.at_least;
  return { value: figure as T, target, met };
}

const isUnavailable = (x: unknown): x is Unavailable =>
  x !== null && typeof x === "object" && "reason" in x && "value" in x && x.value === null;

function computeCase(src: Source, key: "fft1024_q15" | "autoencoder_int8", target: number, note: string) {
  const nativeReason = dig(src.data, `${key}.native_reason`);
  const native = (path: string) => {
    const d = dist(src, path);
    return isUnavailable(d) && typeof nativeReason === "string" ? U(nativeReason) : d;
  };
  const kernel = dig(src.data, `${key}.kernel.name`);
  return {
    wasm_us: dist(src, `${key}.wasm_us`),
    native_us: native(`${key}.native_us`),
    ratio: track(num(src, `${key}.ratio`), { at_most: target }),
    ratio_by_round: (() => {
      const d = dist(src, `${key}.ratio_by_round`);
      return isUnavailable(d) && typeof nativeReason === "string" ? U(nativeReason) : d;
    })(),
    outputs_match: dig(src.data, `${key}.outputs_match`) === true,
    kernel: {
      name: typeof kernel === "string" ? kernel : "unknown",
      wasm_us: dist(src, `${key}.kernel.wasm_us`),
      native_us: native(`${key}.kernel.native_us`),
      ratio: num(src, `${key}.kernel.ratio`),
    },
    ...(dig(src.data, `${key}.paced`) !== undefined && {
      paced: Object.fromEntries(["every_10_ms", "every_40_ms"].map((pace) => {
        const at = `${key}.paced.${pace}`;
        return [pace, {
          kiln_us: dist(src, `${at}.kiln_us`),
          raw_deno_us: dist(src, `${at}.raw_deno_us`),
          native_us: native(`${at}.native_us`),
          ratio: track(num(src, `${at}.ratio`), { at_most: 1.5 }),
          raw_deno_ratio: num(src, `${at}.raw_deno_ratio`),
          kiln_to_raw_deno: num(src, `${at}.kiln_to_raw_deno`),
          ...(dig(src.data, `${at}.kiln_executor_us`) !== undefined && {
            kiln_executor_us: dist(src, `${at}.kiln_executor_us`),
            executor_ratio: num(src, `${at}.executor_ratio`),
          }),
        }];
      })) as Record<"every_10_ms" | "every_40_ms", never>,
    }),
    note,
  };
}

/** The in-process cold-start case of a memory size, by its key in the report. */
const MEMORY = {
  "1_mib": [1, 1],
  "16_mib": [16, 16],
  "64_mib": [64, 64],
  "64_mib_4_mib_used": [64, 4],
} as const;
type MemoryKey = keyof typeof MEMORY;

function coldStart(src: Source) {
  const list = dig(src.data, "in_process");
  const index = (k: MemoryKey) =>
    Array.isArray(list)
      ? list.findIndex((c) => c?.memory_mib === MEMORY[k][0] && c?.used_mib === MEMORY[k][1])
      : -1;
  const byMemory = <T>(f: (path: string) => T) =>
    Object.fromEntries(
      (Object.keys(MEMORY) as MemoryKey[]).map((k) => [k, f(`in_process.${index(k)}`)]),
    ) as Record<MemoryKey, T>;
  const withSnapshot = byMemory((p) => runs(src, `${p}.runs_ms.with_snapshot`));
  // Issue #20's targets: 16 MiB fully used within 25 ms, 64 MiB with 4 MiB used within 10 ms.
  const targets: Partial<Record<MemoryKey, number>> = { "16_mib": 25, "64_mib_4_mib_used": 10 };
  const without = byMemory((p) => runs(src, `${p}.runs_ms.without_snapshot`));
  const phases = (k: string) => {
    const d = dig(src.data, `demo.${k}`);
    if (d === null || typeof d !== "object") return absent(src, `demo.${k}`);
    return Object.fromEntries(Object.keys(d).map((p) => [p, runs(src, `demo.${k}.${p}.runs`)]));
  };
  return {
    process_to_first_sample_ms: {
      without_snapshot: runs(src, "process.runs_ms.without_snapshot"),
      with_snapshot: runs(src, "process.runs_ms.with_snapshot"),
    },
    // Issue #20: spawning `kiln run` of the demo to a stream module's first processed window (fft's first
    // output), resumed from its snapshot and not, against the floor (a bare `deno run`).
    process_to_first_window_ms: {
      with_snapshot: track(runs(src, "demo.with_snapshot.fft_first_output.runs"), {
        stat: "p50",
        at_most: 100,
      }),
      without_snapshot: runs(src, "demo.without_snapshot.fft_first_output.runs"),
      // The same from the bundle, the one-file package's entry (dist/kiln.js).
      bundle_with_snapshot: track(runs(src, "bundle_demo.with_snapshot.fft_first_output.runs"), {
        stat: "p50",
        at_most: 100,
      }),
      bundle_without_snapshot: runs(src, "bundle_demo.without_snapshot.fft_first_output.runs"),
    },
    floor_ms: {
      empty_script: runs(src, "floor.empty_script_ms.runs"),
      npm_imports: runs(src, "floor.npm_imports_ms.runs"),
      npm_static_imports: runs(src, "floor.npm_static_imports_ms.runs"),
    },
    first_window_to_floor_ratio: track(num(src, "first_window_to_floor_ratio.with_snapshot"), { at_most: 2 }),
    bundle_first_window_to_floor_ratio: track(num(src, "first_window_to_floor_ratio.bundle_with_snapshot"), {
      at_most: 2,
    }),
    phases_ms: { with_snapshot: phases("with_snapshot"), without_snapshot: phases("without_snapshot") },
    without_snapshot_ms: without,
    with_snapshot_ms: Object.fromEntries(
      Object.entries(withSnapshot).map(([k, d]) => {
        const t = targets[k as MemoryKey];
        return [k, t === undefined ? d : track(d, { stat: "p50", at_most: t })];
      }),
    ) as Record<MemoryKey, Distribution | Unavailable | ReturnType<typeof track>>,
    restore_ms: byMemory((p) => runs(src, `${p}.runs_ms.restore`)),
    speedup_ratio: Object.fromEntries(
      (Object.keys(MEMORY) as MemoryKey[]).map((k) => {
        const w = without[k], s = withSnapshot[k];
        const ratio = isUnavailable(w) ? w : isUnavailable(s) ? s : Math.round((w.p50 / s.p50) * 10) / 10;
        return [k, track(ratio, { at_least: 20 })];
      }),
    ) as Record<MemoryKey, ReturnType<typeof track>>,
  };
}

/** The security suite's cases and escapes per class, or why they are missing (an older security.json). */
function byClass(src: Source): Record<string, SecurityClass> | Unavailable {
  const v = dig(src.data, "by_class");
  if (v === null || typeof v !== "object" || Array.isArray(v)) return absent(src, "by_class");
  const out = new Map<string, SecurityClass>();
  for (const [name, count] of Object.entries(v)) {
    const parsed = SecurityClass.safeParse(count);
    if (!parsed.success) {
      return U(`"by_class.${name}" in bench/results/security.json is not { cases, escapes }`);
    }
    out.set(name, parsed.data);
  }
  return Object.fromEntries(out);
}

/** The 12-sensor run of bench/stream.ts, as a source of its own. */
function streamRun(src: Source): Source {
  const list = dig(src.data, "runs");
  const run = Array.isArray(list) ? list.find((r) => r?.sensors === 12) : undefined;
  if (src.data && !run) {
    return { ...src, data: null, reason: "bench/results/stream.json has no 12-sensor run" };
  }
  return { ...src, data: run ?? null };
}

/** Resident memory of the whole gateway (issue #20, `bench/footprint.ts`). */
function footprintSection(src: Source) {
  return {
    demo_rss_mib: track(num(src, "demo_rss_mib"), { at_most: 96 }),
    empty_rss_mib: num(src, "empty_rss_mib"),
    idle_10_rss_mib: num(src, "idle_10_rss_mib"),
    idle_50_rss_mib: num(src, "idle_50_rss_mib"),
    per_idle_module_from_0_kib: track(num(src, "per_idle_module_from_0_kib"), { at_most: 128 }),
    per_idle_module_from_10_kib: track(num(src, "per_idle_module_from_10_kib"), { at_most: 128 }),
    processes_count: num(src, "processes_count"),
    note: "kiln run as deno task start runs it, the VmRSS of its whole process tree once every module runs " +
      "and it has settled; p50 over rounds in rotating order",
  };
}

/** The one-file install (issue #20, `bench/package.ts`). */
function packageSection(src: Source) {
  const file = dig(src.data, "package.file");
  return {
    file: typeof file === "string" ? file : "unknown",
    size_bytes: num(src, "package.size_bytes"),
    size_mib: num(src, "package.size_mib"),
    header_bytes: num(src, "package.header_bytes"),
    deno_binary_bytes: num(src, "package.deno_binary_bytes"),
    deno_binary_compressed_bytes: num(src, "package.deno_binary_compressed_bytes"),
    bundle_bytes: num(src, "package.bundle_bytes"),
    bundle_compressed_bytes: num(src, "package.bundle_compressed_bytes"),
    deno_share_percent: num(src, "package.deno_share_percent"),
    bundle_share_percent: num(src, "package.bundle_share_percent"),
    extracted_bytes: num(src, "package.extracted_bytes"),
    first_run_ms: num(src, "package.first_run_ms"),
    warm_run_ms: dist(src, "package.warm_run_ms"),
    note: "deno task package: a POSIX sh header and a gzip-compressed tar of the Deno binary running the " +
      "build and dist/*.js; the bundle's compressed share is the bundle gzip-compressed alone, the Deno " +
      "binary's the rest. Runs timed on a copy with an empty HOME (docs/install.md)",
  };
}

/** The fleet benchmark's sizes: each size's figures, or why it has none (it failed, or did not run). */
/** Recording and replay (issue #19, `bench/replay.ts`). */
function replaySection(src: Source) {
  return {
    recording_overhead_percent: num(src, "recording.overhead_percent"),
    samples_per_s_without_recording: num(src, "recording.samples_per_s_without_recording"),
    samples_per_s_with_recording: num(src, "recording.samples_per_s_with_recording"),
    handler_us_without_recording: num(src, "recording.handler_us_without_recording"),
    handler_us_with_recording: num(src, "recording.handler_us_with_recording"),
    write_us_per_invocation: num(src, "recording.write_us_per_invocation"),
    trace_bytes_per_invocation: num(src, "recording.trace_bytes_per_invocation"),
    replay_invocations_per_s: num(src, "replay.invocations_per_s"),
    live_invocations_per_s: num(src, "replay.live_invocations_per_s"),
    speedup_ratio: num(src, "replay.speedup_ratio"),
    determinism_consistency_percent: {
      fft: num(src, "determinism.fft.determinism_consistency_percent"),
      anomaly: num(src, "determinism.anomaly.determinism_consistency_percent"),
      temperature: num(src, "determinism.temperature.determinism_consistency_percent"),
      aggregator: num(src, "determinism.aggregator.determinism_consistency_percent"),
      safety: num(src, "determinism.safety.determinism_consistency_percent"),
    },
    determinism_runs_count: num(src, "determinism.anomaly.runs_count"),
    recording_live: recordingLive(src),
    note: "the demo's stream path (fft -> channel ring -> anomaly) in ModuleInstances in one process; " +
      "replay of 300 recorded windows (bearing fault from the 150th) with kiln replay's code",
  };
}

/** Live recording through the runtime (`bench/record_stream.ts`, its 12-sensor run), per side. */
function recordingLive(src: Source) {
  const run = "recording_stream.runs.sensors_12";
  const bySide = (path: string) => {
    const of = (side: string) => num(src, `${run}.sides.${side}.${path}`);
    return { off: of("off"), anomaly: of("anomaly"), all: of("all") };
  };
  const overruns = (side: string) => {
    const fft = num(src, `${run}.sides.${side}.handler.fft.budget_overruns_count`);
    const anomaly = num(src, `${run}.sides.${side}.handler.anomaly.budget_overruns_count`);
    return typeof fft === "number" && typeof anomaly === "number" ? fft + anomaly : fft;
  };
  return {
    sensors_count: num(src, `${run}.sensors`),
    samples_per_s: bySide("samples_per_s"),
    dropped_samples_count: bySide("dropped_samples_count"),
    cpu_percent: bySide("cpu_percent"),
    fft_handler_mean_us: bySide("handler.fft.mean_us"),
    fft_handler_p99_us: bySide("handler.fft.p99_us"),
    anomaly_handler_mean_us: bySide("handler.anomaly.mean_us"),
    anomaly_handler_p99_us: bySide("handler.anomaly.p99_us"),
    budget_overruns_count: { off: overruns("off"), anomaly: overruns("anomaly"), all: overruns("all") },
    trace_bytes_per_s: bySide("trace_bytes_per_s"),
    note:
      "12 simulated 25.6 kHz sensors, fft + anomaly each, through the runtime's executors; nothing, every " +
      "anomaly module, or every module recorded live (the recordings API's path)",
  };
}

function fleetSection(src: Source) {
  const list = dig(src.data, "sizes");
  const sizes = Array.isArray(list) ? list as Record<string, unknown>[] : [];
  const bySize = (devices: number) => {
    const i = sizes.findIndex((x) => x?.devices === devices);
    const done = i >= 0 && sizes[i]!.outcome === "completed";
    const why = i >= 0
      ? String(sizes[i]!.summary ?? sizes[i]!.reason)
      : `bench/results/fleet.json has no ${devices}-device run`;
    const f = (key: string, scale = 1) => {
      if (src.data === null) return U(src.reason);
      if (!done) return U(why);
      const v = num(src, `sizes.${i}.${key}`);
      return typeof v === "number" ? Math.round((v / scale) * 10) / 10 : v;
    };
    return {
      rollout_completed_ms: f("rollout_completed_ms"),
      all_devices_converged_ms: f("all_devices_converged_ms"),
      controller_cpu_ms: f("controller_cpu_ms"),
      controller_cpu_percent: f("controller_cpu_percent"),
      controller_peak_rss_mib: f("controller_peak_rss_kb", 1024),
      agents_cpu_ms: f("agents_cpu_ms"),
      broker_cpu_ms: f("broker_cpu_ms"),
      broker_received_msgs_per_s: f("broker_received_msgs_per_s"),
      broker_sent_msgs_per_s: f("broker_sent_msgs_per_s"),
    };
  };
  return {
    largest_completed_devices_count: src.data === null
      ? U(src.reason)
      : typeof dig(src.data, "largest_completed_devices_count") === "number"
      ? dig(src.data, "largest_completed_devices_count") as number
      : U("no fleet size completed"),
    sizes: Object.fromEntries(FLEET_SIZES.map((k) => [k, bySize(Number(k))])) as Record<
      (typeof FLEET_SIZES)[number],
      ReturnType<typeof bySize>
    >,
  };
}

async function machineInfo(): Promise<Report["machine"]> {
  // node:os rather than /proc/cpuinfo, which Deno opens only with --allow-all (the task narrows permissions).
  const cpus = os.cpus();
  return {
    cpu_model: cpus[0]?.model.trim() || "unknown",
    cores: cpus.length || navigator.hardwareConcurrency,
    memory_mib: Math.round(os.totalmem() / (1024 * 1024)),
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    arch: Deno.build.arch,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    gcc: await toolVersion("gcc"),
    clang: await toolVersion("clang-19"),
  };
}

async function git(args: string[]): Promise<string | null> {
  try {
    const { code, stdout } = await new Deno.Command("git", {
      args,
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(60_000),
    })
      .output();
    return code === 0 ? new TextDecoder().decode(stdout).trim() : null;
  } catch {
    return null;
  }
}

async function kilnInfo(): Promise<Report["kiln"]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as { version?: string };
  const status = await git(["status", "--porcelain", "--untracked-files=no"]);
  return {
    version: config.version ?? "unknown",
    commit: await git(["rev-parse", "--short=12", "HEAD"]),
    dirty: status === null ? null : status.length > 0,
  };
}

/** The benchmarks the report reads, by name (each writes `bench/results/<name>.json`). */
export const REPORT_SOURCES: readonly string[] = [
  "compute",
  "instrumentation",
  "channels",
  "executor_channels",
  "events",
  "periodic",
  "stream",
  "rate",
  "cold_start",
  "isolation",
  "api",
  "security",
  "outbox",
  "fleet",
  "replay",
  "package",
  "footprint",
];

/**
 * Builds the report from the results on disk, writes the scaling curves (CSV and SVG), and checks the
 * report against the schema.
 *
 * @throws {Error} when the report does not match {@linkcode ReportSchema} (a bug in this file).
 */
export async function buildReport(info: RunInfo): Promise<Report> {
  const s: Record<string, Source> = {};
  for (const name of REPORT_SOURCES) s[name] = await loadSource(name, info);
  const compute = s.compute!, iso = s.isolation!, api = s.api!;
  const stream = streamRun(s.stream!);
  const fftNote =
    "kiln_on_samples of modules/fft/fft.wasm (loadModule: interrupt checks on; ModuleInstance) " +
    "against modules/fft/fft.c with the SDK's fft_q15.c and spectral_features.c built with gcc -O2 " +
    "-ffp-contract=off and stub host imports; outputs bit-identical on 16 windows; kernel = fft_q15_1024 alone. " +
    "Both sides run pinned to one CPU: unpinned, either side sometimes ran 20-45% slower for seconds at a " +
    "time on this VM, which skewed the ratio; ratio_by_round shows how steady a run was";
  const aeNote =
    "kiln_on_samples of modules/anomaly/anomaly.wasm (spectral features + int8 autoencoder) against " +
    "anomaly.c and ae_kernel.c built the same way; kernel = ae_score alone. The Wasm build takes ae_kernel.c's " +
    "wasm_simd128 path for the int8 dot products and the native build its scalar path (gcc -O2, baseline x86-64), " +
    "which is why the kernel alone runs faster as Wasm";
  const matmulSize = dig(compute.data, "matmul_f32.size");
  const matmulReason = dig(compute.data, "matmul_f32.reason");
  const mm = (path: string, f: (src: Source, p: string) => number | Distribution | Unavailable) =>
    typeof matmulReason === "string" ? U(matmulReason) : f(compute, path);
  const report = {
    schema_version: SCHEMA_VERSION,
    generated_at: new Date().toISOString(),
    command: info.command,
    run_s: Math.round(info.runS),
    machine: await machineInfo(),
    kiln: await kilnInfo(),
    sources: Object.fromEntries(
      Object.values(s).map((src) => [src.name, {
        file: `bench/results/${src.name}.json`,
        status: src.status,
        in_this_run: src.inThisRun,
        measured_at: typeof dig(src.data, "machine.date") === "string"
          ? dig(src.data, "machine.date") as string
          : null,
        method: typeof dig(src.data, "method") === "string" ? dig(src.data, "method") as string : null,
      }]),
    ),
    compute: {
      fft1024_q15: computeCase(compute, "fft1024_q15", 1.35, fftNote),
      autoencoder_int8: computeCase(compute, "autoencoder_int8", 1.5, aeNote),
      matmul_f32: {
        size: typeof matmulSize === "string" ? matmulSize : "512x512 times 512x512",
        wasm_us: mm("matmul_f32.wasm_us", dist),
        wasm_instrumented_us: mm("matmul_f32.wasm_instrumented_us", dist),
        native_us: mm("matmul_f32.native_us", dist),
        ratio: mm("matmul_f32.ratio", num),
        instrumented_ratio: mm("matmul_f32.instrumented_ratio", num),
        outputs_match: dig(compute.data, "matmul_f32.outputs_match") === true,
        note:
          "bench/native/matmul_f32.c, i-k-j loops: clang-19 --target=wasm32 -O2 -msimd128 run in Deno's V8 " +
          "(plain, and with Kiln's interrupt-check instrumentation) against gcc -O2 -ffp-contract=off; result " +
          "matrices hash the same",
      },
    },
    channels: {
      latency_us: track(dist(s.executor_channels!, "sched_fifo_one_cpu.latency_us"), {
        stat: "p99",
        at_most: 50,
      }),
      latency_split_us: dist(s.executor_channels!, "sched_fifo_split.latency_us"),
      latency_unpinned_us: dist(s.executor_channels!, "sched_fifo.latency_us"),
      latency_normal_policy_us: dist(s.executor_channels!, "normal_policy.latency_us"),
      realtime_policy: dig(s.executor_channels!.data, "sched_fifo_one_cpu.realtime_policy") === "fifo"
        ? "fifo"
        : "normal",
      pinned: dig(s.executor_channels!.data, "sched_fifo_one_cpu.pinned_as_asked") === true,
      latency_ring_sleeping_reader_us: dist(s.channels!, "latency_us.sleeping"),
      latency_polling_reader_us: dist(s.channels!, "latency_us.polling"),
      latency_sleeping_fifo_reader_us: dist(s.channels!, "latency_us.sleeping_fifo"),
      records_per_s: num(s.channels!, "records_per_s.64B"),
      records_4kib_per_s: num(s.channels!, "records_per_s.4KiB"),
    },
    events: {
      trigger_to_actuator_us: track(dist(s.events!, "loaded_one_cpu.trigger_to_actuator_us"), {
        stat: "p99",
        at_most: 1000,
      }),
      trigger_to_actuator_idle_us: dist(s.events!, "idle_one_cpu.trigger_to_actuator_us"),
      trigger_to_actuator_split_us: dist(s.events!, "loaded_split.trigger_to_actuator_us"),
      trigger_to_actuator_unpinned_us: dist(s.events!, "loaded.trigger_to_actuator_us"),
      trigger_to_actuator_normal_policy_us: dist(s.events!, "loaded_normal_policy.trigger_to_actuator_us"),
      realtime_policy: dig(s.events!.data, "loaded_one_cpu.realtime_policy") === "fifo" ? "fifo" : "normal",
      pinned: JSON.stringify(dig(s.events!.data, "loaded_one_cpu.realtime_cpus")) === "[1]",
      load_sensors_count: num(s.events!, "loaded_one_cpu.sensors"),
    },
    periodic: {
      lateness_us_idle: track(dist(s.periodic!, "idle_one_cpu.lateness_us"), { stat: "p99", at_most: 200 }),
      lateness_us_loaded: dist(s.periodic!, "loaded_one_cpu.lateness_us"),
      lateness_us_idle_unpinned: dist(s.periodic!, "idle.lateness_us"),
      lateness_us_idle_normal_policy: dist(s.periodic!, "idle_normal_policy.lateness_us"),
      lateness_us_loaded_normal_policy: dist(s.periodic!, "loaded_normal_policy.lateness_us"),
      realtime_policy: dig(s.periodic!.data, "idle_one_cpu.realtime_policy") === "fifo" ? "fifo" : "normal",
      pinned: JSON.stringify(dig(s.periodic!.data, "idle_one_cpu.realtime_cpus")) === "[1]",
      deadline_misses_idle_count: num(s.periodic!, "idle_one_cpu.deadline_misses"),
      deadline_misses_loaded_count: num(s.periodic!, "loaded_one_cpu.deadline_misses"),
    },
    stream: {
      // 307,200 samples/s offered (12 x 25.6 kHz): kept up with when none is dropped. The consumed rate itself
      // cannot exceed the offered one and is counted in 20 ms batches, so it lands a fraction of a percent
      // either side of it; comparing it with 307,200 would flip on that quantisation.
      samples_per_s: num(stream, "samples_per_s"),
      cpu_percent: track(num(stream, "cpu_percent"), { at_most: 100 }),
      offered_samples_per_s: num(stream, "offered_samples_per_s"),
      dropped_samples: track(num(stream, "dropped_samples"), { at_most: 0 }),
      max_sustained_samples_per_s: num(s.rate!, "max_sustained_samples_per_s"),
    },
    cold_start: coldStart(s.cold_start!),
    isolation: {
      modules_count: 10,
      cpu_percent: num(iso, "concurrent_modules.cpu_percent"),
      max_jitter_ms: (() => {
        const list = dig(iso.data, "concurrent_modules.max_jitter_ms");
        return Array.isArray(list) && list.length > 0
          ? Math.max(...list)
          : absent(iso, "concurrent_modules.max_jitter_ms");
      })(),
      max_jitter_ms_by_module: (() => {
        const list = dig(iso.data, "concurrent_modules.max_jitter_ms");
        return Array.isArray(list) && list.every((x) => typeof x === "number")
          ? list as number[]
          : absent(iso, "concurrent_modules.max_jitter_ms");
      })(),
      deadline_misses_count: num(iso, "concurrent_modules.deadline_misses"),
      overhead_per_module_kb: track(num(iso, "overhead_per_module_kb"), { at_most: 256 }),
      marginal_overhead_per_module_kb: num(iso, "marginal_overhead_per_module_kb"),
    },
    instrumentation: {
      overhead_percent: {
        fft1024_q15: track(num(s.instrumentation!, "cases.fft.overhead_percent"), { at_most: 10 }),
        autoencoder_int8: track(num(s.instrumentation!, "cases.anomaly.overhead_percent"), { at_most: 10 }),
      },
      fuel_overhead_percent: {
        fft1024_q15: num(s.instrumentation!, "cases.fft.fuel_overhead_percent"),
        autoencoder_int8: num(s.instrumentation!, "cases.anomaly.fuel_overhead_percent"),
      },
      kernel_overhead_percent: {
        fft_q15_1024: num(s.instrumentation!, "cases.fft.kernels.fft_q15_1024.overhead_percent"),
        ae_score: num(s.instrumentation!, "cases.anomaly.kernels.ae_score.overhead_percent"),
      },
    },
    api: (() => {
      const httpReason = dig(api.data, "http.reason");
      const http = (
        f: () => Distribution | Unavailable,
      ) => (typeof httpReason === "string" ? U(httpReason) : f());
      return {
        requests_per_s: http(() => dist(api, "http.requests_per_s")),
        request_latency_p99_ms: http(() => dist(api, "http.latency_ms.p99")),
        ...(dig(api.data, "http.routes") !== undefined && {
          health_requests_per_s: http(() => dist(api, "http.routes.health.kiln.requests_per_s")),
          bare_hono_requests_per_s: {
            health: http(() => dist(api, "http.routes.health.bare_hono.requests_per_s")),
            modules: http(() => dist(api, "http.routes.modules.bare_hono.requests_per_s")),
          },
          ratio_to_bare_hono: {
            health: track(num(api, "http.routes.health.ratio_to_bare_hono.p50"), { at_least: 0.5 }),
            modules: track(num(api, "http.routes.modules.ratio_to_bare_hono.p50"), { at_least: 0.5 }),
          },
        }),
        ws_subscribers_count: 100,
        ws_frames_per_s: num(api, "websocket.frames_per_s"),
        ws_offered_frames_per_s: num(api, "websocket.offered_frames_per_s"),
        ws_dropped_frames: num(api, "websocket.dropped_frames"),
        ws_server_cpu_percent: num(api, "websocket.server_cpu_percent"),
      };
    })(),
    security: {
      attack_cases: num(s.security!, "attack_cases"),
      escapes: num(s.security!, "escapes"),
      cases_by_class: byClass(s.security!),
    },
    outbox: {
      written_msgs_per_s: num(s.outbox!, "cases.100B.written_msgs_per_s"),
      drained_msgs_per_s: num(s.outbox!, "cases.100B.drained_msgs_per_s"),
    },
    fleet: fleetSection(s.fleet!),
    replay: replaySection(s.replay!),
    package: packageSection(s.package!),
    footprint: footprintSection(s.footprint!),
    curves: [
      ...await writeCurves({ isolation: iso, rate: s.rate!, coldStart: s.cold_start! }),
      await fleetCurve(s.fleet!),
    ],
  };
  const checked = ReportSchema.safeParse(report);
  if (!checked.success) {
    throw new Error(
      `The report does not match its schema:\n${JSON.stringify(checked.error.issues, null, 2)}`,
    );
  }
  return checked.data;
}
