import assert from "node:assert/strict";
import { join } from "node:path";
import { loadManifest, ManifestError, ManifestNotFoundError, ManifestReadError } from "./mod.ts";

/** A temporary directory with `files` written into it, removed on dispose. */
async function tempPlant(files: Record<string, string | Uint8Array>) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "kiln_manifest_" }));
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
  }
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const MANIFEST = `version: 1
device: { id: gw-1 }
policy: { allow: [read:sim:*] }
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
modules:
  anomaly:
    wasm: ../modules/anomaly.wasm
    capabilities: [read:sim:vibration_1]
    schedule: { mode: stream, source: sim:vibration_1 }
    data:
      weights: ../modules/weights.bin
      labels: { path: /ABSOLUTE/labels.txt, sha256: "${"0".repeat(64)}" }
`;

function lineOf(text: string, needle: string): number {
  return text.split("\n").findIndex((line) => line.includes(needle)) + 1;
}

Deno.test("loadManifest resolves wasm and data paths against the manifest's directory", async () => {
  await using plant = await tempPlant({
    "etc/.keep": "",
    "modules/anomaly.wasm": "",
    "modules/weights.bin": "",
    "labels.txt": "",
  });
  await Deno.writeTextFile(join(plant.dir, "etc", "manifest.yaml"), MANIFEST.replace("/ABSOLUTE", plant.dir));
  const manifest = await loadManifest(join(plant.dir, "etc", "manifest.yaml"));
  assert.equal(manifest.file, join(plant.dir, "etc", "manifest.yaml"));
  assert.equal(manifest.dir, join(plant.dir, "etc"));
  const anomaly = manifest.modules.anomaly;
  assert.ok(anomaly);
  assert.deepEqual(anomaly.wasm, {
    path: "../modules/anomaly.wasm",
    resolved: join(plant.dir, "modules", "anomaly.wasm"),
  });
  assert.deepEqual(anomaly.data.weights, {
    path: "../modules/weights.bin",
    resolved: join(plant.dir, "modules", "weights.bin"),
  });
  assert.deepEqual(anomaly.data.labels, {
    path: join(plant.dir, "labels.txt"),
    resolved: join(plant.dir, "labels.txt"),
    sha256: "0".repeat(64),
  });
  assert.equal(anomaly.schedule.mode, "stream");
});

Deno.test("loadManifest reports missing wasm and data files at their lines, with the schema's issues", async () => {
  const text = MANIFEST.replace("/ABSOLUTE", "/nonexistent-kiln-dir").replace("rate_hz: 25600", "rate_hz: 0");
  await using plant = await tempPlant({ "etc/manifest.yaml": text, "modules/weights.bin": "" });
  const path = join(plant.dir, "etc", "manifest.yaml");
  const err = await loadManifest(path).then(() => null, (e) => e);
  assert.ok(err instanceof ManifestError);
  assert.equal(err.file, path);
  assert.deepEqual(err.issues.map((i) => [i.path, i.line]), [
    ["connectors.sim.vibration_1.rate_hz", lineOf(text, "rate_hz")],
    ["modules.anomaly.wasm", lineOf(text, "wasm:")],
    ["modules.anomaly.data.labels.path", lineOf(text, "labels:")],
  ]);
  assert.match(err.issues[1]?.message ?? "", /does not exist/);
});

Deno.test("loadManifest refuses a wasm path that is a directory", async () => {
  await using plant = await tempPlant({ "etc/manifest.yaml": MANIFEST, "modules/anomaly.wasm/x": "" });
  const err = await loadManifest(join(plant.dir, "etc", "manifest.yaml")).then(() => null, (e) => e);
  assert.ok(err instanceof ManifestError);
  assert.ok(
    err.issues.some((i) => i.path === "modules.anomaly.wasm" && /not a regular file/.test(i.message)),
  );
});

Deno.test("loadManifest throws ManifestNotFoundError for a missing file", async () => {
  await using plant = await tempPlant({});
  const path = join(plant.dir, "nope.yaml");
  const err = await loadManifest(path).then(() => null, (e) => e);
  assert.ok(err instanceof ManifestNotFoundError);
  assert.equal(err.code, "manifest_not_found");
  assert.equal(err.file, path);
});

Deno.test("loadManifest throws ManifestReadError for a directory or a file that is not UTF-8", async () => {
  await using plant = await tempPlant({ "bad.yaml": new Uint8Array([0x76, 0x3a, 0xff, 0xfe, 0x0a]) });
  for (const path of [plant.dir, join(plant.dir, "bad.yaml")]) {
    const err = await loadManifest(path).then(() => null, (e) => e);
    assert.ok(err instanceof ManifestReadError, `${path}: ${err}`);
    assert.equal(err.code, "manifest_unreadable");
  }
});

Deno.test("loadManifest reports a syntax error without checking files", async () => {
  await using plant = await tempPlant({ "m.yaml": "version: 1\nmodules: {\n" });
  const err = await loadManifest(join(plant.dir, "m.yaml")).then(() => null, (e) => e);
  assert.ok(err instanceof ManifestError);
  assert.ok(err.issues.every((i) => i.path === "" && typeof i.line === "number"));
});
