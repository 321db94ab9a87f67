import assert from "node:assert/strict";
import { ModbusDeviceSchema, toModbusDevice } from "./config.ts";

const base = { transport: "tcp", host: "10.0.0.5" };

function issues(input: unknown): string[] {
  const result = ModbusDeviceSchema.safeParse(input);
  assert.equal(result.success, false, "expected the config to be refused");
  return result.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

Deno.test("a device config gets every default, and its camelCase form carries them", () => {
  const config = ModbusDeviceSchema.parse({
    ...base,
    points: [
      { id: "speed", table: "hr", address: 100 },
      { id: "heater", table: "co", address: 3, poll_ms: 200 },
    ],
  });
  assert.deepEqual(config, {
    ...base,
    port: 502,
    unit_id: 1,
    timeout_ms: 1000,
    backoff_ms: 250,
    max_backoff_ms: 30_000,
    max_gap: 0,
    points: [
      {
        id: "speed",
        table: "hr",
        address: 100,
        type: "uint16",
        byte_order: "big",
        word_order: "big",
        scale: 1,
        offset: 0,
        poll_ms: 1000,
        stale_ms: 3000,
      },
      {
        id: "heater",
        table: "co",
        address: 3,
        type: "bool",
        byte_order: "big",
        word_order: "big",
        scale: 1,
        offset: 0,
        poll_ms: 200,
        stale_ms: 600,
      },
    ],
  });
  const device = toModbusDevice("plc1", config);
  assert.equal(device.name, "plc1");
  assert.equal(device.unitId, 1);
  assert.deepEqual(device.points[1], {
    id: "heater",
    table: "co",
    address: 3,
    type: "bool",
    byteOrder: "big",
    wordOrder: "big",
    scale: 1,
    offset: 0,
    pollMs: 200,
    staleMs: 600,
  });
});

Deno.test("device configs that cannot work are refused with the path of each problem", async (t) => {
  await t.step("RTU says it is not supported yet", () => {
    assert.deepEqual(issues({ ...base, transport: "rtu", points: [{ id: "a", table: "hr", address: 0 }] }), [
      "transport: Modbus RTU over a serial line is not supported yet (this version supports: tcp)",
    ]);
  });
  await t.step("types that do not fit their table, and register options on bits", () => {
    const found = issues({
      ...base,
      points: [
        { id: "a", table: "co", address: 0, type: "int16" },
        { id: "b", table: "hr", address: 0, type: "bool" },
        { id: "c", table: "di", address: 0, scale: 2 },
      ],
    });
    assert.deepEqual(found.map((i) => i.split(":")[0]), ["points.0.type", "points.1.type", "points.2.scale"]);
  });
  await t.step("a 32-bit value past address 65535, a zero scale, an unknown key, a duplicate id", () => {
    const found = issues({
      ...base,
      points: [
        { id: "a", table: "hr", address: 65535, type: "float32" },
        { id: "b", table: "hr", address: 0, scale: 0 },
        { id: "c", table: "hr", address: 0, wordorder: "little" },
        { id: "a", table: "ir", address: 0 },
      ],
    });
    assert.deepEqual(found.map((i) => i.split(":")[0]), [
      "points.0.address",
      "points.1.scale",
      "points.2",
      "points.3.id",
    ]);
  });
  await t.step("no points, a unit id past 255, a backoff cap below the backoff", () => {
    assert.deepEqual(issues({ ...base, points: [] }).map((i) => i.split(":")[0]), ["points"]);
    const found = issues({
      ...base,
      unit_id: 256,
      backoff_ms: 1000,
      max_backoff_ms: 500,
      points: [{ id: "a", table: "hr", address: 0 }],
    });
    assert.deepEqual(found.map((i) => i.split(":")[0]), ["unit_id", "max_backoff_ms"]);
  });
});
