import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import { ROOT } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
import { createOutbox, openStore } from "../../snapshots/mod.ts";

/** The demo plant in process, with its uplink (and so its embedded broker) against a throwaway store. */
async function demoRuntime() {
  const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
  const store = openStore(`${await Deno.makeTempDir()}/kiln.db`);
  const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
  const runtime = await createRuntime({ plan, version: "test", log: () => {}, outbox });
  await runtime.start();
  return runtime;
}

Deno.test("the API lists every demo module with its state, errors, restarts and invocations", async () => {
  await using runtime = await demoRuntime();
  const app = createApp(apiPorts(runtime));
  const health = await (await app.request("/health")).json();
  assert.equal(health.status, "ok");
  assert.equal(health.modules.running, 5);
  assert.equal(health.device.id, "gw-demo-01");

  const first = await waitFor("invocations", async () => {
    const body = await (await app.request("/api/v1/modules")).json();
    // Event modules run only when triggered: every other module has run.
    return body.modules.every((m: { mode: string; invocations: number }) =>
      m.mode === "event" || m.invocations > 0
    ) &&
      body;
  });
  const names = first.modules.map((m: { name: string }) => m.name);
  assert.deepEqual(names, ["fft", "anomaly", "temperature", "safety", "aggregator"]);
  for (const m of first.modules) {
    assert.equal(m.state, "running");
    assert.equal(m.last_error, null);
    assert.equal(m.restarts, 0);
    assert.equal(typeof m.invocations, "number");
  }
  const before = first.modules[0].invocations;
  await waitFor("fft invocations to rise", async () => {
    const m = await (await app.request("/api/v1/modules/fft")).json();
    return m.invocations > before;
  });
  const outputs = await (await app.request("/api/v1/modules/fft/outputs")).json();
  assert.ok(outputs.arrays.spectrum.length > 0, "the spectrum is exposed");
  assert.ok(outputs.outputs.rms_g > 0);
});

Deno.test("a bearing fault injected through the API makes the anomaly detector raise an alert", async () => {
  await using runtime = await demoRuntime();
  const app = createApp(apiPorts(runtime));
  assert.deepEqual((await (await app.request("/api/v1/alerts")).json()).alerts, []);
  const res = await app.request("/api/v1/sim/sensors/vibration_1/fault", {
    method: "POST",
    body: JSON.stringify({ fault: "bearing" }),
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).fault, "bearing");
  const alerts = await waitFor("an anomaly alert", async () => {
    const body = await (await app.request("/api/v1/alerts")).json();
    return body.alerts.length > 0 && body.alerts;
  });
  assert.equal(alerts[0].module, "anomaly");
  assert.equal(alerts[0].severity, "critical");
  const anomaly = await (await app.request("/api/v1/modules/anomaly")).json();
  assert.ok(anomaly.outputs.score > anomaly.outputs.threshold);
});

Deno.test("bad requests get a JSON error with the right status, never a 500", async (t) => {
  await using runtime = await demoRuntime();
  const app = createApp(apiPorts(runtime));
  const cases: [string, string, RequestInit | undefined, number, string][] = [
    ["an unknown module", "/api/v1/modules/nope", undefined, 404, "module_unknown"],
    ["an unknown route", "/api/v1/nothing", undefined, 404, "not_found"],
    [
      "malformed JSON",
      "/api/v1/sim/sensors/vibration_1/fault",
      { method: "POST", body: "{" },
      400,
      "bad_request",
    ],
    [
      "a JSON array",
      "/api/v1/sim/sensors/vibration_1/fault",
      { method: "POST", body: "[]" },
      400,
      "bad_request",
    ],
    [
      "an unknown fault",
      "/api/v1/sim/sensors/vibration_1/fault",
      {
        method: "POST",
        body: JSON.stringify({ fault: "fire" }),
      },
      400,
      "bad_request",
    ],
    [
      "a fault of the wrong kind",
      "/api/v1/sim/sensors/vibration_1/fault",
      {
        method: "POST",
        body: JSON.stringify({ fault: "overheat" }),
      },
      400,
      "fault_not_applicable",
    ],
    [
      "an unknown sensor",
      "/api/v1/sim/sensors/nope/fault",
      {
        method: "POST",
        body: JSON.stringify({ fault: "none" }),
      },
      404,
      "sensor_unknown",
    ],
    ["a bad alerts cursor", "/api/v1/alerts?after=-1", undefined, 400, "bad_request"],
    [
      "an unknown GPIO pin",
      "/api/v1/sim/gpio/9999",
      { method: "POST", body: JSON.stringify({ value: 1 }) },
      404,
      "pin_unknown",
    ],
    [
      "a pin that is no number",
      "/api/v1/sim/gpio/x",
      { method: "POST", body: '{"value":1}' },
      404,
      "pin_unknown",
    ],
    ["starting a running module", "/api/v1/modules/fft/start", { method: "POST" }, 409, "module_state"],
  ];
  for (const [what, path, init, status, code] of cases) {
    await t.step(what, async () => {
      const res = await app.request(path, init);
      assert.equal(res.status, status);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.equal(body.error.code, code);
      assert.equal(typeof body.error.message, "string");
    });
  }
});

Deno.test("stop, start and restart through the API change the module's state", async () => {
  await using runtime = await demoRuntime();
  const app = createApp(apiPorts(runtime));
  const stopped = await (await app.request("/api/v1/modules/temperature/stop", { method: "POST" })).json();
  assert.equal(stopped.state, "stopped");
  assert.equal((await (await app.request("/health")).json()).modules.stopped, 1);
  const started = await (await app.request("/api/v1/modules/temperature/start", { method: "POST" })).json();
  assert.equal(started.state, "running");
  const restarted = await (await app.request("/api/v1/modules/temperature/restart", { method: "POST" }))
    .json();
  assert.equal(restarted.state, "running");
  assert.equal(restarted.restarts, 1);
});

Deno.test("executors run with no Deno permissions at all, even when the runtime has them", async () => {
  // This test process itself may read, write, use the network and run programs.
  assert.equal((await Deno.permissions.query({ name: "read" })).state, "granted");
  await using runtime = await demoRuntime();
  const app = createApp(apiPorts(runtime));
  const { executors } = await (await app.request("/api/v1/executors")).json();
  assert.deepEqual(
    executors.map((e: { name: string; modules: string[] }) => [e.name, e.modules]).sort(),
    [["normal", ["fft", "anomaly", "temperature", "aggregator"]], ["realtime", ["safety"]]],
  );
  for (const executor of executors) {
    const { read_probe, ...states } = executor.permissions;
    assert.equal(read_probe, "NotCapable", "reading a file inside the executor is refused by Deno");
    for (const [name, state] of Object.entries(states)) {
      assert.notEqual(state, "granted", `${executor.name} executor permission "${name}"`);
    }
    assert.equal(Object.keys(states).length, 8);
  }
});
