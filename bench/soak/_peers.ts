/**
 * The gateway's peers in their own processes, each on a port picked free at start and kept across its
 * restarts (so the gateway reconnects to the same address): Mosquitto with persistence (the receiver's
 * session survives a broker restart), the libmodbus PLC and the node-opcua server of the integration tests,
 * started with the tests' own helpers. Taking a peer down and bringing it back is a fault's job.
 *
 * @module
 */
import { createMosquitto, type Mosquitto } from "../../tests/hal/_mosquitto.ts";
import { type ModbusServer, startModbusServer } from "../../tests/hal/_modbus_server.ts";
import { type OpcuaServer, startOpcuaServer } from "../../tests/hal/_opcua_server.ts";
import { bounded } from "./_procs.ts";

/** A peer that a fault takes down and brings back. */
export interface Peer {
  readonly name: string;
  readonly port: number;
  /** Whether it runs now. */
  readonly up: boolean;
  /** Takes it down: Mosquitto stops (SIGTERM), the PLC and the OPC UA server are killed (SIGKILL). */
  down(): Promise<void>;
  /** Starts it again on its port; resolves once it listens. */
  start(): Promise<void>;
}

/** The three peers. */
export interface Peers extends AsyncDisposable {
  readonly broker: Peer & { readonly url: string };
  readonly plc: Peer;
  readonly opcua: Peer;
}

/** How long a peer may take to stop, and to start (the OPC UA server's first start compiles node-opcua). */
const STOP_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 120_000;

/** Options of {@linkcode startPeers}. */
export interface PeersOptions {
  /** The longest each peer process may run (the soak's own bound): it is stopped then. */
  readonly lifetimeMs: number;
  /** Called when a peer does not stop in time: the harness then kills what it started. */
  readonly onStuck: () => void;
}

/**
 * Starts Mosquitto, the PLC and the OPC UA server under `dir`.
 *
 * @throws {Error} when one of them cannot start; those already started are stopped.
 */
export async function startPeers(dir: string, options: PeersOptions): Promise<Peers> {
  const { lifetimeMs, onStuck } = options;
  await Deno.mkdir(`${dir}/broker`, { recursive: true });
  const mosquitto: Mosquitto = await createMosquitto(`${dir}/broker`, { persistence: true, lifetimeMs });
  let brokerUp = false;
  const broker = {
    name: "mosquitto",
    port: mosquitto.port,
    url: mosquitto.url,
    get up() {
      return brokerUp;
    },
    async down() {
      brokerUp = false;
      await bounded(mosquitto.stop(), "Stopping Mosquitto", STOP_TIMEOUT_MS, onStuck);
    },
    async start() {
      await bounded(mosquitto.start(), "Starting Mosquitto", START_TIMEOUT_MS, onStuck);
      brokerUp = true;
    },
  };
  let plcProcess: ModbusServer | null = null;
  let uaProcess: OpcuaServer | null = null;
  const stopAll = async () => {
    await Promise.allSettled([
      broker.up ? broker.down() : Promise.resolve(),
      plcProcess ? bounded(plcProcess.kill(), "Killing the PLC", STOP_TIMEOUT_MS, onStuck) : null,
      uaProcess ? bounded(uaProcess.kill(), "Killing the OPC UA server", STOP_TIMEOUT_MS, onStuck) : null,
    ]);
    plcProcess = null;
    uaProcess = null;
  };
  try {
    await broker.start();
    plcProcess = await startModbusServer(0, { lifetimeMs });
    const plcPort = plcProcess.port;
    const plc: Peer = {
      name: "plc",
      port: plcPort,
      get up() {
        return plcProcess !== null;
      },
      async down() {
        const p = plcProcess;
        plcProcess = null;
        if (p) await bounded(p.kill(), "Killing the PLC", STOP_TIMEOUT_MS, onStuck);
      },
      async start() {
        plcProcess = await bounded(
          startModbusServer(plcPort, { lifetimeMs }),
          "Starting the PLC",
          START_TIMEOUT_MS,
          onStuck,
        );
      },
    };
    const pkiDir = `${dir}/opcua-pki`;
    uaProcess = await startOpcuaServer({ pkiDir, startTimeoutMs: START_TIMEOUT_MS, lifetimeMs });
    const uaPort = uaProcess.port;
    const opcua: Peer = {
      name: "opcua",
      port: uaPort,
      get up() {
        return uaProcess !== null;
      },
      async down() {
        const p = uaProcess;
        uaProcess = null;
        if (p) await bounded(p.kill(), "Killing the OPC UA server", STOP_TIMEOUT_MS, onStuck);
      },
      async start() {
        uaProcess = await startOpcuaServer({
          port: uaPort,
          pkiDir,
          startTimeoutMs: START_TIMEOUT_MS,
          lifetimeMs,
        });
      },
    };
    return { broker, plc, opcua, [Symbol.asyncDispose]: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
