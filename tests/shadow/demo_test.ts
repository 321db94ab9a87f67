/**
 * A real new version of the demo's anomaly module shadowed beside the live one (`docs/shadow.md`): rebuilt
 * from its C sources with more static data (a longer log line in `kiln_init`), so its variables sit at other
 * addresses. Resumed from the live memory image it reads its state where the live build never wrote it and
 * diverges; started from its own `kiln_init` (`start: "init"`), which loads the live module's `weights` data
 * blob and params, it matches every window.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import type { ShadowStatus } from "../../runtime/shadow/mod.ts";
import { createOutbox, openStore } from "../../snapshots/mod.ts";
import { ROOT } from "../_process.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";
import { waitFor } from "../_helpers.ts";

const WINDOWS = 60;
const TIMEOUT_MS = 30_000;

/** The anomaly module rebuilt with `kiln_init` logging a longer line: its static data grows. */
async function rebuiltAnomaly(dir: string): Promise<Uint8Array> {
  await Deno.mkdir(join(dir, "anomaly"));
  await Deno.mkdir(join(dir, "sdk"));
  for (const f of ["ae_kernel.c", "ae_kernel.h"]) {
    await Deno.copyFile(`${ROOT}modules/anomaly/${f}`, join(dir, "anomaly", f));
  }
  for (const e of Deno.readDirSync(`${ROOT}modules/sdk`)) {
    if (e.isFile) await Deno.copyFile(`${ROOT}modules/sdk/${e.name}`, join(dir, "sdk", e.name));
  }
  const source = await Deno.readTextFile(`${ROOT}modules/anomaly/anomaly.c`);
  const anchor = "  loaded = 1;\n";
  assert.ok(source.includes(anchor));
  const banner = `anomaly v2: ${"rebuilt with more static data, ".repeat(16)}`;
  await Deno.writeTextFile(
    join(dir, "anomaly", "anomaly.c"),
    source.replace(anchor, `  kiln_log_str(KILN_LOG_INFO, "${banner}");\n${anchor}`),
  );
  const { CFLAGS, MODULE_BUILDS } = await import("../../modules/build.ts");
  const build = MODULE_BUILDS.find((b) => b.output === "anomaly/anomaly.wasm")!;
  const out = await new Deno.Command("clang-19", {
    args: [...(build.flags ?? CFLAGS), ...build.sources, "-o", "v2.wasm"],
    cwd: dir,
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return await Deno.readFile(join(dir, "v2.wasm"));
}

Deno.test("a rebuild of the demo's anomaly module with another data layout is shadowed from its own kiln_init", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_shadow_demo_" });
  const store = openStore(join(dir, "kiln.db"));
  try {
    const v2 = await rebuiltAnomaly(dir);
    const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    await using rt = await createRuntime({ plan, version: "test", log: () => {}, outbox });
    await rt.start();
    await waitFor("anomaly scoring", () => rt.getModule("anomaly")?.outputs.score !== undefined, TIMEOUT_MS);
    const settled = () =>
      waitFor(`${WINDOWS} windows compared, or the shadow's stop`, () => {
        const s = rt.shadows.status("anomaly")!;
        return (s.invocations >= WINDOWS || s.state === "stopped") && s;
      }, TIMEOUT_MS) as Promise<ShadowStatus>;

    await t.step("resumed from the live memory image, it diverges or stops", async () => {
      const attached = await rt.shadows.attach("anomaly", { wasm: v2 });
      assert.match(attached.layoutDifference ?? "", /data segment/, "the binaries say the layouts differ");
      const s = await settled();
      // Measured: it reads a pointer of the live layout and traps (out_of_bounds) at the first window.
      assert.ok(s.state === "stopped" || s.diverged > 0, JSON.stringify({ ...s, largestDifference: null }));
      rt.shadows.drop("anomaly");
    });

    await t.step("started from its own kiln_init, it matches every window", async () => {
      const attached = await rt.shadows.attach("anomaly", { wasm: v2, start: "init" });
      assert.notEqual(attached.candidateSha256, attached.liveSha256);
      const s = await settled();
      assert.equal(s.state, "running", `${s.reason}`);
      assert.equal(s.diverged, 0, JSON.stringify(s.firstDivergence));
      assert.equal(s.matched, s.invocations);
      assert.equal(s.largestDifference.get("score"), 0);
      assert.equal(s.largestDifference.get("threshold"), 0);
      // Its kiln_init's log line was swallowed with the rest of its effects.
      assert.ok(s.suppressedEffects >= 1 + 2 * s.invocations, `${s.suppressedEffects}`);
      assert.equal(rt.getModule("anomaly")!.errors, 0);
      rt.shadows.drop("anomaly");
    });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
