/**
 * The dashboard's charting library reaches the browser from Kiln itself wherever Kiln runs: `kiln run` from
 * the source tree narrowed to its sandbox (as `deno task start` runs it), and the bundle copied out of the
 * checkout (what the package carries). uPlot comes from the npm package as text imports (`api/ui/_uplot.ts`),
 * so neither reads a file for it.
 */
import assert from "node:assert/strict";
import { AUTH, getJson, KILN_FLAGS, ROOT, startKiln } from "../_process.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";
import { UPLOT_CSS, UPLOT_JS } from "../../api/ui/_uplot.ts";

/** As `deno task start` runs it: the launcher may exec into its narrowed self. */
const NARROWING_FLAGS = [...KILN_FLAGS, "--allow-run", "--allow-ffi"];

/** Checks that base serves the page's scripts and styles, uPlot byte for byte. */
async function assertServesUplot(base: string): Promise<void> {
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

Deno.test("a sandboxed kiln run from the source tree serves uPlot under /ui/ without reading it from disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using kiln = await startKiln(["--data", dir], { flags: NARROWING_FLAGS });
    const s = await getJson<{ process: { narrowed: boolean; grants: { read: string[] } | null } }>(
      `${kiln.base}/api/v1/sandbox`,
    );
    assert.equal(s.process.narrowed, true);
    // Nothing outside the checkout and the data folder is readable: not Deno's npm cache either.
    for (const path of s.process.grants!.read) {
      assert.ok(`${path}/`.startsWith(ROOT) || path.startsWith(dir), path);
    }
    await assertServesUplot(kiln.base);
    assert.equal(await kiln.stop(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the bundle copied out of the checkout serves uPlot under /ui/ from inside itself", async () => {
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["task", "bundle"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  const dec = new TextDecoder();
  assert.equal(built.code, 0, dec.decode(built.stdout) + dec.decode(built.stderr));
  const copy = await Deno.makeTempDir({ prefix: "kiln_dist_" });
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["kiln.js", "executor_worker.js", "snapshot_worker.js"]) {
      await Deno.copyFile(`${ROOT}dist/${name}`, `${copy}/${name}`);
    }
    await using kiln = await startKiln(["--data", dir], {
      entry: `${copy}/kiln.js`,
      flags: [...NARROWING_FLAGS, "--unstable-worker-options"],
    });
    await assertServesUplot(kiln.base);
    const me = await fetch(`${kiln.base}/api/v1/modules`, { headers: AUTH });
    assert.equal(me.status, 200);
    await me.body?.cancel();
    assert.equal(await kiln.stop(), 0);
  } finally {
    await Deno.remove(copy, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
