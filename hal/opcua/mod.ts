/**
 * The OPC UA connector: Kiln opens a client session to an OPC UA server (security mode None or
 * Sign&Encrypt), subscribes to each configured node with a monitored item, and keeps the last
 * {@linkcode Sample} of every node for the modules' next invocation; modules never wait on the network.
 * Writes of writable nodes are carried out asynchronously in the node's own data type.
 *
 * When the server is down at start, restarts, hangs or sends garbage, the connector keeps running: it
 * reconnects with exponential backoff, reports its state (`connecting`, `connected`, `reconnecting`,
 * `error` while the server refuses some monitored items, `closed`), its last error and an error count, and
 * keeps each last value, `uncertain` and then `bad` after the node's `stale_ms`, never inventing one (see
 * `connector.ts`).
 *
 * Client: `npm:node-opcua-client`. Its certificate, private key and trusted server certificates live in
 * the endpoint's `pki_dir` (default `<data_dir>/pki/opcua`), created on first use.
 *
 * Each node maps onto a capability resource (`read:opcua:plc1/ns=2;s=Temp`), which the runtime checks
 * against a module's grants before it hands the module a value or carries out its write.
 *
 * @example Subscribing to a server
 * ```ts ignore
 * import { createOpcuaConnector, opcuaCapability, OpcuaEndpointSchema, toOpcuaEndpoint } from "./mod.ts";
 *
 * const config = OpcuaEndpointSchema.parse({
 *   url: "opc.tcp://10.0.0.7:4840/UA/Line1",
 *   security_mode: "sign_and_encrypt",
 *   nodes: [
 *     { id: "oven_temp", node_id: "ns=2;s=Oven.Temperature", sampling_ms: 250 },
 *     { id: "setpoint", node_id: "ns=2;s=Oven.Setpoint", writable: true },
 *   ],
 * });
 * const endpoint = toOpcuaEndpoint("plc1", config, { dataDir: "./data" });
 * opcuaCapability("read", "plc1", endpoint.nodes[0]!); // "read:opcua:plc1/ns=2;s=Oven.Temperature"
 *
 * await using plc = createOpcuaConnector(endpoint);
 * plc.start();
 * plc.getSample("oven_temp"); // null until the first notification, then { value: 182.5, quality: "good", ... }
 * await plc.write("setpoint", 190); // rejects with an OpcuaError if the server does not answer Good
 * plc.status(); // { name: "plc1", kind: "opcua", state: "connected", lastError: null, errors: 0, ... }
 * ```
 *
 * @module
 */
export { opcuaCapability, opcuaResource } from "./capability.ts";
export {
  canonicalNodeId,
  DEFAULT_BACKOFF_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_BACKOFF_MS,
  DEFAULT_SAMPLING_MS,
  DEFAULT_STALE_SAMPLINGS,
  DEFAULT_TIMEOUT_MS,
  OPCUA_SECURITY_MODES,
  OPCUA_SECURITY_POLICIES,
  type OpcuaEndpoint,
  type OpcuaEndpointConfig,
  OpcuaEndpointSchema,
  type OpcuaNode,
  type OpcuaNodeConfig,
  OpcuaNodeSchema,
  type OpcuaSecurityMode,
  type OpcuaSecurityPolicy,
  POINT_ID,
  toOpcuaEndpoint,
  type ToOpcuaEndpointOptions,
} from "./config.ts";
export {
  type Clock,
  createOpcuaConnector,
  type OpcuaConnector,
  type OpcuaConnectorOptions,
  SYSTEM_CLOCK,
} from "./connector.ts";
export {
  OpcuaConnectError,
  OpcuaConnectionLostError,
  OpcuaError,
  OpcuaNotConnectedError,
  OpcuaStatusError,
  OpcuaTimeoutError,
  OpcuaUnsupportedTypeError,
} from "./errors.ts";
