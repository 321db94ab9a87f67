/**
 * The dashboard's behaviour, browser JavaScript kept as a string (served as `/ui/app.js` after the charts):
 * sign-in with a token kept in `sessionStorage`, the REST calls with it as a bearer token, the WebSocket
 * stream with it as the first message, and the tables, readouts, charts and alerts they fill. Everything the
 * server sends is put in the page with `textContent`, never parsed as HTML, and text a module controls
 * (names, output keys, alert messages, errors) goes through `safeText` first (`_safe_text_js.ts`), so a
 * control or bidi character shows as its escape. Plain ES2020 with no template literals, so the TypeScript
 * string needs no escaping; the unit test parses it.
 *
 * @module
 */

/** The page's script; runs after `CHARTS_JS` and `SAFE_TEXT_JS` in the same function scope. */
export const APP_JS = String.raw`
const TOKEN_KEY = "kiln.token";
const TOPICS = ["status", "health", "outputs/*", "metrics/*", "arrays/fft", "alerts"];
const MAX_ALERTS = 100;
const CONNECTORS_EVERY_MS = 5000;
const MODULES_EVERY_MS = 15000;
const ACTIONS = ["start", "stop", "restart"];

const $ = (id) => document.getElementById(id);
const ui = {
  token: null,
  /** Bumped on sign-in and sign-out: late answers of an older session are ignored. */
  session: 0,
  ws: null,
  retryMs: 1000,
  retryTimer: 0,
  pollTimers: [],
  lastAlertSeq: 0,
  missed: 0,
  rows: new Map(),
  outputs: new Map(),
};

const spectrum = new SpectrumChart($("spectrum"), { binHz: 50, unit: "g" });
const anomaly = new TimeChart($("anomaly"), { series: [{ key: "score", label: "score" }] });
const temperatures = new TimeChart($("temperatures"), {
  unit: "°C",
  series: [
    { key: "probe1", label: "probe 1" },
    { key: "min", label: "min of both" },
    { key: "mean", label: "mean of both" },
  ],
});

/** A refused or failed API call: the HTTP status and the API's error code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { authorization: "Bearer " + ui.token, accept: "application/json" },
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", "Kiln is unreachable: " + err.message);
  }
  let body = null;
  try {
    body = await res.json();
  } catch (_) {
    body = null;
  }
  if (!res.ok) {
    // The API's error body: { "error": { "code", "message", "issues"? } }.
    const e = body && typeof body.error === "object" && body.error !== null ? body.error : {};
    throw new ApiError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
  }
  return body;
}

function el(tag, options, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(options || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children || []) e.append(c);
  return e;
}

function badge(state) {
  return el("span", { class: "badge", "data-state": state, text: state });
}

function setBadge(cell, state) {
  const b = cell.firstElementChild;
  if (b.textContent !== state) {
    b.textContent = state;
    b.dataset.state = state;
  }
}

// ---- sign-in ------------------------------------------------------------------------------------------------

async function signIn(token, quiet) {
  const session = ++ui.session;
  ui.token = token;
  $("signin-error").textContent = "";
  let list;
  try {
    list = await api("GET", "/api/v1/modules");
  } catch (err) {
    if (session !== ui.session) return;
    ui.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(err.status === 401 ? "Kiln does not know this token (or it was revoked)" : err.message);
    return;
  }
  if (session !== ui.session) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("signin").hidden = true;
  $("board").hidden = false;
  $("signout").hidden = false;
  if (!quiet) $("token").value = "";
  renderModules(list.modules);
  loadDevice();
  loadConnectors(session);
  loadAlerts(session);
  connect(session);
  startValidation(session);
  ui.pollTimers.push(setInterval(() => loadConnectors(session), CONNECTORS_EVERY_MS));
  ui.pollTimers.push(setInterval(() => reloadModules(session), MODULES_EVERY_MS));
}

function signOut(message) {
  ui.session++;
  ui.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const t of ui.pollTimers) clearInterval(t);
  ui.pollTimers = [];
  clearTimeout(ui.retryTimer);
  if (ui.ws) ui.ws.close(1000, "signed out");
  ui.ws = null;
  ui.rows.clear();
  ui.outputs.clear();
  ui.lastAlertSeq = 0;
  ui.missed = 0;
  $("modules").tBodies[0].replaceChildren();
  $("connectors").tBodies[0].replaceChildren();
  $("alerts").replaceChildren();
  $("no-alerts").hidden = false;
  $("outputs").replaceChildren();
  $("action-result").textContent = "";
  stopValidation();
  for (const e of document.querySelectorAll("[data-output]")) e.textContent = "–";
  spectrum.clear();
  anomaly.clear();
  temperatures.clear();
  $("who").textContent = "";
  setLive("off", "offline");
  showSignIn(message || "");
}

function showSignIn(message) {
  $("board").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("token").focus();
}

async function loadDevice() {
  try {
    const res = await fetch("/health", { cache: "no-store" });
    showHealth(await res.json());
  } catch (_) {
    // The stream's health topic says it again.
  }
}

function showHealth(h) {
  if (!h || !h.device) return;
  $("device").textContent = h.device.id + (h.device.location ? " · " + h.device.location : "") +
    (h.version ? " · kiln " + h.version : "");
}

// ---- modules ------------------------------------------------------------------------------------------------

function renderModules(modules) {
  const names = new Set(modules.map((m) => m.name));
  for (const [name, row] of ui.rows) {
    if (!names.has(name)) {
      row.tr.remove();
      ui.rows.delete(name);
    }
  }
  for (const m of modules) updateModule(m);
  validationModules(modules.map((m) => m.name));
}

function updateModule(m) {
  let row = ui.rows.get(m.name);
  if (!row) {
    const buttons = ACTIONS.map((a) =>
      el("button", { type: "button", "data-action": a, text: a[0].toUpperCase() + a.slice(1) })
    );
    for (const b of buttons) b.addEventListener("click", () => control(m.name, b.dataset.action, buttons));
    row = {
      tr: el("tr", { "data-module": m.name }),
      cells: {
        name: el("th", { scope: "row", text: safeText(m.name) }),
        mode: el("td", { text: "" }),
        state: el("td", { "data-field": "state" }, [badge(m.state)]),
        restarts: el("td", { class: "num", "data-field": "restarts", text: "0" }),
        invocations: el("td", { class: "num", "data-field": "invocations", text: "" }),
        error: el("td", { class: "error-text", "data-field": "last_error", text: "" }),
        actions: el("td", { class: "actions" }, buttons),
      },
    };
    row.tr.append(...Object.values(row.cells));
    $("modules").tBodies[0].append(row.tr);
    ui.rows.set(m.name, row);
  }
  const c = row.cells;
  if (m.mode !== undefined) c.mode.textContent = m.mode + (m.executor ? " · " + m.executor : "");
  if (m.state !== undefined) setBadge(c.state, m.state);
  if (m.restarts !== undefined) c.restarts.textContent = String(m.restarts);
  if (m.invocations !== undefined) c.invocations.textContent = String(m.invocations);
  if (m.last_error !== undefined) {
    c.error.textContent = safeText(m.last_error);
    c.error.title = safeText(m.last_error);
  }
  // Charts plot the stream's server timestamps only; a REST answer fills the readouts.
  if (m.outputs) showOutputs(m.name, m.outputs, null);
}

async function reloadModules(session) {
  try {
    const list = await api("GET", "/api/v1/modules");
    if (session === ui.session) renderModules(list.modules);
  } catch (err) {
    if (session === ui.session) apiFailed(err);
  }
}

async function control(name, action, buttons) {
  if (action === "stop" && !confirm("Stop module " + name + "? It stays stopped until started again.")) return;
  const session = ui.session;
  const result = $("action-result");
  for (const b of buttons) b.disabled = true;
  result.textContent = action + " " + name + "…";
  delete result.dataset.ok;
  delete result.dataset.status;
  try {
    const m = await api("POST", "/api/v1/modules/" + encodeURIComponent(name) + "/" + action);
    if (session !== ui.session) return;
    result.dataset.ok = "true";
    result.dataset.status = "200";
    result.textContent = cap(action) + " " + safeText(name) + ": done, now " + safeText(m.state) +
      (typeof m.restarts === "number" ? ", restarts " + m.restarts : "");
    updateModule(m);
  } catch (err) {
    if (session !== ui.session) return;
    result.dataset.ok = "false";
    result.dataset.status = String(err.status);
    result.textContent = cap(action) + " " + safeText(name) + " refused" +
      (err.status ? " (HTTP " + err.status + " " + safeText(err.code) + ")" : "") + ": " + safeText(err.message);
    if (err.status === 401) signOut("Kiln no longer accepts this token");
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function cap(s) {
  return s[0].toUpperCase() + s.slice(1);
}

function apiFailed(err) {
  if (err.status === 401) signOut("Kiln no longer accepts this token");
}

// ---- connectors ---------------------------------------------------------------------------------------------

async function loadConnectors(session) {
  let body;
  try {
    body = await api("GET", "/api/v1/connectors");
  } catch (err) {
    if (session === ui.session) apiFailed(err);
    return;
  }
  if (session !== ui.session) return;
  const rows = body.connectors.map((k) =>
    el("tr", { "data-connector": k.name }, [
      el("th", { scope: "row", text: safeText(k.name) }),
      el("td", { text: safeText(k.kind) }),
      el("td", { "data-field": "state" }, [badge(k.state)]),
      el("td", { class: "num", text: String(k.errors) }),
      el("td", { class: "num", text: String(k.reconnects) }),
      el("td", { class: "error-text", text: safeText(k.last_error) }),
    ])
  );
  $("connectors").tBodies[0].replaceChildren(...rows);
}

// ---- alerts -------------------------------------------------------------------------------------------------

async function loadAlerts(session) {
  let body;
  try {
    body = await api("GET", "/api/v1/alerts?after=" + ui.lastAlertSeq);
  } catch (err) {
    if (session === ui.session) apiFailed(err);
    return;
  }
  if (session !== ui.session) return;
  for (const a of body.alerts.slice(-MAX_ALERTS)) addAlert(a);
}

function addAlert(a) {
  if (typeof a.seq === "number") {
    if (a.seq <= ui.lastAlertSeq) return;
    ui.lastAlertSeq = a.seq;
  }
  const at = new Date(a.at);
  const li = el("li", { "data-severity": a.severity }, [
    el("span", { class: "badge", "data-state": a.severity, text: safeText(a.severity) }),
    el("time", { datetime: at.toISOString(), text: at.toLocaleTimeString() }),
    el("b", { text: safeText(a.module) }),
    el("span", { text: safeText(a.message) }),
  ]);
  const list = $("alerts");
  list.prepend(li);
  while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
  $("no-alerts").hidden = true;
}

// ---- outputs ------------------------------------------------------------------------------------------------

function showOutputs(module, outputs, t) {
  for (const [k, v] of Object.entries(outputs)) {
    const key = module + "." + k;
    let cell = ui.outputs.get(key);
    if (!cell) {
      let dl = document.querySelector('#outputs dl[data-module="' + CSS.escape(module) + '"]');
      if (!dl) {
        dl = el("dl", { "data-module": module }, [el("dt", { text: safeText(module) })]);
        $("outputs").append(dl);
      }
      cell = el("span", { "data-value": key });
      dl.append(el("dd", {}, [el("span", { text: safeText(k) }), cell]));
      ui.outputs.set(key, cell);
    }
    const text = formatNumber(v);
    if (cell.textContent !== text) cell.textContent = text;
    for (const e of document.querySelectorAll('[data-output="' + CSS.escape(key) + '"]')) {
      if (e.textContent !== text) e.textContent = text;
    }
  }
  if (t === null) return;
  if (module === "anomaly") {
    anomaly.push("score", t, outputs.score);
    anomaly.setLimit("threshold", outputs.threshold);
  } else if (module === "temperature") {
    temperatures.push("probe1", t, outputs.temperature_c);
  } else if (module === "aggregator") {
    temperatures.push("min", t, outputs.temperature_min_c);
    temperatures.push("mean", t, outputs.temperature_mean_c);
  }
}

// ---- stream -------------------------------------------------------------------------------------------------

function setLive(state, text) {
  const e = $("live");
  e.dataset.state = state;
  e.textContent = text;
}

function connect(session) {
  if (session !== ui.session) return;
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/stream";
  const ws = new WebSocket(url);
  ui.ws = ws;
  setLive("connecting", "connecting…");
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "auth", token: ui.token }));
    ws.send(JSON.stringify({ type: "subscribe", topics: TOPICS.concat(validationTopics()) }));
  });
  ws.addEventListener("message", (e) => {
    if (session !== ui.session) return;
    let frame;
    try {
      frame = JSON.parse(e.data);
    } catch (_) {
      return;
    }
    onFrame(frame, session);
  });
  ws.addEventListener("close", (e) => {
    if (session !== ui.session || ui.ws !== ws) return;
    ui.ws = null;
    if (e.code === 1008 && /token/i.test(e.reason)) {
      return signOut("The stream refused the token: " + e.reason);
    }
    setLive("off", "reconnecting in " + Math.round(ui.retryMs / 1000) + " s");
    ui.retryTimer = setTimeout(() => {
      connect(session);
      loadAlerts(session);
      reloadModules(session);
    }, ui.retryMs);
    ui.retryMs = Math.min(30000, ui.retryMs * 2);
  });
}

function onFrame(f, session) {
  const t = Date.parse(f.at) || Date.now();
  const slash = f.topic.indexOf("/");
  const root = slash < 0 ? f.topic : f.topic.slice(0, slash);
  const name = slash < 0 ? "" : f.topic.slice(slash + 1);
  switch (root) {
    case "hello":
      ui.retryMs = 1000;
      $("who").textContent = f.data.role ? "signed in as " + f.data.role : "";
      setLive("live", "live");
      validationRole(f.data.role);
      loadTraces(session);
      break;
    case "status": {
      const known = f.data.modules.every((m) => ui.rows.has(m.name));
      if (!known || f.data.modules.length !== ui.rows.size) reloadModules(session);
      for (const m of f.data.modules) if (ui.rows.has(m.name)) updateModule(m);
      break;
    }
    case "health":
      showHealth(f.data);
      break;
    case "outputs":
      showOutputs(name, f.data, t);
      break;
    case "metrics":
      if (ui.rows.has(name)) updateModule({ name, invocations: f.data.invocations });
      break;
    case "arrays":
      if (name === "fft") spectrum.set(f.data.spectrum);
      break;
    case "alerts":
      addAlert(f.data);
      break;
    case "traces":
      validationTrace(name, f.data);
      break;
    case "dropped":
      ui.missed += f.data.missed;
      $("live").title = ui.missed + " updates skipped while this page was behind";
      break;
    case "error":
      console.warn("Kiln stream:", f.data.code, f.data.message);
      break;
  }
}

// ---- start --------------------------------------------------------------------------------------------------

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (token) signIn(token, false);
});
$("signout").addEventListener("click", () => signOut(""));
setupValidation();

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved, true);
else showSignIn("");
`;
