/**
 * Modbus servers for the integration tests, each in its own process or socket: the libmodbus server of
 * `fixtures/modbus_server.c` (compiled once per test process with gcc), on TCP or on a serial line (RTU),
 * and a "PLC" that answers every request with garbage.
 *
 * The libmodbus server's tables have addresses 0..99 (past them: exception 2) and these values:
 *
 * | table | address | type | order | value |
 * |---|---|---|---|---|
 * | hr | 0 | int16 | | -1234 |
 * | hr | 1 | uint16 | | 54321 |
 * | hr | 2-3 | int32 | ABCD | -123456789 |
 * | hr | 4-5 | int32 | CDAB (word swap) | -123456789 |
 * | hr | 6-7 | float32 | ABCD | 123.456 |
 * | hr | 8-9 | float32 | DCBA | 123.456 |
 * | hr | 10-11 | uint32 | ABCD | 3000000000 |
 * | hr | 12 | int16 | | 2345 (234.5 in tenths) |
 * | hr | 13 | uint16 | BA (byte swap) | 0x1234 |
 * | hr | 14-15 | float32 | BADC | -0.5 |
 * | hr | 16-17 | float32 | CDAB | -9876.5 |
 * | ir | 0 | uint16 | | 1000 |
 * | ir | 1 | int16 | | -50 |
 * | ir | 2-3 | float32 | ABCD | 21.5 |
 * | co | 0-15 | | | 1 where address % 3 == 0 |
 * | di | 0-15 | | | 1 where address is odd |
 *
 * @module
 */

import { BUILD_TIMEOUT_MS, TOOL_TIMEOUT_MS } from "../_timeouts.ts";
import { type PeerProcess, startPeer } from "./_peer_process.ts";

const SOURCE = new URL("./fixtures/modbus_server.c", import.meta.url).pathname;

let built: Promise<string> | null = null;

/**
 * Compiles the libmodbus server once per test process, into a temporary directory removed at exit.
 *
 * @throws {Error} naming the Debian package to install when gcc or libmodbus-dev is missing.
 */
export function buildModbusServer(): Promise<string> {
  built ??= compile();
  return built;
}

async function compile(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-modbus-server-" });
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const binary = `${dir}/modbus_server`;
  let flags = ["-I/usr/include/modbus", "-lmodbus"];
  try {
    const pc = await new Deno.Command("pkg-config", {
      args: ["--cflags", "--libs", "libmodbus"],
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).output();
    if (pc.success) flags = new TextDecoder().decode(pc.stdout).trim().split(/\s+/);
  } catch { /* no pkg-config: Debian's paths */ }
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("gcc", {
      args: ["-O1", "-o", binary, SOURCE, ...flags],
      stderr: "piped",
      signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        "gcc is not installed: the Modbus tests build their server with it (apt-get install gcc)",
      );
    }
    throw err;
  }
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    const hint = /modbus\.h|lmodbus/.test(stderr)
      ? "libmodbus is missing: apt-get install libmodbus-dev\n"
      : "";
    throw new Error(`Cannot build ${SOURCE}:\n${hint}${stderr}`);
  }
  return binary;
}

/** A running libmodbus server. */
export type ModbusServer = PeerProcess;

/** Options of {@linkcode startModbusServer}. */
export interface ModbusServerOptions {
  /**
   * The longest the server may run, ms: it is killed then, even if the test never disposes of it.
   * @default PEER_LIFETIME_MS (10 minutes)
   */
  readonly lifetimeMs?: number;
}

/**
 * Starts the libmodbus server on `127.0.0.1:port` (0: a free port) and resolves once it listens.
 *
 * @throws {Error} when it cannot be built or exits before printing its port.
 */
export async function startModbusServer(port = 0, options: ModbusServerOptions = {}): Promise<ModbusServer> {
  return await spawnServer([String(port)], `listening on port ${port}`, options.lifetimeMs);
}

/** Options of {@linkcode startModbusRtuServer}. */
export interface RtuServerOptions extends ModbusServerOptions {
  /** @default 9600 */
  readonly baud?: number;
  /** @default 1 */
  readonly stopBits?: 1 | 2;
  /** Its unit id. @default 1 */
  readonly unitId?: number;
  /** Pseudo-random bytes written before each reply. @default 0 */
  readonly noiseBytes?: number;
  /** Answer every request with 1 to 40 pseudo-random bytes instead. @default false */
  readonly garbage?: boolean;
}

/**
 * Starts the libmodbus server as an RTU device on the tty `path` (8 data bits, no parity) and resolves once
 * the line is open.
 *
 * @throws {Error} when it cannot be built or exits before the line is open.
 */
export async function startModbusRtuServer(
  path: string,
  options: RtuServerOptions = {},
): Promise<ModbusServer> {
  const args = [
    "--rtu",
    path,
    "--baud",
    String(options.baud ?? 9600),
    "--stop-bits",
    String(options.stopBits ?? 1),
    "--unit",
    String(options.unitId ?? 1),
    ...(options.noiseBytes ? ["--noise", String(options.noiseBytes)] : []),
    ...(options.garbage ? ["--garbage"] : []),
  ];
  return await spawnServer(args, `opening ${path}`, options.lifetimeMs);
}

/** Runs the server binary and resolves once it printed `PORT <n>` or `READY`. */
async function spawnServer(args: string[], what: string, lifetimeMs?: number): Promise<ModbusServer> {
  return await startPeer(await buildModbusServer(), args, {
    name: "Modbus server",
    what,
    ...(lifetimeMs !== undefined && { lifetimeMs }),
  });
}

/** A TCP server that answers every request with pseudo-random bytes. */
export interface GarbageServer extends AsyncDisposable {
  readonly port: number;
  /** How many replies it sent. */
  readonly replies: number;
}

/** Options of {@linkcode startGarbageServer}. */
export interface GarbageServerOptions {
  /**
   * Frame the garbage as a Modbus TCP reply to the request (its transaction id, protocol 0, a correct length,
   * its unit id) around a random PDU, so it reaches the client's response parser. @default false
   */
  readonly framed?: boolean;
  /** @default 0x2545f491 */
  readonly seed?: number;
}

/**
 * Starts a "PLC" on a free port that answers whatever it receives with garbage: 1 to 40 random bytes, or a
 * well-framed reply around a random PDU of 1 to 20 bytes.
 */
export function startGarbageServer(options: GarbageServerOptions = {}): GarbageServer {
  const seed = options.seed ?? 0x2545f491;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.TcpConn>();
  const handlers = new Set<Promise<void>>();
  let state = seed >>> 0;
  const random = () => {
    // xorshift32: reproducible garbage
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  let replies = 0;
  const serve = async (conn: Deno.TcpConn) => {
    const buffer = new Uint8Array(512);
    try {
      let n: number | null;
      while ((n = await conn.read(buffer)) !== null) {
        let reply = new Uint8Array(1 + random() % 40).map(() => random() & 0xff);
        if (options.framed && n >= 7) {
          // MBAP header (Modbus Messaging on TCP/IP Implementation Guide §3.1.3): transaction id, protocol 0,
          // length of what follows, unit id.
          const pdu = new Uint8Array(1 + random() % 20).map(() => random() & 0xff);
          reply = new Uint8Array([buffer[0]!, buffer[1]!, 0, 0, 0, pdu.length + 1, buffer[6]!, ...pdu]);
        }
        await conn.write(reply);
        replies++;
      }
    } catch { /* the client dropped the connection */ }
    connections.delete(conn);
    try {
      conn.close();
    } catch { /* closed by dispose */ }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        const handler = serve(conn);
        handlers.add(handler);
        handler.finally(() => handlers.delete(handler));
      }
    } catch { /* listener closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get replies() {
      return replies;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.allSettled([...handlers]);
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (for a moment). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
