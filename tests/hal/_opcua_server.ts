/**
 * The OPC UA server of the connector's integration tests: `fixtures/opcua_server.ts` (node-opcua) in a
 * child process, so the test peer's npm code and its permissions stay out of the test's own process. See
 * the fixture for its address space.
 *
 * @module
 */

import { type PeerProcess, startPeer } from "./_peer_process.ts";

const FIXTURE = new URL("./fixtures/opcua_server.ts", import.meta.url).pathname;

/** A running OPC UA server. */
export interface OpcuaServer extends PeerProcess {
  /** `opc.tcp://127.0.0.1:<port>/UA/Kiln` */
  readonly url: string;
  /** Its PKI folder: `own/certs/certificate.pem` is its certificate. */
  readonly pkiDir: string;
}

/** Options of {@linkcode startOpcuaServer}. */
export interface OpcuaServerOptions {
  /** @default 0, a free port */
  readonly port?: number;
  /** Where its certificate and key live; the same folder across restarts keeps the same certificate. */
  readonly pkiDir: string;
  /** `user:password` to require instead of anonymous sessions. */
  readonly credentials?: string;
  /** Variables to leave out of the address space (browse names, e.g. `Count`). */
  readonly without?: readonly string[];
  /** @default 60000 (the first start downloads and compiles node-opcua) */
  readonly startTimeoutMs?: number;
  /**
   * The longest the server may run, ms: it is killed then, even if the test never disposes of it.
   * @default PEER_LIFETIME_MS (10 minutes)
   */
  readonly lifetimeMs?: number;
}

/**
 * Starts the node-opcua server on `127.0.0.1` and resolves once it listens.
 *
 * @throws {Error} when it exits or stays silent before printing its port.
 */
export async function startOpcuaServer(options: OpcuaServerOptions): Promise<OpcuaServer> {
  const args = [
    "run",
    "-A",
    "--quiet",
    FIXTURE,
    String(options.port ?? 0),
    options.pkiDir,
    ...(options.credentials ? [options.credentials] : []),
    ...(options.without?.length ? [`--without=${options.without.join(",")}`] : []),
  ];
  const peer = await startPeer(Deno.execPath(), args, {
    name: "OPC UA server",
    what: `listening on port ${options.port ?? 0}`,
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    ...(options.lifetimeMs !== undefined && { lifetimeMs: options.lifetimeMs }),
  });
  return Object.assign(peer, {
    url: `opc.tcp://127.0.0.1:${peer.port}/UA/Kiln`,
    pkiDir: options.pkiDir,
  });
}
