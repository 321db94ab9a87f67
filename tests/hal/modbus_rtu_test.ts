/**
 * The Modbus connector on a serial line (RTU) against Debian's libmodbus in another process (see
 * `_modbus_server.ts` for its preset values), over a pty pair joined by socat (`_serial_line.ts`). Not real
 * RS-485 hardware: a pty moves bytes at memory speed and ignores the line settings.
 */
import assert from "node:assert/strict";
import {
  createModbusConnector,
  createRtuClient,
  ModbusConnectError,
  ModbusConnectionLostError,
  type ModbusConnector,
  type ModbusDevice,
  ModbusDeviceSchema,
  ModbusNotConnectedError,
  ModbusProtocolError,
  ModbusTimeoutError,
  toModbusDevice,
} from "../../hal/modbus/mod.ts";
import { waitFor } from "../_helpers.ts";
import { startModbusRtuServer } from "./_modbus_server.ts";
import { startPtyPair } from "./_serial_line.ts";

/** The unit id the servers answer as (not the default 1, so that it is really sent). */
const UNIT = 17;

/** A device on the serial line `path` through the manifest schema, fast timings for tests. */
function device(path: string, points: unknown[], over: Record<string, unknown> = {}): ModbusDevice {
  return toModbusDevice(
    "drive1",
    ModbusDeviceSchema.parse({
      transport: "rtu",
      serial: { path, baud: 9600, parity: "none", stop_bits: 1 },
      unit_id: UNIT,
      timeout_ms: 300,
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

const LINE = { baud: 9600, parity: "none", dataBits: 8, stopBits: 1 } as const;

Deno.test("RTU: polled values from a libmodbus device decode and scale correctly", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT });
  const poll_ms = 50;
  const plant = device(line.b, [
    { id: "int16_negative", table: "hr", address: 0, type: "int16", poll_ms },
    { id: "uint16", table: "hr", address: 1, type: "uint16", poll_ms },
    { id: "int32_cdab", table: "hr", address: 4, type: "int32", word_order: "little", poll_ms },
    { id: "float32_abcd", table: "hr", address: 6, type: "float32", poll_ms },
    { id: "uint32", table: "hr", address: 10, type: "uint32", poll_ms },
    { id: "tenths", table: "hr", address: 12, type: "int16", scale: 0.1, poll_ms },
    { id: "float32_badc", table: "hr", address: 14, type: "float32", byte_order: "little", poll_ms },
    { id: "flow", table: "ir", address: 0, scale: 0.5, offset: -100, poll_ms },
    { id: "ir_float32", table: "ir", address: 2, type: "float32", poll_ms },
    ...[0, 1, 2, 3].map((address) => ({ id: `coil_${address}`, table: "co", address, poll_ms })),
    ...[0, 1].map((address) => ({ id: `input_${address}`, table: "di", address, poll_ms: 100 })),
  ]);
  await using plc = createModbusConnector(plant);
  plc.start();
  await waitFor("every point read", () => [...plc.listSamples()].length === plant.points.length);
  const expected: Record<string, number> = {
    int16_negative: -1234,
    uint16: 54321,
    int32_cdab: -123456789,
    float32_abcd: Math.fround(123.456),
    uint32: 3_000_000_000,
    float32_badc: -0.5,
    flow: 400, // 1000 * 0.5 - 100
    ir_float32: 21.5,
    coil_0: 1,
    coil_1: 0,
    coil_2: 0,
    coil_3: 1,
    input_0: 0,
    input_1: 1,
  };
  for (const [id, want] of Object.entries(expected)) assert.equal(value(plc, id), want, id);
  assert.ok(Math.abs(value(plc, "tenths")! - 234.5) < 1e-9);
  for (const [id, sample] of plc.listSamples()) assert.equal(sample.quality, "good", id);
  assert.deepEqual(plc.status(), {
    name: "drive1",
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

Deno.test("RTU: a coil write and register writes land in the device and are read back", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using server = await startModbusRtuServer(line.a, { unitId: UNIT });
  await using plc = createModbusConnector(device(line.b, [
    { id: "valve", table: "co", address: 20, poll_ms: 50 },
    { id: "setpoint", table: "hr", address: 20, type: "int16", scale: 0.1, poll_ms: 50 },
    { id: "flow_limit", table: "hr", address: 22, type: "float32", word_order: "little", poll_ms: 50 },
  ]));
  plc.start();
  await waitFor("connected", () => plc.status().state === "connected" && plc.getSample("valve"));
  assert.equal(value(plc, "valve"), 0);
  await plc.write("valve", 1);
  await server.waitForWrite("WRITE co 20 1");
  await plc.write("setpoint", 55.5);
  await server.waitForWrite("WRITE hr 20 555");
  await plc.write("flow_limit", 12.25); // 0x41440000, low word first: function 16
  await server.waitForWrite(`WRITE hr 22 ${0x0000} ${0x4144}`);
  await waitFor(
    "the writes read back",
    () =>
      value(plc, "valve") === 1 && Math.abs(value(plc, "setpoint")! - 55.5) < 1e-9 &&
      value(plc, "flow_limit") === 12.25,
  );
  assert.equal(plc.status().errors, 0);
});

// Exception responses, timeouts and close on a frozen device are the Modbus client contract's
// (`modbus_contract_test.ts`); what is particular to a serial line stays here.
Deno.test("RTU: a request to a unit that is not on the line meets silence: a timeout that closes the line", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT });
  // Unit 18 is not on the line: libmodbus ignores the request (§2.2), nothing answers.
  await using other = createRtuClient({
    device: "drive2",
    line: { path: line.b, ...LINE },
    unitId: UNIT + 1,
    timeoutMs: 200,
  });
  await other.connect();
  const silent = await other.readRegisters("hr", 1, 1).catch((e) => e);
  assert.ok(silent instanceof ModbusTimeoutError, String(silent));
  assert.equal(silent.timeoutMs, 200);
  assert.equal(other.connected, false, "a timed-out line is closed, to start clean at the next connect");
  await assert.rejects(other.readRegisters("hr", 1, 1), ModbusNotConnectedError);
});

Deno.test("RTU: a device killed mid-poll leaves values uncertain then bad while Kiln reconnects, and recovers when it is back", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  let server = await startModbusRtuServer(line.a, { unitId: UNIT });
  await using plc = createModbusConnector(device(line.b, [
    { id: "speed", table: "hr", address: 1, poll_ms: 30, stale_ms: 60 },
    { id: "alarm", table: "co", address: 3, poll_ms: 30, stale_ms: 60 },
  ]));
  plc.start();
  try {
    await waitFor("good values", () => plc.getSample("speed")?.quality === "good" && plc.getSample("alarm"));
    const good = plc.getSample("speed")!;

    await server.kill();
    await waitFor("reconnecting", () => plc.status().state === "reconnecting");
    const stale = await waitFor("bad quality", () => {
      const s = plc.getSample("speed");
      return s?.quality === "bad" && s;
    });
    assert.equal(stale.value, 54321, "the last value is kept, never invented");
    assert.ok(stale.atMs >= good.atMs, "atMs stays the time of the last good read");
    assert.equal(plc.getSample("alarm")?.value, 1);
    assert.ok(plc.status().errors >= 1);
    assert.match(plc.status().lastError ?? "", /timed out after 300ms/);

    server = await startModbusRtuServer(line.a, { unitId: UNIT });
    await waitFor(
      "good again",
      () =>
        plc.status().state === "connected" && plc.getSample("speed")?.quality === "good" &&
        plc.getSample("speed")!.atMs > stale.atMs,
    );
    assert.ok(plc.status().reconnects >= 1);
  } finally {
    await server.kill();
  }
});

Deno.test("RTU: an adapter unplugged (the line hangs up, its device node goes away) is a connector error with backoff, and recovers when plugged back in", async () => {
  const dir = await Deno.makeTempDir();
  let line = await startPtyPair(dir);
  let server = await startModbusRtuServer(line.a, { unitId: UNIT });
  await using plc = createModbusConnector(device(line.b, [
    { id: "speed", table: "hr", address: 1, poll_ms: 30, stale_ms: 60 },
  ]));
  plc.start();
  try {
    await waitFor("good", () => plc.getSample("speed")?.quality === "good");
    await line.stop(); // both ptys hang up; the server's line too, so it exits
    assert.equal(await server.exited, 3);
    await waitFor(
      "the port lost and reopening refused",
      () => /No such file or directory/.test(plc.status().lastError ?? ""),
    );
    assert.equal(plc.status().state, "reconnecting");
    await waitFor("bad quality", () => plc.getSample("speed")?.quality === "bad");
    const errors = plc.status().errors;
    await waitFor("more failed reopenings, with backoff", () => plc.status().errors >= errors + 2);

    line = await startPtyPair(dir);
    server = await startModbusRtuServer(line.a, { unitId: UNIT });
    await waitFor(
      "good again",
      () => plc.status().state === "connected" && plc.getSample("speed")?.quality === "good",
    );
    assert.ok(plc.status().reconnects >= 1);
  } finally {
    await server.kill();
    await line.stop();
  }
});

Deno.test("RTU: garbage on the line is counted as errors, never a value, and Kiln keeps running", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT, garbage: true });
  await using client = createRtuClient({
    device: "drive1",
    line: { path: line.b, ...LINE },
    unitId: UNIT,
    timeoutMs: 200,
  });
  for (let i = 0; i < 3; i++) {
    await client.connect();
    const err = await client.readRegisters("hr", 1, 1).catch((e) => e);
    assert.ok(err instanceof ModbusProtocolError, String(err));
    assert.equal(err.code, "modbus_protocol");
    assert.match(err.message, /none of them a valid response/);
    assert.equal(client.connected, false, "a line out of step is closed and reopened");
  }
  await client.close();

  await using plc = createModbusConnector(device(line.b, [
    { id: "speed", table: "hr", address: 1, poll_ms: 20 },
    { id: "alarm", table: "co", address: 3, poll_ms: 20 },
  ], { timeout_ms: 150 }));
  plc.start();
  await waitFor("three errors", () => plc.status().errors >= 3);
  assert.equal(plc.getSample("speed"), null, "garbage never becomes a value");
  assert.equal(plc.getSample("alarm"), null);
  assert.match(plc.status().lastError ?? "", /invalid response/);
});

Deno.test("RTU: noise on the line before each reply is skipped, and the values are right", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT, noiseBytes: 7 });
  await using plc = createModbusConnector(device(line.b, [
    { id: "int32_cdab", table: "hr", address: 4, type: "int32", word_order: "little", poll_ms: 30 },
    { id: "coil_3", table: "co", address: 3, poll_ms: 30 },
  ]));
  plc.start();
  await waitFor("both read", () => plc.getSample("int32_cdab") && plc.getSample("coil_3"));
  assert.equal(value(plc, "int32_cdab"), -123456789);
  assert.equal(value(plc, "coil_3"), 1);
  assert.equal(plc.status().errors, 0);
});

Deno.test("RTU: a second device on the same serial line is refused when it connects, naming the first", async () => {
  const dir = await Deno.makeTempDir();
  await using line = await startPtyPair(dir);
  await using _server = await startModbusRtuServer(line.a, { unitId: UNIT });
  await using first = createRtuClient({ device: "drive1", line: { path: line.b, ...LINE }, unitId: UNIT });
  await using second = createRtuClient({ device: "drive2", line: { path: line.b, ...LINE }, unitId: 2 });
  await first.connect();
  const err = await second.connect().catch((e) => e);
  assert.ok(err instanceof ModbusConnectError, String(err));
  assert.match(err.message, /in use by device "drive1"/);
  await first.close();
  await second.connect(); // free again
  assert.equal(second.connected, true);
});

Deno.test("RTU: a line that hangs up under the client is a ModbusConnectionLostError with the reason", async () => {
  const dir = await Deno.makeTempDir();
  const line = await startPtyPair(dir);
  const server = await startModbusRtuServer(line.a, { unitId: UNIT });
  await using client = createRtuClient({ device: "drive1", line: { path: line.b, ...LINE }, unitId: UNIT });
  const lost: unknown[] = [];
  client.onDisconnect((cause) => lost.push(cause));
  await client.connect();
  await line.stop();
  await server.kill();
  const [cause] = await waitFor("the disconnect", () => lost.length > 0 && lost);
  assert.ok(cause instanceof ModbusConnectionLostError, String(cause));
  assert.equal(cause.address, line.b);
  // Stopping the pair both hangs the line up and removes its node: which the client sees first is timing.
  assert.match(cause.reason ?? "", /Input\/output error|hung up|No such file or directory/);
  assert.equal(client.connected, false);
});
