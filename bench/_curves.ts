/**
 * The report's scaling curves, written to `bench/results/` as CSV and rendered as SVG line charts:
 * resident memory and CPU against the number of modules (bench/isolation.ts), throughput and CPU against the
 * sample rate (bench/rate.ts), and start and restore time against memory size (bench/cold_start.ts).
 *
 * @module
 */
import type { Report } from "./report_schema.ts";
import type { Source } from "./_source.ts";
import { lineChart, toCsv } from "./_svg.ts";

type Curve = Report["curves"][number];
type Row = Record<string, unknown>;

const RESULTS = new URL("results/", import.meta.url);
const MIB = 1024 * 1024;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const rows = (src: Source, key: string): Row[] | null => {
  const v = src.data?.[key];
  return Array.isArray(v) && v.length > 0 ? (v as Row[]) : null;
};

async function write(name: string, text: string): Promise<string> {
  await Deno.writeTextFile(new URL(name, RESULTS), text);
  return `bench/results/${name}`;
}

function missing(name: string, title: string, reason: string): Curve {
  return { name, title, csv: `bench/results/${name}.csv`, svg: [], reason };
}

async function modulesCurve(src: Source): Promise<Curve> {
  const name = "scaling_modules";
  const title = "Resident memory and CPU against the number of modules";
  const idle = rows(src, "idle"), active = rows(src, "active");
  if (!idle || !active) {
    return missing(name, title, src.data ? "bench/results/isolation.json has no points" : src.reason);
  }
  const counts = [...new Set([...idle, ...active].map((p) => p.modules as number))].sort((a, b) => a - b);
  const at = (list: Row[], n: number) => list.find((p) => p.modules === n);
  const csv = toCsv(
    [
      "modules",
      "rss_idle_mib",
      "linear_memory_mib",
      "overhead_per_module_kb",
      "rss_active_mib",
      "cpu_percent_active",
      "max_jitter_ms_active",
    ],
    counts.map((n) => {
      const i = at(idle, n), a = at(active, n);
      return [
        n,
        i ? round((i.rss_bytes as number) / MIB, 1) : null,
        i ? round((i.linear_memory_bytes as number) / MIB, 2) : null,
        (i?.overhead_per_module_kb as number | null | undefined) ?? null,
        a ? round((a.rss_bytes as number) / MIB, 1) : null,
        (a?.cpu_percent as number | undefined) ?? null,
        (a?.max_jitter_ms as number | undefined) ?? null,
      ];
    }),
  );
  const memory = lineChart({
    title: "Resident memory against idle modules",
    x: { label: "modules (idle, 1 tick/s)" },
    y: { label: "MiB" },
    series: [
      {
        name: "process resident memory",
        points: idle.map((p) => [p.modules as number, (p.rss_bytes as number) / MIB]),
      },
      {
        name: "of which modules' linear memory",
        points: idle.map((p) => [p.modules as number, (p.linear_memory_bytes as number) / MIB]),
      },
    ],
  });
  const cpu = lineChart({
    title: "CPU against active modules (200 Hz ticks)",
    x: { label: "modules" },
    y: { label: "% of one core (whole process)" },
    series: [{ name: "CPU", points: active.map((p) => [p.modules as number, p.cpu_percent as number]) }],
  });
  return {
    name,
    title,
    csv: await write(`${name}.csv`, csv),
    svg: [
      { file: await write("modules_memory.svg", memory), title: "Resident memory against idle modules" },
      { file: await write("modules_cpu.svg", cpu), title: "CPU against active modules (200 Hz ticks)" },
    ],
    reason: null,
  };
}

async function rateCurve(src: Source): Promise<Curve> {
  const name = "scaling_rate";
  const title = "Throughput and CPU against the sample rate (FFT + anomaly)";
  const points = rows(src, "points");
  if (!points) return missing(name, title, src.data ? "bench/results/rate.json has no points" : src.reason);
  const csv = toCsv(
    [
      "sensors",
      "rate_hz",
      "offered_samples_per_s",
      "samples_per_s",
      "dropped_samples",
      "cpu_percent",
      "sustained",
    ],
    points.map((p) => [
      p.sensors as number,
      p.rate_hz as number,
      p.offered_samples_per_s as number,
      p.samples_per_s as number,
      p.dropped_samples as number,
      p.cpu_percent as number,
      p.sustained as boolean,
    ]),
  );
  const offered = points.map((p) => p.offered_samples_per_s as number);
  const throughput = lineChart({
    title: "Samples consumed against samples offered",
    x: { label: "offered samples/s", scale: "log" },
    y: { label: "consumed samples/s", scale: "log" },
    series: [
      {
        name: "consumed by FFT + anomaly",
        points: points.map((p) => [p.offered_samples_per_s as number, p.samples_per_s as number]),
      },
      { name: "offered", points: offered.map((o) => [o, o]), dashed: true },
    ],
  });
  const cpu = lineChart({
    title: "CPU against the sample rate",
    x: { label: "offered samples/s", scale: "log" },
    y: { label: "% of one core (whole process)" },
    series: [{
      name: "CPU",
      points: points.map((p) => [p.offered_samples_per_s as number, p.cpu_percent as number]),
    }],
  });
  return {
    name,
    title,
    csv: await write(`${name}.csv`, csv),
    svg: [
      {
        file: await write("rate_throughput.svg", throughput),
        title: "Samples consumed against samples offered",
      },
      { file: await write("rate_cpu.svg", cpu), title: "CPU against the sample rate" },
    ],
    reason: null,
  };
}

async function restoreCurve(src: Source): Promise<Curve> {
  const name = "scaling_restore";
  const title = "Start and restore time against memory size";
  const cases = rows(src, "in_process");
  if (!cases) {
    return missing(name, title, src.data ? "bench/results/cold_start.json has no cases" : src.reason);
  }
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const sorted = cases.toSorted((a, b) => (a.used_mib as number) - (b.used_mib as number));
  const csv = toCsv(
    [
      "memory_mib",
      "used_mib",
      "without_snapshot_ms",
      "with_snapshot_ms",
      "read_ms",
      "restore_ms",
      "stored_bytes",
    ],
    sorted.map((c) => [
      num(c.memory_mib),
      num(c.used_mib),
      num(c.without_snapshot_ms),
      num(c.with_snapshot_ms),
      num(c.read_ms),
      num(c.restore_ms),
      num(c.stored_bytes),
    ]),
  );
  const series = (label: string, key: string) => ({
    name: label,
    points: sorted.filter((c) => num(c[key]) !== null).map((c) =>
      [c.used_mib as number, c[key] as number] as const
    ),
  });
  const chart = lineChart({
    title: "Module start against memory in use (median of 5)",
    x: { label: "linear memory in use, MiB", scale: "log" },
    y: { label: "ms", scale: "log" },
    series: [
      series("kiln_init (no snapshot)", "without_snapshot_ms"),
      series("from a snapshot, in all", "with_snapshot_ms"),
      series("of which reading it", "read_ms"),
      series("of which instantiating and copying in", "restore_ms"),
    ].filter((s) => s.points.length > 0),
  });
  return {
    name,
    title,
    csv: await write(`${name}.csv`, csv),
    svg: [{ file: await write("restore_memory.svg", chart), title: "Module start against memory in use" }],
    reason: null,
  };
}

/** Writes every curve's CSV and charts; a curve whose results are missing is listed with the reason. */
export async function writeCurves(
  sources: { isolation: Source; rate: Source; coldStart: Source },
): Promise<Curve[]> {
  await Deno.mkdir(RESULTS, { recursive: true });
  return [
    await modulesCurve(sources.isolation),
    await rateCurve(sources.rate),
    await restoreCurve(sources.coldStart),
  ];
}
