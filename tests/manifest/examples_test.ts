/**
 * The shipped example manifests and the fixtures, through the public API of `runtime/manifest`.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadManifest, ManifestError, memoryPages, parseManifest } from "../../runtime/manifest/mod.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const examples = join(root, "examples");
const fixtures = join(dirname(fileURLToPath(import.meta.url)), "fixtures");

function lineOf(text: string, needle: string): number {
  const index = text.split("\n").findIndex((line) => line.includes(needle));
  assert.ok(index >= 0, `"${needle}" not in the text`);
  return index + 1;
}

Deno.test("the demo manifest parses into the demo plant", async () => {
  const manifest = parseManifest(await Deno.readTextFile(join(examples, "demo.yaml")), { path: "demo.yaml" });
  assert.equal(manifest.device.id, "gw-demo-01");
  assert.deepEqual(Object.keys(manifest.connectors.sim ?? {}), [
    "vibration_1",
    "vibration_2",
    "temperature_1",
    "temperature_2",
  ]);
  assert.deepEqual(manifest.connectors.sim?.vibration_1, {
    kind: "vibration",
    rate_hz: 25600,
    shaft_hz: 29.5,
    full_scale_g: 16,
    seed: 1,
  });
  assert.ok(manifest.connectors.sim?.vibration_2?.kind === "vibration");
  assert.equal(manifest.connectors.sim.vibration_2.rate_hz, 10000);
  const { fft, anomaly, temperature } = manifest.modules;
  assert.ok(fft && anomaly && temperature);
  assert.deepEqual(fft.schedule, {
    mode: "stream",
    source: "sim:vibration_1",
    window: 1024,
    hop: 512,
    priority: 50,
  });
  assert.equal(fft.wasm, "../modules/fft/fft.wasm");
  assert.equal(memoryPages(fft.limits.max_memory_mb), 32);
  assert.deepEqual(anomaly.schedule, {
    mode: "stream",
    source: "channel:vibration_features",
    window: 1024,
    hop: 1024,
    priority: 50,
  });
  assert.deepEqual(manifest.channels.vibration_features?.readers, ["anomaly"]);
  assert.equal(manifest.modules.safety?.schedule.mode, "event");
  assert.equal(manifest.modules.aggregator?.schedule.mode, "periodic");
  assert.deepEqual(anomaly.data, { weights: { path: "../modules/anomaly/weights.bin" } });
  assert.equal(typeof anomaly.params.threshold, "number");
  assert.deepEqual(temperature.schedule, { mode: "periodic", period_us: 100000, priority: 60 });
  assert.deepEqual(temperature.inputs, ["sim:temperature_1"]);
  assert.deepEqual(temperature.params, { warn_c: 70, trip_c: 85 });
});

Deno.test("the demo manifest loads once its module files exist", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "kiln_demo_" }));
  try {
    await Deno.mkdir(join(dir, "examples"));
    await Deno.copyFile(join(examples, "demo.yaml"), join(dir, "examples", "demo.yaml"));
    for (
      const file of [
        "fft/fft.wasm",
        "anomaly/anomaly.wasm",
        "anomaly/weights.bin",
        "temperature/temperature.wasm",
        "safety/safety.wasm",
        "aggregator/aggregator.wasm",
      ]
    ) {
      await Deno.mkdir(dirname(join(dir, "modules", file)), { recursive: true });
      await Deno.writeFile(join(dir, "modules", file), new Uint8Array());
    }
    const manifest = await loadManifest(join(dir, "examples", "demo.yaml"));
    assert.equal(manifest.modules.fft?.wasm.resolved, join(dir, "modules", "fft", "fft.wasm"));
    assert.equal(
      manifest.modules.anomaly?.data.weights?.resolved,
      join(dir, "modules", "anomaly", "weights.bin"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the invalid example yields exactly its three mistakes, with paths and lines", async () => {
  const path = join(examples, "invalid.yaml");
  const text = await Deno.readTextFile(path);
  let error: unknown;
  try {
    parseManifest(text, { path: "examples/invalid.yaml" });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ManifestError);
  assert.deepEqual(error.issues.map((i) => [i.path, i.line]), [
    ["modules.fft.limits.max_memory_mb", lineOf(text, "max_memory_mb:")],
    ["modules.fft.schedule.widow", lineOf(text, "widow: 1024")],
    ["modules.temperature.capabilities[1]", lineOf(text, "write:gpio:pin_8]")],
  ]);
  assert.equal(error.message.split("\n").length, 4);
});

Deno.test({
  name: "a JSON manifest loads with read permission and the yaml package's two debug variables",
  // yaml 2 reads LOG_TOKENS and LOG_STREAM on every parse (parser.js, composer.js): without env access to
  // them Deno throws NotCapable, so a narrowed `deno compile` or task must grant exactly these.
  permissions: { read: true, env: ["LOG_TOKENS", "LOG_STREAM"] },
  async fn() {
    const manifest = await loadManifest(join(fixtures, "plant.json"));
    assert.equal(manifest.device.id, "gw-json-01");
    assert.equal(manifest.api.listen, "[::1]:0");
    assert.equal(manifest.modules.fft?.wasm.resolved, join(fixtures, "empty.wasm"));
    assert.equal(manifest.modules.fft?.data.weights?.resolved, join(fixtures, "weights.bin"));
    assert.deepEqual(manifest.channels.features, {
      writer: "fft",
      readers: ["alarm"],
      size_bytes: 4096,
      overflow: "block-writer",
      block_timeout_us: 500,
    });
    assert.deepEqual(manifest.modules.alarm?.restart, {
      policy: "always",
      max_restarts: 5,
      backoff_ms: 200,
      max_backoff_ms: 30000,
    });
    assert.equal(manifest.modules.alarm?.enabled, false);
  },
});

Deno.test("the plant example wires a Modbus PLC, an OPC UA line and MQTT to the example modules", async () => {
  const manifest = await loadManifest(join(examples, "plant.yaml"));
  assert.deepEqual(Object.keys(manifest.connectors.modbus ?? {}), ["plc1"]);
  assert.deepEqual(Object.keys(manifest.connectors.opcua ?? {}), ["line7"]);
  assert.equal(manifest.connectors.mqtt?.url, "mqtt://broker.plant.local:1883");
  assert.deepEqual(manifest.modules.summary?.inputs, [
    "modbus:plc1/oven_temp",
    "modbus:plc1/zone_temp",
    "opcua:line7/product_temp",
  ]);
});
