/**
 * The fleet benchmark's curve: rollout time and controller memory against the number of devices (log x
 * axis), two charts side by side in one SVG (`bench/results/fleet_scale.svg`), and its data as CSV
 * (`bench/results/scaling_fleet.csv`). Sizes that did not complete have no point.
 *
 * @module
 */
import { ROOT } from "../_plan.ts";
import type { Report } from "../report_schema.ts";
import type { Source } from "../_source.ts";
import { lineChart, shortNumber, toCsv } from "../_svg.ts";
import type { SizeResult } from "./_run.ts";

/** The files, relative to the repository. */
export const FLEET_SVG = "bench/results/fleet_scale.svg";
export const FLEET_CSV = "bench/results/scaling_fleet.csv";

const MIB_KB = 1024;
type Curve = Report["curves"][number];

/** The two charts in one SVG document. @throws {RangeError} when no size completed. */
export function fleetSvg(sizes: readonly SizeResult[]): string {
  const done = sizes.filter((s) => s.outcome === "completed");
  if (done.length === 0) throw new RangeError("No fleet size completed: nothing to draw");
  const pt = (f: (s: SizeResult) => number | null) =>
    done.flatMap((s) => (f(s) === null ? [] : [[s.devices, f(s)!] as const]));
  const failed = sizes.filter((s) => s.outcome !== "completed").map((s) => shortNumber(s.devices));
  const time = lineChart({
    title: `Rollout time against devices${
      failed.length === 0 ? "" : ` (did not complete: ${failed.join(", ")})`
    }`,
    x: { label: "simulated devices", scale: "log" },
    y: { label: "seconds from rollout creation", min: 0 },
    series: [
      {
        name: "rollout completed",
        points: pt((s) => s.rollout_completed_ms && s.rollout_completed_ms / 1000),
      },
      {
        name: "every device running it",
        points: pt((s) => s.all_devices_converged_ms && s.all_devices_converged_ms / 1000),
      },
    ],
  });
  const memory = lineChart({
    title: "Controller during the rollout",
    x: { label: "simulated devices", scale: "log" },
    y: { label: "MiB (peak RSS) / % of one core", min: 0 },
    series: [
      {
        name: "peak RSS, MiB",
        points: pt((s) => s.controller_peak_rss_kb && s.controller_peak_rss_kb / MIB_KB),
      },
      { name: "CPU, % of one core", points: pt((s) => s.controller_cpu_percent) },
    ],
  });
  const inner = (svg: string, x: number) =>
    svg.replace(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /, `<svg x="${x}" y="0" `);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="360" viewBox="0 0 1280 360">`,
    inner(time, 0).trimEnd(),
    inner(memory, 640).trimEnd(),
    "</svg>",
    "",
  ].join("\n");
}

/** The sizes as CSV, one row each (a failed size with its reason). */
export function fleetCsv(sizes: readonly SizeResult[]): string {
  return toCsv(
    [
      "devices",
      "outcome",
      "all_devices_converged_ms",
      "rollout_completed_ms",
      "controller_cpu_ms",
      "controller_cpu_percent",
      "controller_peak_rss_kb",
      "agents_cpu_ms",
      "broker_cpu_ms",
      "broker_received_msgs_per_s",
      "broker_sent_msgs_per_s",
      "broker_peak_received_msgs_per_s",
      "broker_peak_sent_msgs_per_s",
      "reason",
    ],
    sizes.map((s) => [
      s.devices,
      s.outcome,
      s.all_devices_converged_ms,
      s.rollout_completed_ms,
      s.controller_cpu_ms,
      s.controller_cpu_percent,
      s.controller_peak_rss_kb,
      s.agents_cpu_ms,
      s.broker_cpu_ms,
      s.broker_received_msgs_per_s,
      s.broker_sent_msgs_per_s,
      s.broker_peak_received_msgs_per_s,
      s.broker_peak_sent_msgs_per_s,
      s.reason,
    ]),
  );
}

/**
 * The curve of the report (`bench/_report.ts`): rewrites the CSV and SVG from `bench/results/fleet.json`,
 * or says why they are missing.
 */
export async function fleetCurve(src: Source): Promise<Curve> {
  const name = "scaling_fleet";
  const title = "Rollout time and controller memory against the number of devices";
  const sizes = src.data?.sizes;
  const missing = (reason: string): Curve => ({ name, title, csv: FLEET_CSV, svg: [], reason });
  if (src.data === null) return missing(src.reason);
  if (!Array.isArray(sizes) || sizes.length === 0) return missing("bench/results/fleet.json has no sizes");
  const list = sizes as SizeResult[];
  await Deno.writeTextFile(`${ROOT}${FLEET_CSV}`, fleetCsv(list));
  if (!list.some((s) => s.outcome === "completed")) return missing("no fleet size completed");
  await Deno.writeTextFile(`${ROOT}${FLEET_SVG}`, fleetSvg(list));
  return { name, title, csv: FLEET_CSV, svg: [{ file: FLEET_SVG, title }], reason: null };
}
