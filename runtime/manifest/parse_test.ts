import assert from "node:assert/strict";
import { issuesOf, lineOf } from "./_testing.ts";
import { ManifestError, memoryPages, parseListenAddress, parseManifest } from "./mod.ts";

const MINIMAL = `version: 1
device:
  id: gw-1
policy:
  allow: [read:sim:*]
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
modules:
  fft:
    wasm: fft.wasm
    capabilities: [read:sim:vibration_1]
    schedule:
      mode: stream
      source: sim:vibration_1
`;

Deno.test("a minimal manifest parses with every default applied", () => {
  const manifest = parseManifest(MINIMAL);
  assert.equal(manifest.api.listen, "127.0.0.1:8080");
  assert.deepEqual(manifest.channels, {});
  const fft = manifest.modules.fft;
  assert.ok(fft);
  assert.deepEqual(fft.limits, { max_memory_mb: 16, budget_us: 10000 });
  assert.deepEqual(fft.schedule, {
    mode: "stream",
    source: "sim:vibration_1",
    window: 1024,
    hop: 1024,
    priority: 50,
  });
  assert.deepEqual(fft.inputs, []);
  assert.deepEqual(fft.params, {});
  assert.deepEqual(fft.data, {});
  assert.deepEqual(fft.persistence, { snapshot: false, keep: 3 });
  assert.deepEqual(fft.restart, {
    policy: "on-failure",
    max_restarts: 5,
    backoff_ms: 200,
    max_backoff_ms: 30000,
  });
  assert.equal(fft.enabled, true);
});

Deno.test("defaults apply per mode and per section", async (t) => {
  await t.step("hop defaults to the window", () => {
    const manifest = parseManifest(MINIMAL.replace("mode: stream", "mode: stream\n      window: 256"));
    assert.deepEqual(manifest.modules.fft?.schedule, {
      mode: "stream",
      source: "sim:vibration_1",
      window: 256,
      hop: 256,
      priority: 50,
    });
  });
  await t.step("a periodic schedule gets priority 50", () => {
    const text = MINIMAL.replace(
      "mode: stream\n      source: sim:vibration_1",
      "mode: periodic\n      period_us: 1000",
    );
    assert.deepEqual(parseManifest(text).modules.fft?.schedule, {
      mode: "periodic",
      period_us: 1000,
      priority: 50,
    });
  });
  await t.step("a partial limits section keeps the other defaults", () => {
    const text = MINIMAL.replace("    capabilities:", "    limits: { fuel: 5000 }\n    capabilities:");
    assert.deepEqual(parseManifest(text).modules.fft?.limits, {
      max_memory_mb: 16,
      budget_us: 10000,
      fuel: 5000,
    });
  });
  await t.step("a data path shorthand becomes { path }", () => {
    const text = MINIMAL.replace("    capabilities:", "    data:\n      weights: w.bin\n    capabilities:");
    assert.deepEqual(parseManifest(text).modules.fft?.data, { weights: { path: "w.bin" } });
  });
  await t.step("a sha256 is lowercased", () => {
    const text = MINIMAL.replace("    capabilities:", `    sha256: "${"AB".repeat(32)}"\n    capabilities:`);
    assert.equal(parseManifest(text).modules.fft?.sha256, "ab".repeat(32));
  });
  await t.step("a channel gets its size and overflow defaults", () => {
    const text = MINIMAL.replace(
      "    capabilities: [read:sim:vibration_1]",
      "    capabilities: [read:sim:vibration_1, write:channel:out]",
    ).replace("policy:\n  allow: [read:sim:*]", "policy:\n  allow: [read:sim:*, write:channel:*]") +
      "channels:\n  out: { writer: fft, readers: [] }\n";
    assert.deepEqual(parseManifest(text).channels.out, {
      writer: "fft",
      readers: [],
      size_bytes: 65536,
      overflow: "drop-oldest",
    });
  });
  await t.step("no policy allows nothing", () => {
    const text = MINIMAL.replace("policy:\n  allow: [read:sim:*]\n", "");
    const issues = issuesOf(text);
    assert.deepEqual(issues.map((i) => i.path), ["modules.fft.capabilities[0]"]);
  });
});

Deno.test("JSON input parses like YAML and issues carry JSON line numbers", () => {
  const json = JSON.stringify(
    {
      version: 1,
      device: { id: "gw-1" },
      policy: { allow: ["read:sim:*"] },
      connectors: { sim: { vibration_1: { kind: "vibration", rate_hz: 25600 } } },
      modules: {
        fft: {
          wasm: "fft.wasm",
          capabilities: ["read:sim:vibration_1"],
          schedule: { mode: "stream", source: "sim:vibration_1" },
        },
      },
    },
    null,
    2,
  );
  assert.equal(parseManifest(json).modules.fft?.schedule.mode, "stream");
  const broken = json.replace(`"rate_hz": 25600`, `"rate_hz": "fast"`);
  const issues = issuesOf(broken);
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.path, "connectors.sim.vibration_1.rate_hz");
  assert.equal(issues[0]?.line, lineOf(broken, `"rate_hz"`));
});

Deno.test("a YAML syntax error is one issue with a line and column", () => {
  const text = "version: 1\ndevice:\n  id: gw-1\nmodules: [\n";
  const issues = issuesOf(text);
  assert.ok(issues.length >= 1);
  assert.equal(issues[0]?.path, "");
  assert.equal(typeof issues[0]?.line, "number");
  assert.equal(typeof issues[0]?.column, "number");
  assert.match(issues[0]?.message ?? "", /^YAML syntax error: /);
  const tabs = issuesOf("version: 1\ndevice:\n\tid: gw-1\n");
  assert.equal(tabs[0]?.line, 3);
});

Deno.test("an empty document is one issue", () => {
  for (const text of ["", "# only a comment\n", "~"]) {
    const issues = issuesOf(text);
    assert.deepEqual(issues.map((i) => [i.path, i.line]), [["", 1]]);
  }
});

Deno.test("a document that is not a mapping is refused at the root", () => {
  const issues = issuesOf("- version: 1\n");
  assert.deepEqual(issues.map((i) => i.path), [""]);
});

Deno.test("duplicate keys are errors at the repeated key's line", () => {
  const text = MINIMAL + "  fft:\n    wasm: other.wasm\n    schedule: { mode: event, trigger: api }\n";
  const issues = issuesOf(text);
  const duplicate = issues.find((i) => /duplicate/.test(i.message));
  assert.ok(duplicate);
  assert.equal(duplicate.path, "modules.fft");
  assert.equal(duplicate.line, lineOf(text, "wasm: other.wasm") - 1);
  assert.match(duplicate.message, new RegExp(`line ${lineOf(text, "  fft:")}`));
});

Deno.test("unknown keys are rejected at every level with their own path and line", () => {
  const text = MINIMAL
    .replace("device:\n  id: gw-1", "device:\n  id: gw-1\n  serial: 42")
    .replace("      source: sim:vibration_1", "      source: sim:vibration_1\n      widow: 512")
    .replace("version: 1", "version: 1\nmodlues: {}");
  const issues = issuesOf(text);
  assert.deepEqual(
    issues.map((i) => [i.path, i.line]),
    [
      ["modlues", lineOf(text, "modlues")],
      ["device.serial", lineOf(text, "serial")],
      ["modules.fft.schedule.widow", lineOf(text, "widow")],
    ],
  );
  assert.match(issues[0]?.message ?? "", /did you mean "modules"/);
});

Deno.test("an unknown connector type is refused, naming the ones there are", () => {
  const text = MINIMAL.replace("connectors:\n", "connectors:\n  serial: {}\n");
  const issues = issuesOf(text);
  assert.deepEqual(issues.map((i) => [i.path, i.line]), [["connectors.serial", lineOf(text, "serial")]]);
  assert.match(
    issues[0]?.message ?? "",
    /unknown connector type "serial" \(this version supports: sim, modbus, mqtt, opcua, gpio\)/,
  );
});

Deno.test("type, range and format mistakes are all reported at once", () => {
  const text = `version: 2
device:
  id: GW 1
api:
  listen: localhost
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 30000 }
    probe: { kind: pressure }
modules:
  Fft:
    wasm: fft.wasm
    schedule: { mode: stream, source: sim:vibration_1 }
  fft:
    wasm: 42
    limits: { max_memory_mb: "4 MB", budget_us: 1.5, fuel: 0 }
    schedule: { mode: stream, source: sim:vibration_1, window: 8, hop: 2 }
    params: { kiln.window: 4, Threshold: 1, ok: "high" }
    restart: { policy: sometimes, backoff_ms: 500, max_backoff_ms: 100 }
    enabled: "yes"
  tick:
    wasm: t.wasm
    schedule: { mode: cron }
  late:
    wasm: l.wasm
    schedule: { mode: stream, source: sim:vibration_1, window: 64, hop: 128 }
`;
  const paths = issuesOf(text).map((i) => [i.path, i.line]);
  const expected: [string, string][] = [
    ["version", "version: 2"],
    ["device.id", "id: GW 1"],
    ["api.listen", "listen:"],
    ["connectors.sim.vibration_1.rate_hz", "vibration_1:"],
    ["connectors.sim.probe.kind", "probe:"],
    ["modules.Fft", "Fft:"],
    ["modules.fft.wasm", "wasm: 42"],
    ["modules.fft.limits.max_memory_mb", "4 MB"],
    ["modules.fft.limits.budget_us", "4 MB"],
    ["modules.fft.limits.fuel", "4 MB"],
    ["modules.fft.schedule.window", "window: 8"],
    ['modules.fft.params["kiln.window"]', "kiln.window"],
    ["modules.fft.params.Threshold", "kiln.window"],
    ["modules.fft.params.ok", "kiln.window"],
    ["modules.fft.restart.policy", "sometimes"],
    ["modules.fft.enabled", "enabled:"],
    ["modules.tick.schedule.mode", "mode: cron"],
    ["modules.late.schedule.hop", "hop: 128"],
  ];
  for (const [path, needle] of expected) {
    assert.ok(
      paths.some(([p, line]) => p === path && line === lineOf(text, needle)),
      `expected an issue at ${path} (line ${lineOf(text, needle)}); got ${JSON.stringify(paths)}`,
    );
  }
  // The restart section has another error, so its cross-field check does not run yet.
  assert.ok(!paths.some(([p]) => p === "modules.fft.restart.max_backoff_ms"));
});

Deno.test("cross-field rules of a section are checked", async (t) => {
  await t.step("max_backoff_ms below backoff_ms", () => {
    const text = MINIMAL.replace(
      "    capabilities:",
      "    restart: { backoff_ms: 500, max_backoff_ms: 100 }\n    capabilities:",
    );
    assert.deepEqual(issuesOf(text).map((i) => i.path), ["modules.fft.restart.max_backoff_ms"]);
  });
  await t.step("block_timeout_us without block-writer", () => {
    const text = MINIMAL.replace("read:sim:vibration_1]", "read:sim:vibration_1, write:channel:out]")
      .replace("allow: [read:sim:*]", "allow: [read:sim:*, write:channel:*]") +
      "channels:\n  out: { writer: fft, readers: [], block_timeout_us: 100 }\n";
    assert.deepEqual(issuesOf(text).map((i) => i.path), ["channels.out.block_timeout_us"]);
    assert.equal(
      parseManifest(text.replace("block_timeout_us", "overflow: block-writer, block_timeout_us"))
        .channels.out?.block_timeout_us,
      100,
    );
  });
});

Deno.test("a missing required key is reported at its parent's line", () => {
  const text = MINIMAL.replace("    wasm: fft.wasm\n", "");
  const issues = issuesOf(text);
  assert.deepEqual(issues.map((i) => [i.path, i.line]), [["modules.fft.wasm", lineOf(text, "  fft:")]]);
  assert.equal(issues[0]?.message, "required key is missing");
  const noMode = issuesOf(MINIMAL.replace("      mode: stream\n", ""));
  assert.deepEqual(noMode.map((i) => i.path), ["modules.fft.schedule.mode"]);
});

Deno.test("ManifestError's message lists every issue, one per line, after the file name", () => {
  const text = MINIMAL.replace("rate_hz: 25600", "rate_hz: fast").replace(
    "version: 1",
    "version: 1\nextra: true",
  );
  try {
    parseManifest(text, { path: "plant.yaml" });
    assert.fail("expected a ManifestError");
  } catch (err) {
    assert.ok(err instanceof ManifestError);
    assert.equal(err.file, "plant.yaml");
    const lines = err.message.split("\n");
    assert.match(lines[0] ?? "", /plant\.yaml/);
    assert.equal(lines.length, 1 + err.issues.length);
    assert.match(lines[1] ?? "", /^ {2}extra: .*\(line 2\)$/);
    assert.doesNotMatch(err.message, /\bat .*\.ts:\d+/);
  }
});

Deno.test("memoryPages rounds a fractional limit up to whole 64 KiB pages", () => {
  assert.equal(memoryPages(16), 256);
  assert.equal(memoryPages(4096), 65536);
  assert.equal(memoryPages(0.1), 2);
  assert.equal(memoryPages(1 / 16), 1);
});

Deno.test("parseListenAddress splits IPv4, host names and bracketed IPv6", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:8080"), { hostname: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseListenAddress("localhost:0"), { hostname: "localhost", port: 0 });
  assert.deepEqual(parseListenAddress("[::1]:9000"), { hostname: "::1", port: 9000 });
  for (const bad of ["localhost", ":8080", "::1:8080", "host:99999", "[1.2.3.4]:80"]) {
    assert.throws(() => parseListenAddress(bad), SyntaxError, bad);
  }
});

Deno.test("scheduling.realtime_fifo_priority is optional and must be an integer from 1 to 98", () => {
  assert.equal(parseManifest(MINIMAL).scheduling.realtime_fifo_priority, undefined);
  const ok = parseManifest(`${MINIMAL}scheduling:\n  realtime_fifo_priority: 50\n`);
  assert.equal(ok.scheduling.realtime_fifo_priority, 50);
  for (const bad of ["0", "99", "12.5", "high"]) {
    const text = `${MINIMAL}scheduling:\n  realtime_fifo_priority: ${bad}\n`;
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [["scheduling.realtime_fifo_priority", lineOf(text, "realtime_fifo_priority")]],
      bad,
    );
  }
});

Deno.test("scheduling.cpus lists CPUs per thread; an empty or repeated list or an unknown thread is refused", () => {
  assert.equal(parseManifest(MINIMAL).scheduling.cpus, undefined);
  const ok = parseManifest(`${MINIMAL}scheduling:\n  cpus:\n    runtime: [0]\n    realtime: [1, 2]\n`);
  assert.deepEqual(ok.scheduling.cpus, { runtime: [0], realtime: [1, 2] });
  for (
    const [bad, message] of [
      ["realtime: []", /at least one CPU/],
      ["normal: [1, 1]", /listed twice/],
      ["normal: [-1]", /./],
      ["normal: [1024]", /./],
      ["realtme: [1]", /realtime/],
    ] as const
  ) {
    const text = `${MINIMAL}scheduling:\n  cpus:\n    ${bad}\n`;
    const issues = issuesOf(text);
    assert.equal(issues.length, 1, `${bad}: ${issues.map((i) => i.message)}`);
    assert.match(issues[0]!.path, /^scheduling\.cpus/, bad);
    assert.equal(issues[0]!.line, lineOf(text, bad.split(":")[0]!), bad);
    assert.match(issues[0]!.message, message, bad);
  }
});

Deno.test("an MQTT session is clean by default; a persistent one refuses QoS 2, saying why", () => {
  const mqtt = (extra: string) =>
    `${MINIMAL}`.replace("connectors:\n", `connectors:\n  mqtt:\n    url: mqtt://broker:1883\n${extra}`);
  assert.equal(parseManifest(mqtt("")).connectors.mqtt?.session, "clean");
  assert.equal(parseManifest(mqtt("    session: persistent\n")).connectors.mqtt?.session, "persistent");
  const text = mqtt("    session: persistent\n    qos: 2\n");
  const issues = issuesOf(text);
  assert.deepEqual(issues.map((i) => i.path), ["connectors.mqtt.qos"]);
  assert.match(issues[0]!.message, /persistent session needs qos 0 or 1/);
});

Deno.test("an MQTT url with a user name and password in it is refused, naming the keys they go in", () => {
  const text = MINIMAL.replace(
    "connectors:\n",
    `connectors:\n  mqtt:\n    url: mqtt://gw:secret@broker:1883\n`,
  );
  const issues = issuesOf(text);
  assert.deepEqual(issues.map((i) => i.path), ["connectors.mqtt.url"]);
  assert.match(issues[0]!.message, /username and password_file/);
});

Deno.test("every connector takes the same backoff keys with the same defaults, and checks them alike", () => {
  const text = MINIMAL.replace(
    "connectors:\n",
    `connectors:
  mqtt: { url: "mqtt://broker:1883" }
  modbus:
    plc1: { host: plc, points: [{ id: p, table: hr, address: 1 }] }
  opcua:
    line1: { url: "opc.tcp://ua:4840", nodes: [{ id: n, node_id: "ns=1;s=N" }] }
`,
  );
  const c = parseManifest(text).connectors;
  const backoff = (
    x: { backoff_ms: number; max_backoff_ms: number } | undefined,
  ) => [x?.backoff_ms, x?.max_backoff_ms];
  assert.deepEqual(backoff(c.mqtt), [500, 30_000]);
  assert.deepEqual(backoff(c.modbus?.plc1), [500, 30_000]);
  assert.deepEqual(backoff(c.opcua?.line1), [500, 30_000]);
  assert.equal(c.mqtt?.connect_timeout_ms, 10_000);
  const set = parseManifest(
    text.replace(
      `mqtt: { url: "mqtt://broker:1883" }`,
      `mqtt: { url: "mqtt://broker:1883", backoff_ms: 100, max_backoff_ms: 5000 }`,
    ),
  ).connectors;
  assert.deepEqual(backoff(set.mqtt), [100, 5000]);
  const wrong = issuesOf(
    text.replace(
      `mqtt: { url: "mqtt://broker:1883" }`,
      `mqtt: { url: "mqtt://broker:1883", backoff_ms: 900, max_backoff_ms: 50 }`,
    )
      .replace("plc1: { host: plc,", "plc1: { host: plc, backoff_ms: 0,"),
  );
  assert.deepEqual(wrong.map((i) => i.path).sort(), [
    "connectors.modbus.plc1.backoff_ms",
    "connectors.mqtt.max_backoff_ms",
  ]);
  assert.match(
    wrong.find((i) => i.path === "connectors.mqtt.max_backoff_ms")!.message,
    /less than backoff_ms \(900\)/,
  );
});

Deno.test("the policy section gets its limits' defaults, and each may be set", () => {
  const { policy } = parseManifest(MINIMAL);
  assert.deepEqual(policy, {
    allow: ["read:sim:*"],
    max_priority: 90,
    max_budget_us: 100_000,
    max_init_budget_us: 2_000_000,
    max_memory_mb: 64,
    max_block_timeout_us: 10_000,
    max_channel_bytes: 16 * 1024 * 1024,
    min_snapshot_interval_s: 1,
    max_modules: 32,
  });
  const set = parseManifest(
    MINIMAL.replace(
      "  allow: [read:sim:*]",
      "  allow: [read:sim:*]\n  max_priority: 95\n  max_fuel: 1000000",
    ),
  ).policy;
  assert.deepEqual([set.max_priority, set.max_fuel], [95, 1_000_000]);
  const text = MINIMAL.replace("  allow: [read:sim:*]", "  allow: [read:sim:*]\n  max_init_budget_us: 1000");
  const [issue] = issuesOf(text);
  assert.equal(issue?.path, "policy.max_init_budget_us"); // below the 50 ms every init budget has
  const typo = issuesOf(MINIMAL.replace("  allow: [read:sim:*]", "  allow: [read:sim:*]\n  max_priorty: 80"));
  assert.match(typo[0]?.message ?? "", /did you mean "max_priority"/);
});

Deno.test("signatures default to optional with no roots; required needs a trusted root; probation has defaults", () => {
  const manifest = parseManifest(MINIMAL);
  assert.deepEqual(manifest.signatures, {
    mode: "optional",
    trusted_roots: [],
    crls: [],
    require_crls: false,
    allow_downgrade: false,
  });
  assert.equal(manifest.modules.fft?.probation.seconds, 10);
  assert.equal(manifest.modules.fft?.probation.max_crashes, 0);
  const required = `${MINIMAL}signatures: { mode: required }\n`;
  assert.deepEqual(issuesOf(required).map((i) => i.path), ["signatures.trusted_roots"]);
  const hardware = MINIMAL.replace("  id: gw-1", "  id: gw-1\n  hardware: Arm 64");
  assert.deepEqual(issuesOf(hardware).map((i) => i.path), ["device.hardware"]);
  const probation = MINIMAL.replace(
    "    capabilities:",
    "    probation: { seconds: 60, max_seconds: 30 }\n    capabilities:",
  );
  assert.deepEqual(issuesOf(probation).map((i) => i.path), ["modules.fft.probation.max_seconds"]);
});
