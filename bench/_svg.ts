/**
 * A small SVG line chart for the benchmark curves: axes with "nice" ticks (linear or log10), axis labels, a
 * title, a legend, and one or more series drawn as lines with point markers. Plain SVG 1.1 text, no scripts
 * and no external fonts, so GitHub renders it inside the README.
 *
 * @example
 * ```ts
 * import { lineChart } from "./_svg.ts";
 * const svg = lineChart({
 *   title: "Resident memory",
 *   x: { label: "modules" },
 *   y: { label: "MiB" },
 *   series: [{ name: "idle", points: [[0, 84], [10, 107], [100, 126]] }],
 * });
 * ```
 *
 * @module
 */

/** One axis: its label, linear or log10 scale, and optional bounds (else from the data). */
export interface AxisOptions {
  label: string;
  /** @default "linear" */
  scale?: "linear" | "log";
  min?: number;
  max?: number;
}

/** One line. Points with a non-finite coordinate (or, on a log axis, not positive) are left out. */
export interface Series {
  name: string;
  points: readonly (readonly [x: number, y: number])[];
  /** A dashed line, e.g. for a reference such as "offered". @default false */
  dashed?: boolean;
}

/** Options of {@linkcode lineChart}. */
export interface LineChartOptions {
  title: string;
  x: AxisOptions;
  y: AxisOptions;
  series: readonly Series[];
  /** @default 640 */
  width?: number;
  /** @default 360 */
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const MARGIN = { top: 36, right: 16, bottom: 48, left: 72 };

/** Escapes text for SVG content and attributes. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A number as a short label: 1,200 → "1.2k", 3,000,000 → "3M". */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** About `count` round tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

/** Powers of ten within [min, max] (and 2x, 5x between them when there are few). */
function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
  const mults = hi - lo <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) {
    for (const m of mults) {
      const v = m * 10 ** e;
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

interface Scale {
  map(v: number): number;
  ticks: number[];
  valid(v: number): boolean;
}

function scale(axis: AxisOptions, values: number[], from: number, to: number): Scale {
  const log = axis.scale === "log";
  const valid = (v: number) => Number.isFinite(v) && (!log || v > 0);
  const data = values.filter(valid);
  let min = axis.min ?? Math.min(...data);
  let max = axis.max ?? Math.max(...data);
  if (data.length === 0) (min = log ? 1 : 0, max = log ? 10 : 1);
  if (log) {
    if (axis.min === undefined) min = 10 ** Math.floor(Math.log10(min));
    if (axis.max === undefined) max = 10 ** Math.ceil(Math.log10(max));
    if (max <= min) max = min * 10;
    const l0 = Math.log10(min), l1 = Math.log10(max);
    return {
      map: (v) => from + ((Math.log10(v) - l0) / (l1 - l0)) * (to - from),
      ticks: logTicks(min, max),
      valid,
    };
  }
  if (axis.min === undefined) min = Math.min(0, min);
  if (max <= min) max = min + 1;
  const ticks = niceTicks(min, max);
  // Extend the axis to the last tick so the top of the data is not cut at the frame.
  const last = ticks.at(-1)!;
  if (axis.max === undefined && last < max) {
    const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : max - min;
    ticks.push(Number((last + step).toPrecision(12)));
  }
  max = Math.max(max, ticks.at(-1)!);
  return {
    map: (v) => from + ((v - min) / (max - min)) * (to - from),
    ticks: ticks.filter((t) => t <= max),
    valid,
  };
}

/**
 * Renders a line chart as an SVG document.
 *
 * @throws {RangeError} when there is no series.
 */
export function lineChart(options: LineChartOptions): string {
  if (options.series.length === 0) throw new RangeError(`Chart "${options.title}" has no series`);
  const width = options.width ?? 640, height = options.height ?? 360;
  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: height - MARGIN.bottom, y1: MARGIN.top };
  const xs = options.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = options.series.flatMap((s) => s.points.map((p) => p[1]));
  const sx = scale(options.x, xs, plot.x0, plot.x1);
  const sy = scale(options.y, ys, plot.y0, plot.y1);
  const f = (v: number) => v.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${
      esc(options.title)
    }</text>`,
  );
  // Grid and ticks.
  for (const t of sy.ticks) {
    const y = f(sy.map(t));
    out.push(
      `<line x1="${plot.x0}" y1="${y}" x2="${plot.x1}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${plot.x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        shortNumber(t)
      }</text>`,
    );
  }
  for (const t of sx.ticks) {
    const x = f(sx.map(t));
    out.push(
      `<line x1="${x}" y1="${plot.y0}" x2="${x}" y2="${plot.y1}" stroke="#f0f0f0"/>`,
      `<line x1="${x}" y1="${plot.y0}" x2="${x}" y2="${plot.y0 + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${plot.y0 + 18}" text-anchor="middle">${shortNumber(t)}</text>`,
    );
  }
  // Axes and their labels.
  out.push(
    `<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x1}" y2="${plot.y0}" stroke="#333"/>`,
    `<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x0}" y2="${plot.y1}" stroke="#333"/>`,
    `<text x="${(plot.x0 + plot.x1) / 2}" y="${height - 10}" text-anchor="middle">${
      esc(options.x.label + (options.x.scale === "log" ? " (log scale)" : ""))
    }</text>`,
    `<text transform="translate(16 ${(plot.y0 + plot.y1) / 2}) rotate(-90)" text-anchor="middle">${
      esc(options.y.label + (options.y.scale === "log" ? " (log scale)" : ""))
    }</text>`,
  );
  // Series.
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter(([x, y]) => sx.valid(x) && sy.valid(y)).map((
      [x, y],
    ) => [sx.map(x), sy.map(y)]);
    if (pts.length === 0) return;
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="6 4"' : ""
      } ` +
        `points="${pts.map(([x, y]) => `${f(x!)},${f(y!)}`).join(" ")}"/>`,
    );
    if (!s.dashed) {
      for (const [x, y] of pts) out.push(`<circle cx="${f(x!)}" cy="${f(y!)}" r="3" fill="${color}"/>`);
    }
  });
  // Legend, top left inside the plot.
  options.series.forEach((s, i) => {
    const y = plot.y1 + 10 + i * 16;
    const color = COLORS[i % COLORS.length]!;
    out.push(
      `<line x1="${plot.x0 + 10}" y1="${y}" x2="${
        plot.x0 + 30
      }" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${plot.x0 + 36}" y="${y}" dominant-baseline="middle">${esc(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** Rows as CSV text (RFC 4180 quoting where needed), with a header line. */
export function toCsv(
  header: readonly string[],
  rows: readonly (readonly (string | number | boolean | null)[])[],
): string {
  const cell = (v: string | number | boolean | null) => {
    const s = v === null ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
}
