import assert from "node:assert/strict";
import { parseManifest } from "../runtime/manifest/mod.ts";
import type { LoadedManifest } from "../runtime/manifest/mod.ts";
import { denoFlags, grantsFor } from "./sandbox.ts";

/** A manifest with no modules and these connectors (YAML, indented under `connectors:`). */
function manifest(connectors: string): LoadedManifest {
  const parsed = parseManifest(`version: 1
device: { id: gw-1 }
connectors:
${connectors}
modules: {}
`);
  return { ...parsed, file: "/etc/kiln/gw.yaml", dir: "/etc/kiln", modules: {} };
}

const listen = { hostname: "127.0.0.1", port: 8080 };

Deno.test("a Linux GPIO bank's sysfs folder is granted for reading and writing, and nothing more", () => {
  const g = grantsFor({
    manifest: manifest(`  gpio:
    backend: linux-sysfs
    root: /run/kiln/sys/class/gpio/
    pins: { 3: { line: 17, direction: in } }`),
    dataDir: "/var/lib/kiln",
    listen,
  });
  assert.ok(g.read.includes("/run/kiln/sys/class/gpio"));
  assert.deepEqual(g.write, ["/var/lib/kiln", "/run/kiln/sys/class/gpio"]);
  assert.deepEqual(g.sys, []);
  assert.deepEqual(g.ffi ?? [], [], "plain file I/O: no FFI");
  assert.ok(!denoFlags(g).some((f) => f.startsWith("--allow-all") || f === "-A"));
});

Deno.test("without a Linux GPIO bank no GPIO folder is granted", async (t) => {
  for (const connectors of ["  gpio: { backend: sim }", "  sim: {}"]) {
    await t.step(connectors.trim(), () => {
      const g = grantsFor({ manifest: manifest(connectors), dataDir: "/var/lib/kiln", listen });
      assert.deepEqual(g.write, ["/var/lib/kiln"]);
      assert.ok(!g.read.some((p) => p.includes("gpio")));
    });
  }
});
