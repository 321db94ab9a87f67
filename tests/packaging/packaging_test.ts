import assert from "node:assert/strict";
import { AUTH, denoTask, getJson, KILN_FLAGS, ROOT, startKiln } from "../_process.ts";
import { assertServesUplot, NARROWING_FLAGS } from "../e2e/_uplot.ts";
import { BUILD_TIMEOUT_MS, killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";

Deno.test("deno task bundle writes dist/, which copied out of the checkout serves /health with all demo modules running, and uPlot from inside itself", async () => {
  const built = await denoTask("bundle");
  assert.equal(built.code, 0, built.output);
  // The bundle alone in a folder of its own: the migrations and the demo come from inside it.
  const copy = await Deno.makeTempDir({ prefix: "kiln_dist_" });
  const names = ["kiln.js", "kiln_cli.js", "executor_worker.js", "snapshot_worker.js"];
  for (const name of names) await Deno.copyFile(`${ROOT}dist/${name}`, `${copy}/${name}`);
  // The launcher's bundle holds main.ts and the launch cache only: the CLI is the other file's.
  assert.ok((await Deno.stat(`${copy}/kiln.js`)).size < 64 * 1024, "dist/kiln.js is the small launcher");
  const dir = await Deno.makeTempDir();
  try {
    await using kiln = await startKiln(["--data", dir], {
      entry: `${copy}/kiln.js`,
      flags: [...KILN_FLAGS, "--unstable-worker-options"],
    });
    const health = await getJson<{ status: string; modules: Record<string, number> }>(`${kiln.base}/health`);
    assert.equal(health.status, "ok");
    assert.equal(health.modules.running, 5);
    assert.equal(await kiln.stop(), 0);
    // The demo was written into the data folder, byte for byte the committed module.
    assert.deepEqual(
      await Deno.readFile(`${dir}/demo/modules/fft/fft.wasm`),
      await Deno.readFile(`${ROOT}modules/fft/fft.wasm`),
    );

    // The same bundle narrowed as `deno task start` runs it (exec'd) serves the dashboard's uPlot from
    // inside itself.
    await using narrowed = await startKiln(["--data", dir], {
      entry: `${copy}/kiln.js`,
      flags: [...NARROWING_FLAGS, "--unstable-worker-options"],
    });
    await assertServesUplot(narrowed.base);
    const modules = await fetch(`${narrowed.base}/api/v1/modules`, { headers: AUTH });
    assert.equal(modules.status, 200);
    await modules.body?.cancel();
    assert.equal(await narrowed.stop(), 0);
  } finally {
    await Deno.remove(copy, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

const denort = Deno.env.get("DENORT_BIN");

// deno compile needs its runtime base (denort), downloaded from the internet unless DENORT_BIN names a local
// one. These machines cannot download it, so without DENORT_BIN this test is ignored (reported as ignored,
// not passed).
Deno.test({
  name: "deno task compile builds dist/kiln, a single executable that runs the embedded demo",
  ignore: !denort,
  async fn() {
    const built = await denoTask("compile", { DENORT_BIN: denort! });
    assert.equal(built.code, 0, built.output);
    const dir = await Deno.makeTempDir();
    const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
    const child = new Deno.Command(`${ROOT}dist/kiln`, {
      args: ["run", "--listen", "127.0.0.1:0", "--data", dir],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    killAfterGrace(child, signal);
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let base: string | undefined;
    while (!base) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      base = /health\s+(http:\/\/\S+)\/health/.exec(text)?.[1];
    }
    try {
      assert.ok(base, text);
      const health = await getJson<{ modules: Record<string, number> }>(`${base}/health`);
      assert.equal(health.modules.running, 5);
    } finally {
      await stopChild(child);
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel();
    }
  },
});

Deno.test("deno task compile without DENORT_BIN says plainly why it cannot build", async () => {
  const env = { ...Deno.env.toObject() };
  delete env.DENORT_BIN;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-run", "--allow-env", "scripts/compile.ts"],
    cwd: ROOT,
    clearEnv: true,
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /compile skipped: DENORT_BIN is not set/);
});
