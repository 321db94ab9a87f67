/**
 * The dashboard's HTML. No inline script or style (the CSP forbids both): behaviour is in `/ui/app.js`,
 * looks in `/ui/app.css`. Elements the script fills have ids; `data-*` attributes name what tests read.
 *
 * @module
 */

/** The page served at `/`. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Kiln dashboard</title>
<link rel="icon" href="/ui/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/uplot.css">
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/uplot.js" defer></script>
<script src="/ui/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1><img src="/ui/icon.svg" alt="" width="22" height="22"> Kiln</h1>
  <span id="device" class="muted"></span>
  <span class="spacer"></span>
  <span id="live" class="pill" data-state="off" role="status" aria-live="polite">offline</span>
  <span id="who" class="who" title="This token's role"></span>
  <button id="signout" type="button" hidden>Sign out</button>
</header>

<main>
<section id="signin" class="card signin" hidden>
  <h2>Sign in</h2>
  <p class="muted">Paste an API token (<code>kiln token create --role operator</code>, or the admin token in
    <code>data/admin.token</code>). It is kept in this tab only.</p>
  <form id="signin-form" autocomplete="off">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" required spellcheck="false" autocomplete="off">
    <button type="submit">Sign in</button>
  </form>
  <p id="signin-error" class="error" role="alert"></p>
</section>

<div id="board" class="grid" hidden>
  <section class="card wide" aria-labelledby="modules-title">
    <h2 id="modules-title">Modules</h2>
    <table id="modules">
      <thead><tr>
        <th scope="col">Module</th><th scope="col">Mode</th><th scope="col">State</th>
        <th scope="col" class="num">Restarts</th><th scope="col" class="num">Invocations</th>
        <th scope="col">Last error</th><th scope="col">Control</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <p id="action-result" class="result" role="status" aria-live="polite"></p>
  </section>

  <div id="estop" class="estop wide" data-state="none" role="status" aria-live="assertive" hidden></div>

  <section id="charts" class="card wide" aria-labelledby="charts-title">
    <h2 id="charts-title">Charts
      <span class="muted">last 300 s; drag to zoom, double-click to follow live</span></h2>
    <p class="picker">
      <label for="c-module">Module</label> <select id="c-module"></select>
      <label for="c-array">Array</label> <select id="c-array"></select>
      <button id="c-follow" type="button" disabled>Follow live</button>
    </p>
    <fieldset class="keys"><legend>Outputs</legend><div id="c-keys" class="keylist"></div></fieldset>
    <div class="chartgrid">
      <div id="c-time" class="uchart" role="img" aria-label="The chosen outputs over the last 300 s"></div>
      <div id="c-array-chart" class="uchart" role="img" aria-label="The chosen array output by index"></div>
    </div>
    <p id="c-note" class="muted"></p>
  </section>

  <section class="card wide" aria-labelledby="alerts-title">
    <h2 id="alerts-title">Alerts</h2>
    <p class="picker">
      <label for="a-module">Module</label> <select id="a-module"><option value="">all</option></select>
      <label for="a-severity">Severity</label>
      <select id="a-severity"><option value="">all</option><option value="warning">warning</option>
        <option value="critical">critical</option></select>
      <label><input id="a-unacked" type="checkbox"> unacknowledged only</label>
    </p>
    <div class="scroll">
      <table id="alerts" class="compact">
        <thead><tr>
          <th scope="col">Date and time</th><th scope="col">Severity</th><th scope="col">Module</th>
          <th scope="col">Message</th><th scope="col">Acknowledged</th>
        </tr></thead>
        <tbody aria-live="polite"></tbody>
      </table>
    </div>
    <p id="no-alerts" class="muted">No alerts.</p>
  </section>

  <section class="card" aria-labelledby="gpio-title">
    <h2 id="gpio-title">GPIO and actuators <span class="muted">simulated bank</span></h2>
    <table id="gpio" class="compact">
      <thead><tr>
        <th scope="col">Pin</th><th scope="col">Level</th><th scope="col">Role</th>
        <th scope="col">Changed</th><th scope="col">Control</th>
      </tr></thead>
      <tbody></tbody>
    </table>
    <p id="gpio-none" class="muted"></p>
  </section>

  <section class="card" aria-labelledby="gateway-title">
    <h2 id="gateway-title">Gateway</h2>
    <dl id="gateway" class="facts"></dl>
    <p id="gateway-none" class="muted"></p>
  </section>

  <section class="card" aria-labelledby="connectors-title">
    <h2 id="connectors-title">Connectors <span id="connectors-summary" class="muted"></span></h2>
    <table id="connectors">
      <thead><tr>
        <th scope="col">Connector</th><th scope="col">Kind</th><th scope="col">State</th>
        <th scope="col" class="num">Errors</th><th scope="col" class="num">Reconnects</th>
        <th scope="col">Last error</th>
      </tr></thead>
      <tbody></tbody>
    </table>
  </section>

  <section class="card" aria-labelledby="outputs-title">
    <h2 id="outputs-title">Outputs</h2>
    <div id="outputs" class="outputs"></div>
  </section>

  <section id="validation" class="card wide" aria-labelledby="validation-title">
    <h2 id="validation-title">Validation <span class="muted">shadow candidate, traces, recording</span></h2>
    <p class="picker"><label for="v-module">Module</label> <select id="v-module"></select></p>
    <div class="vgrid">
      <div class="vpart" aria-labelledby="v-shadow-title">
        <h3 id="v-shadow-title">Shadow candidate</h3>
        <p id="v-shadow-none" class="muted"></p>
        <div id="v-shadow-body" hidden>
          <dl id="v-shadow-facts" class="facts"></dl>
          <p id="v-first" class="first"></p>
          <table id="v-largest" class="compact">
            <caption>Largest difference per output</caption>
            <thead><tr><th scope="col">Output</th><th scope="col" class="num">Largest difference</th></tr></thead>
            <tbody></tbody>
          </table>
          <p id="v-largest-more" class="muted"></p>
          <table id="v-times" class="compact">
            <caption>Time per call, µs</caption>
            <thead><tr>
              <th scope="col">Build</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Mean</th>
              <th scope="col" class="num">p50 ≤</th><th scope="col" class="num">p99 ≤</th>
            </tr></thead>
            <tbody></tbody>
          </table>
          <p id="v-ratio" class="muted"></p>
          <p class="actions">
            <button id="v-promote" type="button" disabled>Promote</button>
            <button id="v-drop" type="button" disabled>Drop</button>
          </p>
        </div>
      </div>
      <div id="v-side" class="vpart" aria-labelledby="v-traces-title" hidden>
        <h3 id="v-traces-title">Last trace events</h3>
        <table id="v-traces" class="compact" hidden>
          <thead><tr>
            <th scope="col" class="num">Seq</th><th scope="col">Handler</th><th scope="col">Start</th>
            <th scope="col" class="num">µs</th><th scope="col" class="num">Instructions</th>
            <th scope="col" class="num">Bytes grown</th><th scope="col">Capabilities used</th>
            <th scope="col">Outcome</th>
          </tr></thead>
          <tbody></tbody>
        </table>
        <p id="v-traces-none" class="muted"></p>
        <h3>Recording</h3>
        <table id="v-record" class="compact" hidden>
          <thead><tr>
            <th scope="col">State</th><th scope="col" class="num">Invocations</th><th scope="col" class="num">Bytes</th>
            <th scope="col">Started</th><th scope="col">Stopped by</th><th scope="col">Error</th>
          </tr></thead>
          <tbody></tbody>
        </table>
        <p id="v-record-none" class="muted"></p>
        <p><button id="v-download" type="button" hidden>Download trace</button></p>
      </div>
    </div>
    <p id="v-result" class="result" role="status" aria-live="polite"></p>
  </section>
</div>
</main>
</body>
</html>
`;
