/**
 * The dashboard end to end: `kiln run` on the demo, Debian's Chromium driven by playwright-core, an operator
 * and a viewer token made with `kiln token create`. Set `KILN_SCREENSHOT=path.png` to keep a screenshot of
 * the page once an alert has come in (the README's picture).
 *
 * This same file, run as `deno run -A` (`import.meta.main`), is the browser driver (`_browser.ts` says why).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { AUTH, getJson, runKiln, startKiln } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
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
}

/** The aggregator's restarts, from the API (not from the page). */
async function restarts(base: string): Promise<number> {
  return (await getJson<{ restarts: number }>(`${base}/api/v1/modules/aggregator`)).restarts;
}

async function signIn(page: Page, token: string, role: string): Promise<void> {
  await page.locator("#token").fill(token);
  await page.locator("#signin-form button[type=submit]").click();
  await page.locator("#board").waitFor({ state: "visible" });
  // The stream's hello frame names the role the server gave the token.
  await page.locator("#who", { hasText: `signed in as ${role}` }).waitFor();
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
  }],

  ["live values change: the spectrum redraws and the readouts move", async (page) => {
    const frames = async () => Number(await page.locator("#spectrum").getAttribute("data-frames") ?? 0);
    const rms = page.locator('[data-output="fft.rms_g"]').first();
    const score = page.locator('[data-output="anomaly.score"]').first();
    await waitFor(
      "a first spectrum and readouts",
      async () => await frames() > 0 && await rms.textContent() !== "–" && await score.textContent() !== "–",
    );
    const before = { frames: await frames(), rms: await rms.textContent(), score: await score.textContent() };
    await waitFor("new spectra", async () => await frames() > before.frames + 2);
    await waitFor("the RMS readout to change", async () => await rms.textContent() !== before.rms);
    await waitFor("the anomaly score to change", async () => await score.textContent() !== before.score);
    assert.equal(await page.locator('[data-output="anomaly.threshold"]').first().textContent(), "1.80");
  }],

  ["an operator's restart of aggregator goes through", async (page, s) => {
    const before = await restarts(s.base);
    await page.locator('#modules tr[data-module="aggregator"] button[data-action="restart"]').click();
    await page.locator('#action-result[data-status="200"]').waitFor();
    await waitFor("the restart count to rise", async () => await restarts(s.base) > before);
    const cell = page.locator('#modules tr[data-module="aggregator"] [data-field="restarts"]');
    await waitFor("the page to show it", async () => Number(await cell.textContent()) > before);
  }],

  ["an injected bearing fault shows up in the alert list", async (page, s) => {
    const res = await fetch(`${s.base}/api/v1/sim/sensors/vibration_1/fault`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ fault: "bearing" }),
    });
    assert.equal(res.status, 200, await res.text());
    await page.locator('#alerts li[data-severity="critical"]', { hasText: "anomaly" }).first().waitFor();
    if (s.screenshot !== null) {
      // Let the charts fill a little more than the test needs.
      await new Promise((r) => setTimeout(r, 15_000));
      await page.screenshot({ path: s.screenshot, fullPage: true });
    }
  }],

  ["after signing out, a viewer sees the page and its restart is refused with 403", async (page, s) => {
    await page.locator("#signout").click();
    await page.locator("#signin").waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => sessionStorage.getItem("kiln.token")), null);
    await signIn(page, s.viewer, "viewer");
    await page.locator('#modules tr[data-module="aggregator"]').waitFor();
    const before = await restarts(s.base);
    await page.locator('#modules tr[data-module="aggregator"] button[data-action="restart"]').click();
    const result = page.locator('#action-result[data-status="403"]');
    await result.waitFor();
    assert.match(await result.textContent() ?? "", /refused \(HTTP 403 forbidden\).*needs the operator role/);
    assert.equal(await restarts(s.base), before, "a refused restart changes nothing");
    assert.equal(await page.locator('#modules tr[data-module="aggregator"] .badge').textContent(), "running");
  }],
];
if (import.meta.main) {
  // The viewer's refused restart logs a 403 to the console, as it should; anything else is a problem.
  await driveSteps(JSON.parse(Deno.env.get(SETUP_ENV)!) as Setup, STEPS, {
    reportPrefix: REPORT,
    allowedConsole: /status of 403/,
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

Deno.test("the dashboard shows the demo live in Chromium; an operator restarts a module and a viewer is refused", async (t) => {
  await assertChromium();
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir]);
  const screenshot = Deno.env.get("KILN_SCREENSHOT");
  const setup: Setup = {
    base: kiln.base,
    operator: await createToken(dir, "operator"),
    viewer: await createToken(dir, "viewer"),
    screenshot: screenshot ? new URL(screenshot, `file://${Deno.cwd()}/`).pathname : null,
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
