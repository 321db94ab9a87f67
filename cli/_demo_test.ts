import assert from "node:assert/strict";
import { join } from "node:path";
import { embedFiles, listEmbedded } from "../embed/mod.ts";
import { loadManifest } from "../runtime/manifest/mod.ts";
import { unpackEmbeddedDemo } from "./_demo.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DEMO_FILES = [
  "examples/demo.yaml",
  "modules/fft/fft.wasm",
  "modules/anomaly/anomaly.wasm",
  "modules/anomaly/weights.bin",
  "modules/temperature/temperature.wasm",
  "modules/safety/safety.wasm",
  "modules/aggregator/aggregator.wasm",
];

// The registry is this process's: the steps run in order, from nothing embedded (the source tree) to a
// bundle's registry.
Deno.test("the embedded demo is written under <data>/demo/, loads as a manifest, and is rewritten when changed", async (t) => {
  const data = await Deno.makeTempDir({ prefix: "kiln_demo_" });
  try {
    await t.step("without an embedded demo (the source tree) nothing is written", async () => {
      assert.equal(await unpackEmbeddedDemo(data), null);
      assert.deepEqual([...Deno.readDirSync(data)], []);
    });

    await t.step("an embedded path outside the repository is refused", () => {
      for (const bad of ["../etc/passwd", "/etc/passwd", "modules/../x", "a//b", "a\\b"]) {
        assert.throws(() => embedFiles([[bad, new Uint8Array(1)]]), TypeError, bad);
      }
      assert.deepEqual(listEmbedded(), []);
    });

    embedFiles(
      await Promise.all(DEMO_FILES.map(async (p) => [p, await Deno.readFile(join(ROOT, p))] as const)),
    );

    await t.step("the demo's files land with their repository layout and the manifest loads", async () => {
      const path = await unpackEmbeddedDemo(data);
      assert.equal(path, join(data, "demo", "examples", "demo.yaml"));
      for (const p of DEMO_FILES) {
        assert.deepEqual(await Deno.readFile(join(data, "demo", p)), await Deno.readFile(join(ROOT, p)), p);
      }
      const manifest = await loadManifest(path!);
      assert.deepEqual(Object.keys(manifest.modules), [
        "fft",
        "anomaly",
        "temperature",
        "safety",
        "aggregator",
      ]);
      assert.equal(manifest.modules.fft!.wasm.resolved, join(data, "demo", "modules", "fft", "fft.wasm"));
    });

    await t.step("a changed copy is rewritten and an intact one left alone", async () => {
      const fft = join(data, "demo", "modules", "fft", "fft.wasm");
      const weights = join(data, "demo", "modules", "anomaly", "weights.bin");
      await Deno.writeFile(fft, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
      await Deno.remove(weights);
      const safety = join(data, "demo", "modules", "safety", "safety.wasm");
      const before = (await Deno.stat(safety)).ino;
      await unpackEmbeddedDemo(data);
      assert.deepEqual(await Deno.readFile(fft), await Deno.readFile(join(ROOT, "modules/fft/fft.wasm")));
      assert.deepEqual(
        await Deno.readFile(weights),
        await Deno.readFile(join(ROOT, "modules/anomaly/weights.bin")),
      );
      // Rewritten files are renamed into place (a new inode); an intact one keeps its own.
      assert.equal((await Deno.stat(safety)).ino, before);
      assert.deepEqual(
        [...Deno.readDirSync(join(data, "demo", "modules", "fft"))].map((e) => e.name),
        ["fft.wasm"],
      );
    });
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});
