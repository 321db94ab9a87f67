/**
 * A module's point references (`inputs`, `actuators`: `<kind>:<device>/<point>`), checked through the point
 * driver registry: every message, as `kiln validate` prints it, for both drivers.
 */
import assert from "node:assert/strict";
import { issuesOf } from "./_testing.ts";
import { parseManifest } from "./mod.ts";
import { ACTUATOR_REF, INPUT_REF } from "./schema.ts";

const PLANT = `version: 1
device: { id: gw-1 }
policy:
  allow: ["read:modbus:*", "write:modbus:*", "read:opcua:*", "write:opcua:*", "read:sim:*"]
connectors:
  sim:
    temperature_1: { kind: temperature }
  modbus:
    plc1:
      host: plc
      points:
        - { id: speed, table: hr, address: 1 }
        - { id: flow, table: ir, address: 7 }
        - { id: valve, table: co, address: 3 }
  opcua:
    line1:
      url: "opc.tcp://ua:4840"
      nodes:
        - { id: temp, node_id: "ns=1;s=Temp" }
        - { id: setpoint, node_id: "ns=1;s=Setpoint", writable: true }
modules:
`;

const GRANTED = `  ok:
    wasm: ok.wasm
    capabilities: ["read:modbus:plc1/hr/1", "write:modbus:plc1/co/3", "read:opcua:line1/ns=1;s=Temp", "write:opcua:line1/ns=1;s=Setpoint"]
    schedule: { mode: periodic, period_us: 1000 }
    inputs: [modbus:plc1/speed, opcua:line1/temp]
    actuators: [modbus:plc1/valve, opcua:line1/setpoint]
`;

Deno.test("a module's points of each driver parse when they exist and it holds their capabilities", () => {
  const manifest = parseManifest(PLANT + GRANTED);
  assert.deepEqual(manifest.modules.ok?.inputs, ["modbus:plc1/speed", "opcua:line1/temp"]);
  assert.deepEqual(Object.keys(manifest.connectors), ["sim", "modbus", "opcua"]);
});

Deno.test("each point reference a driver refuses says why, naming what exists and the capability to add", () => {
  const text = PLANT + `  bad:
    wasm: bad.wasm
    schedule: { mode: periodic, period_us: 1000 }
    inputs: [modbus:plc1/speed, modbus:plc1/nope, modbus:plc9/speed, opcua:line1/temp, opcua:line1/nope, opcua:line9/temp, "bogus:x/y"]
    actuators: [modbus:plc1/flow, modbus:plc1/valve, opcua:line1/temp, opcua:line1/setpoint, opcua:line9/x, modbus:plc1, "sim:temperature_1"]
`;
  const capability = (verb: string, ref: string, needed: string) =>
    `module "bad" ${verb} "${ref}" without the capability: add "${needed}" to modules.bad.capabilities`;
  assert.deepEqual(issuesOf(text).map((i) => [i.path, i.message]), [
    ["modules.bad.inputs[0]", capability("reads input", "modbus:plc1/speed", "read:modbus:plc1/hr/1")],
    ["modules.bad.inputs[1]", `modbus device "plc1" has no point "nope" (points: speed, flow, valve)`],
    ["modules.bad.inputs[2]", `modbus device "plc9" is not defined under connectors.modbus (defined: plc1)`],
    ["modules.bad.inputs[3]", capability("reads input", "opcua:line1/temp", "read:opcua:line1/ns=1;s=Temp")],
    ["modules.bad.inputs[4]", `opcua endpoint "line1" has no node "nope" (nodes: temp, setpoint)`],
    [
      "modules.bad.inputs[5]",
      `opcua endpoint "line9" is not defined under connectors.opcua (defined: line1)`,
    ],
    [
      "modules.bad.inputs[6]",
      `an input must be "sim:<sensor id>", "modbus:<device>/<point id>" or "opcua:<endpoint>/<node id>", got "bogus:x/y"`,
    ],
    [
      "modules.bad.actuators[0]",
      `"modbus:plc1/flow" is read-only (ir): only coils and holding registers can be driven`,
    ],
    ["modules.bad.actuators[1]", capability("drives", "modbus:plc1/valve", "write:modbus:plc1/co/3")],
    [
      "modules.bad.actuators[2]",
      `"opcua:line1/temp" is not writable: mark it writable: true under its endpoint`,
    ],
    [
      "modules.bad.actuators[3]",
      capability("drives", "opcua:line1/setpoint", "write:opcua:line1/ns=1;s=Setpoint"),
    ],
    [
      "modules.bad.actuators[4]",
      `opcua endpoint "line9" is not defined under connectors.opcua (defined: line1)`,
    ],
    [
      "modules.bad.actuators[5]",
      `an actuator must be "modbus:<device>/<point id>" or "opcua:<endpoint>/<node id>", got "modbus:plc1"`,
    ],
    ["modules.bad.actuators[5]", `modbus device "plc1" has no point "" (points: speed, flow, valve)`],
    [
      "modules.bad.actuators[6]",
      `an actuator must be "modbus:<device>/<point id>" or "opcua:<endpoint>/<node id>", got "sim:temperature_1"`,
    ],
  ]);
});

Deno.test("a reference to a driver with no devices configured says none is defined", () => {
  const text = PLANT.replace(/ {2}opcua:\n[\s\S]*$/, "modules:\n") + GRANTED;
  assert.deepEqual(issuesOf(text).map((i) => [i.path, i.message]), [
    ["modules.ok.inputs[1]", `opcua endpoint "line1" is not defined under connectors.opcua`],
    ["modules.ok.actuators[1]", `opcua endpoint "line1" is not defined under connectors.opcua`],
  ]);
});

Deno.test("a device name that cannot name a connector is refused with the driver's words", () => {
  const text = PLANT.replace("    plc1:", "    PLC1:").replace("    line1:", "    Line1:");
  assert.deepEqual(
    issuesOf(text + GRANTED).filter((i) => i.path.startsWith("connectors")).map((i) => i.message),
    [
      `a modbus device name must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
      `a opcua endpoint name must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
    ],
  );
});

Deno.test("the reference patterns accept each driver's points and a sensor as an input, and nothing else", () => {
  for (const ref of ["sim:t1", "modbus:plc1/speed", "opcua:line_1/temp-2"]) {
    assert.ok(INPUT_REF.test(ref), ref);
  }
  for (const ref of ["modbus:plc1/valve", "opcua:line1/setpoint"]) assert.ok(ACTUATOR_REF.test(ref), ref);
  for (const ref of ["modbus:plc1", "serial:x/y", "sim:a/b", "modbus:Plc1/x", "opcua:l/x/y", "xmodbus:p/x"]) {
    assert.ok(!INPUT_REF.test(ref), ref);
  }
  assert.ok(!ACTUATOR_REF.test("sim:t1"));
});
