import assert from "node:assert/strict";
import { Connectors } from "./connectors.ts";
import { pointDriver } from "../../hal/drivers.ts";
import type { ConnectorMaker, PlannedDevice, PointDriver } from "../../hal/point_driver.ts";
import type { ConnectorStatus, PointConnector, Sample } from "../../hal/mod.ts";
import { ModbusDeviceSchema, toModbusDevice } from "../../hal/modbus/mod.ts";
import { OpcuaEndpointSchema, toOpcuaEndpoint } from "../../hal/opcua/config.ts";
import { waitUntil } from "../../hal/_wait.ts";
import type { InputValue } from "../executor/protocol.ts";

/** A connector that only records what it is asked, with samples the test sets. */
class RecordingConnector implements PointConnector {
  readonly samples = new Map<string, Sample>();
  started = 0;
  closed = 0;
  constructor(readonly name: string, readonly kind: string) {}
  start(): void {
    this.started++;
  }
  status(): ConnectorStatus {
    const state = this.closed > 0 ? "closed" : this.started > 0 ? "connected" : "connecting";
    return { name: this.name, kind: this.kind, state, lastError: null, errors: 0, reconnects: 0 };
  }
  getSample(pointId: string): Sample | null {
    return this.samples.get(pointId) ?? null;
  }
  listSamples(): IterableIterator<[string, Sample]> {
    return new Map(this.samples).entries();
  }
  write(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The registry's drivers with recording connectors: Modbus made at once, OPC UA after a load the test holds. */
function recordingDrivers() {
  const made: RecordingConnector[] = [];
  let release: () => void = () => {};
  const loaded = new Promise<void>((resolve) => release = resolve);
  let loads = 0;
  const maker = (kind: string): ConnectorMaker<PlannedDevice> => ({
    create(device) {
      const connector = new RecordingConnector(device.name, kind);
      made.push(connector);
      return connector;
    },
  });
  const drivers: PointDriver[] = [
    { ...pointDriver("modbus")!, connectors: maker("modbus") },
    {
      ...pointDriver("opcua")!,
      connectors: {
        async load() {
          loads++;
          await loaded;
          return maker("opcua");
        },
      },
    },
  ];
  return { drivers, made, release, loads: () => loads };
}

const plc = (name: string, pollMs = 50) =>
  toModbusDevice(
    name,
    ModbusDeviceSchema.parse({
      host: "plc",
      points: [{ id: "speed", table: "hr", address: 1, poll_ms: pollMs }],
    }),
  );
const line = (name: string) =>
  toOpcuaEndpoint(
    name,
    OpcuaEndpointSchema.parse({ url: "opc.tcp://ua:4840", nodes: [{ id: "temp", node_id: "ns=1;s=T" }] }),
    { dataDir: "/tmp/unused" },
  );

Deno.test("a driver's connectors are made at once, or loaded at start only when it has devices, and listed in the drivers' order", async (t) => {
  await t.step("with devices of both drivers", async () => {
    const r = recordingDrivers();
    r.release();
    await using connectors = new Connectors({
      devices: { modbus: [plc("plc1"), plc("plc2")], opcua: [line("line1")] },
      onInputs: () => {},
      drivers: r.drivers,
    });
    assert.deepEqual(connectors.list().map((s) => s.name), ["plc1", "plc2"], "before start: the eager ones");
    assert.equal(r.loads(), 0);
    await connectors.start();
    assert.equal(r.loads(), 1);
    assert.deepEqual(connectors.list().map((s) => [s.kind, s.name, s.state]), [
      ["modbus", "plc1", "connected"],
      ["modbus", "plc2", "connected"],
      ["opcua", "line1", "connected"],
    ]);
    assert.equal(connectors.driver("opcua:line1"), r.made[2]);
    assert.equal(connectors.driver("modbus:plc2"), r.made[1]);
    assert.equal(connectors.driver("modbus:line1"), null);
    assert.equal(connectors.driver("opcua"), null);
    await connectors.close();
    await connectors.close();
    assert.deepEqual(
      r.made.map((c) => c.closed),
      [1, 1, 1],
      "closed once each, however often close() is called",
    );
  });

  await t.step("without devices of the driver that loads, nothing is loaded", async () => {
    const r = recordingDrivers();
    await using connectors = new Connectors({
      devices: { modbus: [plc("plc1")], opcua: [] },
      onInputs: () => {},
      drivers: r.drivers,
    });
    await connectors.start();
    assert.equal(r.loads(), 0);
    assert.deepEqual(connectors.list().map((s) => s.name), ["plc1"]);
  });

  await t.step("closed while a driver loads: its connectors are never made, nor left running", async () => {
    const r = recordingDrivers();
    const connectors = new Connectors({
      devices: { modbus: [plc("plc1")], opcua: [line("line1")] },
      onInputs: () => {},
      drivers: r.drivers,
    });
    const starting = connectors.start();
    await connectors.close();
    r.release();
    await starting;
    assert.deepEqual(r.made.map((c) => [c.kind, c.started, c.closed]), [["modbus", 0, 1]]);
  });
});

Deno.test("the scan hands each changed sample on once, keyed by kind, device and point", async () => {
  const r = recordingDrivers();
  r.release();
  const batches: Record<string, InputValue>[] = [];
  await using connectors = new Connectors({
    devices: { modbus: [plc("plc1", 10)], opcua: [line("line1")] },
    onInputs: (values) => batches.push({ ...values }),
    drivers: r.drivers,
  });
  await connectors.start();
  const [modbus, opcua] = r.made;
  modbus!.samples.set("speed", { value: 1480, quality: "good", atMs: 1000 });
  opcua!.samples.set("temp", { value: 21.5, quality: "good", atMs: 1000 });
  await waitUntil("both samples", () => batches.length > 0);
  assert.deepEqual(batches, [{
    "modbus:plc1/speed": { value: 1480, quality: "good", atMs: 1000 },
    "opcua:line1/temp": { value: 21.5, quality: "good", atMs: 1000 },
  }]);
  modbus!.samples.set("speed", { value: 1480, quality: "uncertain", atMs: 1000 });
  await waitUntil("the quality change", () => batches.length > 1);
  assert.deepEqual(batches[1], { "modbus:plc1/speed": { value: 1480, quality: "uncertain", atMs: 1000 } });
});
