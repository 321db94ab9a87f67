/**
 * The dashboard's Validation panel, browser JavaScript kept as a string (served in `/ui/app.js` before the
 * app, in the same function scope, so it uses the app's `ui`, `api`, `el`, `badge`, `$` and `apiFailed`):
 * for the module picked in its selector, the shadow candidate (`GET /api/v1/modules/:name/shadow`,
 * `docs/shadow.md`) with its counters, first divergence, largest difference per output, time per call against
 * the live module and the admin's Promote and Drop; the module's last trace events
 * (`GET .../traces`, then the stream's `traces/<module>` topic, `docs/traces.md`); and its recording
 * (`GET .../record`, `docs/record_replay.md`) with a download of the finished trace.
 *
 * Request volume is bounded: only the selected module is polled (its shadow and recording every
 * `VALIDATION_EVERY_MS`), and its traces come from one REST call then the stream, drawn at most every
 * `TRACES_DRAW_MS`. Every value from the API is put in with `textContent`, module-controlled text through
 * `safeText`. The trace download is fetched with the token as a header (a plain link would not carry it) and
 * saved from a `blob:` URL, which the page's CSP does not restrict (downloads are navigations). Top-level code
 * here only declares: the app calls `setupValidation()` at its start. Plain ES2020, no template literals.
 *
 * @module
 */

/** The panel's script; runs after `SAFE_TEXT_JS` and before `APP_JS`, in the same function scope. */
export const VALIDATION_JS = String.raw`
const VALIDATION_EVERY_MS = 3000;
const TRACES_KEPT = 20;
const TRACES_DRAW_MS = 250;
const LARGEST_SHOWN = 12;
const CHOOSE_MODULE = "Choose a module to see its shadow candidate, trace events and recording.";
const validation = {
  module: "",
  /** The stream's role for this token: undefined until its hello frame, null on a gateway without tokens. */
  role: undefined,
  traces: [],
  lastSeq: 0,
  drawTimer: 0,
  shadow: null,
  busy: false,
};

function setupValidation() {
  $("v-module").addEventListener("change", () => selectValidation($("v-module").value));
  $("v-promote").addEventListener("click", () => shadowAction("promote"));
  $("v-drop").addEventListener("click", () => shadowAction("drop"));
  $("v-download").addEventListener("click", () => downloadTrace());
  showShadow(null, CHOOSE_MODULE);
}

/** Called on sign-in: starts polling the selected module. */
function startValidation(session) {
  ui.pollTimers.push(setInterval(() => pollValidation(session), VALIDATION_EVERY_MS));
}

/** Called on sign-out, once the stream is closed: forgets everything shown. */
function stopValidation() {
  clearTimeout(validation.drawTimer);
  validation.drawTimer = 0;
  validation.role = undefined;
  selectValidation("");
  $("v-module").replaceChildren();
  $("v-result").textContent = "";
}

/** The stream topics the panel wants, subscribed with the app's when the socket opens. */
function validationTopics() {
  return validation.module ? ["traces/" + validation.module] : [];
}

/** The stream named the token's role. */
function validationRole(role) {
  validation.role = role === undefined ? null : role;
  showShadowButtons();
}

/**
 * The module list changed: keeps the selector in step. Nothing is selected at first (nothing is polled until
 * a user picks a module); a module that went away unselects.
 */
function validationModules(names) {
  const select = $("v-module");
  const values = [""].concat(names.slice().sort());
  const have = Array.from(select.options).map((o) => o.value);
  if (have.join("\n") !== values.join("\n")) {
    select.replaceChildren(...values.map((n) =>
      el("option", { value: n, text: n === "" ? "choose a module" : safeText(n) })
    ));
  }
  if (values.includes(validation.module)) select.value = validation.module;
  else selectValidation("");
}

function selectValidation(name) {
  const before = validation.module;
  $("v-module").value = name;
  if (before === name) return;
  validation.module = name;
  validation.traces = [];
  validation.lastSeq = 0;
  $("v-traces").tBodies[0].replaceChildren();
  $("v-traces").hidden = true;
  $("v-record").tBodies[0].replaceChildren();
  $("v-record").hidden = true;
  $("v-download").hidden = true;
  $("v-traces-none").textContent = "";
  $("v-record-none").textContent = "";
  $("v-result").textContent = "";
  showShadow(null, name ? "Loading…" : CHOOSE_MODULE);
  $("v-side").hidden = !name;
  if (ui.ws && ui.ws.readyState === WebSocket.OPEN) {
    if (before) ui.ws.send(JSON.stringify({ type: "unsubscribe", topics: ["traces/" + before] }));
    if (name) ui.ws.send(JSON.stringify({ type: "subscribe", topics: validationTopics() }));
  }
  if (!name) return;
  pollValidation(ui.session);
  loadTraces(ui.session);
}

function pollValidation(session) {
  if (!validation.module) return;
  loadShadow(session, validation.module);
  loadRecording(session, validation.module);
}

function modulePath(name) {
  return "/api/v1/modules/" + encodeURIComponent(name);
}

/** Runs one API call for the selected module; null when the answer came too late to show. */
async function forModule(session, name, method, path) {
  try {
    const body = await api(method, modulePath(name) + path);
    return session === ui.session && name === validation.module ? { body } : null;
  } catch (err) {
    if (session !== ui.session || name !== validation.module) return null;
    apiFailed(err);
    return { err };
  }
}

// ---- shadow -------------------------------------------------------------------------------------------------

async function loadShadow(session, name) {
  const r = await forModule(session, name, "GET", "/shadow");
  if (r === null) return;
  if (r.body) return showShadow(r.body, "");
  const why = r.err.code === "shadow_not_found"
    ? "No shadow candidate for " + safeText(name) + ". Attach one with: kiln shadow " + safeText(name) +
      " candidate.wasm --url " + location.origin
    : r.err.code === "shadow_unavailable"
    ? "This gateway does not run shadow candidates."
    : "Cannot read the shadow: " + safeText(r.err.message);
  showShadow(null, why);
}

function showShadow(s, message) {
  validation.shadow = s;
  $("v-shadow-none").textContent = message;
  $("v-shadow-none").hidden = s !== null;
  $("v-shadow-body").hidden = s === null;
  showShadowButtons();
  if (s === null) return;
  const fd = s.first_divergence;
  const facts = [
    ["state", s.state, badge(s.state)],
    ["reason", s.reason === null ? "–" : safeText(s.reason)],
    ["live_sha256", short(s.live_sha256)],
    ["candidate_sha256", short(s.candidate_sha256)],
    ["invocations", String(s.invocations)],
    ["matched", String(s.matched)],
    ["diverged", String(s.diverged)],
    ["suppressed_effects", String(s.suppressed_effects)],
    ["tolerance", String(s.tolerance)],
    ["start", s.start === undefined ? "image" : safeText(s.start)],
    ["warmup", s.warmup_invocations ? s.warmup + " of " + s.warmup_invocations + " invocations" : "none"],
    ["started_at", new Date(s.started_at).toLocaleString() + (s.by ? " by " + safeText(s.by) : "")],
  ];
  $("v-shadow-facts").replaceChildren(...facts.map(([k, text, node]) =>
    el("div", { "data-field": k }, [
      el("dt", { text: k === "warmup" ? "warm-up (counted apart)" : k.replace(/_/g, " ") }),
      el("dd", { title: k.endsWith("sha256") ? String(s[k]) : "" }, [node || document.createTextNode(text)]),
    ])
  ));
  $("v-first").textContent = fd
    ? "First divergence at invocation " + fd.invocation + " (" + safeText(fd.entry) +
      (fd.call ? ", " + safeText(fd.call) : "") + "): " + safeText(fd.what) + "; live " + safeText(fd.live) +
      ", candidate " + safeText(fd.candidate)
    : "No divergence.";
  const largest = Object.entries(s.largest_difference || {})
    .map(([k, d]) => [k, d, d === "inf" ? Infinity : Number(d)])
    .sort((a, b) => b[2] - a[2] || (a[0] < b[0] ? -1 : 1));
  $("v-largest").tBodies[0].replaceChildren(...largest.slice(0, LARGEST_SHOWN).map(([k, d, n]) =>
    el("tr", { "data-output": k, "data-differs": n > 0 ? "true" : "false" }, [
      el("th", { scope: "row", text: safeText(k) }),
      el("td", { class: "num", text: d === "inf" ? "inf" : formatNumber(n) }),
    ])
  ));
  $("v-largest-more").textContent = largest.length > LARGEST_SHOWN
    ? (largest.length - LARGEST_SHOWN) + " more outputs, all with smaller differences"
    : largest.length === 0
    ? "No outputs compared yet."
    : "";
  const t = s.time_per_call_us;
  $("v-times").tBodies[0].replaceChildren(
    ...[["live", t.live], ["candidate", t.candidate]].map(([side, x]) =>
      el("tr", { "data-side": side }, [
        el("th", { scope: "row", text: side }),
        el("td", { class: "num", text: String(x.calls) }),
        el("td", { class: "num", "data-field": "mean", text: formatNumber(x.mean) }),
        el("td", { class: "num", text: formatNumber(x.p50) }),
        el("td", { class: "num", text: formatNumber(x.p99) }),
      ])
    ),
  );
  const ratio = t.live.calls > 0 && t.candidate.calls > 0 && t.live.mean > 0 ? t.candidate.mean / t.live.mean : null;
  $("v-ratio").textContent = ratio === null
    ? "Not enough calls to compare times yet."
    : "The candidate takes " + ratio.toFixed(2) + "× the live module's mean time per call.";
}

function short(sha) {
  return typeof sha === "string" ? sha.slice(0, 12) : "–";
}

function showShadowButtons() {
  const admin = validation.role === null || validation.role === "admin";
  const s = validation.shadow;
  for (const b of [$("v-promote"), $("v-drop")]) {
    b.disabled = validation.busy || !admin || s === null;
    // The same words as every other control the token may not use (guard in _ops_js.ts).
    b.title = admin ? "" : "Needs the admin role (this token is " + (validation.role || "unknown") + ")";
  }
  if (s !== null && s.state === "stopped") $("v-promote").disabled = true;
}

async function shadowAction(action) {
  const name = validation.module;
  if (!name || !confirm(cap(action) + " the shadow candidate of " + name + "?")) return;
  const session = ui.session;
  const result = $("v-result");
  validation.busy = true;
  showShadowButtons();
  result.textContent = action + " shadow of " + safeText(name) + "…";
  delete result.dataset.ok;
  delete result.dataset.status;
  try {
    const body = await api(action === "drop" ? "DELETE" : "POST", modulePath(name) + "/shadow" +
      (action === "promote" ? "/promote" : ""));
    if (session !== ui.session) return;
    result.dataset.ok = "true";
    result.dataset.status = "200";
    result.textContent = cap(action) + " shadow of " + safeText(name) + ": done" +
      (action === "promote" ? ", the module now runs " + short(body.module && body.module.sha256) : "");
  } catch (err) {
    if (session !== ui.session) return;
    result.dataset.ok = "false";
    result.dataset.status = String(err.status);
    result.textContent = cap(action) + " shadow of " + safeText(name) + " refused" +
      (err.status ? " (HTTP " + err.status + " " + safeText(err.code) + ")" : "") + ": " + safeText(err.message);
    apiFailed(err);
  } finally {
    validation.busy = false;
    showShadowButtons();
  }
  if (session === ui.session && name === validation.module) loadShadow(session, name);
}

// ---- traces -------------------------------------------------------------------------------------------------

async function loadTraces(session) {
  const name = validation.module;
  if (!name) return;
  const r = await forModule(session, name, "GET", "/traces?limit=" + TRACES_KEPT);
  if (r === null) return;
  if (r.err) {
    $("v-traces-none").textContent = r.err.code === "traces_unavailable"
      ? "This gateway keeps no trace events."
      : "Cannot read the traces: " + safeText(r.err.message);
    $("v-traces-none").hidden = false;
    return;
  }
  $("v-traces-none").textContent = r.body.every > 0
    ? "No trace events of " + safeText(name) + " yet (every " + r.body.every + " calls is traced)."
    : "Tracing is off (the default). Turn it on in the manifest: observability: { traces: { every: 1 } }.";
  if (r.body.next_seq - 1 < validation.lastSeq) validation.traces = []; // the gateway restarted
  for (const e of r.body.traces) addTrace(e, true);
  drawTraces();
}

/** A traces/<module> frame from the stream. */
function validationTrace(module, e) {
  if (module === validation.module) addTrace(e, false);
}

function addTrace(e, quiet) {
  if (typeof e.seq !== "number" || validation.traces.some((x) => x.seq === e.seq)) return;
  validation.traces.push(e);
  validation.traces.sort((a, b) => a.seq - b.seq);
  if (validation.traces.length > TRACES_KEPT) validation.traces.splice(0, validation.traces.length - TRACES_KEPT);
  validation.lastSeq = Math.max(validation.lastSeq, e.seq);
  if (!quiet && !validation.drawTimer) {
    validation.drawTimer = setTimeout(() => {
      validation.drawTimer = 0;
      drawTraces();
    }, TRACES_DRAW_MS);
  }
}

function drawTraces() {
  const rows = validation.traces.slice().reverse().map((e) => {
    const uses = Object.entries(e.uses || {}).map(([c, n]) => safeText(c) + " ×" + n).join("\n");
    return el("tr", { "data-seq": String(e.seq), "data-outcome": e.outcome }, [
      el("td", { class: "num", text: String(e.seq) }),
      el("td", { text: safeText(e.handler) }),
      el("td", { title: e.start_at, text: clock(e.start_at) }),
      el("td", { class: "num", text: formatNumber(e.duration_us) }),
      el("td", { class: "num", text: e.instructions === null ? "–" : String(e.instructions) }),
      el("td", { class: "num", text: String(e.alloc_bytes) }),
      el("td", { class: "uses", text: uses || "–" }),
      el("td", { title: safeText(e.code) }, [badge(safeText(e.outcome))]),
    ]);
  });
  $("v-traces").tBodies[0].replaceChildren(...rows);
  $("v-traces").hidden = rows.length === 0;
  $("v-traces-none").hidden = rows.length > 0;
}

/** A time of day to the millisecond, local, 24-hour: 17:44:44.700. */
function clock(iso) {
  const d = new Date(iso);
  const p = (n, w) => String(n).padStart(w || 2, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." + p(d.getMilliseconds(), 3);
}

// ---- recording ----------------------------------------------------------------------------------------------

async function loadRecording(session, name) {
  const r = await forModule(session, name, "GET", "/record");
  if (r === null) return;
  const none = $("v-record-none");
  if (r.err) {
    $("v-record").tBodies[0].replaceChildren();
    $("v-record").hidden = true;
    none.textContent = r.err.code === "recording_not_found"
      ? "No recording of " + safeText(name) + ". Make one with: kiln record " + safeText(name) +
        " --url " + location.origin + " --invocations 500"
      : "Cannot read the recording: " + safeText(r.err.message);
    none.hidden = false;
    $("v-download").hidden = true;
    return;
  }
  const s = r.body;
  none.hidden = true;
  $("v-record").hidden = false;
  $("v-record").tBodies[0].replaceChildren(
    el("tr", { "data-state": s.state }, [
      el("td", {}, [badge(s.state)]),
      el("td", { class: "num", text: String(s.invocations) }),
      el("td", { class: "num", text: String(s.size_bytes) }),
      el("td", { text: new Date(s.started_at).toLocaleString() }),
      el("td", { text: safeText(s.stop === null ? "–" : s.stop) }),
      el("td", { class: "error-text", text: safeText(s.error) }),
    ]),
  );
  $("v-download").hidden = !(s.state === "done" && !s.error);
}

/** Fetches the finished trace with the token and saves it as <module>.ktrace. */
async function downloadTrace() {
  const name = validation.module;
  const result = $("v-result");
  delete result.dataset.ok;
  delete result.dataset.status;
  try {
    const res = await fetch(modulePath(name) + "/record/trace", {
      headers: { authorization: "Bearer " + ui.token },
      cache: "no-store",
    });
    if (!res.ok) {
      let e = {};
      try {
        e = (await res.json()).error || {};
      } catch (_) {
        e = {};
      }
      throw new ApiError(res.status, e.code || "http_" + res.status, e.message || res.statusText);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = el("a", { href: url, download: name.replace(/[^A-Za-z0-9_.-]/g, "_") + ".ktrace", hidden: "" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    result.dataset.ok = "true";
    result.dataset.status = "200";
    result.textContent = "Saved the trace of " + safeText(name) + " (replay it with kiln replay).";
  } catch (err) {
    result.dataset.ok = "false";
    result.dataset.status = String(err.status || 0);
    result.textContent = "Download of the trace of " + safeText(name) + " failed" +
      (err.status ? " (HTTP " + err.status + " " + safeText(err.code) + ")" : "") + ": " + safeText(err.message);
  }
}
`;
