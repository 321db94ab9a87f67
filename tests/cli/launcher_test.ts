/**
 * A sandboxed `kiln run` is two processes: the launcher and the narrowed child it relaunched. When the
 * launcher is killed outright (SIGKILL: nothing is forwarded), the child stops by itself, as SIGTERM would
 * stop it, and frees the data directory and the port for the next start.
 */
import assert from "node:assert/strict";
import { waitFor } from "../_helpers.ts";
import { lockFree, lockHolder, startGateway, writeManifest } from "../lifecycle/_gateway.ts";

Deno.test({
  name: "the narrowed child of a SIGKILLed launcher stops gracefully and frees its data directory",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln-launcher-" });
    try {
      const manifest = await writeManifest(dir, { counter: 1 });
      const kiln = await startGateway(manifest, `${dir}/data`, true);
      try {
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
        await waitFor("the child to exit", () => {
          try {
            Deno.kill(child, "SIGCONT");
            return false;
          } catch {
            return true;
          }
        }, 30_000);
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
