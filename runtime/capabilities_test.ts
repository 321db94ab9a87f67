import assert from "node:assert/strict";
import {
  type Capability,
  CapabilityError,
  covers,
  matchesResource,
  mqttFilterCovers,
  parseCapability,
  REALTIME_CAPABILITY,
} from "./capabilities.ts";

const cap = parseCapability;

function assertInvalid(text: string): CapabilityError {
  let caught: unknown;
  try {
    parseCapability(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CapabilityError, `expected "${text}" to be refused`);
  assert.equal(caught.code, "capability_invalid");
  assert.equal(caught.capability, text);
  assert.ok(caught.reason.length > 0);
  return caught;
}

Deno.test("parseCapability splits operation, type and resource into a structure", async (t) => {
  const cases: [string, Partial<Capability>][] = [
    ["read:sim:vibration_1", { operation: "read", type: "sim", id: "vibration_1" }],
    ["write:channel:vibration_features", { operation: "write", type: "channel", id: "vibration_features" }],
    ["read:sim:*", { type: "sim", id: null }],
    ["write:gpio:pin_8", { type: "gpio", pin: 8 }],
    ["read:gpio:pin_0", { type: "gpio", pin: 0 }],
    ["read:gpio:*", { type: "gpio", pin: null }],
    ["write:mqtt:plant/line1/alerts", { type: "mqtt", filter: "plant/line1/alerts" }],
    ["read:mqtt:*", { type: "mqtt", filter: "#" }],
    ["read:modbus:plc1/hr/0-99", { type: "modbus", device: "plc1", table: "hr", from: 0, to: 99 }],
    ["read:modbus:plc1/co/7", { type: "modbus", device: "plc1", table: "co", from: 7, to: 7 }],
    ["read:modbus:plc1/ir/65535", { type: "modbus", table: "ir", from: 65535, to: 65535 }],
    ["read:modbus:plc1/di/*", { type: "modbus", table: "di", from: 0, to: 65535 }],
    ["read:modbus:plc1/*", { type: "modbus", device: "plc1", table: null, from: 0, to: 65535 }],
    ["read:modbus:*", { type: "modbus", device: null, table: null }],
    ["read:opcua:plc1/ns=2;s=Temp", { type: "opcua", endpoint: "plc1", nodeId: "ns=2;s=Temp" }],
    ["read:opcua:plc1/ns=2;s=Line1/Temp", { type: "opcua", endpoint: "plc1", nodeId: "ns=2;s=Line1/Temp" }],
    ["read:opcua:plc1/ns=0;i=2258", { type: "opcua", nodeId: "i=2258" }],
    ["read:opcua:plc1/i=2258", { type: "opcua", nodeId: "i=2258" }],
    ["read:opcua:plc1/ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a", { type: "opcua", endpoint: "plc1" }],
    ["read:opcua:plc1/ns=1;b=M/RbKBsRVkePCePcx24oRA==", { type: "opcua", endpoint: "plc1" }],
    ["read:opcua:plc1/*", { type: "opcua", endpoint: "plc1", nodeId: null }],
    ["read:i2c:i2c-1/0x48", { type: "i2c", bus: "i2c-1", address: 0x48 }],
    ["read:i2c:i2c-1/72", { type: "i2c", bus: "i2c-1", address: 72 }],
    ["write:spi:spi0/1", { type: "spi", bus: "spi0", chipSelect: 1 }],
    ["read:*:*", { operation: "read", type: "*" }],
  ];
  for (const [text, expected] of cases) {
    await t.step(text, () => {
      const parsed = cap(text);
      assert.equal(parsed.text, text);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual((parsed as Record<string, unknown>)[key], value, `${text}: ${key}`);
      }
    });
  }
});

Deno.test("parseCapability refuses malformed capabilities with a reason", async (t) => {
  const cases = [
    "",
    "read",
    "read:sim",
    "read:sim:",
    "exec:sim:vibration_1",
    "call:sim:vibration_1",
    "Read:sim:vibration_1",
    "read:serial:ttyS0",
    "read:*:vibration_1",
    "read:sim:Vibration_1",
    "read:sim:vibration 1",
    "read:channel:../etc",
    "read:gpio:8",
    "read:gpio:pin_",
    "read:gpio:pin_08",
    "read:gpio:pin_-1",
    "read:gpio:pin_*",
    "read:modbus:plc1",
    "read:modbus:plc1/hr",
    "read:modbus:plc1/xx/1",
    "read:modbus:plc1/hr/65536",
    "read:modbus:plc1/hr/10-5",
    "read:modbus:plc1/hr/1-2-3",
    "read:modbus:plc1/hr/-1",
    "read:modbus:plc1/hr/40001-99999",
    "read:modbus:*/hr/1",
    "read:modbus:plc1/hr/1/2",
    "read:opcua:plc1",
    "read:opcua:plc1/Temp",
    "read:opcua:plc1/ns=2;x=Temp",
    "read:opcua:plc1/ns=2;i=abc",
    "read:opcua:plc1/ns=2;i=4294967296",
    "read:opcua:plc1/ns=70000;s=Temp",
    "read:opcua:plc1/ns=2;g=not-a-guid",
    "read:opcua:plc1/ns=2;s=",
    "read:opcua:PLC/ns=2;s=Temp",
    "read:i2c:i2c-1",
    "read:i2c:i2c-1/0x80",
    "read:i2c:i2c-1/200",
    "write:spi:spi0/256",
    "write:spi:spi0/cs0",
  ];
  for (const text of cases) {
    await t.step(JSON.stringify(text), () => void assertInvalid(text));
  }
});

Deno.test("parseCapability validates MQTT topic filters as MQTT 3.1.1 §4.7 does", async (t) => {
  const valid = [
    "#",
    "+",
    "+/+",
    "/",
    "/finance",
    "sport/#",
    "sport/+/player1",
    "sport/tennis/#",
    "a//b",
    "$SYS/#",
  ];
  for (const filter of valid) {
    await t.step(
      `accepts ${JSON.stringify(filter)}`,
      () => assert.equal(cap(`read:mqtt:${filter}`).type, "mqtt"),
    );
  }
  const invalid = [
    "sport/tennis#",
    "sport/tennis/#/ranking",
    "#/a",
    "sport+",
    "sport/+tennis",
    "a\u0000b",
    "plant/*",
  ];
  for (const filter of invalid) {
    await t.step(`refuses ${JSON.stringify(filter)}`, () => void assertInvalid(`read:mqtt:${filter}`));
  }
  await t.step(
    "refuses a filter longer than 65535 bytes",
    () => void assertInvalid(`read:mqtt:${"é".repeat(40000)}`),
  );
  await t.step("refuses a lone surrogate", () => void assertInvalid(`read:mqtt:a/\ud800`));
});

Deno.test("parseCapability always refuses filesystem capabilities", () => {
  for (const text of ["read:fs:/etc/passwd", "write:file:data.bin", "read:fs:*"]) {
    const err = assertInvalid(text);
    assert.match(err.reason, /filesystem/);
  }
});

Deno.test("parseCapability throws a TypeError for a non-string", () => {
  assert.throws(() => parseCapability(42 as unknown as string), TypeError);
});

Deno.test("covers requires the same operation", () => {
  assert.equal(covers(cap("read:sim:*"), cap("read:sim:vibration_1")), true);
  assert.equal(covers(cap("read:sim:*"), cap("write:sim:vibration_1")), false);
  assert.equal(covers(cap("write:channel:x"), cap("read:channel:x")), false);
});

Deno.test("covers compares ids exactly or through a wildcard", () => {
  assert.equal(covers(cap("read:sim:vibration_1"), cap("read:sim:vibration_1")), true);
  assert.equal(covers(cap("read:sim:vibration_1"), cap("read:sim:vibration_2")), false);
  assert.equal(covers(cap("read:sim:vibration_1"), cap("read:sim:*")), false);
  assert.equal(covers(cap("read:sim:*"), cap("read:sim:*")), true);
  assert.equal(covers(cap("read:sim:*"), cap("read:channel:x")), false);
  assert.equal(covers(cap("write:gpio:*"), cap("write:gpio:pin_8")), true);
  assert.equal(covers(cap("write:gpio:pin_3"), cap("write:gpio:pin_8")), false);
  assert.equal(covers(cap("write:gpio:pin_3"), cap("write:gpio:*")), false);
});

Deno.test("covers lets read:*:* cover every resource of the operation and nothing else cover it", () => {
  assert.equal(covers(cap("read:*:*"), cap("read:modbus:plc1/hr/1")), true);
  assert.equal(covers(cap("read:*:*"), cap("read:*:*")), true);
  assert.equal(covers(cap("read:*:*"), cap("write:gpio:pin_1")), false);
  assert.equal(covers(cap("read:sim:*"), cap("read:*:*")), false);
});

Deno.test("covers checks modbus ranges for containment", async (t) => {
  const cases: [string, string, boolean][] = [
    ["plc1/hr/0-99", "plc1/hr/0-99", true],
    ["plc1/hr/0-99", "plc1/hr/10-19", true],
    ["plc1/hr/0-99", "plc1/hr/99", true],
    ["plc1/hr/0-99", "plc1/hr/100", false],
    ["plc1/hr/0-99", "plc1/hr/90-109", false],
    ["plc1/hr/10-20", "plc1/hr/0-15", false],
    ["plc1/hr/0-99", "plc1/ir/10", false],
    ["plc1/hr/0-99", "plc2/hr/10", false],
    ["plc1/hr/*", "plc1/hr/0-65535", true],
    ["plc1/*", "plc1/co/5", true],
    ["plc1/*", "plc2/co/5", false],
    ["plc1/hr/*", "plc1/*", false],
    ["*", "plc9/di/0-65535", true],
    ["*", "plc9/*", true],
    ["plc1/*", "*", false],
    ["plc1/hr/0-65535", "plc1/*", false],
  ];
  for (const [granted, requested, expected] of cases) {
    await t.step(`${granted} ${expected ? "covers" : "does not cover"} ${requested}`, () => {
      assert.equal(covers(cap(`read:modbus:${granted}`), cap(`read:modbus:${requested}`)), expected);
    });
  }
});

Deno.test("covers checks MQTT filter containment", async (t) => {
  const cases: [string, string, boolean][] = [
    ["#", "a/b/c", true],
    ["#", "+/+", true],
    ["#", "#", true],
    ["#", "$SYS/broker", false],
    ["+/#", "$SYS/broker", false],
    ["$SYS/#", "$SYS/broker/uptime", true],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["a/#", "a/+/c", true],
    ["a/#", "a/#", true],
    ["a/#", "b/c", false],
    ["a/+", "a/b", true],
    ["a/+", "a/+", true],
    ["a/+", "a/#", false],
    ["a/+", "a", false],
    ["a/+", "a/b/c", false],
    ["a/b", "a/+", false],
    ["a/b", "a/b", true],
    ["a/b", "a/b/#", false],
    ["+/b", "a/b", true],
    ["+/b", "+/c", false],
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a/b/#", false],
    ["a//b", "a/+/b", false],
    ["a/+/b", "a//b", true],
    ["/+", "/finance", true],
    ["+", "/finance", false],
    ["*", "plant/line1", true],
  ];
  for (const [granted, requested, expected] of cases) {
    await t.step(`${granted} ${expected ? "covers" : "does not cover"} ${requested}`, () => {
      assert.equal(covers(cap(`write:mqtt:${granted}`), cap(`write:mqtt:${requested}`)), expected);
    });
  }
  await t.step("mqttFilterCovers is exported for filters without the capability wrapper", () => {
    assert.equal(mqttFilterCovers("sport/#", "sport/tennis/+"), true);
  });
});

Deno.test("covers compares OPC UA endpoints and node ids", () => {
  assert.equal(covers(cap("read:opcua:plc1/ns=2;s=Temp"), cap("read:opcua:plc1/ns=2;s=Temp")), true);
  assert.equal(covers(cap("read:opcua:plc1/ns=2;s=Temp"), cap("read:opcua:plc1/ns=2;s=Speed")), false);
  assert.equal(covers(cap("read:opcua:plc1/ns=2;s=Temp"), cap("read:opcua:plc2/ns=2;s=Temp")), false);
  assert.equal(covers(cap("read:opcua:plc1/i=85"), cap("read:opcua:plc1/ns=0;i=85")), true);
  assert.equal(covers(cap("read:opcua:plc1/*"), cap("read:opcua:plc1/ns=2;s=Temp")), true);
  assert.equal(covers(cap("read:opcua:plc1/*"), cap("read:opcua:plc2/ns=2;s=Temp")), false);
  assert.equal(covers(cap("read:opcua:*"), cap("read:opcua:plc2/*")), true);
  assert.equal(covers(cap("read:opcua:plc1/ns=2;s=Temp"), cap("read:opcua:plc1/*")), false);
});

Deno.test("covers compares i2c and spi buses and devices", () => {
  assert.equal(covers(cap("read:i2c:i2c-1/*"), cap("read:i2c:i2c-1/0x48")), true);
  assert.equal(covers(cap("read:i2c:i2c-1/0x48"), cap("read:i2c:i2c-1/72")), true);
  assert.equal(covers(cap("read:i2c:i2c-1/0x48"), cap("read:i2c:i2c-1/0x49")), false);
  assert.equal(covers(cap("read:i2c:i2c-1/*"), cap("read:i2c:i2c-2/0x48")), false);
  assert.equal(covers(cap("write:spi:*"), cap("write:spi:spi0/0")), true);
  assert.equal(covers(cap("write:spi:spi0/0"), cap("write:spi:spi0/1")), false);
  assert.equal(covers(cap("write:spi:spi0/*"), cap("write:spi:spi0/1")), true);
});

Deno.test("matchesResource checks a concrete resource at call time", async (t) => {
  await t.step("an MQTT topic name against a filter", () => {
    const granted = cap("write:mqtt:plant/+/alerts");
    assert.equal(matchesResource(granted, "plant/line1/alerts"), true);
    assert.equal(matchesResource(granted, "plant/line1/status"), false);
    assert.equal(matchesResource(cap("read:mqtt:#"), "$SYS/uptime"), false);
  });
  await t.step("a register or register range against a range", () => {
    const granted = cap("read:modbus:plc1/hr/100-199");
    assert.equal(matchesResource(granted, "plc1/hr/100"), true);
    assert.equal(matchesResource(granted, "plc1/hr/150-159"), true);
    assert.equal(matchesResource(granted, "plc1/hr/195-204"), false);
    assert.equal(matchesResource(granted, "plc1/ir/150"), false);
  });
  await t.step("ids and pins exactly or through a wildcard", () => {
    assert.equal(matchesResource(cap("read:sim:*"), "vibration_1"), true);
    assert.equal(matchesResource(cap("write:gpio:pin_8"), "pin_8"), true);
    assert.equal(matchesResource(cap("write:gpio:pin_8"), "pin_9"), false);
    assert.equal(matchesResource(cap("read:opcua:plc1/*"), "plc1/ns=2;s=Temp"), true);
    assert.equal(matchesResource(cap("read:*:*"), "anything"), true);
  });
  await t.step("patterns and malformed resources throw CapabilityError", () => {
    const granted = cap("write:mqtt:#");
    for (const resource of ["plant/+/alerts", "plant/#", "*"]) {
      assert.throws(() => matchesResource(granted, resource), CapabilityError);
    }
    assert.throws(() => matchesResource(cap("read:modbus:*"), "plc1/hr/70000"), CapabilityError);
    assert.throws(() => matchesResource(cap("read:modbus:*"), "plc1/*"), CapabilityError);
    assert.throws(() => matchesResource(cap("read:gpio:*"), "8"), CapabilityError);
  });
});

Deno.test("the realtime executor is a capability of its own: use:executor:realtime", async (t) => {
  await t.step("it parses, and only executors are used", () => {
    const parsed = cap(REALTIME_CAPABILITY);
    assert.deepEqual([parsed.operation, parsed.type], ["use", "executor"]);
    assert.equal((parsed as { executor?: unknown }).executor, "realtime");
    assert.equal((cap("use:executor:*") as { executor?: unknown }).executor, null);
    for (const text of ["use:sim:vibration_1", "read:executor:realtime", "write:executor:realtime"]) {
      assertInvalid(text);
    }
  });
  await t.step("the normal executor needs no grant, so none can be written", () => {
    assertInvalid("use:executor:normal");
    assertInvalid("use:executor:Realtime");
  });
  await t.step("a policy covers it by name or by pattern, never through read or write", () => {
    const wanted = cap(REALTIME_CAPABILITY);
    assert.ok(covers(cap("use:executor:realtime"), wanted));
    assert.ok(covers(cap("use:executor:*"), wanted));
    assert.ok(covers(cap("use:*:*"), wanted));
    assert.ok(!covers(cap("read:*:*"), wanted));
    assert.ok(!covers(cap("write:*:*"), wanted));
    assert.ok(!covers(wanted, cap("read:sim:vibration_1")));
  });
});
