/**
 * Driving Debian's Chromium through playwright-core for the dashboard tests.
 *
 * playwright-core cannot load under `deno task test`'s permissions: at import it checks for
 * `/proc/sys/fs/binfmt_misc/WSLInterop`, and Deno lets a program read `/proc/sys` only with every
 * permission. So a test (`deno test`) starts Kiln and makes the tokens, and the same test file, run as
 * `deno run -A` in a child process (`import.meta.main`), drives the browser ({@linkcode driveSteps}) and
 * reports each step on a line of its standard output; {@linkcode runBrowserSteps} turns each report into a
 * `t.step`. Only the browser driver gets `-A`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";

/** Debian's Chromium. */
export const CHROMIUM = "/usr/bin/chromium";

/** The last step of every run: nothing went wrong in the page itself. */
export const NO_PAGE_ERRORS = "the page raised no script error and no Content-Security-Policy violation";

/** One step: its name (a sentence) and what the driver does in the page. */
export type BrowserStep<S> = [string, (page: Page, setup: S) => Promise<void>];

/** What a driver reports of a step. */
interface Report {
  step: string;
  ok: boolean;
  error?: string;
}

/** How a test's driver runs. */
export interface DriverOptions {
  /** The prefix of the report lines on the driver's standard output (unique per test file). */
  readonly reportPrefix: string;
  /** Console errors the page may log (the statuses the test provokes: a viewer's 403...). */
  readonly allowedConsole: RegExp;
  /** Whether the page may download files. @default false */
  readonly acceptDownloads?: boolean;
}

/**
 * The child: drives Chromium through `steps` and prints a report per step, then {@linkcode NO_PAGE_ERRORS};
 * stops at the first failure.
 */
export async function driveSteps<S>(
  setup: S,
  steps: readonly BrowserStep<S>[],
  o: DriverOptions,
): Promise<void> {
  const report = (r: Report) => console.log(o.reportPrefix + JSON.stringify(r));
  // Imported here, not at the top: the test process has no permission for what it does at import.
  const { chromium } = await import("playwright-core");
  const profile = await Deno.makeTempDir({ prefix: "kiln-chromium-" });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: o.acceptDownloads ?? false,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    page.setDefaultTimeout(10_000);
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && !o.allowedConsole.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    for (const [step, fn] of steps) {
      try {
        await fn(page, setup);
        report({ step, ok: true });
      } catch (err) {
        report({ step, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) });
        return;
      }
    }
    report({ step: NO_PAGE_ERRORS, ok: problems.length === 0, error: problems.join("\n") });
  } finally {
    await browser.close();
    await Deno.remove(profile, { recursive: true });
  }
}

/** Fails the test, saying how to install it, when Chromium is missing. */
export async function assertChromium(): Promise<void> {
  if (!(await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false))) {
    assert.fail(`Chromium is missing (${CHROMIUM}): install it with apt-get install -y chromium`);
  }
}

/**
 * The parent: runs the test file at `moduleUrl` as the driver (`deno run -A`, its setup in the environment
 * variable `setupEnv`), bounded by {@linkcode PEER_LIFETIME_MS}, and makes each of `stepNames` (then
 * {@linkcode NO_PAGE_ERRORS}) a `t.step` that passes when the driver reports it passed.
 */
export async function runBrowserSteps(
  t: Deno.TestContext,
  o: {
    moduleUrl: string;
    setupEnv: string;
    setup: unknown;
    reportPrefix: string;
    stepNames: readonly string[];
  },
): Promise<void> {
  const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
  const driver = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(o.moduleUrl).pathname],
    env: { NO_COLOR: "1", [o.setupEnv]: JSON.stringify(o.setup) },
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  killAfterGrace(driver, signal);
  let stderr = "";
  const errors = (async () => {
    for await (const chunk of driver.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const lines = driver.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())[
    Symbol.asyncIterator
  ]();
  const nextReport = async (): Promise<Report | null> => {
    for (let r = await lines.next(); !r.done; r = await lines.next()) {
      if (r.value.startsWith(o.reportPrefix)) {
        return JSON.parse(r.value.slice(o.reportPrefix.length)) as Report;
      }
    }
    return null;
  };
  try {
    for (const step of [...o.stepNames, NO_PAGE_ERRORS]) {
      const ok = await t.step(step, async () => {
        const r = await nextReport();
        if (r === null) {
          await errors;
          throw new Error(`The browser driver ended before this step:\n${stderr}`);
        }
        assert.equal(r.step, step);
        assert.ok(r.ok, r.error ?? "");
      });
      if (!ok) break;
    }
  } finally {
    await stopChild(driver);
    await lines.return?.();
    await errors;
  }
}

/** Splits a text stream into lines. */
function lineSplitter(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) controller.enqueue(p);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}
