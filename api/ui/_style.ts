/**
 * The dashboard's stylesheet, served at `/ui/app.css`. Colours are custom properties, light or dark by the
 * user's preference; the charts read them (`--chart-*`) so they follow too.
 *
 * @module
 */

/** The stylesheet. */
export const STYLE_CSS = `:root {
  color-scheme: light dark;
  --bg: #f3f4f6; --card: #ffffff; --fg: #1d2127; --muted: #5d6570; --line: #d8dce2;
  --ok: #1f8a4c; --warn: #b26b00; --bad: #c62828; --idle: #6b7280; --accent: #2563eb;
  --chart-grid: #e3e6ea; --chart-axis: #5d6570;
  --chart-1: #2563eb; --chart-2: #d97706; --chart-3: #059669; --chart-4: #9333ea; --chart-limit: #c62828;
  --chart-5: #db2777; --chart-6: #0891b2;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #121417; --card: #1c1f24; --fg: #e6e8eb; --muted: #9aa3ad; --line: #2e333a;
    --ok: #3fb872; --warn: #e0a030; --bad: #ef5350; --idle: #9aa3ad; --accent: #60a5fa;
    --chart-grid: #2a2f36; --chart-axis: #9aa3ad;
    --chart-1: #60a5fa; --chart-2: #f59e0b; --chart-3: #34d399; --chart-4: #c084fc; --chart-limit: #ef5350;
    --chart-5: #f472b6; --chart-6: #22d3ee;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); }
[hidden] { display: none !important; }
.top {
  display: flex; align-items: center; gap: 12px; padding: 8px 16px;
  background: var(--card); border-bottom: 1px solid var(--line);
}
.top h1 { margin: 0; font-size: 18px; display: flex; align-items: center; gap: 6px; }
.spacer { flex: 1; }
.muted { color: var(--muted); font-weight: normal; }
main { padding: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px;
  min-width: 0; overflow-x: auto;
}
.card.wide { grid-column: 1 / -1; }
.card h2 { margin: 0 0 8px; font-size: 15px; }
.card h2 .muted { font-size: 12px; margin-left: 6px; }
.signin { max-width: 520px; margin: 48px auto; }
.signin form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.signin input { flex: 1; min-width: 220px; padding: 6px 8px; font: inherit; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.error-text { color: var(--bad); max-width: 360px; overflow-wrap: anywhere; }
button {
  font: inherit; padding: 3px 10px; border-radius: 4px; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg);
}
button:hover { border-color: var(--accent); }
button:disabled { opacity: .5; cursor: not-allowed; }
button[data-busy="true"] { cursor: progress; }
td.actions { white-space: nowrap; }
td.actions button + button { margin-left: 4px; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff;
  background: var(--idle);
}
.badge[data-state="running"], .badge[data-state="connected"], .badge[data-state="ok"],
.badge[data-state="done"] { background: var(--ok); }
.badge[data-state="starting"], .badge[data-state="connecting"], .badge[data-state="reconnecting"],
.badge[data-state="degraded"], .badge[data-state="recording"],
.badge[data-state="warning"] { background: var(--warn); }
.badge[data-state="crashed"], .badge[data-state="failed"], .badge[data-state="disconnected"],
.badge[data-state="error"], .badge[data-state="critical"], .badge[data-state="trap"],
.badge[data-state="budget_exceeded"] { background: var(--bad); }
.pill { padding: 2px 10px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); }
.pill[data-state="live"] { color: var(--ok); border-color: var(--ok); }
.pill[data-state="connecting"] { color: var(--warn); border-color: var(--warn); }
.pill[data-state="off"] { color: var(--bad); border-color: var(--bad); }
.result { min-height: 1.4em; margin: 8px 0 0; }
.result[data-ok="true"] { color: var(--ok); }
.result[data-ok="false"], .error { color: var(--bad); }
.who { display: inline-flex; gap: 6px; align-items: center; color: var(--muted); }
.badge.role[data-state="operator"] { background: var(--accent); }
.badge.role[data-state="admin"] { background: var(--warn); }
.badge[data-state="level-high"] { background: var(--warn); }
.estop {
  grid-column: 1 / -1; padding: 10px 16px; border-radius: 8px; font-weight: 600; font-size: 15px;
  border: 2px solid var(--ok); color: var(--ok); background: var(--card);
}
.estop[data-state="tripped"] { background: var(--bad); border-color: var(--bad); color: #fff; font-size: 20px; }
.estop[data-state="none"] { border-color: var(--line); color: var(--muted); }
.chartgrid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.uchart { min-width: 0; min-height: 240px; }
.uplot { font-family: inherit; }
.uplot .u-legend { font-size: 12px; color: var(--fg); }
.keys { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 8px; padding: 4px 8px; }
.keys legend { color: var(--muted); font-size: 12px; }
.keylist { display: flex; flex-wrap: wrap; gap: 4px 14px; }
.key { white-space: nowrap; font-size: 13px; }
.scroll { max-height: 320px; overflow-y: auto; }
td.when { white-space: nowrap; font-variant-numeric: tabular-nums; color: var(--muted); }
td.message { overflow-wrap: anywhere; }
tr[data-acked="true"] td.message { color: var(--muted); }
.acked { color: var(--ok); white-space: nowrap; }
.outputs { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 4px 16px; }
.outputs dl { margin: 0 0 8px; }
.outputs dt { font-weight: 600; margin-bottom: 2px; }
.outputs dd { margin: 0; display: flex; justify-content: space-between; gap: 8px; font-size: 13px; }
.outputs dd span:first-child { color: var(--muted); }
.outputs dd span:last-child { font-variant-numeric: tabular-nums; }
code { font-size: 12px; }
.picker { margin: 0 0 8px; display: flex; gap: 8px; align-items: center; }
.picker select { font: inherit; padding: 2px 6px; min-width: 160px; }
.vgrid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.vpart { min-width: 0; overflow-x: auto; }
.vpart h3 { margin: 8px 0 4px; font-size: 13px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 4px 16px; margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.first { overflow-wrap: anywhere; }
table.compact { margin-top: 8px; }
table.compact caption { text-align: left; font-weight: 600; font-size: 12px; padding: 4px 0; }
table.compact td, table.compact th { padding: 3px 6px; font-size: 13px; }
td.uses { white-space: pre; font-size: 12px; }
.actions button + button { margin-left: 4px; }
`;
