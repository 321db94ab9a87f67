/**
 * The schema of `bench/results/latest.json`, the benchmark report `deno task bench` writes (issue 8): written
 * once here, checked by `bench/main.ts` before it writes the report and by `tests/bench/report_schema_test.ts`
 * against the committed one.
 *
 * Every measured value is a figure, one of:
 * - a number, e.g. `"records_per_s": 2812171`;
 * - a distribution of repeated measurements, `{ "p50": 1.2, "p99": 25.6, "p999": 519, "max": 3202, "n": 5 }`;
 * - a list of numbers, one per item (e.g. per module);
 * - a figure with its target, `{ "value": 1.28, "target": { "at_most": 1.35 }, "met": true }` (for a
 *   distribution the target names the statistic: `{ "stat": "p99", "at_most": 50 }`);
 * - or, when it could not be measured, `{ "value": null, "reason": "..." }`, never a made-up number.
 *
 * Units are in the names: every figure's key, or a key above it, has a unit as one of its words
 * ({@linkcode UNIT_PATTERN}).
 *
 * @example
 * ```ts ignore
 * const report = ReportSchema.parse(JSON.parse(await Deno.readTextFile("bench/results/latest.json")));
 * report.compute.fft1024_q15.ratio; // { value: 1.28, target: { at_most: 1.35 }, met: true }
 * ```
 *
 * @module
 */
import { z } from "zod";

/** The version of this layout; bump it when a key changes meaning or goes away. */
export const SCHEMA_VERSION = 1;

/**
 * A unit as a word of a snake_case name (`wasm_us`, `lateness_us_idle`, `records_per_s`, `1_mib`):
 * us, ms, s, percent, kb, mib, bytes, hz, or a count (count, cases, samples, frames, escapes) or ratio.
 */
export const UNIT_PATTERN: RegExp =
  /(^|_)(us|ms|s|percent|kb|kib|mib|bytes|hz|count|cases|samples|frames|escapes|ratio)(_|$)/;

/** A figure that could not be measured, and why. */
export const Unavailable = z.strictObject({ value: z.null(), reason: z.string().min(1) });
export type Unavailable = z.infer<typeof Unavailable>;

/** Percentiles (and the count) of repeated measurements. */
export const Distribution = z.strictObject({
  p50: z.number(),
  p99: z.number(),
  p999: z.number().optional(),
  max: z.number().optional(),
  n: z.number().int().positive().optional(),
});
export type Distribution = z.infer<typeof Distribution>;

/** A target: the value (or its statistic `stat`, for a distribution) must be at most, or at least, a bound. */
export const Target = z.union([
  z.strictObject({ stat: z.enum(["p50", "p99"]).optional(), at_most: z.number() }),
  z.strictObject({ stat: z.enum(["p50", "p99"]).optional(), at_least: z.number() }),
]);
export type Target = z.infer<typeof Target>;

const tracked = <T extends z.ZodType>(value: T) =>
  z.strictObject({ value, target: Target, met: z.boolean() });

/** A number, or why it is missing. */
export const Num = z.union([z.number(), Unavailable]);
/** A distribution, or why it is missing. */
export const Dist = z.union([Distribution, Unavailable]);
/** A number with its target, or why it is missing. */
export const TrackedNum = z.union([tracked(z.number()), Unavailable]);
/** A distribution with its target, or why it is missing. */
export const TrackedDist = z.union([tracked(Distribution), Unavailable]);
/** A list of numbers (one per item), or why it is missing. */
export const NumList = z.union([z.array(z.number()), Unavailable]);

/** A figure of `bench/record_stream.ts` per side: nothing recorded, every anomaly module, every module. */
const BySide = z.strictObject({ off: Num, anomaly: Num, all: Num });

/**
 * The report's figures of live recording through the runtime (`bench/record_stream.ts`, its 12-sensor run:
 * the machine loaded, not saturated), per side.
 */
export const RecordingLive = z.strictObject({
  sensors_count: Num,
  samples_per_s: BySide,
  dropped_samples_count: BySide,
  cpu_percent: BySide,
  fft_handler_mean_us: BySide,
  fft_handler_p99_us: BySide,
  anomaly_handler_mean_us: BySide,
  anomaly_handler_p99_us: BySide,
  budget_overruns_count: BySide,
  trace_bytes_per_s: BySide,
  note: z.string(),
});

const StreamHandler = z.strictObject({
  mean_us: z.number(),
  p99_us: z.number().nullable(),
  budget_overruns_count: z.number().int().nonnegative(),
  calls_count: z.number().int().nonnegative(),
});
const StreamSide = z.strictObject({
  samples_per_s: z.number(),
  dropped_samples_count: z.number().int().nonnegative(),
  invocations_per_s: z.number(),
  cpu_percent: z.number(),
  handler: z.strictObject({ fft: StreamHandler, anomaly: StreamHandler }),
  trace_bytes_per_s: z.number().nonnegative(),
  recorded_invocations_count: z.number().int().nonnegative(),
  /** Recordings the trace cap or the executor's per-report limit cut: `"module: stop (error)"`. */
  cut: z.array(z.string()),
  /** Module restarts in the side's windows, and the faults (`"module: last error"`) that caused them. */
  restarts_count: z.number().int().nonnegative(),
  faults: z.array(z.string()),
});
const StreamOverhead = z.strictObject({
  samples_per_s_ratio: z.number(),
  cpu_ratio: z.number(),
  fft_mean_us_ratio: z.number(),
  anomaly_mean_us_ratio: z.number(),
});

/**
 * `recording_stream` in `bench/results/replay.json` (what `bench/record_stream.ts` prints): per sensor count
 * (`sensors_<n>`), each side's figures and the overhead as ratios against `off`.
 */
export const RecordingStreamResult = z.strictObject({
  machine: z.record(z.string(), z.unknown()),
  method: z.string(),
  cap: z.strictObject({ max_trace_bytes: z.number().int().positive(), note: z.string() }),
  runs: z.record(
    z.string().regex(/^sensors_\d+$/),
    z.strictObject({
      sensors: z.number().int().positive(),
      offered_samples_per_s: z.number(),
      sides: z.strictObject({ off: StreamSide, anomaly: StreamSide, all: StreamSide }),
      overhead: z.strictObject({ anomaly: StreamOverhead, all: StreamOverhead }),
      states: z.array(z.string()),
    }),
  ),
});

/** A Kiln module against native code built from the same C source. */
/** One pace of `ComputeModuleCase.paced`. */
const PacedFigures = z.strictObject({
  kiln_us: Dist,
  raw_deno_us: Dist,
  native_us: Dist,
  ratio: TrackedNum,
  raw_deno_ratio: Num,
  kiln_to_raw_deno: Num,
  /** The module in a running runtime, through its executor, from its per-call traces; its p50 / native p50. */
  kiln_executor_us: Dist.optional(),
  executor_ratio: Num.optional(),
});

const ComputeModuleCase = z.strictObject({
  /** `kiln_on_samples` per 1024-sample window through the real invocation path, interrupt checks on. */
  wasm_us: Dist,
  /** The same C source with gcc -O2 and stub host imports. */
  native_us: Dist,
  /** The median over rounds of each round's wasm p50 / native p50 (the two sides ran back to back). */
  ratio: TrackedNum,
  /** The same ratio per round (rounds alternate which side runs first): how steady the comparison was. */
  ratio_by_round: Dist,
  /** True when both builds gave bit-identical outputs on the same windows (the benchmark fails otherwise). */
  outputs_match: z.boolean(),
  kernel: z.strictObject({ name: z.string(), wasm_us: Dist, native_us: Dist, ratio: Num }),
  /**
   * Called every 10 and 40 ms, caches cold between calls (bench/_paced.ts): Kiln, the module's binary in raw
   * Deno, and native, paced alike; `ratio` is Kiln p50 / native p50 (target <= 1.5x).
   */
  paced: z.strictObject({ every_10_ms: PacedFigures, every_40_ms: PacedFigures }).optional(),
  note: z.string(),
});

const MEMORY_CASES = ["1_mib", "16_mib", "64_mib", "64_mib_4_mib_used"] as const;
const byMemory = <T extends z.ZodType>(figure: T) =>
  z.strictObject(
    Object.fromEntries(MEMORY_CASES.map((k) => [k, figure])) as Record<(typeof MEMORY_CASES)[number], T>,
  );

/** One class of the security suite: its cases, and the escapes among them (cases that failed). */
export const SecurityClass = z.strictObject({
  cases: z.number().int().nonnegative(),
  escapes: z.number().int().nonnegative(),
});
export type SecurityClass = z.infer<typeof SecurityClass>;

/** Where a section's figures came from. */
export const Source = z.strictObject({
  /** `bench/results/<name>.json` */
  file: z.string(),
  status: z.enum(["ok", "failed", "missing"]),
  /** Run by this `deno task bench`, or an older result (`--only`, or it failed now). */
  in_this_run: z.boolean(),
  measured_at: z.string().nullable(),
  method: z.string().nullable(),
});

/** A scaling curve: its CSV and charts in `bench/results/`. */
export const Curve = z.strictObject({
  name: z.string(),
  title: z.string(),
  csv: z.string(),
  /** The charts: file and title. */
  svg: z.array(z.strictObject({ file: z.string(), title: z.string() })),
  /** Why it is missing, when its results are. */
  reason: z.string().nullable(),
});

/** One size of the fleet benchmark (bench/fleet.ts), each figure from rollout creation until it completed. */
const FleetSize = z.strictObject({
  /** Until the controller recorded the rollout `completed`. */
  rollout_completed_ms: Num,
  /** Until the last device reported the new image running. */
  all_devices_converged_ms: Num,
  controller_cpu_ms: Num,
  controller_cpu_percent: Num,
  controller_peak_rss_mib: Num,
  /** Every simulated device's process together. */
  agents_cpu_ms: Num,
  broker_cpu_ms: Num,
  /** Mosquitto's `$SYS/broker/messages/{received,sent}`, averaged over the rollout. */
  broker_received_msgs_per_s: Num,
  broker_sent_msgs_per_s: Num,
});

/** The fleet sizes the report shows, by number of simulated devices. */
export const FLEET_SIZES = ["100", "1000", "3000", "10000"] as const;

/** The whole report. */
export const ReportSchema = z.strictObject({
  schema_version: z.literal(SCHEMA_VERSION),
  generated_at: z.string(),
  command: z.string(),
  run_s: z.number(),
  machine: z.strictObject({
    cpu_model: z.string(),
    cores: z.number().int().positive(),
    memory_mib: z.number().nullable(),
    os: z.string(),
    arch: z.string(),
    deno: z.string(),
    v8: z.string(),
    typescript: z.string(),
    gcc: z.string().nullable(),
    clang: z.string().nullable(),
  }),
  kiln: z.strictObject({ version: z.string(), commit: z.string().nullable(), dirty: z.boolean().nullable() }),
  sources: z.record(z.string(), Source),
  compute: z.strictObject({
    fft1024_q15: ComputeModuleCase,
    autoencoder_int8: ComputeModuleCase,
    matmul_f32: z.strictObject({
      size: z.string(),
      wasm_us: Dist,
      wasm_instrumented_us: Dist,
      native_us: Dist,
      ratio: Num,
      instrumented_ratio: Num,
      outputs_match: z.boolean(),
      note: z.string(),
    }),
  }),
  channels: z.strictObject({
    /**
     * Between two executors through the runtime (a 1 kHz writer in `normal`, a reader asleep on its doorbell
     * in `realtime`), the realtime executor at SCHED_FIFO when `realtime_policy` says so, and the runtime's
     * thread and both executors pinned to CPU 1 when `pinned` says so.
     */
    latency_us: TrackedDist,
    /** At SCHED_FIFO, both executors on CPU 1 and the runtime's thread on CPU 0. */
    latency_split_us: Dist,
    /** At SCHED_FIFO, not pinned. */
    latency_unpinned_us: Dist,
    /** At the normal policy, not pinned. */
    latency_normal_policy_us: Dist,
    realtime_policy: z.enum(["fifo", "normal"]),
    pinned: z.boolean(),
    /** The bare ring between two workers, a sleeping reader (`Atomics.wait`) and a paced writer. */
    latency_ring_sleeping_reader_us: Dist,
    latency_polling_reader_us: Dist,
    /** The sleeping reader's thread at SCHED_FIFO 50. */
    latency_sleeping_fifo_reader_us: Dist,
    /** 64-byte records. */
    records_per_s: Num,
    records_4kib_per_s: Num,
  }),
  events: z.strictObject({
    /**
     * Under streaming load, the realtime executor at SCHED_FIFO (when `realtime_policy` says so), the
     * runtime's thread and both executors pinned to CPU 1 (when `pinned` says so).
     */
    trigger_to_actuator_us: TrackedDist,
    /** The same, without the streaming load. */
    trigger_to_actuator_idle_us: Dist,
    /** Under streaming load at SCHED_FIFO, both executors on CPU 1 and the runtime's thread on CPU 0. */
    trigger_to_actuator_split_us: Dist,
    /** Under streaming load at SCHED_FIFO, not pinned. */
    trigger_to_actuator_unpinned_us: Dist,
    /** Under streaming load, the realtime executor at the normal policy, not pinned. */
    trigger_to_actuator_normal_policy_us: Dist,
    realtime_policy: z.enum(["fifo", "normal"]),
    pinned: z.boolean(),
    load_sensors_count: Num,
  }),
  periodic: z.strictObject({
    /** The realtime executor at SCHED_FIFO and pinned (when `realtime_policy` and `pinned` say so). */
    lateness_us_idle: TrackedDist,
    lateness_us_loaded: Dist,
    /** At SCHED_FIFO, not pinned. */
    lateness_us_idle_unpinned: Dist,
    /** The realtime executor at the normal policy, not pinned. */
    lateness_us_idle_normal_policy: Dist,
    lateness_us_loaded_normal_policy: Dist,
    realtime_policy: z.enum(["fifo", "normal"]),
    pinned: z.boolean(),
    deadline_misses_idle_count: Num,
    deadline_misses_loaded_count: Num,
  }),
  stream: z.strictObject({
    /** 12 sensors x 25.6 kHz through FFT + anomaly: the samples consumed per second. */
    samples_per_s: Num,
    cpu_percent: TrackedNum,
    offered_samples_per_s: Num,
    /** Dropped because an executor fell behind: the target, none at the offered rate. */
    dropped_samples: TrackedNum,
    /** From the sample-rate curve: the highest rate every sample was consumed at. */
    max_sustained_samples_per_s: Num,
  }),
  cold_start: z.strictObject({
    /** Spawning `kiln run` until the module runs, 16 MiB used, without and with a snapshot. */
    process_to_first_sample_ms: z.strictObject({ without_snapshot: Dist, with_snapshot: Dist }),
    /** Spawning `kiln run` of the demo to fft's first processed window, resumed from a snapshot or not. */
    process_to_first_window_ms: z.strictObject({
      with_snapshot: TrackedDist,
      without_snapshot: Dist,
      /** The same from the bundle, `dist/kiln.js` (the one-file package's entry). */
      bundle_with_snapshot: TrackedDist,
      bundle_without_snapshot: Dist,
    }),
    /**
     * A bare `deno run` of an empty script, of one importing every npm package `main.ts` may load (static
     * and dynamic imports), and of one importing only its static ones.
     */
    floor_ms: z.strictObject({ empty_script: Dist, npm_imports: Dist, npm_static_imports: Dist }),
    /** process_to_first_window_ms.with_snapshot over floor_ms.npm_imports, p50s. */
    first_window_to_floor_ratio: TrackedNum,
    /** process_to_first_window_ms.bundle_with_snapshot over floor_ms.npm_imports, p50s. */
    bundle_first_window_to_floor_ratio: TrackedNum,
    /** The start phase by phase, from the startup trace (`runtime/_startup_marks.ts`; bench/cold_start.ts). */
    phases_ms: z.strictObject({
      with_snapshot: z.union([z.record(z.string(), Dist), Unavailable]),
      without_snapshot: z.union([z.record(z.string(), Dist), Unavailable]),
    }),
    without_snapshot_ms: byMemory(Dist),
    with_snapshot_ms: byMemory(z.union([Dist, TrackedDist])),
    restore_ms: byMemory(Dist),
    speedup_ratio: byMemory(TrackedNum),
  }),
  isolation: z.strictObject({
    modules_count: z.number().int(),
    cpu_percent: Num,
    max_jitter_ms: Num,
    max_jitter_ms_by_module: NumList,
    deadline_misses_count: Num,
    /** (rss with 100 idle modules - rss with none - their linear memory) / 100. */
    overhead_per_module_kb: TrackedNum,
    marginal_overhead_per_module_kb: Num,
  }),
  instrumentation: z.strictObject({
    overhead_percent: z.strictObject({ fft1024_q15: TrackedNum, autoencoder_int8: TrackedNum }),
    fuel_overhead_percent: z.strictObject({ fft1024_q15: Num, autoencoder_int8: Num }),
    kernel_overhead_percent: z.strictObject({ fft_q15_1024: Num, ae_score: Num }),
  }),
  api: z.strictObject({
    requests_per_s: Dist,
    request_latency_p99_ms: Dist,
    /** `GET /health` against the demo, and both routes against a bare Hono app in the same runs (bench/api.ts). */
    health_requests_per_s: Dist.optional(),
    bare_hono_requests_per_s: z.strictObject({ health: Dist, modules: Dist }).optional(),
    /** Each run's Kiln requests/s over the bare app's, back to back: p50 over runs (target >= 0.5). */
    ratio_to_bare_hono: z.strictObject({ health: TrackedNum, modules: TrackedNum }).optional(),
    ws_subscribers_count: z.number().int(),
    ws_frames_per_s: Num,
    ws_offered_frames_per_s: Num,
    ws_dropped_frames: Num,
    ws_server_cpu_percent: Num,
  }),
  security: z.strictObject({
    /** Every case of `tests/security/*_test.ts`, and those that failed (a hostile module got further). */
    attack_cases: Num,
    escapes: Num,
    /**
     * The same per class (`escape[<class>]` or `<word>:` in a case's name, else its file's name), classes in
     * name order. Absent in reports written before the suite was counted by class.
     */
    cases_by_class: z.union([z.record(z.string(), SecurityClass), Unavailable]).optional(),
  }),
  outbox: z.strictObject({ written_msgs_per_s: Num, drained_msgs_per_s: Num }),
  /**
   * One rollout (1 device, 10%, 100%) to simulated devices over one Mosquitto, by fleet size; a size that
   * could not run is null with what stopped it. Absent in reports written before the fleet benchmark.
   */
  fleet: z.strictObject({
    largest_completed_devices_count: Num,
    sizes: z.strictObject(
      Object.fromEntries(FLEET_SIZES.map((k) => [k, FleetSize])) as Record<
        (typeof FLEET_SIZES)[number],
        typeof FleetSize
      >,
    ),
  }).optional(),
  /**
   * Recording and replay (issue #19, `bench/replay.ts`). Absent in reports written before it.
   */
  replay: z.strictObject({
    recording_overhead_percent: Num,
    samples_per_s_without_recording: Num,
    samples_per_s_with_recording: Num,
    handler_us_without_recording: Num,
    handler_us_with_recording: Num,
    write_us_per_invocation: Num,
    trace_bytes_per_invocation: Num,
    replay_invocations_per_s: Num,
    live_invocations_per_s: Num,
    speedup_ratio: Num,
    determinism_consistency_percent: z.strictObject({
      fft: Num,
      anomaly: Num,
      temperature: Num,
      aggregator: Num,
      /** The event module, recorded offline (absent in reports written before it). */
      safety: Num.optional(),
    }),
    determinism_runs_count: Num,
    /** Live recording through the runtime (`bench/record_stream.ts`); absent in reports written before it. */
    recording_live: RecordingLive.optional(),
    note: z.string(),
  }).optional(),
  /**
   * The one-file install (issue #20, `bench/package.ts`): `deno task package`'s file, its size and the Deno
   * binary's and the bundle's shares of it, and its first and later runs. Absent in reports written before it.
   */
  package: z.strictObject({
    file: z.string(),
    size_bytes: Num,
    size_mib: Num,
    header_bytes: Num,
    /** The Deno binary, uncompressed and its (approximate) compressed share of the payload. */
    deno_binary_bytes: Num,
    deno_binary_compressed_bytes: Num,
    /** `dist/*.js`, uncompressed and gzip-compressed on its own. */
    bundle_bytes: Num,
    bundle_compressed_bytes: Num,
    deno_share_percent: Num,
    bundle_share_percent: Num,
    /** What the first run writes under `${XDG_CACHE_HOME:-$HOME/.cache}/kiln/<sha256>/`. */
    extracted_bytes: Num,
    /** `<file> --version` with an empty HOME: sha256 check, extraction, Deno start. */
    first_run_ms: Num,
    /** `<file> --version` once extracted. */
    warm_run_ms: Dist,
    note: z.string(),
  }).optional(),
  /**
   * Resident memory of the whole gateway (issue #20, `bench/footprint.ts`): every process of `kiln run`'s tree
   * for the demo, no module, 10 and 50 idle modules. Absent in reports written before it.
   */
  footprint: z.strictObject({
    demo_rss_mib: TrackedNum,
    empty_rss_mib: Num,
    idle_10_rss_mib: Num,
    idle_50_rss_mib: Num,
    per_idle_module_from_0_kib: TrackedNum,
    per_idle_module_from_10_kib: TrackedNum,
    processes_count: Num,
    note: z.string(),
  }).optional(),
  curves: z.array(Curve),
});
export type Report = z.infer<typeof ReportSchema>;

/** The figures issue 8 asks for by name, as paths into the report. */
export const REQUIRED_FIGURES: readonly string[] = [
  "compute.fft1024_q15.wasm_us",
  "compute.fft1024_q15.native_us",
  "compute.fft1024_q15.ratio",
  "compute.autoencoder_int8.wasm_us",
  "compute.autoencoder_int8.native_us",
  "compute.autoencoder_int8.ratio",
  "compute.matmul_f32.wasm_us",
  "compute.matmul_f32.native_us",
  "channels.latency_us",
  "channels.records_per_s",
  "events.trigger_to_actuator_us",
  "periodic.lateness_us_idle",
  "periodic.lateness_us_loaded",
  "stream.samples_per_s",
  "stream.dropped_samples",
  "stream.cpu_percent",
  "cold_start.process_to_first_sample_ms.without_snapshot",
  "cold_start.process_to_first_sample_ms.with_snapshot",
  "cold_start.process_to_first_window_ms.with_snapshot",
  "cold_start.process_to_first_window_ms.bundle_with_snapshot",
  "cold_start.floor_ms.npm_imports",
  ...MEMORY_CASES.flatMap((m) => [
    `cold_start.with_snapshot_ms.${m}`,
    `cold_start.without_snapshot_ms.${m}`,
    `cold_start.restore_ms.${m}`,
  ]),
  "isolation.cpu_percent",
  "isolation.max_jitter_ms",
  "isolation.overhead_per_module_kb",
  "instrumentation.overhead_percent.fft1024_q15",
  "instrumentation.overhead_percent.autoencoder_int8",
  "api.requests_per_s",
  "api.ws_frames_per_s",
  "security.attack_cases",
  "security.escapes",
];

/** The top-level keys that hold figures (the rest describe the run). */
export const FIGURE_SECTIONS: readonly string[] = [
  "compute",
  "channels",
  "events",
  "periodic",
  "stream",
  "cold_start",
  "isolation",
  "instrumentation",
  "api",
  "security",
  "outbox",
  "fleet",
  "replay",
  "package",
  "footprint",
];

/** True when `x` is a figure as this module defines it (a leaf of the report's figure sections). */
export function isFigure(x: unknown): boolean {
  if (typeof x === "number") return true;
  if (Array.isArray(x)) return x.every((v) => typeof v === "number");
  if (x === null || typeof x !== "object") return false;
  return Distribution.safeParse(x).success || Unavailable.safeParse(x).success ||
    tracked(z.union([z.number(), Distribution])).safeParse(x).success;
}

/**
 * Every figure in the report's figure sections, with its path (`["compute", "fft1024_q15", "ratio"]`).
 * Strings and booleans (notes, names, `outputs_match`) are not figures and are skipped.
 */
export function listFigures(report: unknown): { path: string[]; figure: unknown }[] {
  const out: { path: string[]; figure: unknown }[] = [];
  const walk = (x: unknown, path: string[]) => {
    if (isFigure(x)) return void out.push({ path, figure: x });
    if (x === null || typeof x !== "object" || Array.isArray(x)) return;
    for (const [k, v] of Object.entries(x)) walk(v, [...path, k]);
  };
  const r = report as Record<string, unknown>;
  for (const section of FIGURE_SECTIONS) walk(r[section], [section]);
  return out;
}

/** True when a figure's path names its unit: its own key or one above it matches {@linkcode UNIT_PATTERN}. */
export function hasUnit(path: readonly string[]): boolean {
  return path.slice(1).some((k) => UNIT_PATTERN.test(k));
}
