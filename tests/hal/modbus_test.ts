/**
 * The Modbus connector against real servers in other processes: Debian's libmodbus (see
 * `_modbus_server.ts` for its preset values) and a socket that answers with garbage.
 */
import assert from "node:assert/strict";
import {
  createModbusConnector,
  createTcpClient,
  modbusCapability,
  type ModbusConnector,
  type ModbusDevice,
  ModbusDeviceSchema,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusTimeoutError,
  toModbusDevice,
} from "../../hal/modbus/mod.ts";
import { covers, parseCapability } from "../../runtime/capabilities.ts";
import { waitFor } from "../_helpers.ts";
import { freePort, startGarbageServer, startModbusServer } from "./_modbus_server.ts";

/** A device on 127.0.0.1:`port` through the manifest schema, fast timings for tests. */
function device(port: number, points: unknown[], over: Record<string, unknown> = {}): ModbusDevice {
  return toModbusDevice(
    "plc1",
    ModbusDeviceSchema.parse({
      transport: "tcp",
      host: "127.0.0.1",
      port,
      timeout_ms: 500,
      backoff_ms: 20,
      max_backoff_ms: 100,
      points,
      ...over,
    }),
  );
}

function value(connector: ModbusConnector, id: string): number | undefined {
  return connector.getSample(id)?.value;
}

Deno.test("polled values from a libmodbus server decode and scale correctly", async () => {
  await using server = await startModbusServer();
  const poll_ms = 50;
  const plant = device(server.port, [
    { id: "int16_negative", table: "hr", address: 0, type: "int16", poll_ms },
    { id: "uint16", table: "hr", address: 1, type: "uint16", poll_ms },
    { id: "int32_abcd", table: "hr", address: 2, type: "int32", poll_ms },
    { id: "int32_cdab", table: "hr", address: 4, type: "int32", word_order: "little", poll_ms },
    { id: "float32_abcd", table: "hr", address: 6, type: "float32", poll_ms },
    {
      id: "float32_dcba",
      table: "hr",
      address: 8,
      type: "float32",
      byte_order: "little",
      word_order: "little",
      poll_ms,
    },
    { id: "uint32", table: "hr", address: 10, type: "uint32", poll_ms },
    { id: "tenths", table: "hr", address: 12, type: "int16", scale: 0.1, poll_ms },
    { id: "byte_swapped", table: "hr", address: 13, byte_order: "little", poll_ms },
    { id: "float32_badc", table: "hr", address: 14, type: "float32", byte_order: "little", poll_ms },
    { id: "float32_cdab", table: "hr", address: 16, type: "float32", word_order: "little", poll_ms },
    { id: "flow", table: "ir", address: 0, scale: 0.5, offset: -100, poll_ms },
    { id: "ir_int16", table: "ir", address: 1, type: "int16", poll_ms },
    { id: "ir_float32", table: "ir", address: 2, type: "float32", poll_ms },
    ...[0, 1, 2, 3, 4, 5].map((address) => ({ id: `coil_${address}`, table: "co", address, poll_ms })),
    ...[0, 1, 2, 3].map((address) => ({ id: `input_${address}`, table: "di", address, poll_ms: 100 })),
  ]);
  await using plc = createModbusConnector(plant);
  plc.start();
  await waitFor("every point read", () => [...plc.listSamples()].length === plant.points.length);
  const expected: Record<string, number> = {
    int16_negative: -1234,
    uint16: 54321,
    int32_abcd: -123456789,
    int32_cdab: -123456789,
    float32_abcd: Math.fround(123.456),
    float32_dcba: Math.fround(123.456),
    uint32: 3_000_000_000,
    byte_swapped: 0x1234,
    float32_badc: -0.5,
    float32_cdab: -9876.5,
    flow: 400, // 1000 * 0.5 - 100
    ir_int16: -50,
    ir_float32: 21.5,
    coil_0: 1,
    coil_1: 0,
    coil_2: 0,
    coil_3: 1,
    coil_4: 0,
    coil_5: 0,
    input_0: 0,
    input_1: 1,
    input_2: 0,
    input_3: 1,
  };
  for (const [id, want] of Object.entries(expected)) assert.equal(value(plc, id), want, id);
  assert.ok(Math.abs(value(plc, "tenths")! - 234.5) < 1e-9);
  for (const [id, sample] of plc.listSamples()) assert.equal(sample.quality, "good", id);
  assert.deepEqual(plc.status(), {
    name: "plc1",
    kind: "modbus",
    state: "connected",
    lastError: null,
    errors: 0,
    reconnects: 0,
    failures: 0,
    nextAttemptAtMs: null,
    backoffMs: 20,
    maxBackoffMs: 100,
    points: plant.points.map((p) => ({ id: p.id, state: "ok", error: null })),
  });
});

Deno.test("a coil write and register writes land on the server and are read back", async () => {
  await using server = await startModbusServer();
  await using plc = createModbusConnector(device(server.port, [
    { id: "valve", table: "co", address: 20, poll_ms: 50 },
    { id: "setpoint", table: "hr", address: 20, type: "int16", scale: 0.1, poll_ms: 50 },
    { id: "flow_limit", table: "hr", address: 22, type: "float32", word_order: "little", poll_ms: 50 },
    { id: "pressure", table: "ir", address: 0, poll_ms: 50 },
  ]));
  plc.start();
  await waitFor("connected", () => plc.status().state === "connected" && plc.getSample("valve"));
  assert.equal(value(plc, "valve"), 0);

  await plc.write("valve", 1);
  await server.waitForWrite("WRITE co 20 1");
  await plc.write("setpoint", 55.5);
  await server.waitForWrite("WRITE hr 20 555");
  await plc.write("flow_limit", 12.25); // 0x41440000, low word first
  await server.waitForWrite(`WRITE hr 22 ${0x0000} ${0x4144}`);

  await waitFor(
    "the writes read back",
    () =>
      value(plc, "valve") === 1 && Math.abs(value(plc, "setpoint")! - 55.5) < 1e-9 &&
      value(plc, "flow_limit") === 12.25,
  );

  await assert.rejects(plc.write("pressure", 1), TypeError); // an input register is read-only
  await assert.rejects(plc.write("nothing", 1), RangeError);
  await assert.rejects(plc.write("valve", 2), RangeError);
  await assert.rejects(plc.write("setpoint", 4000), RangeError); // 40000 tenths do not fit an int16
  assert.equal(plc.status().errors, 0);
});

// The client's side of exception responses, timeouts and close is the Modbus client contract's, and a
// refused point's effect on any connector the point connector contract's (`modbus_contract_test.ts`).
Deno.test("exception responses make the connector degraded: the refused points have no sample, writes to them fail with the codes", async () => {
  await using server = await startModbusServer();
  await using plc = createModbusConnector(device(server.port, [
    { id: "ok", table: "hr", address: 1, poll_ms: 50 },
    { id: "missing", table: "hr", address: 150, poll_ms: 50 },
    { id: "missing_coil", table: "co", address: 500, poll_ms: 50 },
  ]));
  plc.start();
  await waitFor("two refused reads", () => plc.status().errors >= 2 && plc.getSample("ok"));
  await waitFor("every point read once", () => plc.status().points?.every((p) => p.state !== "waiting"));
  const status = plc.status();
  assert.equal(status.state, "degraded");
  assert.match(status.lastError ?? "", /exception 2/);
  assert.deepEqual(status.points?.map((p) => [p.id, p.state]), [
    ["ok", "ok"],
    ["missing", "refused"],
    ["missing_coil", "refused"],
  ]);
  assert.equal(plc.getSample("missing"), null);
  assert.equal(plc.getSample("missing_coil"), null);
  assert.equal(plc.getSample("ok")?.quality, "good");
  const err = await plc.write("missing", 7).catch((e) => e);
  assert.ok(err instanceof ModbusExceptionError);
  assert.equal(err.functionCode, 6);
  assert.equal(err.exceptionCode, 2);
});

Deno.test("a PLC down at start, killed mid-poll and restarted: reconnect with backoff, never an invented value", async () => {
  const port = freePort();
  await using plc = createModbusConnector(device(port, [
    { id: "speed", table: "hr", address: 1, poll_ms: 30, stale_ms: 60 },
    { id: "alarm", table: "co", address: 3, poll_ms: 30, stale_ms: 60 },
  ]));
  plc.start();

  await waitFor("reconnecting", () => plc.status().state === "reconnecting" && plc.status().errors >= 2);
  assert.equal(plc.getSample("speed"), null, "no value before the first read");
  assert.equal(plc.status().lastError?.includes("Cannot connect"), true);

  let server = await startModbusServer(port);
  try {
    await waitFor(
      "connected with good values",
      () => plc.status().state === "connected" && plc.getSample("speed")?.quality === "good",
    );
    assert.equal(value(plc, "speed"), 54321);
    assert.equal(plc.status().reconnects, 0, "the first connect is not a reconnect");
    const good = plc.getSample("speed")!;
    const errorsBefore = plc.status().errors;

    await server.kill();
    await waitFor("reconnecting", () => plc.status().state === "reconnecting");
    const stale = await waitFor("bad quality", () => {
      const s = plc.getSample("speed");
      return s?.quality === "bad" && s;
    });
    assert.equal(stale.value, 54321, "the last value is kept");
    assert.ok(stale.atMs >= good.atMs, "atMs stays the time of the last good read");
    assert.equal(plc.getSample("alarm")?.value, 1);
    assert.ok(plc.status().errors > errorsBefore, "the lost connection and failed reconnects are counted");

    server = await startModbusServer(port);
    await waitFor(
      "good again",
      () =>
        plc.status().state === "connected" && plc.getSample("speed")?.quality === "good" &&
        plc.getSample("speed")!.atMs > stale.atMs,
    );
    assert.equal(plc.status().reconnects, 1);
  } finally {
    await server.kill();
  }
});

Deno.test("a PLC that stops answering times out, is reconnected, and recovers", async () => {
  await using server = await startModbusServer();
  await using plc = createModbusConnector(device(server.port, [
    { id: "speed", table: "hr", address: 1, poll_ms: 30, stale_ms: 0 },
  ], { timeout_ms: 150 }));
  plc.start();
  await waitFor("good", () => plc.getSample("speed")?.quality === "good");
  server.pause();
  try {
    await waitFor("a timeout", () => plc.status().lastError?.includes("timed out after 150ms"));
    await waitFor("bad quality", () => plc.getSample("speed")?.quality === "bad");
    assert.equal(value(plc, "speed"), 54321);
  } finally {
    server.resume();
  }
  const errors = plc.status().errors;
  assert.ok(errors >= 1);
  await waitFor("good again", () => plc.getSample("speed")?.quality === "good");
  assert.ok(plc.status().reconnects >= 1);
});

Deno.test("a PLC that sends garbage is counted as errors, and Kiln keeps running", async () => {
  await using garbage = startGarbageServer();
  await using plc = createModbusConnector(device(garbage.port, [
    { id: "speed", table: "hr", address: 1, poll_ms: 20 },
    { id: "alarm", table: "co", address: 3, poll_ms: 20 },
  ], { timeout_ms: 100 }));
  plc.start();
  await waitFor("three errors", () => plc.status().errors >= 3 && garbage.replies >= 3);
  assert.equal(plc.getSample("speed"), null, "garbage never becomes a value");
  assert.equal(plc.getSample("alarm"), null);
  assert.notEqual(plc.status().lastError, null);

  // Unframed garbage never matches the request's transaction id: the client waits, times out, reconnects.
  await using client = createTcpClient({
    device: "plc1",
    host: "127.0.0.1",
    port: garbage.port,
    timeoutMs: 100,
  });
  await client.connect();
  const err = await client.readRegisters("hr", 1, 1).catch((e) => e);
  assert.ok(err instanceof ModbusTimeoutError, String(err));
  assert.equal(client.connected, false);
});

Deno.test("a reply with the right header around a garbage PDU is a protocol error, and the link is renewed", async () => {
  await using garbage = startGarbageServer({ framed: true });
  await using client = createTcpClient({
    device: "plc1",
    host: "127.0.0.1",
    port: garbage.port,
    timeoutMs: 500,
  });
  for (let i = 0; i < 5; i++) {
    await client.connect();
    const err = await client.readRegisters("hr", 1, 1).catch((e) => e);
    assert.ok(err instanceof ModbusProtocolError, String(err));
    assert.equal(err.code, "modbus_protocol");
    assert.equal(client.connected, false, "a connection out of step is dropped");
  }
  await using plc = createModbusConnector(
    device(garbage.port, [{ id: "speed", table: "hr", address: 1, poll_ms: 20 }]),
  );
  plc.start();
  await waitFor("errors", () => plc.status().errors >= 3);
  assert.equal(plc.getSample("speed"), null);
  assert.match(plc.status().lastError ?? "", /invalid response/);
});

Deno.test("a point outside a module's granted register range is refused", () => {
  const granted = parseCapability("read:modbus:plc1/hr/0-99");
  const plc = device(502, [
    { id: "inside", table: "hr", address: 98, type: "float32" },
    { id: "straddles", table: "hr", address: 99, type: "float32" },
    { id: "outside", table: "hr", address: 100 },
    { id: "other_table", table: "ir", address: 5 },
  ]);
  const allowed = plc.points.filter((p) =>
    covers(granted, parseCapability(modbusCapability("read", "plc1", p)))
  );
  assert.deepEqual(allowed.map((p) => p.id), ["inside"]);
});
