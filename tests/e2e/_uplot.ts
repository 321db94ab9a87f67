/**
 * What the dashboard's charting library looks like from outside, wherever Kiln runs: uPlot served by the
 * gateway byte for byte from the npm package's text (`api/ui/_uplot.ts`). Used by the dashboard's asset test
 * (source tree, sandboxed) and the packaging test (the bundle copied out of the checkout).
 *
 * @module
 */
import assert from "node:assert/strict";
import { KILN_FLAGS } from "../_process.ts";
import { UPLOT_CSS, UPLOT_JS } from "../../api/ui/_uplot.ts";

/** As `deno task start` runs it: the launcher may exec into its narrowed self. */
export const NARROWING_FLAGS = [...KILN_FLAGS, "--allow-run", "--allow-ffi"];

/** Checks that base serves the page's scripts and styles, uPlot byte for byte. */
export async function assertServesUplot(base: string): Promise<void> {
  for (
    const [path, body, type] of [
      ["/ui/uplot.js", UPLOT_JS, "text/javascript; charset=utf-8"],
      ["/ui/uplot.css", UPLOT_CSS, "text/css; charset=utf-8"],
    ] as const
  ) {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/, path);
    assert.equal(await res.text(), body, path);
  }
  const page = await fetch(`${base}/ui/`);
  assert.match(await page.text(), /<script src="\/ui\/uplot\.js" defer><\/script>/);
  const app = await fetch(`${base}/ui/app.js`);
  assert.equal(app.status, 200);
  assert.match(await app.text(), /new uPlot\(/);
}
