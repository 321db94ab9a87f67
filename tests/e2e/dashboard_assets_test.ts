/**
 * The dashboard's charting library reaches the browser from Kiln itself: `kiln run` from the source tree
 * narrowed to its sandbox (as `deno task start` runs it); the bundle copied out of the checkout is checked by
 * `tests/packaging/packaging_test.ts`, which builds it once. uPlot comes from the npm package as text
 * imports (`api/ui/_uplot.ts`), so Kiln reads no file for it.
 */
import assert from "node:assert/strict";
import { getJson, ROOT, startKiln } from "../_process.ts";
import { assertServesUplot, NARROWING_FLAGS } from "./_uplot.ts";

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
