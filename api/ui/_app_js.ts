/**
 * The dashboard's behaviour, browser JavaScript kept as a string (served as `/ui/app.js` after the charts,
 * the Validation panel, the operations parts and the alerts, in one function scope): sign-in with a token
 * kept in `sessionStorage`, the REST calls with it as a bearer token, the WebSocket stream with it as the
 * first message (subscribing to the chosen module's `arrays/<m>` only while it is charted), the modules
 * table with its controls (enabled by the token's role, `_ops_js.ts`), the connectors, the outputs, and the
 * frames it hands to the charts, alerts, gateway figures and Validation panel. Everything the server sends is
 * put in the page with `textContent`, never parsed as HTML, and text a module controls (names, output keys,
 * alert messages, errors) goes through `safeText` first (`_safe_text_js.ts`), so a control or bidi character
 * shows as its escape. Plain ES2020 with no template literals, so the TypeScript string needs no escaping;
 * the unit test parses it.
 *
 * @module
 */

/** The page's script; runs last, after `CHARTS_JS`, `SAFE_TEXT_JS`, `VALIDATION_JS`, `OPS_JS`, `ALERTS_JS`. */
export const APP_JS = String.raw`
const TOKEN_KEY = "kiln.token";
const TOPICS = ["status", "health", "outputs/*", "metrics/*", "alerts"];
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
  missed: 0,
  rows: new Map(),
  outputs: new Map(),
  /** The arrays/<module> topic the charts read, subscribed again after a reconnect. */
  arrayTopic: null,
};

const charts = new ChartPanel(fetchHistory, subscribeArrays);
/** A refused or failed API call: the HTTP status and the API's error code and message. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  let res;
  const headers = { authorization: "Bearer " + ui.token, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  try {
    res = await fetch(path, {
      method,
      headers,
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, "network", "Kiln is unreachable: " + err.message);
  }
  let answer = null;
  try {
    answer = await res.json();
  } catch (_) {
    answer = null;
  }
  if (!res.ok) {
    // The API's error body: { "error": { "code", "message", "issues"? } }.
    const e = answer && typeof answer.error === "object" && answer.error !== null ? answer.error : {};
    throw new ApiError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
  }
  return answer;
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
  loadMe(session);
  renderModules(list.modules);
  loadDevice();
  loadConnectors(session);
  loadAlerts(session);
  loadGateway(session);
  loadGpio(session);
  connect(session);
  startValidation(session);
  ui.pollTimers.push(setInterval(() => loadConnectors(session), CONNECTORS_EVERY_MS));
  ui.pollTimers.push(setInterval(() => loadGpio(session), GPIO_EVERY_MS));
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
  ui.missed = 0;
  $("modules").tBodies[0].replaceChildren();
  $("connectors").tBodies[0].replaceChildren();
  clearAlerts();
  $("outputs").replaceChildren();
  $("action-result").textContent = "";
  stopValidation();
  charts.reset("");
  clearGpio();
  clearGateway();
  clearAccess();
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
  charts.setModules(modules.map((m) => m.name));
  gpioWriters(modules);
}

function updateModule(m) {
  let row = ui.rows.get(m.name);
  if (!row) {
    const buttons = ACTIONS.map((a) =>
      el("button", { type: "button", "data-action": a, text: a[0].toUpperCase() + a.slice(1) })
    );
    for (const b of buttons) {
      b.addEventListener("click", () => control(m.name, b.dataset.action, buttons));
      guard(b, "control");
    }
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
  for (const b of buttons) {
    b.dataset.busy = "true";
    b.disabled = true;
  }
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
    for (const b of buttons) {
      delete b.dataset.busy;
      guard(b, "control");
    }
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
  if (t !== null) charts.onOutputs(module, outputs, t);
}

/** The history route for the charts: keys null for every numeric output. */
function fetchHistory(module, keys) {
  const q = "?seconds=300" + (keys === null ? "" : "&keys=" + keys.map(encodeURIComponent).join(","));
  return api("GET", "/api/v1/modules/" + encodeURIComponent(module) + "/history" + q);
}

/** Subscribes to (or leaves) a module's arrays topic, which the gateway only keeps while someone reads it. */
function subscribeArrays(module, on) {
  const topic = "arrays/" + module;
  if (on) ui.arrayTopic = topic;
  else if (ui.arrayTopic === topic) ui.arrayTopic = null;
  if (ui.ws && ui.ws.readyState === WebSocket.OPEN && /^[a-z0-9_.-]+$/.test(module)) {
    ui.ws.send(JSON.stringify({ type: on ? "subscribe" : "unsubscribe", topics: [topic] }));
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
    // Apart: a gateway that has no such topic refuses only this message.
    ws.send(JSON.stringify({ type: "subscribe", topics: ["gateway"] }));
    if (ui.arrayTopic) ws.send(JSON.stringify({ type: "subscribe", topics: [ui.arrayTopic] }));
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
      helloRole(f.data.role);
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
      charts.onArrays(name, f.data);
      break;
    case "gateway":
      showGateway(f.data);
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
setupAlerts();

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) signIn(saved, true);
else showSignIn("");
`;
