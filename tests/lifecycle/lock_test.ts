/**
 * One runtime per data directory: a second `kiln run` on a data directory in use is refused at once, naming
 * the directory and the pid of the process holding it, whether it would relaunch itself sandboxed or not,
 * and also while only the sandboxed child of a SIGKILLed launcher still runs. The lock is the kernel's: it
 * goes with the process that held it.
 */
import assert from "node:assert/strict";
import { KILN_FLAGS, runKiln } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
import { lockFree, lockHolder, moduleStatus, startGateway, writeManifest } from "./_gateway.ts";

/** Runs a second `kiln run` on `data`, bounded: a refusal is immediate, a start would run until the bound. */
function secondRun(manifest: string, data: string, sandboxed: boolean) {
  return runKiln(["run", manifest, "--data", data, "--listen", "127.0.0.1:0"], {
    timeoutMs: 60_000,
    ...(sandboxed && { flags: [...KILN_FLAGS, "--allow-run"] }),
  });
}

Deno.test("a second kiln run on a data directory in use is refused with the directory and the holder's pid, until the holder is gone", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  const manifest = await writeManifest(dir, { base: 1 });
  const kiln = await startGateway(manifest, data, true);
  const holder = await lockHolder(data);
  try {
    assert.equal(holder, kiln.child.pid, "the narrowed process the launcher exec'd into holds the directory");
    for (const sandboxed of [false, true]) {
      const second = await secondRun(manifest, data, sandboxed);
      assert.equal(second.code, 1, `refused (sandboxed: ${sandboxed}): ${second.stderr}`);
      assert.ok(second.stderr.includes(`"${data}"`), second.stderr);
      assert.match(second.stderr, new RegExp(`in use by another kiln run \\(pid ${holder}\\)`));
      assert.doesNotMatch(second.stdout, /health\s+http/, "it never served");
    }
    assert.equal((await moduleStatus(kiln.base, "base"))?.state, "running", "the first one runs on");

    // A power cut ends it (a launcher without FFI killed alone takes its child with it:
    // tests/cli/launcher_test.ts). The kernel releases the lock: no stale file blocks the next start.
    kiln.child.kill("SIGKILL");
    await kiln.child.status;
    await waitFor("the lock to be released", () => lockFree(data), 20_000);
    await using next = await startGateway(manifest, data);
    assert.equal(await lockHolder(data), next.child.pid);
    assert.equal((await moduleStatus(next.base, "base"))?.state, "running");
  } finally {
    // The child, if an assertion failed while it ran (it still holds the lock, so it is alive).
    if (!lockFree(data)) {
      try {
        Deno.kill(holder, "SIGKILL");
      } catch { /* gone meanwhile */ }
    }
    await kiln.stop();
  }
});
