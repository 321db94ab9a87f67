import assert from "node:assert/strict";
import { devicesOf, POINT_DRIVERS, type PointDevices, pointDriver } from "./drivers.ts";
import { ModbusDeviceSchema, toModbusDevice } from "./modbus/mod.ts";
import { OpcuaEndpointSchema, toOpcuaEndpoint } from "./opcua/config.ts";

const modbus = pointDriver("modbus")!;
const opcua = pointDriver("opcua")!;

const PLC = ModbusDeviceSchema.parse({
  host: "plc",
  points: [
    { id: "speed", table: "hr", address: 100, type: "float32", poll_ms: 250 },
    { id: "flow", table: "ir", address: 7 },
    { id: "valve", table: "co", address: 5, poll_ms: 40 },
  ],
});
const LINE = OpcuaEndpointSchema.parse({
  url: "opc.tcp://ua:4840",
  username: "kiln",
  password_file: "secrets/pw",
  nodes: [
    { id: "temp", node_id: "ns=1;s=Temp", sampling_ms: 30 },
    { id: "setpoint", node_id: "ns=1;s=Setpoint", writable: true },
  ],
});
const OPTIONS = { manifestDir: "/etc/kiln", dataDir: "/var/kiln" };

Deno.test("the registry names each driver once by a lowercase kind, and nothing else is a driver", () => {
  const kinds = POINT_DRIVERS.map((d) => d.kind);
  assert.deepEqual(kinds, ["modbus", "opcua"]);
  for (const driver of POINT_DRIVERS) {
    assert.match(driver.kind, /^[a-z]+$/);
    assert.equal(pointDriver(driver.kind), driver);
  }
  for (const kind of ["sim", "mqtt", "gpio", "", "constructor", "__proto__", "Modbus"]) {
    assert.equal(pointDriver(kind), null, kind);
  }
});

Deno.test("a plan's devices of a driver are its own field's, and none when the field is absent", () => {
  const plc1 = toModbusDevice("plc1", PLC);
  const plan: Partial<PointDevices> = { modbus: [plc1] };
  assert.deepEqual(devicesOf(plan, modbus), [plc1]);
  assert.deepEqual(devicesOf(plan, opcua), []);
  assert.deepEqual(
    devicesOf(Object.create({ opcua: [plc1] }), opcua),
    [],
    "an inherited field is not the plan's",
  );
});

Deno.test("the Modbus driver names a point's capability, and refuses a write of a read-only table saying why", () => {
  const access = (point: unknown, operation: "read" | "write") =>
    modbus.pointAccess(point, { device: "plc1", operation });
  assert.deepEqual(access(PLC.points[0], "read"), { capability: "read:modbus:plc1/hr/100-101" });
  assert.deepEqual(access({ id: "v", table: "co", address: 5 }, "write"), {
    capability: "write:modbus:plc1/co/5",
  });
  assert.deepEqual(access({ id: "f", table: "ir", address: 7 }, "write"), {
    refusal: "is read-only (ir): only coils and holding registers can be driven",
  });
  assert.deepEqual(access({ id: "d", table: "di", address: 7 }, "read"), {
    capability: "read:modbus:plc1/di/7",
  });
  assert.equal(
    access({ id: "x", table: "hr", address: 65_535, type: "int32" }, "read"),
    null,
    "the schema reports it",
  );
  assert.equal(access("not a point", "read"), null);
});

Deno.test("the Modbus driver plans a device, its points, its fastest poll and the resource each write needs", () => {
  const plc1 = modbus.plan("plc1", PLC, OPTIONS);
  assert.deepEqual(plc1, toModbusDevice("plc1", PLC));
  assert.deepEqual(modbus.pointIds(plc1), ["speed", "flow", "valve"]);
  assert.equal(modbus.fastestMs(plc1), 40);
  assert.equal(modbus.writeResource({ device: "plc1", point: "valve" }, plc1), "plc1/co/5");
  assert.equal(modbus.writeResource({ device: "plc1", point: "nope" }, plc1), "plc1/unknown/nope");
  assert.equal(modbus.writeResource({ device: "plc9", point: "valve" }, null), "plc9/unknown/valve");
  assert.ok("create" in modbus.connectors, "Modbus connectors are made at once");
});

Deno.test("the OPC UA driver names a node's capability, and refuses a write of a node not marked writable", () => {
  const access = (node: unknown, operation: "read" | "write") =>
    opcua.pointAccess(node, { device: "line1", operation });
  assert.deepEqual(access({ id: "t", node_id: "ns=0;i=2258" }, "read"), {
    capability: "read:opcua:line1/i=2258",
  });
  assert.deepEqual(access(LINE.nodes[1], "write"), { capability: "write:opcua:line1/ns=1;s=Setpoint" });
  assert.deepEqual(access(LINE.nodes[0], "write"), {
    refusal: "is not writable: mark it writable: true under its endpoint",
  });
  assert.equal(access({ id: "t", node_id: "Temp" }, "read"), null, "the schema reports it");
});

Deno.test("the OPC UA driver plans an endpoint with its files resolved, and a write to a read-only node is never granted", () => {
  const planned = opcua.plan("line1", LINE, OPTIONS);
  const resolved = { ...LINE, password_file: "/etc/kiln/secrets/pw" };
  assert.deepEqual(planned, toOpcuaEndpoint("line1", resolved, { dataDir: "/var/kiln" }));
  assert.equal(toOpcuaEndpoint("line1", resolved, { dataDir: "/var/kiln" }).pkiDir, "/var/kiln/pki/opcua");
  assert.deepEqual(opcua.pointIds(planned), ["temp", "setpoint"]);
  assert.equal(opcua.fastestMs(planned), 30);
  assert.equal(opcua.writeResource({ device: "line1", point: "setpoint" }, planned), "line1/ns=1;s=Setpoint");
  assert.equal(opcua.writeResource({ device: "line1", point: "temp" }, planned), "line1/ns=0;s=__unknown__");
  assert.equal(opcua.writeResource({ device: "line9", point: "x" }, null), "line9/ns=0;s=__unknown__");
});

Deno.test("the OPC UA driver's connector loads on demand, from the source tree, and makes a connector", async () => {
  const source = opcua.connectors;
  assert.ok("load" in source, "its client loads when the connectors start, not when the registry does");
  const maker = await source.load();
  await using connector = maker.create(opcua.plan("line1", LINE, OPTIONS));
  assert.equal(connector.status().kind, "opcua");
  assert.equal(connector.status().state, "connecting");
});
