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
    backoff_ms: 500,
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
  await t.step("a transport other than tcp or rtu", () => {
    assert.deepEqual(issues({ ...base, transport: "rtx", points: [{ id: "a", table: "hr", address: 0 }] }), [
      `transport: expected a "transport" of "tcp" (the default) or "rtu"`,
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

const rtu = {
  transport: "rtu",
  serial: { path: "/dev/ttyUSB0" },
  points: [{ id: "rpm", table: "ir", address: 3 }],
};

Deno.test("transport defaults to tcp", () => {
  const config = ModbusDeviceSchema.parse({
    host: "10.0.0.5",
    points: [{ id: "a", table: "hr", address: 0 }],
  });
  assert.equal(config.transport, "tcp");
  assert.equal(toModbusDevice("plc1", config).transport, "tcp");
});

Deno.test("an RTU device gets the serial line spec's defaults: 19200 baud, even parity, 8 data bits, 1 stop bit", () => {
  const config = ModbusDeviceSchema.parse(rtu);
  assert.equal(config.transport, "rtu");
  assert.ok(config.transport === "rtu");
  assert.deepEqual(config.serial, {
    path: "/dev/ttyUSB0",
    baud: 19200,
    parity: "even",
    data_bits: 8,
    stop_bits: 1,
  });
  assert.equal(config.unit_id, 1);
  assert.equal(config.timeout_ms, 1000);
  const device = toModbusDevice("drive1", config);
  assert.ok(device.transport === "rtu");
  assert.deepEqual(device.serial, {
    path: "/dev/ttyUSB0",
    baud: 19200,
    parity: "even",
    dataBits: 8,
    stopBits: 1,
  });
  assert.equal(device.points[0]?.id, "rpm");
  assert.ok(!("host" in device));
});

Deno.test("an RTU line without parity defaults to 2 stop bits (an 11-bit character, §2.5.1), and takes 1 when given", () => {
  const none = ModbusDeviceSchema.parse({
    ...rtu,
    serial: { path: "/dev/ttyS1", baud: 9600, parity: "none" },
  });
  assert.ok(none.transport === "rtu");
  assert.equal(none.serial.stop_bits, 2);
  const given = ModbusDeviceSchema.parse({
    ...rtu,
    unit_id: 247,
    serial: { path: "/dev/ttyS1", baud: 115200, parity: "odd", data_bits: 8, stop_bits: 2 },
  });
  assert.ok(given.transport === "rtu");
  assert.deepEqual(given.serial, {
    path: "/dev/ttyS1",
    baud: 115200,
    parity: "odd",
    data_bits: 8,
    stop_bits: 2,
  });
  const n81 = ModbusDeviceSchema.parse({
    ...rtu,
    serial: { path: "/dev/ttyS1", parity: "none", stop_bits: 1 },
  });
  assert.ok(n81.transport === "rtu");
  assert.equal(n81.serial.stop_bits, 1);
});

Deno.test("RTU device configs that cannot work are refused naming the field", async (t) => {
  await t.step("each serial setting out of range", () => {
    const found = issues({
      ...rtu,
      serial: { path: "ttyUSB0", baud: 9601, parity: "mark", data_bits: 9, stop_bits: 3 },
    });
    assert.deepEqual(found.map((i) => i.split(":")[0]), [
      "serial.path",
      "serial.baud",
      "serial.parity",
      "serial.data_bits",
      "serial.stop_bits",
    ]);
    assert.match(found[0]!, /must be absolute, like \/dev\/ttyUSB0/);
    assert.match(found[1]!, /one of 1200, .*, 115200, 230400, got 9601/);
  });
  await t.step("7 data bits is Modbus ASCII, not RTU", () => {
    const [found] = issues({ ...rtu, serial: { path: "/dev/ttyUSB0", data_bits: 7 } });
    assert.match(found!, /^serial\.data_bits: Modbus RTU sends 8 data bits per character/);
  });
  await t.step("no serial line, an unknown serial key, a unit id outside 1..247", () => {
    assert.deepEqual(issues({ transport: "rtu", points: rtu.points }).map((i) => i.split(":")[0]), [
      "serial",
    ]);
    assert.deepEqual(
      issues({ ...rtu, serial: { path: "/dev/ttyUSB0", speed: 9600 } }).map((i) => i.split(":")[0]),
      ["serial"],
    );
    assert.deepEqual(issues({ ...rtu, unit_id: 0 }).map((i) => i.split(":")[0]), ["unit_id"]);
    assert.deepEqual(issues({ ...rtu, unit_id: 248 }).map((i) => i.split(":")[0]), ["unit_id"]);
  });
  await t.step(
    "a TCP key on an RTU device, and a serial line on a TCP device, say which transport they need",
    () => {
      const onRtu = issues({ ...rtu, host: "10.0.0.5" });
      assert.equal(onRtu.length, 1);
      assert.match(onRtu[0]!, /"host" is for a device on TCP \(transport: tcp\)/);
      const onTcp = issues({ host: "10.0.0.5", serial: { path: "/dev/ttyUSB0" }, points: rtu.points });
      assert.equal(onTcp.length, 1);
      assert.match(onTcp[0]!, /"serial" is for a device on a serial line \(transport: rtu\)/);
    },
  );
  await t.step("the checks every device gets: duplicate ids, backoff cap", () => {
    const found = issues({
      ...rtu,
      backoff_ms: 1000,
      max_backoff_ms: 500,
      points: [...rtu.points, { id: "rpm", table: "hr", address: 0 }],
    });
    assert.deepEqual(found.map((i) => i.split(":")[0]), ["points.1.id", "max_backoff_ms"]);
  });
});
