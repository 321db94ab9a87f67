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
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1><img src="/ui/icon.svg" alt="" width="22" height="22"> Kiln</h1>
  <span id="device" class="muted"></span>
  <span class="spacer"></span>
  <span id="live" class="pill" data-state="off" role="status" aria-live="polite">offline</span>
  <span id="who" class="muted"></span>
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

  <section class="card" aria-labelledby="spectrum-title">
    <h2 id="spectrum-title">Vibration spectrum <span class="muted">fft</span></h2>
    <canvas id="spectrum" class="chart" role="img" aria-label="FFT amplitude spectrum of vibration_1"></canvas>
    <p class="values">peak <b data-output="fft.peak_hz">–</b> Hz
      at <b data-output="fft.peak_g">–</b> g, RMS <b data-output="fft.rms_g">–</b> g</p>
  </section>

  <section class="card" aria-labelledby="anomaly-title">
    <h2 id="anomaly-title">Anomaly score <span class="muted">anomaly</span></h2>
    <canvas id="anomaly" class="chart" role="img" aria-label="Anomaly score and threshold, last minute"></canvas>
    <p class="values">score <b data-output="anomaly.score">–</b>,
      threshold <b data-output="anomaly.threshold">–</b></p>
  </section>

  <section class="card" aria-labelledby="temperature-title">
    <h2 id="temperature-title">Temperatures <span class="muted">temperature, aggregator</span></h2>
    <canvas id="temperatures" class="chart" role="img" aria-label="Temperatures, last minute"></canvas>
    <p class="values">probe 1 <b data-output="temperature.temperature_c">–</b> °C,
      trend <b data-output="temperature.trend_c_per_min">–</b> °C/min;
      both probes <b data-output="aggregator.temperature_min_c">–</b> to
      <b data-output="aggregator.temperature_max_c">–</b> °C</p>
  </section>

  <section class="card" aria-labelledby="alerts-title">
    <h2 id="alerts-title">Alerts</h2>
    <ol id="alerts" class="alerts" aria-live="polite"></ol>
    <p id="no-alerts" class="muted">No alerts.</p>
  </section>

  <section class="card" aria-labelledby="connectors-title">
    <h2 id="connectors-title">Connectors</h2>
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
