/**
 * The report as a table: printed by `deno task bench` and written as Markdown (`bench/results/latest.md`)
 * for the README's Performance section. Each row shows a figure and, where it has one, its target and
 * whether it was met; a figure that could not be measured shows "n/a" and why.
 *
 * @module
 */
import type { Distribution, Report, Target, Unavailable } from "./report_schema.ts";
import { shortNumber } from "./_svg.ts";

type Tracked<T> = { value: T; target: Target; met: boolean };
type Figure = number | Distribution | Tracked<number | Distribution> | Unavailable;

/** One row: what, the figure as text, the target as text ("" for none), and whether it was met (null: none). */
export interface Row {
  what: string;
  figure: string;
  target: string;
  met: boolean | null;
}

const isUnavailable = (f: unknown): f is Unavailable =>
  f !== null && typeof f === "object" && (f as { value?: unknown }).value === null && "reason" in f;
const isTracked = (f: unknown): f is Tracked<number | Distribution> =>
  f !== null && typeof f === "object" && "target" in f && "met" in f;

/** A number for people: 3 significant digits below 1,000, thousands separators above. */
function n(v: number): string {
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en");
  return String(Number(v.toPrecision(3)));
}

/** The bare value of a figure, or null when unavailable. */
function value(f: Figure): number | Distribution | null {
  if (isUnavailable(f)) return null;
  return isTracked(f) ? f.value : f;
}

function targetText(t: Target, unit: string): string {
  const stat = t.stat ? `${t.stat} ` : "";
  return "at_most" in t ? `${stat}<= ${n(t.at_most)}${unit}` : `${stat}>= ${n(t.at_least)}${unit}`;
}

/** Why figures are missing, short, for a table cell. */
function na(figures: Figure[]): string | null {
  const missing = figures.find(isUnavailable);
  return missing
    ? `n/a (${missing.reason.length > 90 ? `${missing.reason.slice(0, 87)}...` : missing.reason})`
    : null;
}

/** p50 / p99 [/ p99.9] with a unit. */
function pcts(f: Figure, unit: string, withP999 = true): string {
  const d = value(f) as Distribution;
  const parts = [d.p50, d.p99, ...(withP999 && d.p999 !== undefined ? [d.p999] : [])];
  return `${parts.map(n).join(" / ")} ${unit}`;
}

/** A row of `figures`; `units` are their targets' units (one for all, or one per figure). */
/** How the realtime executor ran for a tracked latency: its policy, and whether its threads were pinned. */
function realtime(section: { realtime_policy: "fifo" | "normal"; pinned: boolean }): string {
  const policy = section.realtime_policy === "fifo" ? "SCHED_FIFO" : "SCHED_FIFO refused";
  return `${policy}, ${section.pinned ? "all on CPU 1" : "pinning refused"}`;
}

function row(what: string, figures: Figure[], text: () => string, units: string | string[] = ""): Row {
  const tracked = figures.filter(isTracked);
  const unit = (i: number) => (Array.isArray(units) ? units[i] ?? "" : units);
  const targets = figures.flatMap((f, i) => (isTracked(f) ? [targetText(f.target, unit(i))] : []));
  return {
    what,
    figure: na(figures) ?? text(),
    target: [...new Set(targets)].join("; "),
    met: tracked.length === 0 || figures.some(isUnavailable) ? null : tracked.every((f) => f.met),
  };
}

/** The rows of the table, in the report's order. */
export function reportRows(r: Report): Row[] {
  const c = r.compute;
  const computeRow = (what: string, k: "fft1024_q15" | "autoencoder_int8") => {
    const x = c[k];
    return row(
      `${what}, p50 / p99: Kiln vs gcc -O2`,
      [x.wasm_us, x.native_us, x.ratio],
      () =>
        `${pcts(x.wasm_us, "us", false)} vs ${pcts(x.native_us, "us", false)}: ${
          n(value(x.ratio) as number)
        }x`,
      "x",
    );
  };
  const mm = c.matmul_f32;
  const cs = r.cold_start;
  const memRow = (label: string, k: keyof typeof cs.with_snapshot_ms) =>
    row(
      `start, ${label}: kiln_init / snapshot (restore), p50`,
      [cs.without_snapshot_ms[k], cs.with_snapshot_ms[k], cs.restore_ms[k], cs.speedup_ratio[k]],
      () =>
        `${n((value(cs.without_snapshot_ms[k]) as Distribution).p50)} / ${
          n((value(cs.with_snapshot_ms[k]) as Distribution).p50)
        } ms ` +
        `(${n((value(cs.restore_ms[k]) as Distribution).p50)} ms); ${
          n(value(cs.speedup_ratio[k]) as number)
        }x`,
      ["", " ms", "", "x"],
    );
  const iso = r.isolation;
  const api = r.api;
  return [
    computeRow("FFT 1024 Q15 module", "fft1024_q15"),
    computeRow("int8 autoencoder module", "autoencoder_int8"),
    ...(["fft1024_q15", "autoencoder_int8"] as const).flatMap((k) =>
      (["every_10_ms", "every_40_ms"] as const).flatMap((pace) => {
        const p = c[k].paced?.[pace];
        if (!p) return [];
        return [row(
          `${k === "fft1024_q15" ? "FFT" : "autoencoder"} module called ${
            pace.replace(/_/g, " ")
          }, p50: Kiln / in the plant / raw Deno / gcc -O2`,
          [p.kiln_us, p.raw_deno_us, p.native_us, p.ratio],
          () => {
            const plant = p.kiln_executor_us ? n((value(p.kiln_executor_us) as Distribution).p50) : "n/a";
            return `${n((value(p.kiln_us) as Distribution).p50)} / ${plant} / ${
              n((value(p.raw_deno_us) as Distribution).p50)
            } / ${n((value(p.native_us) as Distribution).p50)} us: ${n(value(p.ratio) as number)}x`;
          },
          ["", "", "", "x"],
        )];
      })
    ),
    row(
      `FP32 matmul ${mm.size.replace(/ times .*/, "")}: Wasm / checks / gcc, p50`,
      [mm.wasm_us, mm.wasm_instrumented_us, mm.native_us, mm.ratio],
      () =>
        `${n((value(mm.wasm_us) as Distribution).p50 / 1000)} / ${
          n((value(mm.wasm_instrumented_us) as Distribution).p50 / 1000)
        } / ` +
        `${n((value(mm.native_us) as Distribution).p50 / 1000)} ms: ${n(value(mm.ratio) as number)}x / ${
          n(value(mm.instrumented_ratio) as number)
        }x`,
    ),
    row(
      "interrupt checks, per call: FFT / autoencoder",
      [r.instrumentation.overhead_percent.fft1024_q15, r.instrumentation.overhead_percent.autoencoder_int8],
      () =>
        `+${n(value(r.instrumentation.overhead_percent.fft1024_q15) as number)}% / +${
          n(value(r.instrumentation.overhead_percent.autoencoder_int8) as number)
        }%`,
      "%",
    ),
    row(
      `channel latency between executors, ${realtime(r.channels)}, p50 / p99 / p99.9`,
      [r.channels.latency_us],
      () => pcts(r.channels.latency_us, "us"),
      " us",
    ),
    row(
      "channel latency between executors, SCHED_FIFO, runtime on CPU 0, p50 / p99 / p99.9",
      [r.channels.latency_split_us],
      () => pcts(r.channels.latency_split_us, "us"),
      " us",
    ),
    row(
      "channel latency between executors, SCHED_FIFO, not pinned, p50 / p99 / p99.9",
      [r.channels.latency_unpinned_us],
      () => pcts(r.channels.latency_unpinned_us, "us"),
      " us",
    ),
    row(
      "channel latency between executors, normal policy, p50 / p99 / p99.9",
      [r.channels.latency_normal_policy_us],
      () => pcts(r.channels.latency_normal_policy_us, "us"),
      " us",
    ),
    row(
      "bare ring between workers, sleeping reader, p50 / p99 / p99.9",
      [r.channels.latency_ring_sleeping_reader_us],
      () => pcts(r.channels.latency_ring_sleeping_reader_us, "us"),
      " us",
    ),
    row(
      "bare ring between workers, sleeping reader at SCHED_FIFO, p50 / p99 / p99.9",
      [r.channels.latency_sleeping_fifo_reader_us],
      () => pcts(r.channels.latency_sleeping_fifo_reader_us, "us"),
      " us",
    ),
    row(
      "channel throughput, 64 B / 4 KiB",
      [r.channels.records_per_s, r.channels.records_4kib_per_s],
      () =>
        `${shortNumber(value(r.channels.records_per_s) as number)} / ${
          shortNumber(value(r.channels.records_4kib_per_s) as number)
        } records/s`,
    ),
    row(
      `event to actuator, loaded, ${realtime(r.events)}, p50 / p99 / p99.9`,
      [r.events.trigger_to_actuator_us],
      () => pcts(r.events.trigger_to_actuator_us, "us"),
      " us",
    ),
    row(
      "event to actuator, loaded, SCHED_FIFO, runtime on CPU 0, p50 / p99 / p99.9",
      [r.events.trigger_to_actuator_split_us],
      () => pcts(r.events.trigger_to_actuator_split_us, "us"),
      " us",
    ),
    row(
      "event to actuator, loaded, SCHED_FIFO, not pinned, p50 / p99 / p99.9",
      [r.events.trigger_to_actuator_unpinned_us],
      () => pcts(r.events.trigger_to_actuator_unpinned_us, "us"),
      " us",
    ),
    row(
      "event to actuator, loaded, normal policy, p50 / p99 / p99.9",
      [r.events.trigger_to_actuator_normal_policy_us],
      () => pcts(r.events.trigger_to_actuator_normal_policy_us, "us"),
      " us",
    ),
    row(
      `1 kHz lateness, idle, ${realtime(r.periodic)}, p50 / p99 / max`,
      [r.periodic.lateness_us_idle],
      () =>
        `${pcts(r.periodic.lateness_us_idle, "", false).trim()} / ${
          n((value(r.periodic.lateness_us_idle) as Distribution).max ?? NaN)
        } us`,
      " us",
    ),
    row(
      `1 kHz lateness, loaded, ${realtime(r.periodic)}, p50 / p99 / max`,
      [r.periodic.lateness_us_loaded],
      () =>
        `${pcts(r.periodic.lateness_us_loaded, "", false).trim()} / ${
          n((value(r.periodic.lateness_us_loaded) as Distribution).max ?? NaN)
        } us`,
    ),
    row(
      "1 kHz lateness, idle, normal policy, p50 / p99 / max",
      [r.periodic.lateness_us_idle_normal_policy],
      () =>
        `${pcts(r.periodic.lateness_us_idle_normal_policy, "", false).trim()} / ${
          n((value(r.periodic.lateness_us_idle_normal_policy) as Distribution).max ?? NaN)
        } us`,
    ),
    row(
      "stream 12 x 25.6 kHz (307,200 samples/s), FFT + anomaly: consumed, dropped",
      [r.stream.samples_per_s, r.stream.dropped_samples],
      () =>
        `${n(value(r.stream.samples_per_s) as number)} samples/s, ${
          n(value(r.stream.dropped_samples) as number)
        } dropped`,
      ["", " dropped"],
    ),
    row(
      "stream 12 x 25.6 kHz, CPU",
      [r.stream.cpu_percent],
      () => `${n(value(r.stream.cpu_percent) as number)}% of one core`,
      "%",
    ),
    row(
      "stream, highest rate sustained",
      [r.stream.max_sustained_samples_per_s],
      () => `${n(value(r.stream.max_sustained_samples_per_s) as number)} samples/s`,
    ),
    row(
      "process to module running, 16 MiB: cold / snapshot",
      [cs.process_to_first_sample_ms.without_snapshot, cs.process_to_first_sample_ms.with_snapshot],
      () =>
        `${n((value(cs.process_to_first_sample_ms.without_snapshot) as Distribution).p50)} / ` +
        `${n((value(cs.process_to_first_sample_ms.with_snapshot) as Distribution).p50)} ms`,
    ),
    row(
      "kiln run to the demo's first fft window: resumed from snapshot / without; floor (bare deno run " +
        "importing Kiln's npm packages), p50",
      [
        cs.process_to_first_window_ms.with_snapshot,
        cs.process_to_first_window_ms.without_snapshot,
        cs.floor_ms.npm_imports,
        cs.first_window_to_floor_ratio,
      ],
      () =>
        `${n((value(cs.process_to_first_window_ms.with_snapshot) as Distribution).p50)} / ${
          n((value(cs.process_to_first_window_ms.without_snapshot) as Distribution).p50)
        } ms; floor ${n((value(cs.floor_ms.npm_imports) as Distribution).p50)} ms (${
          n(value(cs.first_window_to_floor_ratio) as number)
        }x)`,
      [" ms", "", "", "x"],
    ),
    row(
      "the same from the one-file bundle (dist/kiln.js, what `deno task package` runs): resumed / without, p50",
      [
        cs.process_to_first_window_ms.bundle_with_snapshot,
        cs.process_to_first_window_ms.bundle_without_snapshot,
        cs.floor_ms.npm_imports,
        cs.bundle_first_window_to_floor_ratio,
      ],
      () =>
        `${n((value(cs.process_to_first_window_ms.bundle_with_snapshot) as Distribution).p50)} / ${
          n((value(cs.process_to_first_window_ms.bundle_without_snapshot) as Distribution).p50)
        } ms (${n(value(cs.bundle_first_window_to_floor_ratio) as number)}x the floor)`,
      [" ms", "", "", "x"],
    ),
    memRow("1 MiB", "1_mib"),
    memRow("16 MiB", "16_mib"),
    memRow("64 MiB, 4 MiB used", "64_mib_4_mib_used"),
    memRow("64 MiB", "64_mib"),
    row(
      "10 modules at 200 Hz: CPU, worst jitter",
      [iso.cpu_percent, iso.max_jitter_ms],
      () =>
        `${n(value(iso.cpu_percent) as number)}% of one core, ${n(value(iso.max_jitter_ms) as number)} ms`,
    ),
    row(
      "resident overhead per idle module",
      [iso.overhead_per_module_kb],
      () =>
        `${n(value(iso.overhead_per_module_kb) as number)} KiB (0 to 100 modules)` +
        (typeof iso.marginal_overhead_per_module_kb === "number"
          ? `, ${n(iso.marginal_overhead_per_module_kb)} KiB (10 to 100)`
          : ""),
      " KiB",
    ),
    row(
      "API GET /api/v1/modules (wrk), p50",
      [api.requests_per_s],
      () => `${n((value(api.requests_per_s) as Distribution).p50)} requests/s`,
    ),
    ...(api.ratio_to_bare_hono && api.bare_hono_requests_per_s && api.health_requests_per_s
      ? (["health", "modules"] as const).map((route) => {
        const kiln = route === "health" ? api.health_requests_per_s! : api.requests_per_s;
        const bare = api.bare_hono_requests_per_s![route];
        return row(
          `API GET ${route === "health" ? "/health" : "/api/v1/modules"}: Kiln vs a bare Hono app, p50`,
          [kiln, bare, api.ratio_to_bare_hono![route]],
          () =>
            `${n((value(kiln) as Distribution).p50)} vs ${
              n((value(bare) as Distribution).p50)
            } requests/s: ` +
            `${n(value(api.ratio_to_bare_hono![route]) as number)}x`,
        );
      })
      : []),
    row(
      "WebSocket 1 kHz to 100 subscribers",
      [api.ws_frames_per_s, api.ws_dropped_frames],
      () =>
        `${n(value(api.ws_frames_per_s) as number)} frames/s, ${
          n(value(api.ws_dropped_frames) as number)
        } dropped`,
    ),
    row(
      "security suite: cases / escapes",
      [r.security.attack_cases, r.security.escapes],
      () => `${n(value(r.security.attack_cases) as number)} / ${n(value(r.security.escapes) as number)}`,
    ),
    securityByClass(r.security.cases_by_class),
    ...fleetRows(r.fleet),
    ...replayRows(r.replay),
    ...footprintRows(r),
  ];
}

/** The one-file install's size and the gateway's resident memory (issue #20). */
function footprintRows(r: Report): Row[] {
  const out: Row[] = [];
  const p = r.package;
  if (p !== undefined) {
    out.push(row(
      "one-file install (deno task package): size; Deno's share; first / later run",
      [p.size_mib, p.deno_share_percent, p.first_run_ms],
      () =>
        `${n(value(p.size_mib) as number)} MiB; ${n(value(p.deno_share_percent) as number)}%; ${
          n(value(p.first_run_ms) as number)
        } / ${n((value(p.warm_run_ms) as Distribution).p50)} ms`,
    ));
  }
  const f = r.footprint;
  if (f !== undefined) {
    out.push(row(
      "resident memory, whole process tree: demo; no module; per idle module from 0 / from 10",
      [f.demo_rss_mib, f.empty_rss_mib, f.per_idle_module_from_0_kib, f.per_idle_module_from_10_kib],
      () =>
        `${n(value(f.demo_rss_mib) as number)} MiB; ${n(value(f.empty_rss_mib) as number)} MiB; ${
          n(value(f.per_idle_module_from_0_kib) as number)
        } / ${n(value(f.per_idle_module_from_10_kib) as number)} KiB`,
    ));
  }
  return out;
}

/** Recording overhead, replay speed and the 1000-run determinism figure (issue #19). */
function replayRows(x: Report["replay"]): Row[] {
  if (x === undefined) return [];
  const det = x.determinism_consistency_percent;
  return [
    row(
      "recording: samples/s on the stream path without / with; anomaly handler us without / with",
      [
        x.samples_per_s_without_recording,
        x.samples_per_s_with_recording,
        x.handler_us_without_recording,
        x.handler_us_with_recording,
      ],
      () =>
        `${n(value(x.samples_per_s_without_recording) as number)} / ${
          n(value(x.samples_per_s_with_recording) as number)
        } samples/s (${n(value(x.recording_overhead_percent) as number)}%); ${
          n(value(x.handler_us_without_recording) as number)
        } / ${n(value(x.handler_us_with_recording) as number)} us`,
    ),
    row(
      "replay: invocations/s against live",
      [x.replay_invocations_per_s, x.live_invocations_per_s],
      () =>
        `${n(value(x.replay_invocations_per_s) as number)} vs ${
          n(value(x.live_invocations_per_s) as number)
        } invocations/s (${n(value(x.speedup_ratio) as number)}x)`,
    ),
    row(
      "determinism: identical output hashes over replays, fft / anomaly / temperature / aggregator / safety",
      [det.fft, det.anomaly, det.temperature, det.aggregator, x.determinism_runs_count],
      () =>
        `${
          [det.fft, det.anomaly, det.temperature, det.aggregator, det.safety ?? null]
            .filter((d) => d !== null).map((d) => `${n(value(d) as number)}%`).join(" / ")
        } of ${n(value(x.determinism_runs_count) as number)} runs`,
    ),
    ...(x.recording_live === undefined ? [] : [recordingLiveRow(x.recording_live)]),
  ];
}

/** Live recording through the runtime: CPU, anomaly p99, drops and overruns with nothing / anomaly / all recorded. */
function recordingLiveRow(l: NonNullable<Report["replay"]>["recording_live"] & object): Row {
  const three = (f: { off: unknown; anomaly: unknown; all: unknown }) =>
    [f.off, f.anomaly, f.all].map((v) => n(value(v as never) as number)).join(" / ");
  return row(
    `recording live, ${
      n(value(l.sensors_count) as number)
    } sensors, nothing / every anomaly / every module ` +
      "recorded: CPU % of a core; anomaly p99 us; dropped samples; overruns",
    [l.cpu_percent.off, l.cpu_percent.anomaly, l.cpu_percent.all, l.anomaly_handler_p99_us.all],
    () =>
      `${three(l.cpu_percent)} %; ${three(l.anomaly_handler_p99_us)} us; ${three(l.dropped_samples_count)}; ${
        three(l.budget_overruns_count)
      }`,
  );
}

/** One row per fleet size: rollout time, the controller's CPU and memory, the broker's rate. */
function fleetRows(fleet: Report["fleet"]): Row[] {
  if (fleet === undefined) return [];
  return Object.entries(fleet.sizes).map(([devices, f]) =>
    row(
      `fleet rollout (1, 10%, 100%) to ${
        n(Number(devices))
      } devices: completed / all running; controller; broker`,
      [f.rollout_completed_ms, f.all_devices_converged_ms, f.controller_cpu_ms, f.controller_peak_rss_mib],
      () =>
        `${n((value(f.rollout_completed_ms) as number) / 1000)} / ${
          n((value(f.all_devices_converged_ms) as number) / 1000)
        } s; ${n((value(f.controller_cpu_ms) as number) / 1000)} s CPU, ${
          n(value(f.controller_peak_rss_mib) as number)
        } MiB peak; ` +
        (typeof f.broker_received_msgs_per_s === "number" && typeof f.broker_sent_msgs_per_s === "number"
          ? `${n(f.broker_received_msgs_per_s)} in / ${n(f.broker_sent_msgs_per_s)} out msgs/s`
          : "broker rate n/a"),
    )
  );
}

/** The security suite per class, `class cases/escapes` each, or why it is missing. */
function securityByClass(byClass: Report["security"]["cases_by_class"]): Row {
  const what = "security suite by class: cases / escapes";
  if (byClass === undefined) {
    return { what, figure: "n/a (not counted by class in this report)", target: "", met: null };
  }
  if (isUnavailable(byClass)) return row(what, [byClass], () => "");
  const figure = Object.entries(byClass).map(([name, c]) => `${name} ${n(c.cases)}/${n(c.escapes)}`).join(
    ", ",
  );
  return { what, figure: figure || "no cases", target: "", met: null };
}

const metText = (m: boolean | null) => (m === null ? "" : m ? "yes" : "NO");

/** The rows as a fixed-width text table. */
export function formatTable(rows: readonly Row[]): string {
  const header: Row = { what: "what", figure: "figure", target: "target", met: null };
  const cells = [header, ...rows].map((
    r,
    i,
  ) => [r.what, r.figure, r.target, i === 0 ? "met" : metText(r.met)]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c]!)).join("  ").trimEnd();
  return [line(cells[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join(
    "\n",
  );
}

/** The Performance section's Markdown: the machine, the command, the table and the charts. */
export function markdown(r: Report, rows: readonly Row[]): string {
  const m = r.machine;
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const charts = r.curves.flatMap((c) =>
    c.svg.length > 0
      ? c.svg.map((s) => `![${s.title}](${s.file})`)
      : [`(${c.title}: not measured: ${c.reason})`]
  );
  const memory = m.memory_mib === null ? "unknown memory" : `${Math.round(m.memory_mib / 1024)} GiB`;
  const minutes = Math.max(1, Math.round(r.run_s / 60));
  const took = r.command === "deno task bench" ? `about ${minutes} minutes; ` : "";
  return [
    [
      `Measured with \`deno task bench\` (${took}\`deno task bench --only compute,api\` for a part)`,
      `on ${m.cores} cores of an ${m.cpu_model}, ${memory}, ${m.os}, Deno ${m.deno} / V8 ${
        m.v8.replace(/-.*$/, "")
      },`,
      `${m.gcc ?? "no gcc"}, ${m.clang ?? "no clang-19"}; Kiln ${r.kiln.version} at ${
        r.kiln.commit ?? "an unknown commit"
      },`,
      `${r.generated_at.slice(0, 10)}. Every figure with its distribution and method is in`,
      "[bench/results/latest.json](bench/results/latest.json); the curves' data are the CSV files beside it. The",
      "machine is shared and noisy: tails vary from run to run.",
    ].join("\n"),
    "",
    "| what | figure | target | met |",
    "| --- | --- | --- | --- |",
    ...rows.map((x) => `| ${esc(x.what.trim())} | ${esc(x.figure)} | ${esc(x.target)} | ${metText(x.met)} |`),
    "",
    ...charts,
    "",
  ].join("\n");
}
