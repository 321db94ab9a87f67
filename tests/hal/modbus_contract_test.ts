/**
 * The Modbus client contract (`hal/modbus/_contract.ts`) run against the TCP client and the RTU client, and
 * the point connector contract (`hal/_contract.ts`) run against the Modbus connector on both transports, each
 * with Debian's libmodbus in another process (`_modbus_server.ts`); RTU over a pty pair joined by socat
 * (`_serial_line.ts`).
 */
import {
  createModbusConnector,
  createRtuClient,
  createTcpClient,
  ModbusDeviceSchema,
  toModbusDevice,
} from "../../hal/modbus/mod.ts";
import { type ModbusClientHarness, runModbusContract } from "../../hal/modbus/_contract.ts";
import { type PointConnectorHarness, runPointConnectorContract } from "../../hal/_contract.ts";
import { freePort, type ModbusServer, startModbusRtuServer, startModbusServer } from "./_modbus_server.ts";
import { startPtyPair } from "./_serial_line.ts";

/** The unit id the RTU device answers as (not the default 1, so that it is really sent). */
const UNIT = 17;
/** The RTU line's settings (a pty ignores them; see `_serial_line.ts`). */
const LINE = { baud: 9600, parity: "none", dataBits: 8, stopBits: 1 } as const;

/** A pty pair and the RTU device on one end; the other end is `path`. */
async function rtuDevice(): Promise<{ path: string; dir: string; server: ModbusServer } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-rtu-" });
  const line = await startPtyPair(dir);
  const server = await startModbusRtuServer(line.a, { unitId: UNIT }).catch(async (err) => {
    await line.stop();
    throw err;
  });
  return {
    path: line.b,
    dir,
    server,
    async [Symbol.asyncDispose]() {
      await server.kill();
      await line.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

runModbusContract("TCP", async () => {
  const server = await startModbusServer();
  const nowhere = freePort();
  const tcp = (port: number, timeoutMs?: number) =>
    createTcpClient({
      device: "plc1",
      host: "127.0.0.1",
      port,
      ...(timeoutMs !== undefined && { timeoutMs }),
    });
  return {
    device: "plc1",
    client: (options = {}) => tcp(server.port, options.timeoutMs ?? 1000),
    unreachable: () => tcp(nowhere, 1000),
    pause: () => server.pause(),
    resume: () => server.resume(),
    [Symbol.asyncDispose]: () => server.kill(),
  } satisfies ModbusClientHarness;
});

runModbusContract("RTU", async () => {
  const device = await rtuDevice();
  const rtu = (path: string, timeoutMs = 1000) =>
    createRtuClient({ device: "drive1", line: { path, ...LINE }, unitId: UNIT, timeoutMs });
  return {
    device: "drive1",
    client: (options = {}) => rtu(device.path, options.timeoutMs),
    unreachable: () => rtu(`${device.dir}/no-such-tty`),
    pause: () => device.server.pause(),
    resume: () => device.server.resume(),
    [Symbol.asyncDispose]: () => device[Symbol.asyncDispose](),
  } satisfies ModbusClientHarness;
});

/** The contract's points on the libmodbus device: an input register, a coil, an address past its tables. */
const POINTS = new Map<string, Record<string, unknown>>([
  ["flow", { id: "flow", table: "ir", address: 0, poll_ms: 50 }],
  ["valve", { id: "valve", table: "co", address: 20, poll_ms: 50 }],
  ["missing", { id: "missing", table: "hr", address: 150, poll_ms: 50 }],
]);

/** The point connector harness of a device reached by `where` (the transport's manifest keys). */
function connectorHarness(
  where: (reachable: boolean) => Record<string, unknown>,
  dispose: () => PromiseLike<void>,
): PointConnectorHarness {
  return {
    kind: "modbus",
    name: "plc1",
    readOnly: "flow",
    writable: { id: "valve", values: [1, 0] },
    refused: "missing",
    connector: (points, { reachable = true } = {}) =>
      createModbusConnector(toModbusDevice(
        "plc1",
        ModbusDeviceSchema.parse({
          ...where(reachable),
          timeout_ms: 500,
          backoff_ms: 20,
          max_backoff_ms: 100,
          points: points.map((id) => POINTS.get(id)),
        }),
      )),
    [Symbol.asyncDispose]: dispose,
  };
}

runPointConnectorContract("Modbus TCP", async () => {
  const server = await startModbusServer();
  const nowhere = freePort();
  return connectorHarness(
    (reachable) => ({ transport: "tcp", host: "127.0.0.1", port: reachable ? server.port : nowhere }),
    () => server.kill(),
  );
});

runPointConnectorContract("Modbus RTU", async () => {
  const device = await rtuDevice();
  return connectorHarness(
    (reachable) => ({
      transport: "rtu",
      serial: {
        path: reachable ? device.path : `${device.dir}/no-such-tty`,
        baud: 9600,
        parity: "none",
        stop_bits: 1,
      },
      unit_id: UNIT,
    }),
    () => device[Symbol.asyncDispose](),
  );
});
