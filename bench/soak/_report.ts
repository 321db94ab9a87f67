/**
 * The soak's results: `soak.json`, the memory and latency charts (SVG, with `bench/_svg.ts`), and the
 * summary printed at the end.
 *
 * @module
 */
import { lineChart, type Series } from "../_svg.ts";
import type { CheckStatus, LatencyWindow } from "./_checks.ts";

/** The checks by name, each with at least its status and, when it did not pass, why. */
export type Checks = Record<string, { status: CheckStatus; reason?: string }>;

/** One sample of the gateway, every few seconds. */
export interface GatewaySample {
  readonly t_s: number;
  readonly rss_mib: number;
  /** Of it, anonymous memory (heaps: where a leak shows) and file pages (code, the page cache), MiB. */
  readonly rss_anon_mib: number | null;
  readonly rss_file_mib: number | null;
  /** The launcher (the process that relaunched the runtime in its sandbox), MiB. */
  readonly launcher_rss_mib: number | null;
  /** The runtime process's CPU use since the previous sample, percent of one core. */
  readonly cpu_pct: number | null;
  readonly outbox_depth: number | null;
  readonly outbox_bytes: number | null;
}

/** Keeps at most `max` points, evenly spaced, for a chart (the JSON keeps them all). */
function thin<T>(points: readonly T[], max = 400): T[] {
  if (points.length <= max) return [...points];
  const step = points.length / max;
  return Array.from({ length: max }, (_, i) => points[Math.floor(i * step)]!).concat([points.at(-1)!]);
}

/**
 * The memory chart: resident memory over time, the lower envelope after warm-up (each window's lowest
 * sample) and the line fitted through it, which the memory check judges.
 */
export function memoryChart(
  samples: readonly GatewaySample[],
  fit: {
    warmUpS: number;
    envelope: readonly { t_s: number; rss_mib: number }[];
    slopeMibPerH: number | null;
    interceptMib: number | null;
  },
): string {
  const series: Series[] = [
    { name: "runtime process (VmRSS)", points: thin(samples).map((s) => [s.t_s / 60, s.rss_mib] as const) },
  ];
  if (fit.envelope.length > 1) {
    series.push({
      name: "lower envelope (each window's lowest)",
      points: fit.envelope.map((s) => [s.t_s / 60, s.rss_mib] as const),
    });
  }
  const after = samples.filter((s) => s.t_s >= fit.warmUpS);
  if (fit.slopeMibPerH !== null && fit.interceptMib !== null && after.length > 1) {
    const line = (t: number) => fit.interceptMib! + fit.slopeMibPerH! * (t / 3600);
    series.push({
      name: `its least-squares line: ${fit.slopeMibPerH.toFixed(2)} MiB/h`,
      points: [after[0]!.t_s, after.at(-1)!.t_s].map((t) => [t / 60, line(t)] as const),
      dashed: true,
    });
  }
  return lineChart({
    title: "Kiln soak: resident memory of the gateway",
    x: { label: "minutes" },
    y: { label: "MiB" },
    series,
  });
}

/** The latency chart: per window, the API's p50 and p99 (ms) and the events' p99 (ms), log scale. */
export function latencyChart(windows: readonly LatencyWindow[]): string {
  const at = (w: LatencyWindow) => w.end_s / 60;
  const pts = (pick: (w: LatencyWindow) => number | null) =>
    windows.flatMap((w) => {
      const v = pick(w);
      return v === null ? [] : [[at(w), v] as const];
    });
  return lineChart({
    title: "Kiln soak: latency per window",
    x: { label: "minutes" },
    y: { label: "ms", scale: "log" },
    series: [
      { name: "API request p50", points: pts((w) => w.api.p50_ms) },
      { name: "API request p99", points: pts((w) => w.api.p99_ms) },
      {
        name: "event trigger to pin p50",
        points: pts((w) => w.event.p50_us === null ? null : w.event.p50_us / 1000),
      },
      {
        name: "event trigger to pin p99",
        points: pts((w) => w.event.p99_us === null ? null : w.event.p99_us / 1000),
      },
    ],
  });
}

/** The summary lines printed at the end. */
export function summary(report: { checks: Checks; duration_s: number; error: string | null }): string {
  const lines = [`soak: ${Math.round(report.duration_s)} s`];
  for (const [name, c] of Object.entries(report.checks)) {
    lines.push(`  ${c.status.toUpperCase().padEnd(7)} ${name}${c.reason ? `: ${c.reason}` : ""}`);
  }
  if (report.error !== null) lines.push(`  ERROR   ${report.error}`);
  return lines.join("\n");
}

/** Whether every check passed or was skipped, and the run had no error. */
export function passed(report: { checks: Checks; error: string | null }): boolean {
  return report.error === null && Object.values(report.checks).every((c) => c.status !== "fail");
}

/** Writes `soak.json`, `soak_memory.svg` and `soak_latency.svg` into `dir`. */
export async function writeResults(
  dir: string,
  report: Record<string, unknown>,
  charts: { memory: string; latency: string },
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/soak.json`, JSON.stringify(report, null, 2) + "\n");
  await Deno.writeTextFile(`${dir}/soak_memory.svg`, charts.memory);
  await Deno.writeTextFile(`${dir}/soak_latency.svg`, charts.latency);
}
