/**
 * Modbus RTU through the runtime: a module reads a libmodbus device on a serial line (a pty pair joined by
 * socat, not real RS-485) as `kiln.input` values, sees them go stale when the device dies and come back,
 * drives a coil, is refused a write outside its grant; and `kiln run`, narrowed to its configuration, may
 * run `stty` and `dd` for the line and nothing else.
 */
import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { ModbusDeviceSchema, toModbusDevice } from "../../hal/modbus/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { getJson, KILN_FLAGS, startKiln } from "../_process.ts";
import { startModbusRtuServer } from "./_modbus_server.ts";
import { startPtyPair } from "./_serial_line.ts";
import { DRIVER, READER } from "./_modbus_modules.ts";

const UNIT = 5;

function rtuDevice(path: string, points: unknown[]) {
  return toModbusDevice(
    "drive1",
    ModbusDeviceSchema.parse({
      transport: "rtu",
      serial: { path, baud: 19200, parity: "none", stop_bits: 2 },
      unit_id: UNIT,
      timeout_ms: 300,
      backoff_ms: 50,
      max_backoff_ms: 200,
      points,
    }),
  );
}

Deno.test("RTU: a module reads a device's registers as inputs, scaled, sees them go stale when it dies, and good again when it is back", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  let server = await startModbusRtuServer(line.a, { unitId: UNIT, baud: 19200, stopBits: 2 });
  try {
    const plan = deploymentPlan([
      modulePlan({
        name: "reader",
        wasm: await writeFixture(dir, "reader.wasm", wat(READER)),
        capabilities: ["read:modbus:drive1/hr/0", "read:modbus:drive1/ir/0"],
        schedule: { mode: "periodic", periodUs: 20_000, priority: 50 },
        inputs: ["modbus:drive1/pressure", "modbus:drive1/speed"],
      }),
    ]);
    plan.modbus = [rtuDevice(line.b, [
      { id: "pressure", table: "hr", address: 0, type: "int16", poll_ms: 50, stale_ms: 200 },
      { id: "speed", table: "ir", address: 0, type: "uint16", scale: 0.1, poll_ms: 50, stale_ms: 200 },
    ])];
    await using rt = await createRuntime({ plan, version: "test", log: () => {} });
    await rt.start();
    const out = () => rt.getModule("reader")!.outputs;
    const status = () => rt.listConnectors().find((c) => c.name === "drive1")!;
    await waitFor("good values", () => out().q0 === 0 && out().q1 === 0);
    assert.equal(out().v0, -1234);
    assert.equal(out().v1, 100); // 1000 raw, scale 0.1
    assert.equal(status().kind, "modbus");
    assert.equal(status().state, "connected");

    await server.kill();
    await waitFor("stale values", () => out().q0 === 2 && out().q1 === 2, 5_000);
    assert.equal(out().v0, -1234, "the last value is kept, never invented");
    await waitFor("reconnecting", () => status().state === "reconnecting");
    assert.ok(status().errors >= 1);
    assert.ok(status().lastError);

    server = await startModbusRtuServer(line.a, { unitId: UNIT, baud: 19200, stopBits: 2 });
    await waitFor("good again", () => out().q0 === 0 && out().q1 === 0, 5_000);
    assert.equal(out().v0, -1234);
  } finally {
    await server.kill();
  }
});

Deno.test("RTU: a module drives a coil through kiln.actuate; a write outside its grant is refused and never reaches the line", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using server = await startModbusRtuServer(line.a, { unitId: UNIT, baud: 19200, stopBits: 2 });
  const plan = deploymentPlan([
    modulePlan({
      name: "driver",
      wasm: await writeFixture(dir, "driver.wasm", wat(DRIVER)),
      capabilities: ["write:modbus:drive1/co/7"], // not hr/30
      schedule: { mode: "event", trigger: "api", priority: 90 },
      actuators: ["modbus:drive1/valve", "modbus:drive1/setpoint"],
    }),
  ]);
  plan.modbus = [rtuDevice(line.b, [
    { id: "valve", table: "co", address: 7, poll_ms: 50 },
    { id: "setpoint", table: "hr", address: 30, type: "uint16", poll_ms: 50 },
  ])];
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  await waitFor(
    "the line open",
    () => rt.listConnectors().find((c) => c.name === "drive1")?.state === "connected",
  );
  rt.triggerEvent("driver", Uint8Array.of(1));
  await server.waitForWrite("WRITE co 7 1");
  const m = await waitFor("the write's result", () => {
    const s = rt.getModule("driver")!;
    return s.actuators[0]?.last_result === "ok" && s.outputs.rc1 !== undefined && s;
  });
  assert.equal(m.outputs.rc0, 0);
  assert.equal(m.outputs.rc1, -3, "KILN_EDENIED for the register outside the grant");
  assert.deepEqual(
    m.actuators.map((a) => [a.id, a.writes, a.failures, a.last_value]),
    [["modbus:drive1/valve", 1, 0, 1], ["modbus:drive1/setpoint", 0, 0, null]],
  );
  assert.ok(
    !server.writes.some((w) => w.startsWith("WRITE hr 30")),
    "the refused write never reached the line",
  );
  assert.ok(m.denials >= 1);
});

interface Sandbox {
  process: {
    narrowed: boolean;
    grants: { read: string[]; write: string[]; net: string[]; run?: string[] } | null;
    probes: Record<string, string>;
  };
}

Deno.test("RTU: kiln run narrowed to an RTU device may run stty and dd, no other program, and reads the line", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT, baud: 19200, stopBits: 2 });
  await Deno.writeFile(`${dir}/reader.wasm`, wat(READER));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw }
policy: { allow: ["read:modbus:drive1/hr/0-99"] }
connectors:
  modbus:
    drive1:
      transport: rtu
      serial: { path: ${line.b}, baud: 19200, parity: none, stop_bits: 2 }
      unit_id: ${UNIT}
      timeout_ms: 500
      points:
        - { id: pressure, table: hr, address: 0, type: int16, poll_ms: 100 }
        - { id: speed, table: hr, address: 1, poll_ms: 100 }
modules:
  reader:
    wasm: reader.wasm
    capabilities: ["read:modbus:drive1/hr/0-1"]
    schedule: { mode: periodic, period_us: 50000 }
    inputs: [modbus:drive1/pressure, modbus:drive1/speed]
`,
  );
  await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`], {
    flags: [...KILN_FLAGS, "--allow-run"],
  });
  const s = await getJson<Sandbox>(`${kiln.base}/api/v1/sandbox`);
  assert.equal(s.process.narrowed, true);
  assert.deepEqual(s.process.grants?.run, ["stty", "dd"]);
  assert.ok(!s.process.grants!.read.some((p) => p.startsWith("/dev")), "nothing under /dev is granted");
  assert.notEqual(s.process.probes.run, "granted", "running any other program is refused");
  const outputs = await waitFor("the device's values in the module", async () => {
    const m = await getJson<{ outputs: Record<string, number> }>(`${kiln.base}/api/v1/modules/reader`);
    return m.outputs.q0 === 0 && m.outputs.q1 === 0 && m.outputs;
  });
  assert.equal(outputs.v0, -1234);
  assert.equal(outputs.v1, 54321);
  const { connectors } = await getJson<{ connectors: { name: string; state: string; errors: number }[] }>(
    `${kiln.base}/api/v1/connectors`,
  );
  const drive = connectors.find((c) => c.name === "drive1");
  assert.deepEqual([drive?.state, drive?.errors], ["connected", 0]);
  assert.equal(await kiln.stop(), 0);
});
