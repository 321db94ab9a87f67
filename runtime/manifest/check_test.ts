import assert from "node:assert/strict";
import { assertIssues, issuesOf } from "./_testing.ts";
import { parseManifest } from "./mod.ts";

/** A plant with a sensor of each kind, a channel between two modules, and the policy they need. */
function plant(modules: string, extra = ""): string {
  return `version: 1
device: { id: gw-1 }
policy:
  allow: [read:sim:*, read:channel:*, write:channel:*, write:gpio:pin_1, read:gpio:*, use:executor:realtime]
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
    temperature_1: { kind: temperature }
${extra}modules:
${modules}`;
}

const FFT = `  fft:
    wasm: fft.wasm
    capabilities: [read:sim:vibration_1, write:channel:features]
    schedule: { mode: stream, source: sim:vibration_1 }
`;
const ANOMALY = `  anomaly:
    wasm: anomaly.wasm
    capabilities: [read:channel:features]
    schedule: { mode: stream, source: channel:features, window: 16 }
`;
const CHANNELS = `channels:
  features: { writer: fft, readers: [anomaly] }
`;

Deno.test("a plant whose references and capabilities agree parses", () => {
  const manifest = parseManifest(plant(FFT + ANOMALY, CHANNELS));
  assert.deepEqual(Object.keys(manifest.modules), ["fft", "anomaly"]);
});

Deno.test("a stream source must name a defined vibration sensor", async (t) => {
  await t.step("an undefined sensor", () => {
    const text = plant(FFT.replace("source: sim:vibration_1", "source: sim:vibration_9"), CHANNELS) + ANOMALY;
    const [issue] = assertIssues(text, [["modules.fft.schedule.source", "source: sim:vibration_9"]]);
    assert.match(issue?.message ?? "", /"vibration_9" is not defined under connectors\.sim/);
  });
  await t.step("a temperature sensor", () => {
    const text = plant(
      FFT.replace("source: sim:vibration_1", "source: sim:temperature_1")
        .replace("read:sim:vibration_1", "read:sim:temperature_1"),
      CHANNELS,
    ) + ANOMALY;
    const [issue] = assertIssues(text, [["modules.fft.schedule.source", "source: sim:temperature_1"]]);
    assert.match(issue?.message ?? "", /vibration/);
  });
});

Deno.test("a stream source needs the capability to read it, and the error names the one to add", () => {
  const text = plant(FFT.replace("read:sim:vibration_1, ", "") + ANOMALY, CHANNELS);
  const [issue] = assertIssues(text, [["modules.fft.schedule.source", "source: sim:vibration_1"]]);
  assert.match(issue?.message ?? "", /add "read:sim:vibration_1" to modules\.fft\.capabilities/);
});

Deno.test("a wildcard capability grants what it covers", () => {
  assert.ok(parseManifest(plant(FFT.replace("[read:sim:vibration_1,", "[read:sim:*,") + ANOMALY, CHANNELS)));
});

Deno.test("a channel source must exist, be granted, and list the module as a reader", async (t) => {
  await t.step("an undefined channel", () => {
    const text = plant(FFT.replace(", write:channel:features", "") + ANOMALY);
    assertIssues(text, [["modules.anomaly.schedule.source", "source: channel:features"]]);
  });
  await t.step("no read capability", () => {
    const text = plant(FFT + ANOMALY.replace("[read:channel:features]", "[]"), CHANNELS);
    const [issue] = assertIssues(text, [["channels.features.readers[0]", "readers: [anomaly]"]]);
    assert.match(issue?.message ?? "", /add "read:channel:features" to modules\.anomaly\.capabilities/);
  });
  await t.step("not among the readers", () => {
    const text = plant(FFT + ANOMALY, CHANNELS.replace("readers: [anomaly]", "readers: []"));
    assertIssues(text, [["modules.anomaly.schedule.source", "source: channel:features"]]);
  });
});

Deno.test("channel writers and readers must be defined modules with the matching capability", async (t) => {
  await t.step("undefined modules", () => {
    const text = plant(FFT, "channels:\n  features: { writer: ghost, readers: [phantom] }\n");
    assertIssues(text, [["channels.features.writer", "writer: ghost"], [
      "channels.features.readers[0]",
      "writer: ghost",
    ]]);
  });
  await t.step("a writer without write:channel", () => {
    const text = plant(FFT.replace(", write:channel:features", "") + ANOMALY, CHANNELS);
    const [issue] = assertIssues(text, [["channels.features.writer", "writer: fft"]]);
    assert.match(issue?.message ?? "", /add "write:channel:features" to modules\.fft\.capabilities/);
  });
  await t.step("a reader listed twice", () => {
    const text = plant(FFT + ANOMALY, CHANNELS.replace("readers: [anomaly]", "readers: [anomaly, anomaly]"));
    assertIssues(text, [["channels.features.readers[1]", "readers: [anomaly, anomaly]"]]);
  });
});

Deno.test("inputs must name defined temperature sensors granted to the module", async (t) => {
  const module = (inputs: string, capabilities: string) =>
    `  temperature:
    wasm: t.wasm
    capabilities: [${capabilities}]
    schedule: { mode: periodic, period_us: 100000 }
    inputs: [${inputs}]
`;
  await t.step("a valid input", () => {
    assert.ok(parseManifest(plant(module("sim:temperature_1", "read:sim:temperature_1"))));
  });
  await t.step("an undefined sensor", () => {
    assertIssues(plant(module("sim:temperature_9", "read:sim:*")), [[
      "modules.temperature.inputs[0]",
      "inputs:",
    ]]);
  });
  await t.step("a vibration sensor", () => {
    const [issue] = assertIssues(plant(module("sim:vibration_1", "read:sim:*")), [[
      "modules.temperature.inputs[0]",
      "inputs:",
    ]]);
    assert.match(issue?.message ?? "", /temperature sensors/);
  });
  await t.step("no capability", () => {
    const [issue] = assertIssues(plant(module("sim:temperature_1", "")), [[
      "modules.temperature.inputs[0]",
      "inputs:",
    ]]);
    assert.match(issue?.message ?? "", /add "read:sim:temperature_1"/);
  });
});

Deno.test("event triggers are checked", async (t) => {
  const module = (trigger: string, capabilities = "") =>
    `  ev:
    wasm: e.wasm
    capabilities: [use:executor:realtime, ${capabilities}]
    schedule: { mode: event, trigger: "${trigger}" }
`;
  await t.step("api needs nothing", () => void parseManifest(plant(module("api"))));
  await t.step("a gpio trigger needs read:gpio", () => {
    assertIssues(plant(module("gpio:pin_3")), [["modules.ev.schedule.trigger", "trigger:"]]);
    parseManifest(plant(module("gpio:pin_3", "read:gpio:pin_3")));
  });
  await t.step("a channel trigger needs the channel", () => {
    assertIssues(plant(module("channel:nope", "read:channel:nope")), [[
      "modules.ev.schedule.trigger",
      "trigger:",
    ]]);
  });
  await t.step("an unknown trigger", () => {
    assertIssues(plant(module("cron:5m")), [["modules.ev.schedule.trigger", "trigger:"]]);
  });
});

Deno.test("every capability outside the policy is listed", () => {
  const text = plant(`  fft:
    wasm: fft.wasm
    capabilities:
      - read:sim:vibration_1
      - write:gpio:pin_8
      - write:mqtt:plant/alerts
    schedule: { mode: stream, source: sim:vibration_1 }
`);
  const issues = assertIssues(text, [
    ["modules.fft.capabilities[1]", "write:gpio:pin_8"],
    ["modules.fft.capabilities[2]", "write:mqtt"],
  ]);
  assert.equal(issues[0]?.message, `"write:gpio:pin_8" is not allowed by the device policy`);
});

Deno.test("malformed and filesystem capabilities are refused, in modules and in the policy", () => {
  const text = plant(
    `  fft:
    wasm: fft.wasm
    capabilities: [read:sim:vibration_1, "read:gpio:8", read:fs:/etc/passwd, write:file:x]
    schedule: { mode: stream, source: sim:vibration_1 }
`,
  ).replace("allow: [", "allow: [read:fs:*, ");
  const issues = assertIssues(text, [
    ["policy.allow[0]", "allow:"],
    ["modules.fft.capabilities[1]", "capabilities:"],
    ["modules.fft.capabilities[2]", "capabilities:"],
    ["modules.fft.capabilities[3]", "capabilities:"],
  ]);
  assert.match(issues[0]?.message ?? "", /filesystem/);
  assert.match(issues[3]?.message ?? "", /filesystem/);
});

Deno.test("a malformed policy entry does not turn every module's capability into a denial", () => {
  const text = plant(FFT + ANOMALY, CHANNELS).replace(
    "allow: [read:sim:*,",
    "allow: [read:sim:vibration*, read:sim:*,",
  );
  assertIssues(text, [["policy.allow[0]", "allow:"]]);
});

Deno.test("cross-section checks are reported together with schema errors", () => {
  const text = plant(
    FFT.replace("wasm: fft.wasm", "wasm: 7").replace("[read:sim:vibration_1,", "[write:gpio:pin_9,"),
  );
  const paths = issuesOf(text).map((i) => i.path);
  assert.deepEqual(paths, ["modules.fft.wasm", "modules.fft.capabilities[0]", "modules.fft.schedule.source"]);
});
