import assert from "node:assert/strict";
// Tests may reach into runtime/: the helper only produces text, and the runtime's parser must accept it.
import { covers, matchesResource, parseCapability } from "../../runtime/capabilities.ts";
import { modbusCapability, modbusResource } from "./capability.ts";

Deno.test("a point's capability names every register it touches", () => {
  assert.equal(
    modbusCapability("read", "plc1", { table: "hr", address: 100, type: "float32" }),
    "read:modbus:plc1/hr/100-101",
  );
  assert.equal(
    modbusCapability("read", "plc1", { table: "ir", address: 7, type: "int16" }),
    "read:modbus:plc1/ir/7",
  );
  assert.equal(
    modbusCapability("write", "plc1", { table: "co", address: 0, type: "bool" }),
    "write:modbus:plc1/co/0",
  );
  assert.equal(
    modbusResource("plc-2.line_1", { table: "di", address: 65535, type: "bool" }),
    "plc-2.line_1/di/65535",
  );
  assert.throws(
    () => modbusCapability("write", "plc1", { table: "ir", address: 0, type: "uint16" }),
    TypeError,
  );
  assert.throws(() => modbusResource("plc1", { table: "hr", address: 65535, type: "uint32" }), RangeError);
});

Deno.test("the runtime parses the capabilities and refuses a point outside the granted range", () => {
  const grant = parseCapability("read:modbus:plc1/hr/100-199");
  const check = (address: number, type: "uint16" | "float32", table: "hr" | "ir" = "hr") =>
    covers(grant, parseCapability(modbusCapability("read", "plc1", { table, address, type })));
  assert.equal(check(100, "float32"), true);
  assert.equal(check(198, "float32"), true);
  assert.equal(check(199, "uint16"), true);
  assert.equal(check(199, "float32"), false, "a float32 at 199 also reads 200");
  assert.equal(check(99, "uint16"), false);
  assert.equal(check(150, "uint16", "ir"), false, "another table");
  assert.equal(
    covers(
      grant,
      parseCapability(modbusCapability("read", "plc2", { table: "hr", address: 150, type: "uint16" })),
    ),
    false,
    "another device",
  );
  const write = parseCapability(
    modbusCapability("write", "plc1", { table: "hr", address: 150, type: "uint16" }),
  );
  assert.equal(covers(grant, write), false, "a read grant does not allow a write");
  assert.equal(
    matchesResource(grant, modbusResource("plc1", { table: "hr", address: 120, type: "float32" })),
    true,
  );
  assert.equal(
    matchesResource(grant, modbusResource("plc1", { table: "hr", address: 199, type: "float32" })),
    false,
  );
  assert.equal(covers(parseCapability("read:modbus:plc1/*"), write), false);
  assert.equal(covers(parseCapability("write:modbus:plc1/hr/*"), write), true);
});
