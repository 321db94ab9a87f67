/**
 * Modbus through the runtime: a module reads a libmodbus server's registers as `kiln.input` values (scaled,
 * with quality and age), sees them turn stale when the PLC dies, and a manifest that reads a point outside
 * its grant is refused.
 */
import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { toModbusDevice } from "../../hal/modbus/mod.ts";
import { ModbusDeviceSchema } from "../../hal/modbus/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { startModbusServer } from "./_modbus_server.ts";
import { DRIVER, READER } from "./_modbus_modules.ts";

Deno.test("a module reads a PLC's registers as inputs, scaled, and sees them go stale when the PLC dies", async () => {
  await using plc = await startModbusServer();
  const dir = await Deno.makeTempDir();
  const device = toModbusDevice(
    "plc1",
    ModbusDeviceSchema.parse({
      transport: "tcp",
      host: "127.0.0.1",
      port: plc.port,
      timeout_ms: 300,
      backoff_ms: 50,
      max_backoff_ms: 200,
      points: [
        { id: "pressure", table: "hr", address: 0, type: "int16", poll_ms: 50, stale_ms: 200 },
        { id: "speed", table: "ir", address: 0, type: "uint16", scale: 0.1, poll_ms: 50, stale_ms: 200 },
      ],
    }),
  );
  const plan = deploymentPlan([
    modulePlan({
      name: "reader",
      wasm: await writeFixture(dir, "reader.wasm", wat(READER)),
      capabilities: ["read:modbus:plc1/hr/0", "read:modbus:plc1/ir/0"],
      schedule: { mode: "periodic", periodUs: 20_000, priority: 50 },
      inputs: ["modbus:plc1/pressure", "modbus:plc1/speed"],
    }),
  ]);
  plan.modbus = [device];
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  const out = () => rt.getModule("reader")!.outputs;
  await waitFor("good values", () => out().q0 === 0 && out().q1 === 0);
  assert.equal(out().v0, -1234);
  assert.equal(out().v1, 100); // 1000 raw, scale 0.1
  const plcStatus = rt.listConnectors().find((c) => c.name === "plc1")!;
  assert.equal(plcStatus.kind, "modbus");
  assert.equal(plcStatus.state, "connected");

  await plc.kill();
  // The last value is kept, never invented, and its quality falls to bad.
  await waitFor("stale values", () => out().q0 === 2 && out().q1 === 2, 5_000);
  assert.equal(out().v0, -1234);
  const down = rt.listConnectors().find((c) => c.name === "plc1")!;
  assert.equal(down.state, "reconnecting");
  assert.ok(down.errors >= 1);
  assert.ok(down.lastError);
});

Deno.test("a module drives a PLC coil through kiln.actuate; a write outside its grant is refused", async () => {
  await using plc = await startModbusServer();
  const dir = await Deno.makeTempDir();
  const device = toModbusDevice(
    "plc1",
    ModbusDeviceSchema.parse({
      transport: "tcp",
      host: "127.0.0.1",
      port: plc.port,
      timeout_ms: 500,
      points: [
        { id: "valve", table: "co", address: 7, poll_ms: 50 },
        { id: "setpoint", table: "hr", address: 30, type: "uint16", poll_ms: 50 },
      ],
    }),
  );
  const plan = deploymentPlan([
    modulePlan({
      name: "driver",
      wasm: await writeFixture(dir, "driver.wasm", wat(DRIVER)),
      capabilities: ["write:modbus:plc1/co/7"], // not hr/30
      schedule: { mode: "event", trigger: "api", priority: 90 },
      actuators: ["modbus:plc1/valve", "modbus:plc1/setpoint"],
    }),
  ]);
  plan.modbus = [device];
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  await waitFor(
    "the PLC link",
    () => rt.listConnectors().find((c) => c.name === "plc1")?.state === "connected",
  );
  rt.triggerEvent("driver", Uint8Array.of(1));
  await plc.waitForWrite("WRITE co 7 1");
  const m = await waitFor("the write's result", () => {
    const s = rt.getModule("driver")!;
    return s.actuators[0]?.last_result === "ok" && s.outputs.rc1 !== undefined && s;
  });
  assert.equal(m.outputs.rc0, 0);
  assert.equal(m.outputs.rc1, -3, "KILN_EDENIED for the register outside the grant");
  assert.deepEqual(
    m.actuators.map((a) => [a.id, a.writes, a.failures, a.last_value]),
    [["modbus:plc1/valve", 1, 0, 1], ["modbus:plc1/setpoint", 0, 0, null]],
  );
  assert.ok(!plc.writes.some((w) => w.startsWith("WRITE hr 30")), "the refused write never reached the PLC");
  assert.ok(m.denials >= 1);

  // With the PLC gone, a write fails, is counted, and the module carries on.
  await plc.kill();
  rt.triggerEvent("driver", Uint8Array.of(0));
  const failed = await waitFor("the failed write", () => {
    const s = rt.getModule("driver")!;
    return s.actuators[0]!.failures === 1 && s;
  }, 5_000);
  assert.notEqual(failed.actuators[0]!.last_result, "ok");
  assert.equal(failed.state, "running");
});

Deno.test("a manifest whose module reads a Modbus point outside its grant is refused, naming the capability", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/reader.wasm`, wat(READER));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw }
policy: { allow: ["read:modbus:plc1/hr/0-99"] }
connectors:
  modbus:
    plc1:
      transport: tcp
      host: 127.0.0.1
      points:
        - { id: pressure, table: hr, address: 0, type: int16 }
        - { id: flow, table: hr, address: 99, type: float32 }
        - { id: speed, table: ir, address: 5 }
modules:
  reader:
    wasm: reader.wasm
    capabilities: ["read:modbus:plc1/hr/0-99"]
    schedule: { mode: periodic, period_us: 20000 }
    inputs: [modbus:plc1/pressure, modbus:plc1/flow, modbus:plc1/nope, modbus:plc2/x]
    actuators: [modbus:plc1/speed]
`,
  );
  await assert.rejects(() => loadManifest(`${dir}/kiln.yaml`), (err: Error & { code?: string }) => {
    assert.equal(err.code, "manifest_invalid");
    // flow is a float32 at 99: it also takes register 100, outside the grant.
    assert.match(
      err.message,
      /inputs\[1\]: .*"modbus:plc1\/flow" without the capability: add "read:modbus:plc1\/hr\/99-100"/,
    );
    assert.match(err.message, /inputs\[2\]: .*has no point "nope"/);
    assert.match(err.message, /inputs\[3\]: .*modbus device "plc2" is not defined/);
    assert.doesNotMatch(err.message, /inputs\[0\]/);
    assert.match(err.message, /actuators\[0\]: "modbus:plc1\/speed" is read-only/);
    return true;
  });
});
