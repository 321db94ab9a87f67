/**
 * The dashboard's charts, browser JavaScript kept as a string (served inside `/ui/app.js`): a log-scale
 * spectrum and a rolling time chart with limit lines, drawn on `<canvas>`. Written here, not taken from a
 * charting library, because no third-party code may be committed and the assets must need no build step
 * (see `mod.ts`). Plain ES2020 with no template literals, so the TypeScript string needs no escaping; the
 * unit test parses it.
 *
 * @module
 */

/** Chart classes and their helpers; `_app_js.ts` uses `SpectrumChart` and `TimeChart`. */
export const CHARTS_JS = String.raw`
const PAD = { left: 52, right: 12, top: 12, bottom: 26 };
const dirtyCharts = new Set();
let drawFrame = 0;

/** Redraws a chart at the next animation frame, once however often it is asked. */
function scheduleDraw(chart) {
  dirtyCharts.add(chart);
  if (drawFrame === 0) {
    drawFrame = requestAnimationFrame(() => {
      drawFrame = 0;
      const charts = [...dirtyCharts];
      dirtyCharts.clear();
      for (const c of charts) c.draw();
    });
  }
}

/** The chart colours from the page's custom properties, so light and dark themes apply. */
function chartColors(canvas) {
  const s = getComputedStyle(canvas);
  const v = (name, fallback) => s.getPropertyValue(name).trim() || fallback;
  return {
    fg: v("--fg", "#222"),
    grid: v("--chart-grid", "#ddd"),
    axis: v("--chart-axis", "#666"),
    limit: v("--chart-limit", "#c62828"),
    series: [v("--chart-1", "#2563eb"), v("--chart-2", "#d97706"), v("--chart-3", "#059669"),
      v("--chart-4", "#9333ea")],
  };
}

/** Sizes the canvas backing store to its CSS box times the device pixel ratio; returns a context in CSS px. */
function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, canvas.clientWidth);
  const h = Math.max(1, canvas.clientHeight);
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, w, h };
}

/** About count round ticks (steps of 1, 2 or 5 times a power of ten) from min to max. */
function niceTicks(min, max, count) {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

/** A number for an axis or a readout: few digits, no exponent for everyday magnitudes. */
function formatNumber(v) {
  if (typeof v !== "number" || !isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a >= 0.001) return v.toFixed(Math.min(6, 2 - Math.floor(Math.log10(a)) + 1));
  return v.toExponential(1);
}

function drawFrameBox(ctx, w, h, colors) {
  ctx.strokeStyle = colors.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(PAD.left + 0.5, PAD.top + 0.5, w - PAD.left - PAD.right, h - PAD.top - PAD.bottom);
}

function drawMessage(ctx, w, h, colors, text) {
  ctx.fillStyle = colors.axis;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
}

/**
 * An amplitude spectrum: bins of binHz each from 0 Hz, on a log amplitude axis four decades deep below the
 * largest bin's decade. canvas.dataset.frames counts the spectra received.
 */
class SpectrumChart {
  constructor(canvas, options) {
    this.canvas = canvas;
    this.binHz = options.binHz;
    this.unit = options.unit || "";
    this.values = null;
    this.frames = 0;
    new ResizeObserver(() => scheduleDraw(this)).observe(canvas);
  }

  set(values) {
    if (!Array.isArray(values)) return;
    this.values = values;
    this.frames++;
    this.canvas.dataset.frames = String(this.frames);
    scheduleDraw(this);
  }

  clear() {
    this.values = null;
    scheduleDraw(this);
  }

  draw() {
    const { ctx, w, h } = fitCanvas(this.canvas);
    const colors = chartColors(this.canvas);
    const v = this.values;
    if (!v || v.length === 0) {
      drawFrameBox(ctx, w, h, colors);
      return drawMessage(ctx, w, h, colors, "waiting for a spectrum");
    }
    const pw = w - PAD.left - PAD.right;
    const ph = h - PAD.top - PAD.bottom;
    const maxHz = v.length * this.binHz;
    const peak = Math.max(...v.filter((x) => x > 0), 1e-9);
    const top = Math.ceil(Math.log10(peak));
    const bottom = top - 4;
    const x = (hz) => PAD.left + (hz / maxHz) * pw;
    const y = (a) => {
      const l = a > 0 ? Math.log10(a) : bottom;
      return PAD.top + (1 - (Math.min(top, Math.max(bottom, l)) - bottom) / (top - bottom)) * ph;
    };
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let d = bottom; d <= top; d++) {
      const yy = Math.round(y(Math.pow(10, d))) + 0.5;
      ctx.strokeStyle = colors.grid;
      ctx.beginPath();
      ctx.moveTo(PAD.left, yy);
      ctx.lineTo(w - PAD.right, yy);
      ctx.stroke();
      ctx.fillStyle = colors.axis;
      // 1, 0.1, 0.01, 0.001, 0.0001, 1e-7: one significant digit, JavaScript's own notation.
      ctx.fillText(String(Number(Math.pow(10, d).toPrecision(1))), PAD.left - 4, yy);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const khz of niceTicks(0, maxHz / 1000, 8)) {
      const xx = Math.round(x(khz * 1000)) + 0.5;
      ctx.strokeStyle = colors.grid;
      ctx.beginPath();
      ctx.moveTo(xx, PAD.top);
      ctx.lineTo(xx, h - PAD.bottom);
      ctx.stroke();
      ctx.fillStyle = colors.axis;
      ctx.fillText(formatNumber(khz), xx, h - PAD.bottom + 4);
    }
    ctx.textAlign = "right";
    ctx.fillText("kHz", w - PAD.right, h - PAD.bottom + 14);
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(this.unit, 4, 2);

    const base = y(Math.pow(10, bottom));
    ctx.beginPath();
    ctx.moveTo(x(0), base);
    for (let i = 0; i < v.length; i++) ctx.lineTo(x((i + 0.5) * this.binHz), y(v[i]));
    ctx.lineTo(x(maxHz), base);
    ctx.closePath();
    ctx.globalAlpha = 0.25;
    ctx.fillStyle = colors.series[0];
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.strokeStyle = colors.series[0];
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    for (let i = 0; i < v.length; i++) {
      const px = x((i + 0.5) * this.binHz);
      if (i === 0) ctx.moveTo(px, y(v[i]));
      else ctx.lineTo(px, y(v[i]));
    }
    ctx.stroke();
    drawFrameBox(ctx, w, h, colors);
  }
}

/**
 * Rolling time series over the last windowMs (by the server's timestamps): series drawn as lines, limits as
 * dashed horizontal lines, the y axis fitted to both.
 */
class TimeChart {
  constructor(canvas, options) {
    this.canvas = canvas;
    this.windowMs = options.windowMs || 60000;
    this.unit = options.unit || "";
    this.series = options.series.map((s, i) => ({ key: s.key, label: s.label, color: i, points: [] }));
    this.limits = new Map();
    this.latest = 0;
    new ResizeObserver(() => scheduleDraw(this)).observe(canvas);
  }

  /** Adds a value of the series key at time t (ms since the epoch); not a number: ignored. */
  push(key, t, value) {
    const s = this.series.find((x) => x.key === key);
    if (!s || typeof value !== "number" || !isFinite(value)) return;
    const last = s.points[s.points.length - 1];
    if (last && last[0] === t) last[1] = value;
    else s.points.push([t, value]);
    this.latest = Math.max(this.latest, t);
    const from = this.latest - this.windowMs;
    for (const x of this.series) {
      let n = 0;
      while (n < x.points.length - 1 && x.points[n + 1][0] < from) n++;
      if (n > 0) x.points.splice(0, n);
    }
    scheduleDraw(this);
  }

  /** Sets (or with a non-number, removes) a horizontal limit line. */
  setLimit(label, value) {
    if (typeof value === "number" && isFinite(value)) this.limits.set(label, value);
    else this.limits.delete(label);
    scheduleDraw(this);
  }

  clear() {
    for (const s of this.series) s.points = [];
    this.limits.clear();
    this.latest = 0;
    scheduleDraw(this);
  }

  draw() {
    const { ctx, w, h } = fitCanvas(this.canvas);
    const colors = chartColors(this.canvas);
    const pw = w - PAD.left - PAD.right;
    const ph = h - PAD.top - PAD.bottom;
    const values = [];
    for (const s of this.series) for (const p of s.points) values.push(p[1]);
    if (values.length === 0) {
      drawFrameBox(ctx, w, h, colors);
      return drawMessage(ctx, w, h, colors, "waiting for values");
    }
    for (const v of this.limits.values()) values.push(v);
    let lo = Math.min(...values);
    let hi = Math.max(...values);
    const margin = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
    lo -= margin;
    hi += margin;
    if (lo > 0 && lo < hi * 0.25) lo = 0;
    const t1 = this.latest;
    const t0 = t1 - this.windowMs;
    const x = (t) => PAD.left + ((t - t0) / this.windowMs) * pw;
    const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * ph;

    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(lo, hi, 5)) {
      const yy = Math.round(y(t)) + 0.5;
      ctx.strokeStyle = colors.grid;
      ctx.beginPath();
      ctx.moveTo(PAD.left, yy);
      ctx.lineTo(w - PAD.right, yy);
      ctx.stroke();
      ctx.fillStyle = colors.axis;
      ctx.fillText(formatNumber(t), PAD.left - 4, yy);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const stepS = this.windowMs >= 60000 ? 10 : 5;
    for (let s = 0; s * 1000 <= this.windowMs; s += stepS) {
      const xx = Math.round(x(t1 - s * 1000)) + 0.5;
      ctx.strokeStyle = colors.grid;
      ctx.beginPath();
      ctx.moveTo(xx, PAD.top);
      ctx.lineTo(xx, h - PAD.bottom);
      ctx.stroke();
      ctx.fillStyle = colors.axis;
      ctx.fillText(s === 0 ? "now" : "-" + s + " s", xx, h - PAD.bottom + 4);
    }
    ctx.textAlign = "left";
    ctx.fillText(this.unit, 4, 2);

    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.left, PAD.top, pw, ph);
    ctx.clip();
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = colors.limit;
    ctx.fillStyle = colors.limit;
    ctx.textAlign = "right";
    ctx.textBaseline = "bottom";
    for (const [label, v] of this.limits) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, yy);
      ctx.lineTo(w - PAD.right, yy);
      ctx.stroke();
      ctx.fillText(label + " " + formatNumber(v), w - PAD.right - 4, yy - 2);
    }
    ctx.setLineDash([]);
    ctx.lineWidth = 1.5;
    for (const s of this.series) {
      if (s.points.length === 0) continue;
      ctx.strokeStyle = colors.series[s.color % colors.series.length];
      ctx.beginPath();
      s.points.forEach((p, i) => i === 0 ? ctx.moveTo(x(p[0]), y(p[1])) : ctx.lineTo(x(p[0]), y(p[1])));
      if (s.points.length === 1) ctx.lineTo(x(s.points[0][0]) - 2, y(s.points[0][1]));
      ctx.stroke();
    }
    ctx.restore();

    // Legend, top left inside the plot.
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    let lx = PAD.left + 8;
    for (const s of this.series) {
      const color = colors.series[s.color % colors.series.length];
      ctx.fillStyle = color;
      ctx.fillRect(lx, PAD.top + 9, 12, 3);
      ctx.fillStyle = colors.fg;
      ctx.fillText(s.label, lx + 16, PAD.top + 10);
      lx += 24 + ctx.measureText(s.label).width;
    }
    drawFrameBox(ctx, w, h, colors);
  }
}
`;
