/**
 * The dashboard's charts, browser JavaScript kept as a string (served inside `/ui/app.js`), drawn by uPlot
 * (`/ui/uplot.js`, see `_uplot.ts`): the user picks a module, any of its numeric outputs (one series each on
 * a shared time axis) and one of its array outputs (a spectrum: x is the index). Both charts are filled from
 * `GET /api/v1/modules/:name/history` when the module is chosen, so a module that ran before the page opened
 * shows its last 300 s at once, then live from the stream (`outputs/<m>`, `arrays/<m>`). Drag to zoom (the
 * time chart stops following live values until a double click or "Follow live"); the legend shows the values
 * under the cursor.
 *
 * Client memory is bounded: the time chart keeps at most the last 300 s in 250 ms buckets (the history
 * route's `bucket_ms`) for the chosen keys only, and the array chart only the latest array. Keys are shown
 * through `safeText` and `textContent`. Plain ES2020 with no template literals, so the TypeScript string
 * needs no escaping; the unit test parses it.
 *
 * @module
 */

/** `ChartPanel` and `formatNumber`; `_app_js.ts` creates the panel and feeds it stream frames. */
export const CHARTS_JS = String.raw`
const CHART_WINDOW_S = 300;
const CHART_BUCKET_MS = 250;
const CHART_MAX_ROWS = Math.ceil(CHART_WINDOW_S * 1000 / CHART_BUCKET_MS) + 8;
const CHART_MAX_SERIES = 8;
const CHART_HEIGHT = 240;

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

/** The chart colours from the page's custom properties, so light and dark themes apply. */
function chartColors() {
  const s = getComputedStyle(document.documentElement);
  const v = (name, fallback) => s.getPropertyValue(name).trim() || fallback;
  return {
    grid: v("--chart-grid", "#ddd"),
    axis: v("--chart-axis", "#666"),
    series: [v("--chart-1", "#2563eb"), v("--chart-2", "#d97706"), v("--chart-3", "#059669"),
      v("--chart-4", "#9333ea"), v("--chart-5", "#db2777"), v("--chart-6", "#0891b2")],
  };
}

/** An axis in the page's colours; numbers as formatNumber writes them unless it is the time axis. */
function chartAxis(colors, label, time) {
  const axis = {
    stroke: colors.axis,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1 },
  };
  if (label) axis.label = label;
  if (!time) axis.values = (u, splits) => splits.map((v) => v === null ? "" : String(Number(v.toPrecision(4))));
  return axis;
}

/**
 * The charts card: a module picker, a checkbox per numeric output, an array picker, a time chart and an array
 * chart. ids: c-module, c-keys, c-array, c-follow, c-time, c-array-chart, c-note. The time chart's element
 * carries data-points (rows), data-first (oldest time, epoch ms) and data-keys; the array chart's
 * data-frames (arrays received) and data-length.
 */
class ChartPanel {
  constructor(fetchHistory, subscribeArrays) {
    this.fetchHistory = fetchHistory;
    this.subscribeArrays = subscribeArrays;
    this.module = "";
    this.keys = [];
    /** Numeric output keys of the chosen module, as seen in its history or its outputs (checkbox order). */
    this.known = new Set();
    this.arrayKeys = new Set();
    this.arrayKey = "";
    this.rows = { t: [], cols: new Map() };
    this.loading = 0;
    /** Whether the keys shown are still the page's pick (the user has not ticked or unticked one). */
    this.autoPick = true;
    /** A history request is in flight: live rows wait in pending. */
    this.busy = false;
    this.pending = [];
    this.zoomed = false;
    this.frames = 0;
    this.timeChart = null;
    this.arrayChart = null;
    this.drawScheduled = false;
    $("c-module").addEventListener("change", () => this.choose($("c-module").value));
    $("c-array").addEventListener("change", () => this.chooseArray($("c-array").value));
    $("c-follow").addEventListener("click", () => this.follow());
    new ResizeObserver(() => this.resize()).observe($("c-time"));
  }

  /** The modules on offer; keeps the choice, or takes the first module when there was none. */
  setModules(names) {
    const select = $("c-module");
    const want = names.map(String).sort();
    const have = [...select.options].map((o) => o.value);
    if (JSON.stringify(want) !== JSON.stringify(have)) {
      select.replaceChildren(...want.map((n) => el("option", { value: n, text: safeText(n) })));
    }
    if (this.module !== "" && want.includes(this.module)) select.value = this.module;
    else if (want.length > 0) this.choose(want[0]);
    else this.reset("");
  }

  /** Shows module name: its history first, then live values. */
  async choose(name) {
    if ($("c-module").value !== name) $("c-module").value = name;
    if (this.module !== "" && this.module !== name) this.subscribeArrays(this.module, false);
    this.reset(name);
    if (name === "") return;
    this.subscribeArrays(name, true);
    await this.load(null);
  }

  reset(name) {
    this.module = name;
    this.keys = [];
    this.known = new Set();
    this.arrayKeys = new Set();
    this.arrayKey = "";
    this.pending = [];
    this.busy = false;
    this.autoPick = true;
    this.loading++;
    this.zoomed = false;
    this.frames = 0;
    this.rows = { t: [], cols: new Map() };
    $("c-keys").replaceChildren();
    $("c-array").replaceChildren(el("option", { value: "", text: "none" }));
    $("c-note").textContent = "";
    this.rebuildTime();
    this.setArray(null);
  }

  /**
   * Fills the time chart from the history route: all numeric outputs when keys is null (the first load
   * lists them and picks up to four), else those keys. Live frames that come meanwhile are applied after.
   */
  async load(keys) {
    const module = this.module;
    const ticket = ++this.loading;
    this.busy = true;
    let h;
    try {
      h = await this.fetchHistory(module, keys);
    } catch (err) {
      if (ticket !== this.loading) return;
      $("c-note").textContent = "No history for " + safeText(module) + ": " + safeText(err.message);
      h = null;
    }
    if (ticket !== this.loading || module !== this.module) return;
    const outputs = h && h.outputs ? h.outputs : {};
    for (const k of Object.keys(outputs)) this.addKey(k);
    if (keys === null) this.keys = [...this.known].slice(0, 4);
    for (const k of Object.keys(h && h.arrays ? h.arrays : {})) this.addArrayKey(k);
    if (h && typeof h.dropped_keys === "number" && h.dropped_keys > 0) {
      // The gateway keeps a bounded number of keys per module; the rest are charted from now on only.
      $("c-note").textContent = h.dropped_keys + " more outputs are not kept in the history";
    }
    this.rows = mergeHistory(outputs, this.keys);
    const pending = this.pending;
    this.pending = [];
    this.busy = false;
    for (const p of pending) {
      this.pushRow(p.t, this.keys.map((k) => typeof p.outputs[k] === "number" ? p.outputs[k] : null));
    }
    this.syncCheckboxes();
    this.rebuildTime();
    const arr = h && h.arrays ? h.arrays : {};
    if (this.arrayKey === "" && this.arrayKeys.size > 0) this.chooseArray([...this.arrayKeys][0]);
    if (this.arrayKey !== "" && Object.prototype.hasOwnProperty.call(arr, this.arrayKey)) {
      this.setArray(arr[this.arrayKey].v);
    }
  }

  addKey(k) {
    if (this.known.has(k)) return;
    this.known.add(k);
    const box = el("input", { type: "checkbox", value: k, "data-key": k });
    box.addEventListener("change", () => this.toggleKey(k, box.checked));
    $("c-keys").append(el("label", { class: "key" }, [box, document.createTextNode(" " + safeText(k))]));
  }

  syncCheckboxes() {
    for (const box of $("c-keys").querySelectorAll("input[type=checkbox]")) {
      box.checked = this.keys.includes(box.value);
      box.disabled = !box.checked && this.keys.length >= CHART_MAX_SERIES;
    }
  }

  toggleKey(k, on) {
    this.autoPick = false;
    if (on && !this.keys.includes(k)) this.keys.push(k);
    if (!on) this.keys = this.keys.filter((x) => x !== k);
    this.syncCheckboxes();
    this.rows = { t: [], cols: new Map() };
    this.rebuildTime();
    if (this.keys.length > 0) this.load(this.keys.slice());
  }

  addArrayKey(k) {
    if (this.arrayKeys.has(k)) return;
    this.arrayKeys.add(k);
    $("c-array").append(el("option", { value: k, text: safeText(k) }));
  }

  chooseArray(k) {
    this.arrayKey = k;
    if ($("c-array").value !== k) $("c-array").value = k;
    this.frames = 0;
    this.setArray(null);
  }

  /** A frame of outputs/<module>: every numeric value, at t (epoch ms). */
  onOutputs(module, outputs, t) {
    if (module !== this.module || !outputs) return;
    let added = false;
    for (const [k, v] of Object.entries(outputs)) {
      if (typeof v === "number" && !this.known.has(k)) {
        this.addKey(k);
        added = true;
      }
    }
    if (added && this.autoPick && this.keys.length === 0 && !this.busy) {
      // No history (an older gateway, or none kept yet): the first live keys are shown.
      this.keys = [...this.known].slice(0, 4);
      this.rebuildTime();
    }
    if (added) this.syncCheckboxes();
    if (this.busy) {
      // The history answer is on its way: these rows go after it.
      if (this.pending.length < CHART_MAX_ROWS) this.pending.push({ t, outputs });
      return;
    }
    this.pushRow(t, this.keys.map((k) => typeof outputs[k] === "number" ? outputs[k] : null));
    this.draw();
  }

  /** Appends a row (or merges it into the last 250 ms bucket) and drops rows past the window. */
  pushRow(t, values) {
    const r = this.rows;
    const ts = Math.floor(t / CHART_BUCKET_MS) * CHART_BUCKET_MS / 1000;
    const last = r.t.length - 1;
    if (last >= 0 && ts < r.t[last]) return; // older than what the history gave
    if (last >= 0 && ts === r.t[last]) {
      this.keys.forEach((k, i) => {
        if (values[i] !== null) r.cols.get(k)[last] = values[i];
      });
    } else {
      r.t.push(ts);
      this.keys.forEach((k, i) => {
        if (!r.cols.has(k)) r.cols.set(k, new Array(r.t.length - 1).fill(null));
        r.cols.get(k).push(values[i]);
      });
    }
    const from = ts - CHART_WINDOW_S;
    let n = 0;
    while (n < r.t.length && (r.t[n] < from || r.t.length - n > CHART_MAX_ROWS)) n++;
    if (n > 0) {
      r.t.splice(0, n);
      for (const c of r.cols.values()) c.splice(0, n);
    }
  }

  /** A frame of arrays/<module>. */
  onArrays(module, arrays) {
    if (module !== this.module || !arrays) return;
    for (const k of Object.keys(arrays)) this.addArrayKey(k);
    if (this.arrayKey === "" && this.arrayKeys.size > 0) this.chooseArray([...this.arrayKeys][0]);
    const v = Object.prototype.hasOwnProperty.call(arrays, this.arrayKey) ? arrays[this.arrayKey] : null;
    if (Array.isArray(v)) this.setArray(v);
  }

  follow() {
    this.zoomed = false;
    $("c-follow").disabled = true;
    this.draw();
  }

  data() {
    return [this.rows.t].concat(this.keys.map((k) => this.rows.cols.get(k) || this.rows.t.map(() => null)));
  }

  size(id) {
    return { width: Math.max(200, $(id).clientWidth), height: CHART_HEIGHT };
  }

  /** A new time chart for the chosen keys (uPlot's series are fixed at creation). */
  rebuildTime() {
    if (this.timeChart) this.timeChart.destroy();
    const colors = chartColors();
    const series = [{}].concat(this.keys.map((k, i) => ({
      label: safeText(k),
      stroke: colors.series[i % colors.series.length],
      width: 1.5,
      spanGaps: false,
      value: (u, v) => v === null || v === undefined ? "–" : formatNumber(v),
    })));
    const panel = this;
    const opts = Object.assign(this.size("c-time"), {
      series: series,
      scales: { x: { time: true } },
      axes: [chartAxis(colors, "", true), chartAxis(colors, "", false)],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width > 0) {
            panel.zoomed = true;
            $("c-follow").disabled = false;
          }
        }],
      },
    });
    this.timeChart = new uPlot(opts, this.data(), $("c-time"));
    this.timeChart.over.addEventListener("dblclick", () => this.follow());
    this.zoomed = false;
    $("c-follow").disabled = true;
    this.mark();
  }

  /** Redraws the time chart at the next animation frame, once however often it is asked. */
  draw() {
    if (this.drawScheduled) return;
    this.drawScheduled = true;
    requestAnimationFrame(() => {
      this.drawScheduled = false;
      if (!this.timeChart) return;
      this.timeChart.setData(this.data(), !this.zoomed);
      this.mark();
    });
  }

  mark() {
    const e = $("c-time");
    e.dataset.points = String(this.rows.t.length);
    e.dataset.first = this.rows.t.length > 0 ? String(this.rows.t[0] * 1000) : "";
    e.dataset.keys = this.keys.join(",");
    e.dataset.module = this.module;
  }

  /** Shows values (an array output) on the array chart, x being the index; null clears it. */
  setArray(values) {
    const e = $("c-array-chart");
    if (values === null) {
      if (this.arrayChart) this.arrayChart.destroy();
      this.arrayChart = null;
      e.replaceChildren(el("p", {
        class: "muted empty",
        text: this.arrayKeys.size === 0 ? "No array output from this module." : "Waiting for the array…",
      }));
      e.dataset.frames = "0";
      e.dataset.length = "0";
      return;
    }
    const x = values.map((_, i) => i);
    const data = [x, values.map((v) => typeof v === "number" && isFinite(v) ? v : null)];
    if (!this.arrayChart) {
      e.replaceChildren();
      const colors = chartColors();
      this.arrayChart = new uPlot(Object.assign(this.size("c-array-chart"), {
        series: [
          { label: "index", value: (u, v) => v === null || v === undefined ? "–" : String(v) },
          {
            label: safeText(this.arrayKey),
            stroke: colors.series[0],
            fill: colors.series[0] + "33",
            width: 1.25,
            value: (u, v) => v === null || v === undefined ? "–" : formatNumber(v),
          },
        ],
        scales: { x: { time: false } },
        axes: [chartAxis(colors, "index", false), chartAxis(colors, "", false)],
        cursor: { drag: { x: true, y: false, setScale: true } },
      }), data, e);
    } else {
      this.arrayChart.setData(data, true);
    }
    this.frames++;
    e.dataset.frames = String(this.frames);
    e.dataset.length = String(values.length);
  }

  resize() {
    if (this.timeChart) this.timeChart.setSize(this.size("c-time"));
    if (this.arrayChart) this.arrayChart.setSize(this.size("c-array-chart"));
  }
}

/** The history route's outputs as uPlot rows: the union of their 250 ms buckets (seconds), a column per key. */
function mergeHistory(outputs, keys) {
  const bucket = (ms) => Math.floor(ms / CHART_BUCKET_MS) * CHART_BUCKET_MS / 1000;
  const series = (k) => {
    const s = Object.prototype.hasOwnProperty.call(outputs, k) ? outputs[k] : null;
    return s && Array.isArray(s.t) && Array.isArray(s.v) ? s : { t: [], v: [] };
  };
  const times = new Set();
  for (const k of keys) for (const t of series(k).t) times.add(bucket(t));
  const t = [...times].sort((a, b) => a - b).slice(-CHART_MAX_ROWS);
  const index = new Map(t.map((x, i) => [x, i]));
  const cols = new Map();
  for (const k of keys) {
    const col = new Array(t.length).fill(null);
    const s = series(k);
    s.t.forEach((x, i) => {
      const at = index.get(bucket(x));
      if (at !== undefined && typeof s.v[i] === "number") col[at] = s.v[i];
    });
    cols.set(k, col);
  }
  return { t, cols };
}
`;
