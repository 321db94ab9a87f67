/**
 * The dashboard end to end: `kiln run` on the demo, Debian's Chromium driven by playwright-core, an operator
 * and a viewer token made with `kiln token create`. Set `KILN_SCREENSHOT=path.png` to keep a screenshot of
 * the page once an alert has come in and been acknowledged, every module running (`docs/dashboard.png`).
 *
 * This same file, run as `deno run -A` (`import.meta.main`), is the browser driver (`_browser.ts` says why).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { AUTH, getJson, runKiln, startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { assertChromium, type BrowserStep, driveSteps, runBrowserSteps } from "./_browser.ts";

const DEMO_MODULES = ["aggregator", "anomaly", "fft", "safety", "temperature"];
/** Prefix of the driver's step reports on its standard output. */
const REPORT = "@@dashboard-step ";
/** The environment variable that hands the driver its {@linkcode Setup}. */
const SETUP_ENV = "KILN_DASHBOARD_SETUP";

/** What the driver needs: the running Kiln and the tokens. */
interface Setup {
  base: string;
  operator: string;
  viewer: string;
  screenshot: string | null;
  /** A time (epoch ms) before the driver opened the page, once Kiln had kept some history. */
  openedBy: number;
}

/** The aggregator's restarts, from the API (not from the page). */
async function restarts(base: string): Promise<number> {
  return (await getJson<{ restarts: number }>(`${base}/api/v1/modules/aggregator`)).restarts;
}

async function signIn(page: Page, token: string, role: string): Promise<void> {
  await page.locator("#token").fill(token);
  await page.locator("#signin-form button[type=submit]").click();
  await page.locator("#board").waitFor({ state: "visible" });
  // The header shows the role the server gives the token (GET /api/v1/me).
  await page.locator(`#who[data-role="${role}"] .badge`, { hasText: role }).waitFor();
}

/** The time chart's attributes: rows, oldest time (epoch ms), keys, module. */
async function timeChart(
  page: Page,
): Promise<{ points: number; first: number; keys: string[]; module: string }> {
  const d = await page.locator("#c-time").evaluate((e) => ({
    ...(e as unknown as { dataset: Record<string, string | undefined> }).dataset,
  }));
  return {
    points: Number(d.points ?? 0),
    first: Number(d.first || 0),
    keys: d.keys ? d.keys.split(",") : [],
    module: d.module ?? "",
  };
}

/** Every demo module running, by the API: the screenshot shows a healthy demo. */
async function allRunning(base: string): Promise<boolean> {
  const { modules } = await getJson<{ modules: { state: string }[] }>(`${base}/api/v1/modules`);
  return modules.length === DEMO_MODULES.length && modules.every((m) => m.state === "running");
}

/** The steps, in order; the driver runs them, the test reports them. */
const STEPS: BrowserStep<Setup>[] = [
  ["the page loads from Kiln and asks for a token", async (page, s) => {
    const res = await page.goto(`${s.base}/`);
    assert.equal(res?.status(), 200, "GET / serves the dashboard (is createUiRoutes mounted in api/mod.ts?)");
    assert.match(
      res!.headers()["content-type"] ?? "",
      /^text\/html/,
      "GET / answers the page, not the JSON index",
    );
    assert.match(res!.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.locator("#board").isVisible(), false);
    assert.equal(await page.evaluate(() => typeof (globalThis as { uPlot?: unknown }).uPlot), "function");
  }],

  ["with an operator token, the five demo modules are listed as running", async (page, s) => {
    await signIn(page, s.operator, "operator");
    await page.locator('#modules tr[data-module] .badge[data-state="running"]').nth(4).waitFor();
    const rows = () =>
      page.locator("#modules tr[data-module]").evaluateAll((trs) =>
        trs.map((tr) => `${tr.getAttribute("data-module")}:${tr.querySelector(".badge")?.textContent}`).sort()
      );
    // On two cores, Chromium starting can hold a module's thread past its wall-clock budget, and the sandbox
    // interrupts it (crashed, restarted after a backoff): that is the supervisor's business, not the page's.
    // The page must show all five running together within a few seconds.
    const expected = DEMO_MODULES.map((m) => `${m}:running`);
    let seen = await rows();
    for (let i = 0; i < 50 && JSON.stringify(seen) !== JSON.stringify(expected); i++) {
      await page.waitForTimeout(200);
      seen = await rows();
    }
    if (JSON.stringify(seen) !== JSON.stringify(expected)) {
      // Say why a module is not running (its last fault), to tell a watchdog interrupt from a real bug.
      const res = await fetch(`${s.base}/api/v1/modules`, {
        headers: { authorization: `Bearer ${s.operator}` },
      });
      const { modules } = await res.json() as {
        modules: { name: string; state: string; last_error: string }[];
      };
      const why = modules.filter((m) => m.state !== "running").map((m) => `${m.name}: ${m.last_error}`);
      assert.deepEqual(seen, expected, why.join("; "));
    }
    await page.locator('#connectors tr[data-connector="sim"] .badge[data-state="connected"]').waitFor();
    await page.locator("#live", { hasText: "live" }).waitFor();
    // The controls an operator may use are enabled.
    const restart = page.locator('#modules tr[data-module="aggregator"] button[data-action="restart"]');
    assert.equal(await restart.isDisabled(), false);
  }],

  ["the gateway's figures and the emergency stop's state are shown", async (page) => {
    await page.locator('#gateway [data-figure="modules"]', { hasText: "of 5" }).waitFor();
    assert.match(await page.locator('#gateway [data-figure="uptime"]').textContent() ?? "", /\d+ min/);
    assert.match(await page.locator('#gateway [data-figure="rss"]').textContent() ?? "", /^\d+\.\d MiB$/);
    assert.match(await page.locator('#gateway [data-figure="outbox"]').textContent() ?? "", /^\d+ \(/);
    assert.match(await page.locator("#connectors-summary").textContent() ?? "", /^\d+ of 2 up$/);
    await page.locator('#estop[data-state="clear"]', { hasText: "pin 8 low" }).waitFor();
    await page.locator('#gpio tr[data-pin="8"][data-level="low"]', { hasText: "output of safety" }).waitFor();
  }],

  [
    "the chart is full at load: a module that ran before the page opened shows its history at once",
    async (page, s) => {
      // The first module (aggregator, once a second) is chosen; its history predates this page.
      await waitFor("the time chart's history", async () => (await timeChart(page)).points >= 5, 5_000);
      const c = await timeChart(page);
      assert.equal(c.module, "aggregator");
      assert.ok(c.keys.includes("temperature_min_c"), c.keys.join(","));
      assert.ok(
        c.first <= s.openedBy - 3_000,
        `oldest point ${c.first} is from before the page (${s.openedBy})`,
      );
      // uPlot drew it: a canvas and a legend with a row per key.
      assert.ok(await page.locator("#c-time canvas").count() >= 1);
      assert.equal(await page.locator("#c-time .u-legend .u-series").count(), c.keys.length + 1);
    },
  ],

  ["choosing another module shows its outputs and its array, and they move live", async (page) => {
    await page.locator("#c-module").selectOption("fft");
    await waitFor("fft's history", async () => {
      const c = await timeChart(page);
      return c.module === "fft" && c.points >= 5;
    }, 5_000);
    const frames = async () => Number(await page.locator("#c-array-chart").getAttribute("data-frames") ?? 0);
    assert.equal(await page.locator("#c-array").inputValue(), "spectrum");
    await waitFor("a first spectrum", async () => await frames() > 0);
    const before = { frames: await frames(), points: (await timeChart(page)).points };
    await waitFor("new spectra", async () => await frames() > before.frames + 2);
    assert.ok(Number(await page.locator("#c-array-chart").getAttribute("data-length")) > 16);
    // Another output of the same module, ticked: drawn from its history at once.
    await page.locator('#c-keys input[data-key="band_1"]').check();
    await waitFor("band_1 with its history", async () => {
      const c = await timeChart(page);
      return c.keys.includes("band_1") && c.points >= 5;
    }, 5_000);
    // Then another module's output.
    await page.locator("#c-module").selectOption("anomaly");
    await waitFor("anomaly's score", async () => {
      const c = await timeChart(page);
      return c.module === "anomaly" && c.keys.includes("score") && c.points >= 5;
    }, 5_000);
    const rms = page.locator('[data-value="fft.rms_g"]');
    const was = await rms.textContent();
    await waitFor("the RMS readout to change", async () => await rms.textContent() !== was);
    const n = (await timeChart(page)).points;
    await waitFor("live points", async () => (await timeChart(page)).points > n);
  }],

  ["an operator's restart of aggregator goes through", async (page, s) => {
    const before = await restarts(s.base);
    await page.locator('#modules tr[data-module="aggregator"] button[data-action="restart"]').click();
    await page.locator('#action-result[data-status="200"]').waitFor();
    await waitFor("the restart count to rise", async () => await restarts(s.base) > before);
    const cell = page.locator('#modules tr[data-module="aggregator"] [data-field="restarts"]');
    await waitFor("the page to show it", async () => Number(await cell.textContent()) > before);
  }],

  [
    "an injected bearing fault's alert is listed with its date, and filters by module and severity",
    async (page, s) => {
      const res = await fetch(`${s.base}/api/v1/sim/sensors/vibration_1/fault`, {
        method: "POST",
        headers: AUTH,
        body: JSON.stringify({ fault: "bearing" }),
      });
      assert.equal(res.status, 200, await res.text());
      const row = page.locator('#alerts tr[data-severity="critical"][data-module="anomaly"]').first();
      await row.waitFor();
      assert.match(await row.locator("time").textContent() ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      assert.equal(await row.getAttribute("data-acked"), "false");
      await page.locator("#a-severity").selectOption("warning");
      await row.waitFor({ state: "hidden" });
      await page.locator("#a-severity").selectOption("");
      await page.locator("#a-module").selectOption("anomaly");
      await row.waitFor({ state: "visible" });
      const modules = await page.locator("#alerts tbody tr:not([hidden])").evaluateAll((trs) =>
        trs.map((tr) => tr.getAttribute("data-module"))
      );
      assert.ok(modules.length > 0 && modules.every((m) => m === "anomaly"), modules.join(","));
      await page.locator("#a-module").selectOption("");
    },
  ],

  ["an alert an operator acknowledges shows as acknowledged on a second page at once", async (page, s) => {
    const second = await page.context().newPage();
    const problems: string[] = [];
    second.on("pageerror", (e) => problems.push(e.message));
    second.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    try {
      await second.goto(`${s.base}/`);
      await signIn(second, s.viewer, "viewer");
      const row = page.locator('#alerts tr[data-severity="critical"][data-module="anomaly"]').first();
      const seq = await row.getAttribute("data-seq");
      const there = second.locator(`#alerts tr[data-seq="${seq}"]`);
      await there.waitFor();
      assert.equal(await there.getAttribute("data-acked"), "false");
      // The viewer's Acknowledge button is there, disabled, and says who may use it.
      const viewerAck = there.locator('button[data-action="ack"]');
      assert.equal(await viewerAck.isDisabled(), true);
      assert.match(await viewerAck.getAttribute("title") ?? "", /Needs the operator role/);

      await row.locator('button[data-action="ack"]').click();
      await page.locator(`#alerts tr[data-seq="${seq}"][data-acked="true"]`).waitFor();
      await second.locator(`#alerts tr[data-seq="${seq}"][data-acked="true"]`, {
        hasText: "dashboard-operator",
      })
        .waitFor();
      if (s.screenshot !== null) {
        // fft's RMS, peak and band levels (peak_hz, in Hz, would flatten them), over 40 s or more.
        await page.locator("#c-module").selectOption("fft");
        await waitFor("fft's keys", async () => (await timeChart(page)).keys.includes("peak_hz"));
        await page.locator('#c-keys input[data-key="peak_hz"]').uncheck();
        await page.locator('#c-keys input[data-key="band_1"]').check();
        await waitFor("fft's chart", async () => (await timeChart(page)).points >= 160, 60_000);
        await waitFor("every demo module running", () => allRunning(s.base), 30_000);
        await page.screenshot({ path: s.screenshot, fullPage: true });
      }
    } finally {
      await second.close();
    }
    assert.deepEqual(problems, []);
  }],

  ["an overheat trips the emergency stop and the page says so at a glance", async (page, s) => {
    const res = await fetch(`${s.base}/api/v1/sim/sensors/temperature_1/fault`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ fault: "overheat" }),
    });
    assert.equal(res.status, 200, await res.text());
    // The probe climbs about 1 °C a second from the high 40s to the 85 °C trip (examples/demo.yaml).
    const tripped = page.locator('#estop[data-state="tripped"]');
    await tripped.waitFor({ timeout: 120_000 });
    assert.match(
      await tripped.textContent() ?? "",
      /EMERGENCY STOP TRIPPED · pin 8 high since .*set by safety/,
    );
    await page.locator('#gpio tr[data-pin="8"][data-level="high"]').waitFor();
    await page.locator('#alerts tr[data-module="safety"][data-severity="critical"]').first().waitFor();
  }],

  [
    "a viewer sees every control disabled, saying which role it needs, and no request is refused",
    async (page, s) => {
      const refused: string[] = [];
      page.on("response", (r) => r.status() === 403 && refused.push(`${r.request().method()} ${r.url()}`));
      await page.locator("#signout").click();
      await page.locator("#signin").waitFor({ state: "visible" });
      assert.equal(await page.evaluate(() => sessionStorage.getItem("kiln.token")), null);
      await signIn(page, s.viewer, "viewer");
      await page.locator('#modules tr[data-module="aggregator"]').waitFor();
      const controls = page.locator("#modules button[data-action]");
      await waitFor("the module rows", async () => await controls.count() === 15);
      for (const b of await controls.all()) {
        assert.equal(await b.isDisabled(), true);
        assert.equal(await b.getAttribute("title"), "Needs the operator role (this token is viewer)");
      }
      await page.locator('#alerts button[data-action="ack"]').first().waitFor();
      for (const b of await page.locator('#alerts button[data-action="ack"]').all()) {
        assert.equal(await b.isDisabled(), true);
      }
      // Clicking a disabled control sends nothing.
      const before = await restarts(s.base);
      await page.locator('#modules tr[data-module="aggregator"] button[data-action="restart"]').click({
        force: true,
      });
      await page.waitForTimeout(500);
      assert.equal(await page.locator("#action-result").textContent(), "");
      assert.equal(await restarts(s.base), before, "nothing was restarted");
      assert.deepEqual(refused, []);
      await page.locator('#estop[data-state="tripped"]').waitFor();
    },
  ],

  ["a module that crashes raises a runtime alert, listed live like the others", async (page, s) => {
    const form = new FormData();
    form.set("name", "crasher");
    form.set("spec", "schedule: { mode: periodic, period_us: 50000 }\nlimits: { max_memory_mb: 1 }\n");
    form.set("wasm", new File([CRASHER as Uint8Array<ArrayBuffer>], "crasher.wasm"));
    const res = await fetch(`${s.base}/api/v1/modules`, { method: "POST", body: form, headers: AUTH });
    assert.equal(res.status, 201, await res.text());
    // Its probation may roll it back too: that alert can come first, so the crash's own row is looked for.
    const row = page.locator('#alerts tr[data-module="crasher"]')
      .filter({ has: page.locator(".message", { hasText: /^Module (crashed|failed)/ }) })
      .first();
    await row.waitFor({ timeout: 30_000 });
    assert.match(await row.locator(".message").textContent() ?? "", /^Module (crashed|failed)/);
    assert.match(await row.textContent() ?? "", /crasher runtime/);
    assert.match(await row.locator("time").textContent() ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    assert.equal(await row.locator('button[data-action="ack"]').isDisabled(), true, "still a viewer");
  }],
];

/** A periodic module that traps on its fourth tick, every time it is started. */
const CRASHER = wat(`(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32) (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (if (i32.gt_u (i32.load (i32.const 64)) (i32.const 3)) (then unreachable))
    (i32.const 0)))`);
if (import.meta.main) {
  // No console error is expected: a viewer's page sends nothing that is refused.
  await driveSteps(JSON.parse(Deno.env.get(SETUP_ENV)!) as Setup, STEPS, {
    reportPrefix: REPORT,
    allowedConsole: /(?!)/,
  });
}

async function createToken(dir: string, role: string): Promise<string> {
  const made = await runKiln([
    "token",
    "create",
    "--role",
    role,
    "--name",
    `dashboard-${role}`,
    "--data",
    dir,
    "--json",
  ]);
  assert.equal(made.code, 0, made.stderr);
  return (JSON.parse(made.stdout) as { token: string }).token;
}

Deno.test("the dashboard charts any module from its history, acknowledges alerts everywhere, shows the emergency stop and crash alerts, and disables what a viewer may not do", async (t) => {
  await assertChromium();
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir]);
  const screenshot = Deno.env.get("KILN_SCREENSHOT");
  // Some history kept before any page opens: aggregator outputs once a second.
  await waitFor("aggregator's history", async () => {
    const h = await getJson<{ outputs: Record<string, { t: number[] }> }>(
      `${kiln.base}/api/v1/modules/aggregator/history?keys=temperature_min_c&seconds=300`,
    );
    return (h.outputs.temperature_min_c?.t.length ?? 0) >= 5;
  }, 20_000);
  const setup: Setup = {
    base: kiln.base,
    operator: await createToken(dir, "operator"),
    viewer: await createToken(dir, "viewer"),
    screenshot: screenshot ? new URL(screenshot, `file://${Deno.cwd()}/`).pathname : null,
    openedBy: Date.now(),
  };
  await runBrowserSteps(t, {
    moduleUrl: import.meta.url,
    setupEnv: SETUP_ENV,
    setup,
    reportPrefix: REPORT,
    stepNames: STEPS.map(([name]) => name),
  });
  assert.equal(await kiln.stop(), 0);
});
