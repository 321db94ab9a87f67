/**
 * The dashboard's alerts view, browser JavaScript kept as a string (served inside `/ui/app.js`, after
 * `_ops_js.ts` and before the app, in the same function scope: it uses the app's `ui`, `api`, `el`, `$`,
 * `apiFailed` and the roles' `guard`). Alerts come from `GET /api/v1/alerts` at sign-in and after a
 * reconnect, then from the stream's `alerts` topic; an acknowledgement comes as the alert again with
 * `event: "alert_ack"`, so every open page shows it. A row has the date and time, severity, module (a crash
 * or failure raised by the supervisor has `source: "runtime"` and shows the same way, marked "runtime"),
 * message and acknowledgement; the filters (module, severity, unacknowledged only) apply to the rows kept
 * (the newest 200). The Acknowledge button needs the `ack` permission (an operator).
 *
 * @module
 */

/** The alerts view's script; its functions are called by `APP_JS`. */
export const ALERTS_JS = String.raw`
const MAX_ALERTS = 200;
const alertsView = { rows: new Map(), lastSeq: 0, modules: new Set() };

function setupAlerts() {
  for (const id of ["a-module", "a-severity", "a-unacked"]) $(id).addEventListener("change", filterAlerts);
}

function clearAlerts() {
  alertsView.rows.clear();
  alertsView.lastSeq = 0;
  alertsView.modules.clear();
  $("alerts").tBodies[0].replaceChildren();
  $("a-module").replaceChildren(el("option", { value: "", text: "all" }));
  $("no-alerts").hidden = false;
}

async function loadAlerts(session) {
  let body;
  try {
    body = await api("GET", "/api/v1/alerts?after=" + alertsView.lastSeq);
  } catch (err) {
    if (session === ui.session) apiFailed(err);
    return;
  }
  if (session !== ui.session) return;
  for (const a of body.alerts.slice(-MAX_ALERTS)) addAlert(a);
}

/** Two digits. */
function pad2(n) {
  return String(n).padStart(2, "0");
}

/** A date and time in the browser's zone, as YYYY-MM-DD HH:MM:SS. */
function dateTime(d) {
  return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
    pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}

/** A new alert, or an acknowledgement of one already shown (the stream's alert_ack). */
function addAlert(a) {
  if (!a || typeof a.seq !== "number") return;
  const known = alertsView.rows.get(a.seq);
  if (known) return showAck(known, a);
  if (a.seq <= alertsView.lastSeq && a.event !== "alert_ack") return;
  alertsView.lastSeq = Math.max(alertsView.lastSeq, a.seq);
  const at = new Date(a.at);
  const moduleText = safeText(a.module);
  const ackCell = el("td", { "data-field": "ack" });
  const tr = el("tr", { "data-seq": String(a.seq), "data-severity": a.severity, "data-module": a.module }, [
    el("td", { class: "when" }, [el("time", { datetime: at.toISOString(), text: dateTime(at) })]),
    el("td", {}, [el("span", { class: "badge", "data-state": a.severity, text: safeText(a.severity) })]),
    el("td", {}, [
      el("b", { text: moduleText }),
      ...(a.source === "runtime" ? [el("span", { class: "muted", text: " runtime" })] : []),
    ]),
    el("td", { class: "message", text: safeText(a.message) }),
    ackCell,
  ]);
  const row = { tr, ackCell, alert: a };
  alertsView.rows.set(a.seq, row);
  showAck(row, a);
  const body = $("alerts").tBodies[0];
  // Newest first; an acknowledgement of an alert older than the kept ones is placed by its number.
  const after = [...body.rows].find((r) => Number(r.dataset.seq) < a.seq);
  body.insertBefore(tr, after || null);
  while (body.rows.length > MAX_ALERTS) {
    const last = body.lastElementChild;
    alertsView.rows.delete(Number(last.dataset.seq));
    last.remove();
  }
  if (!alertsView.modules.has(a.module)) {
    alertsView.modules.add(a.module);
    $("a-module").append(el("option", { value: a.module, text: moduleText }));
  }
  filterAlerts();
}

/** Shows whether row's alert is acknowledged (by whom, when), or its Acknowledge button. */
function showAck(row, a) {
  const acked = typeof a.acked_at === "string" && a.acked_at !== "";
  if (!acked && row.tr.dataset.acked === "true") return; // an older copy of an acknowledged alert
  row.tr.dataset.acked = acked ? "true" : "false";
  if (acked) {
    const at = new Date(a.acked_at);
    row.ackCell.replaceChildren(el("span", {
      class: "acked",
      title: "Acknowledged " + dateTime(at),
      text: "✓ " + safeText(a.acked_by || "") + " " + pad2(at.getHours()) + ":" + pad2(at.getMinutes()),
    }));
  } else if (!row.ackCell.firstElementChild) {
    const b = el("button", { type: "button", "data-action": "ack", "data-can": "ack", text: "Acknowledge" });
    b.addEventListener("click", () => ackAlert(a.seq, b));
    guard(b, "ack");
    row.ackCell.replaceChildren(b);
  }
  filterAlerts();
}

async function ackAlert(seq, button) {
  const session = ui.session;
  button.dataset.busy = "true";
  button.disabled = true;
  try {
    const body = await api("POST", "/api/v1/alerts/" + seq + "/ack");
    if (session !== ui.session) return;
    const row = alertsView.rows.get(seq);
    if (row) showAck(row, body.alert);
  } catch (err) {
    if (session !== ui.session) return;
    button.title = "Not acknowledged: " + safeText(err.message);
    apiFailed(err);
  } finally {
    delete button.dataset.busy;
    if (button.isConnected) guard(button, "ack");
  }
}

function filterAlerts() {
  const module = $("a-module").value;
  const severity = $("a-severity").value;
  const unacked = $("a-unacked").checked;
  let shown = 0;
  for (const row of alertsView.rows.values()) {
    const a = row.alert;
    const hide = (module !== "" && a.module !== module) || (severity !== "" && a.severity !== severity) ||
      (unacked && row.tr.dataset.acked === "true");
    row.tr.hidden = hide;
    if (!hide) shown++;
  }
  $("no-alerts").hidden = shown > 0;
  $("no-alerts").textContent = alertsView.rows.size === 0 ? "No alerts." : "No alerts match the filters.";
}
`;
