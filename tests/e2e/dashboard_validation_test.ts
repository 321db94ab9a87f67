/**
 * The dashboard's Validation panel end to end: `kiln run` on a manifest with the shadow tests' writer `w` and
 * its channel's reader `r` (`tests/shadow/_fixtures.ts`), traces on for every call, a shadow candidate of `w`
 * that differs in its `k` output only, and Debian's Chromium driven by playwright-core. A viewer sees the
 * divergence, the largest difference per output, both builds' time per call and live trace rows, with Promote
 * and Drop disabled; an admin drops the shadow (the API then answers 404) and downloads a recording's trace.
 * Set `KILN_SCREENSHOT=path.png` to keep a screenshot of the panel as the viewer sees it.
 *
 * This same file, run as `deno run -A` (`import.meta.main`), is the browser driver (`_browser.ts` says why).
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { AUTH, runKiln, startKiln, TEST_ADMIN_TOKEN } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { assertChromium, type BrowserStep, driveSteps, runBrowserSteps } from "./_browser.ts";
import { READER, writerWasm } from "../shadow/_fixtures.ts";

/** Prefix of the driver's step reports on its standard output. */
const REPORT = "@@validation-step ";
/** The environment variable that hands the driver its {@linkcode Setup}. */
const SETUP_ENV = "KILN_VALIDATION_SETUP";
/** What the candidate's `k` output differs by: the live build writes 1, the candidate 4. */
const K_DIFFERENCE = 3;

/** What the driver needs: the running Kiln and the tokens. */
interface Setup {
  base: string;
  admin: string;
  viewer: string;
  /** Where to save a screenshot of the panel once it shows the shadow and traces (`KILN_SCREENSHOT`). */
  screenshot: string | null;
}

const MANIFEST = `version: 1
device: { id: gw-validation }
policy:
  allow: [write:channel:features, read:channel:features, write:gpio:pin_8]
observability:
  traces: { every: 1, ring: 256 }
channels:
  features: { writer: w, readers: [r], size_bytes: 4096, overflow: drop-newest }
modules:
  w:
    wasm: w.wasm
    limits: { budget_us: 100000, max_memory_mb: 1 }
    capabilities: [write:channel:features, write:gpio:pin_8]
    schedule: { mode: periodic, period_us: 20000 }
  r:
    wasm: r.wasm
    limits: { budget_us: 100000, max_memory_mb: 1 }
    capabilities: [read:channel:features]
    schedule: { mode: stream, source: "channel:features", window: 16, hop: 16 }
`;

async function signIn(page: Page, token: string, role: string): Promise<void> {
  await page.locator("#token").fill(token);
  await page.locator("#signin-form button[type=submit]").click();
  await page.locator("#board").waitFor({ state: "visible" });
  // The header shows the role the server gives the token.
  await page.locator(`#who[data-role="${role}"]`).waitFor();
  // Nothing is polled for the panel until a module is chosen.
  await page.locator("#v-shadow-none", { hasText: "Choose a module" }).waitFor();
  assert.equal(await page.locator("#v-module").inputValue(), "");
  await page.locator('#v-module option[value="w"]').waitFor({ state: "attached" });
  await page.locator("#v-module").selectOption("w");
}

/** A number shown in the shadow's facts. */
async function fact(page: Page, field: string): Promise<string> {
  return await page.locator(`#v-shadow-facts [data-field="${field}"] dd`).textContent() ?? "";
}

/** The seq of the newest trace row shown. */
async function newestSeq(page: Page): Promise<number> {
  return Number(await page.locator("#v-traces tbody tr[data-seq]").first().getAttribute("data-seq") ?? 0);
}

/** The steps, in order; the driver runs them, the test reports them. */
const STEPS: BrowserStep<Setup>[] = [
  [
    "a viewer sees the shadow's divergence, the output that differs and both builds' time per call",
    async (page, s) => {
      await page.goto(`${s.base}/`);
      await signIn(page, s.viewer, "viewer");
      await page.locator("#v-shadow-body").waitFor({ state: "visible" });
      await waitFor("diverged invocations", async () => Number(await fact(page, "diverged")) > 0);
      assert.equal(await fact(page, "matched"), "0");
      assert.match(await fact(page, "candidate_sha256"), /^[0-9a-f]{12}$/);
      const k = page.locator('#v-largest tbody tr[data-output="k"]');
      assert.equal(await k.getAttribute("data-differs"), "true");
      assert.equal(await k.locator("td").textContent(), String(K_DIFFERENCE));
      // The only output that differs is k: the first row of the table, sorted by difference.
      assert.equal(await page.locator("#v-largest tbody tr").first().getAttribute("data-output"), "k");
      assert.equal(await page.locator('#v-largest tbody tr[data-differs="true"]').count(), 1);
      assert.match(await page.locator("#v-first").textContent() ?? "", /^First divergence at invocation \d+/);
      const mean = page.locator('#v-times tr[data-side="candidate"] [data-field="mean"]');
      await waitFor("the candidate's time per call", async () => Number(await mean.textContent()) > 0);
      await page.locator("#v-ratio", { hasText: "× the live module's mean time per call" }).waitFor();
    },
  ],

  ["the viewer sees w's trace events arrive, and Promote and Drop are disabled", async (page, s) => {
    await page.locator("#v-traces tbody tr[data-seq]").first().waitFor();
    const first = await newestSeq(page);
    await waitFor("newer trace events from the stream", async () => await newestSeq(page) > first + 2);
    const row = page.locator("#v-traces tbody tr[data-seq]").first();
    assert.equal(await row.locator("td").nth(1).textContent(), "kiln_on_tick");
    assert.equal(await row.getAttribute("data-outcome"), "ok");
    assert.match(await row.locator("td").nth(6).textContent() ?? "", /^write:channel:features ×1$/m);
    assert.equal(await page.locator("#v-traces-none").isVisible(), false);
    assert.equal(await page.locator("#v-promote").isDisabled(), true);
    assert.equal(await page.locator("#v-drop").isDisabled(), true);
    assert.equal(
      await page.locator("#v-promote").getAttribute("title"),
      "Needs the admin role (this token is viewer)",
    );
    if (s.screenshot !== null) await page.locator("#validation").screenshot({ path: s.screenshot });
  }],

  [
    "an admin's Promote without a spec shows the API's refusal; Drop removes the shadow and the API answers 404",
    async (page, s) => {
      await page.locator("#signout").click();
      await page.locator("#signin").waitFor({ state: "visible" });
      await signIn(page, s.admin, "admin");
      await page.locator("#v-shadow-body").waitFor({ state: "visible" });
      const drop = page.locator("#v-drop");
      await waitFor("Drop enabled for an admin", async () => await drop.isEnabled());
      // Attached without a spec, the candidate cannot be promoted: the page shows the API's refusal.
      page.once("dialog", (d) => void d.accept());
      await page.locator("#v-promote").click();
      const refused = page.locator('#v-result[data-status="400"]');
      await refused.waitFor();
      assert.match(
        await refused.textContent() ?? "",
        /^Promote shadow of w refused \(HTTP 400 [a-z_]+\): .*"spec"/,
      );
      await waitFor("Drop enabled again", async () => await drop.isEnabled());
      page.once("dialog", (d) => void d.accept());
      await drop.click();
      await page.locator('#v-result[data-status="200"]').waitFor();
      const res = await fetch(`${s.base}/api/v1/modules/w/shadow`, { headers: AUTH });
      assert.equal(res.status, 404);
      assert.equal((await res.json()).error.code, "shadow_not_found");
      await page.locator("#v-shadow-none", { hasText: "No shadow candidate for w" }).waitFor();
      assert.equal(await page.locator("#v-shadow-body").isVisible(), false);
    },
  ],

  ["a finished recording is listed and its trace downloads with the token", async (page, s) => {
    const started = await fetch(`${s.base}/api/v1/modules/w/record`, {
      method: "POST",
      headers: AUTH,
      body: JSON.stringify({ invocations: 20 }),
    });
    assert.equal(started.status, 201, await started.text());
    await page.locator('#v-record tbody tr[data-state="done"]').waitFor({ timeout: 30_000 });
    const expected = new Uint8Array(
      await (await fetch(`${s.base}/api/v1/modules/w/record/trace`, { headers: AUTH })).arrayBuffer(),
    );
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#v-download").click(),
    ]);
    assert.equal(download.suggestedFilename(), "w.ktrace");
    const saved = await Deno.readFile((await download.path())!);
    assert.deepEqual(saved, expected);
    await page.locator('#v-result[data-status="200"]', { hasText: "Saved the trace of w" }).waitFor();
  }],
];
if (import.meta.main) {
  // The 404 of a module without a shadow or recording and the 400 of the refused promotion are logged to the
  // console, as they should be; anything else is a problem.
  await driveSteps(JSON.parse(Deno.env.get(SETUP_ENV)!) as Setup, STEPS, {
    reportPrefix: REPORT,
    allowedConsole: /status of (400|404)/,
    acceptDownloads: true,
  });
}

Deno.test("the dashboard's Validation panel shows a diverging shadow, live traces and a recording; an admin drops the shadow", async (t) => {
  await assertChromium();
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/w.wasm`, writerWasm());
  await Deno.writeFile(`${dir}/r.wasm`, wat(READER));
  await Deno.writeTextFile(`${dir}/kiln.yaml`, MANIFEST);
  await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  const screenshot = Deno.env.get("KILN_SCREENSHOT");
  const made = await runKiln([
    "token",
    "create",
    "--role",
    "viewer",
    "--name",
    "validation-viewer",
    "--data",
    `${dir}/data`,
    "--json",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const setup: Setup = {
    base: kiln.base,
    admin: TEST_ADMIN_TOKEN,
    viewer: (JSON.parse(made.stdout) as { token: string }).token,
    screenshot: screenshot ? new URL(screenshot, `file://${Deno.cwd()}/`).pathname : null,
  };
  await waitFor("w running", async () => {
    const res = await fetch(`${kiln.base}/api/v1/modules/w`, { headers: AUTH });
    const body = await res.json();
    return res.ok && body.state === "running";
  }, 30_000);
  const form = new FormData();
  form.set("wasm", new File([writerWasm({ k: 1 + K_DIFFERENCE }) as Uint8Array<ArrayBuffer>], "w-k4.wasm"));
  const attached = await fetch(`${kiln.base}/api/v1/modules/w/shadow`, {
    method: "POST",
    headers: AUTH,
    body: form,
  });
  assert.equal(attached.status, 201, await attached.text());

  await runBrowserSteps(t, {
    moduleUrl: import.meta.url,
    setupEnv: SETUP_ENV,
    setup,
    reportPrefix: REPORT,
    stepNames: STEPS.map(([name]) => name),
  });
  assert.equal(await kiln.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});
