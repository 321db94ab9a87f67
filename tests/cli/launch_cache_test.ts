/**
 * The launcher's shortcut (cli/_launch_cache.ts): a second `kiln run` with the same arguments, manifest and
 * code execs into the grants the first one computed, without loading the CLI; the narrowed process may not
 * write that cache; a changed manifest takes the long way; an entry whose grants are not the ones the
 * manifest needs stops the narrowed process (exit 75) and is dropped, and the next start works.
 */
import assert from "node:assert/strict";
import { AUTH, getJson } from "../_process.ts";
import { startGateway, writeManifest } from "../lifecycle/_gateway.ts";

interface SandboxBody {
  process: {
    narrowed: boolean;
    grants: { read: string[]; write: string[]; cached?: boolean; sealed?: string[] };
    probes: Record<string, string>;
  };
}

async function sandboxOf(base: string): Promise<SandboxBody["process"]> {
  return (await getJson<SandboxBody>(`${base}/api/v1/sandbox`)).process;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "a second start execs from the launch cache, narrowed as the first, and cannot write the cache",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln-launch-cache-" });
    const data = `${dir}/data`;
    try {
      const manifest = await writeManifest(dir, { counter: 1 });
      let first: SandboxBody["process"];
      {
        await using kiln = await startGateway(manifest, data, true);
        first = await sandboxOf(kiln.base);
        assert.equal(first.narrowed, true);
        assert.equal(first.grants.cached, undefined, "the first start computed its grants");
      }
      assert.ok(exists(`${data}/launch.json`), "the launcher kept its grants");
      {
        await using kiln = await startGateway(manifest, data, true);
        const second = await sandboxOf(kiln.base);
        assert.equal(second.narrowed, true);
        assert.equal(second.grants.cached, true, "the second start took them from the cache");
        assert.deepEqual({ ...second.grants, cached: undefined }, { ...first.grants, cached: undefined });
        assert.deepEqual(second.grants.sealed, [`${data}/launch.json`]);
        assert.equal(second.probes[`write ${data}/launch.json`], "denied", "the sandbox may not write it");
        assert.equal(second.probes[`write ${data}/../outside`], "prompt");
        // The gateway works as usual: its module runs.
        const status = await (await fetch(`${kiln.base}/api/v1/modules/counter`, { headers: AUTH })).json();
        assert.equal(status.name, "counter");
      }

      await writeManifest(dir, { counter: 2 }); // another module binary: the same manifest text
      await Deno.writeTextFile(manifest, (await Deno.readTextFile(manifest)) + "# changed\n");
      {
        await using kiln = await startGateway(manifest, data, true);
        assert.equal(
          (await sandboxOf(kiln.base)).grants.cached,
          undefined,
          "a changed manifest: the long way",
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cached grants that are not the ones the manifest needs stop the start (exit 75); the next start works",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "kiln-launch-stale-" });
    const data = `${dir}/data`;
    try {
      const manifest = await writeManifest(dir, { counter: 1 });
      {
        await using _kiln = await startGateway(manifest, data, true);
      }
      // What entries made by other code look like: the key still matches, the grants do not. Wider ones
      // are caught by the narrowed process's own computation, narrower ones by what they fail to read.
      const tamperings: [string, (read: string[]) => string[], RegExp][] = [
        ["wider", (read) => [...read, "/etc"], /Kiln's code changed since they were saved/],
        [
          "narrower",
          (read) => read.filter((p) => !p.endsWith("counter.wasm")),
          /the manifest cannot be loaded with them: [^]*counter\.wasm/,
        ],
      ];
      for (const [what, tamper, why] of tamperings) {
        await Deno.remove(`${data}/launch.stale`).catch(() => {}); // the previous case's
        const entry = JSON.parse(await Deno.readTextFile(`${data}/launch.json`));
        entry.grants.read = tamper(entry.grants.read);
        await Deno.writeTextFile(`${data}/launch.json`, JSON.stringify(entry));
        const refused = await startGateway(manifest, data, true).then(
          async (k) => {
            await k.stop();
            return null;
          },
          (err: Error) => err.message,
        );
        assert.ok(refused !== null, `the start with ${what} grants did not serve`);
        assert.match(refused, /are not the ones this configuration needs \(/);
        assert.match(refused, why);
        assert.match(refused, /they are dropped: start kiln again/);
        assert.ok(exists(`${data}/launch.stale`), "it left the marker that turns the shortcut off");
      }
      // The marker of the last one holds until a launcher writes a fresh entry: the tampered one is not used.

      await using kiln = await startGateway(manifest, data, true);
      const sandbox = await sandboxOf(kiln.base);
      assert.equal(sandbox.grants.cached, undefined, "the next start took the long way");
      assert.ok(sandbox.grants.read.some((p) => p.endsWith("counter.wasm")));
      assert.ok(!exists(`${data}/launch.stale`), "and wrote a fresh entry");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
