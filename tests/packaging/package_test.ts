import assert from "node:assert/strict";
import { join } from "node:path";
import type { PackageInfo } from "../../scripts/package.ts";
import { waitFor } from "../_helpers.ts";
import { denoTask, getJson, readOutput, ROOT, TEST_ADMIN_TOKEN } from "../_process.ts";
import { killAfterGrace, PEER_LIFETIME_MS, stopChild, TOOL_TIMEOUT_MS } from "../_timeouts.ts";

const PACKAGE = `kiln-${Deno.build.os}-${Deno.build.arch}.run`;

/** The environment of a fresh machine: PATH and HOME only (no XDG_CACHE_HOME, no DENO_DIR). */
function cleanEnv(home: string): Record<string, string> {
  return { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home, NO_COLOR: "1" };
}

/** A port that was free a moment ago (the package cannot be asked which port it took). */
function freePort(): number {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return listener.addr.port;
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort();
}

// The package carries the Deno binary, so this test builds it (about 10 s here: the bundle 3 s, gzip of the
// 90 MiB Deno binary 5 s) and runs the first extraction (about 2 s) before the demo starts.
Deno.test({
  name: "deno task package writes one file that, copied alone to an empty folder and HOME, runs the demo, " +
    "and a copy with one payload byte changed is refused with nothing extracted",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const built = await denoTask("package");
    assert.equal(built.code, 0, built.output);
    const info = JSON.parse(await Deno.readTextFile(join(ROOT, "dist", `${PACKAGE}.json`))) as PackageInfo;

    const tmp = await Deno.makeTempDir({ prefix: "kiln_package_" });
    try {
      // 1. The file alone in an empty folder, with an empty HOME.
      const runDir = join(tmp, "gateway");
      const home = join(tmp, "home");
      await Deno.mkdir(runDir);
      await Deno.mkdir(home);
      await Deno.copyFile(join(ROOT, "dist", PACKAGE), join(runDir, PACKAGE));
      const port = freePort();
      const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
      const child = new Deno.Command(`./${PACKAGE}`, {
        args: ["run", "--data", "./data", "--listen", `127.0.0.1:${port}`],
        cwd: runDir,
        clearEnv: true,
        env: { ...cleanEnv(home), KILN_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
        stdout: "piped",
        stderr: "piped",
        signal,
      }).spawn();
      killAfterGrace(child, signal);
      const output = readOutput(child);
      let exited = false;
      child.status.then(() => exited = true);
      try {
        const base = `http://127.0.0.1:${port}`;
        await waitFor("the package to listen", () => {
          if (exited) throw new Error(`the package exited:\n${output.text}`);
          return output.text.includes(`${base}/health`);
        }, 90_000);
        const health = await getJson<{ status: string; modules: Record<string, number> }>(`${base}/health`);
        assert.equal(health.status, "ok");
        assert.equal(health.modules.running, 5, output.text);
        await waitFor("fft to process windows", async () => {
          const fft = await getJson<{ state: string; invocations: number }>(`${base}/api/v1/modules/fft`);
          return fft.state === "running" && fft.invocations > 0;
        });
        // Extracted once, under $HOME/.cache/kiln/<sha256>/, complete.
        const cache = join(home, ".cache", "kiln");
        assert.ok((await entries(cache)).includes(info.sha256), (await entries(cache)).join(", "));
        assert.deepEqual(
          (await entries(join(cache, info.sha256))).filter((n) =>
            n === "deno" || n === "kiln.js" || n === ".complete"
          ),
          [".complete", "deno", "kiln.js"],
        );
        // The demo came from the bundle, written into the data folder.
        assert.ok((await entries(join(runDir, "data", "demo", "modules"))).includes("fft"));
      } finally {
        const { code } = await stopChild(child);
        await output.closed();
        assert.equal(code, 0, output.text);
      }

      // 2. One payload byte changed: refused with exit code 1 before anything is written.
      const badDir = join(tmp, "damaged");
      const badHome = join(tmp, "damaged_home");
      await Deno.mkdir(badDir);
      await Deno.mkdir(badHome);
      const bytes = await Deno.readFile(join(ROOT, "dist", PACKAGE));
      const at = info.headerBytes + Math.floor(info.payloadBytes / 2);
      bytes[at] = bytes[at]! ^ 0x01;
      await Deno.writeFile(join(badDir, PACKAGE), bytes, { mode: 0o755 });
      const refused = await new Deno.Command(`./${PACKAGE}`, {
        args: ["run", "--data", "./data"],
        cwd: badDir,
        clearEnv: true,
        env: cleanEnv(badHome),
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
      }).output();
      assert.equal(refused.code, 1);
      assert.match(
        new TextDecoder().decode(refused.stderr),
        /refusing to run .*payload's sha256 is [0-9a-f]{64}/,
      );
      assert.deepEqual(await entries(badHome), []);
      assert.deepEqual(await entries(badDir), [PACKAGE]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
