/**
 * The dashboard's operations parts, browser JavaScript kept as a string (served inside `/ui/app.js` before
 * the alerts and the app, in the same function scope: it uses the app's `ui`, `api`, `el`, `$`, `badge` and
 * `apiFailed`):
 *
 * - roles: `GET /api/v1/me` says what the token may do (`can.control`, `deploy`, `ack`, `gpio`, `shadow`);
 *   every button with `data-can` is disabled unless it may, with a tooltip naming the role it needs, so a
 *   viewer never gets a button that answers 403. Until the answer (or on a gateway without the route) the
 *   role from the stream's hello frame stands in, by the rules of `api/auth.ts`;
 * - the GPIO and actuator panel: the simulated bank's pins (`GET /api/v1/sim/gpio`, every 2 s), the pins
 *   modules may write (their `write:gpio:pin_N` capabilities) marked with the module; a pin written by a
 *   module of the realtime executor (the executor reserved for emergency stops, see
 *   `runtime/capabilities.ts`) is an emergency stop, and a banner says at a glance whether it is tripped;
 * - the gateway's own figures (`GET /api/v1/gateway`, then the stream's `gateway` topic): uptime, CPU,
 *   memory, outbox depth, modules and connectors up.
 *
 * @module
 */

/** Roles, GPIO and gateway figures; `APP_JS` calls their functions. */
export const OPS_JS = String.raw`
const NEEDS = { control: "operator", deploy: "admin", ack: "operator", gpio: "operator", shadow: "admin" };
const RANK = { viewer: 1, operator: 2, admin: 3 };
const GPIO_EVERY_MS = 2000;
const access = { name: "", role: "", can: null, fromMe: false };
const plant = { writers: new Map(), pins: [], available: true };

// ---- roles --------------------------------------------------------------------------------------------------

/** Whether the token may do what ("control", "ack", "gpio", ...). */
function allowed(what) {
  return access.can !== null && access.can[what] === true;
}

/** Enables button only when the token may do what, and says in its tooltip which role it needs. */
function guard(button, what) {
  const ok = allowed(what);
  button.dataset.can = what;
  button.disabled = !ok || button.dataset.busy === "true";
  if (ok) button.removeAttribute("title");
  else if (access.can === null) button.title = "Checking what this token may do…";
  else button.title = "Needs the " + NEEDS[what] + " role (this token is " + (access.role || "unknown") + ")";
}

function applyAccess() {
  for (const b of document.querySelectorAll("button[data-can]")) guard(b, b.dataset.can);
  const who = $("who");
  who.dataset.role = access.role || "";
  who.replaceChildren();
  if (access.role) {
    who.append(el("span", { class: "badge role", "data-state": access.role, text: access.role }));
    if (access.name) who.append(document.createTextNode(" " + safeText(access.name)));
  }
}

function clearAccess() {
  access.name = "";
  access.role = "";
  access.can = null;
  access.fromMe = false;
  applyAccess();
}

async function loadMe(session) {
  let me;
  try {
    me = await api("GET", "/api/v1/me");
  } catch (err) {
    if (session === ui.session) apiFailed(err);
    return;
  }
  if (session !== ui.session || !me || typeof me.can !== "object" || me.can === null) return;
  access.name = String(me.name || "");
  access.role = String(me.role || "");
  access.can = me.can;
  access.fromMe = true;
  applyAccess();
}

/** The stream's hello named the role: stands in until (or unless) /api/v1/me answers. */
function helloRole(role) {
  if (access.fromMe) return;
  // A gateway without tokens names no role: everything is allowed.
  const rank = role ? RANK[role] || 0 : RANK.admin;
  access.role = role || "";
  access.can = {};
  for (const [what, needs] of Object.entries(NEEDS)) access.can[what] = rank >= RANK[needs];
  applyAccess();
}

// ---- GPIO and actuators -------------------------------------------------------------------------------------

/** Which module may write which pin (capability write:gpio:pin_N), and whether it runs in realtime. */
function gpioWriters(modules) {
  plant.writers.clear();
  for (const m of modules) {
    for (const c of m.capabilities || []) {
      const match = /^write:gpio:pin_(\d+)$/.exec(c);
      if (!match) continue;
      const pin = Number(match[1]);
      const w = plant.writers.get(pin) || { modules: [], estop: false };
      w.modules.push(m.name);
      if (m.executor === "realtime") w.estop = true;
      plant.writers.set(pin, w);
    }
  }
  renderGpio();
}

async function loadGpio(session) {
  let body;
  try {
    body = await api("GET", "/api/v1/sim/gpio");
  } catch (err) {
    if (session !== ui.session) return;
    apiFailed(err);
    plant.available = err.status !== 404;
    plant.pins = [];
    renderGpio();
    return;
  }
  if (session !== ui.session) return;
  plant.available = true;
  plant.pins = body.pins;
  renderGpio();
}

function clearGpio() {
  plant.pins = [];
  plant.writers.clear();
  renderGpio();
}

function renderGpio() {
  const shown = plant.pins.filter((p) => plant.writers.has(p.pin) || p.changed_at !== null || p.value !== 0);
  const rows = shown.map((p) => {
    const w = plant.writers.get(p.pin);
    const level = p.value === 1 ? "high" : "low";
    const cells = [
      el("th", { scope: "row", text: "pin " + p.pin + (w && w.estop ? " · emergency stop" : "") }),
      el("td", { "data-field": "level" }, [
        el("span", { class: "badge", "data-state": "level-" + level, text: level }),
      ]),
      el("td", { text: w ? "output of " + w.modules.map(safeText).join(", ") : "input" }),
      el("td", { class: "when", text: p.changed_at ? dateTime(new Date(p.changed_at)) : "" }),
    ];
    const action = el("td", { class: "actions" });
    if (!w) {
      const text = p.value === 1 ? "Set low" : "Set high";
      const b = el("button", { type: "button", "data-action": "gpio", text });
      b.addEventListener("click", () => setGpio(p.pin, p.value === 1 ? 0 : 1, b));
      guard(b, "gpio");
      action.append(b);
    }
    cells.push(action);
    return el("tr", { "data-pin": String(p.pin), "data-level": level }, cells);
  });
  $("gpio").tBodies[0].replaceChildren(...rows);
  $("gpio-none").textContent = !plant.available
    ? "This gateway has no simulated GPIO bank."
    : rows.length === 0 ? "No pin is written by a module or has changed." : "";

  // The emergency stop: tripped when any of its pins is high.
  const banner = $("estop");
  const stops = plant.pins.filter((p) => (plant.writers.get(p.pin) || {}).estop);
  if (stops.length === 0) {
    banner.dataset.state = "none";
    banner.textContent = plant.writers.size === 0 && plant.pins.length === 0 ? "" : "No emergency stop pin";
    banner.hidden = banner.textContent === "";
    return;
  }
  banner.hidden = false;
  const tripped = stops.filter((p) => p.value === 1);
  if (tripped.length > 0) {
    const p = tripped[0];
    const by = p.set_by === "output"
      ? plant.writers.get(p.pin).modules.map(safeText).join(", ")
      : safeText(p.set_by);
    banner.dataset.state = "tripped";
    banner.textContent = "EMERGENCY STOP TRIPPED · pin " + p.pin + " high" +
      (p.changed_at ? " since " + dateTime(new Date(p.changed_at)) : "") + ", set by " + by;
  } else {
    banner.dataset.state = "clear";
    banner.textContent = "Emergency stop clear · pin " + stops.map((p) => p.pin).join(", ") + " low";
  }
}

async function setGpio(pin, value, button) {
  const session = ui.session;
  button.dataset.busy = "true";
  button.disabled = true;
  try {
    await api("POST", "/api/v1/sim/gpio/" + pin, { value });
    if (session === ui.session) await loadGpio(session);
  } catch (err) {
    if (session !== ui.session) return;
    $("gpio-none").textContent = "Pin " + pin + " not set: " + safeText(err.message);
    apiFailed(err);
  } finally {
    delete button.dataset.busy;
    if (button.isConnected) guard(button, "gpio");
  }
}

// ---- gateway figures ----------------------------------------------------------------------------------------

async function loadGateway(session) {
  try {
    const g = await api("GET", "/api/v1/gateway");
    if (session === ui.session) showGateway(g);
  } catch (err) {
    if (session !== ui.session) return;
    apiFailed(err);
    if (err.status === 404) $("gateway-none").textContent = "This gateway does not report its figures.";
  }
}

function duration(s) {
  if (typeof s !== "number") return "–";
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return (d > 0 ? d + " d " : "") + (d > 0 || h > 0 ? h + " h " : "") + m + " min " +
    (d > 0 ? "" : Math.floor(s % 60) + " s");
}

function mib(bytes) {
  return typeof bytes === "number" ? (bytes / 1048576).toFixed(1) + " MiB" : "–";
}

function showGateway(g) {
  if (!g || typeof g !== "object") return;
  $("gateway-none").textContent = "";
  const o = g.outbox;
  const figures = [
    ["uptime", "Uptime", duration(g.uptime_s)],
    ["cpu", "CPU", typeof g.cpu_percent === "number" ? g.cpu_percent.toFixed(1) + " %" : "–"],
    ["rss", "Memory (RSS)", mib(g.rss_bytes)],
    ["heap", "JS heap used", mib(g.heap_used_bytes)],
    ["load", "Load average", Array.isArray(g.load_avg) ? g.load_avg.map((x) => x.toFixed(2)).join(" ") : "–"],
    ["modules", "Modules running", g.modules ? g.modules.running + " of " + g.modules.total : "–"],
    ["outbox", "Outbox depth", o ? o.depth + " (" + mib(o.bytes) + ")" : "none"],
    ["outbox-age", "Oldest in outbox", o && typeof o.oldest_age_s === "number" ? duration(o.oldest_age_s) : "–"],
    ["connectors", "Connectors up", g.connectors ? g.connectors.ok + " of " + g.connectors.total : "–"],
    ["version", "Version", safeText(g.version)],
  ];
  const dl = $("gateway");
  if (dl.children.length !== figures.length * 2) {
    dl.replaceChildren(...figures.flatMap(([key, label]) => [
      el("dt", { text: label }),
      el("dd", { "data-figure": key }),
    ]));
  }
  for (const [key, , text] of figures) {
    const dd = dl.querySelector('[data-figure="' + key + '"]');
    if (dd.textContent !== text) dd.textContent = text;
  }
  const c = g.connectors;
  $("connectors-summary").textContent = c ? c.ok + " of " + c.total + " up" : "";
}

function clearGateway() {
  $("gateway").replaceChildren();
  $("gateway-none").textContent = "";
  $("connectors-summary").textContent = "";
}
`;
