/**
 * How a sandboxed `kiln run` becomes narrowed. With FFI to libc (`deno task start` grants `--allow-ffi`) the
 * launcher execs into its narrowed self: the process a supervisor started is the one that holds the data
 * directory and the port, and a SIGKILL of it leaves nothing running. Without FFI it runs the narrowed
 * process as its child: when the launcher is killed outright (SIGKILL: nothing is forwarded), the child stops
 * by itself, as SIGTERM would stop it, and frees the data directory and the port for the next start.
 */
import assert from "node:assert/strict";
import { waitFor } from "../_helpers.ts";
import { AUTH, KILN_FLAGS, startKiln } from "../_process.ts";
import { lockFree, lockHolder, startGateway, writeManifest } from "../lifecycle/_gateway.ts";

/** Whether a process with this pid exists (signal 0 semantics through SIGCONT, harmless to a live one). */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name:
    "with FFI the launcher execs into its narrowed self: one process holds the lock, and a SIGKILL of it frees everything",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln-exec-" });
    try {
      const manifest = await writeManifest(dir, { counter: 1 });
      const kiln = await startGateway(manifest, `${dir}/data`, true);
      try {
        assert.equal(await lockHolder(`${dir}/data`), kiln.child.pid, "the started process holds the lock");
        const sandbox = await (await fetch(`${kiln.base}/api/v1/sandbox`, { headers: AUTH })).json() as {
          process: { narrowed: boolean; grants: { write: string[] } };
        };
        assert.equal(sandbox.process.narrowed, true, "it runs with the narrowed grants");
        assert.deepEqual(sandbox.process.grants.write, [`${dir}/data`]);
        assert.doesNotMatch(kiln.output(), /relaunching narrowed in a child process/);
        kiln.child.kill("SIGKILL");
        await kiln.child.status;
        assert.ok(lockFree(`${dir}/data`), "nothing holds the data directory");
        const port = Number(new URL(kiln.base).port);
        using listener = Deno.listen({ hostname: "127.0.0.1", port }); // nothing holds the port either
        assert.equal(listener.addr.transport, "tcp");
      } finally {
        await kiln.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "without FFI the narrowed child of a SIGKILLed launcher stops gracefully and frees its data directory",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln-launcher-" });
    try {
      const manifest = await writeManifest(dir, { counter: 1 });
      const kiln = await startKiln([manifest, "--data", `${dir}/data`], {
        flags: [...KILN_FLAGS, "--allow-run"],
      });
      try {
        assert.match(kiln.output(), /relaunching narrowed in a child process: no FFI grant/);
        const child = await lockHolder(`${dir}/data`);
        assert.notEqual(child, kiln.child.pid, "the lock is held by the relaunched child");
        kiln.child.kill("SIGKILL");
        await kiln.child.status;
        await waitFor("the child to release the data directory", () => lockFree(`${dir}/data`), 30_000)
          .catch((err) => {
            try {
              Deno.kill(child, "SIGKILL"); // do not leave it behind
            } catch { /* gone */ }
            throw err;
          });
        await waitFor("its last lines", () => /kiln: stopping/.test(kiln.output()), 10_000).catch(() => {});
        assert.match(kiln.output(), /the launcher process has exited/);
        // Gone, not a zombie of anyone's: signalling it fails.
        await waitFor("the child to exit", () => !alive(child), 30_000);
        // The next start on the same data directory works.
        const again = await startGateway(manifest, `${dir}/data`, true);
        await again.stop();
      } finally {
        await kiln.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
