/**
 * The point connector contract (`hal/_contract.ts`) run against the OPC UA connector, with the node-opcua
 * server in another process (`_opcua_server.ts`; its address space is documented in its fixture).
 */
import { createOpcuaConnector } from "../../hal/opcua/mod.ts";
import { runPointConnectorContract } from "../../hal/_contract.ts";
import { freePort } from "./_modbus_server.ts";
import { tempDir, testEndpoint } from "./_opcua_helpers.ts";
import { startOpcuaServer } from "./_opcua_server.ts";

/** The contract's nodes: a read-only one, a writable Double, one the server does not have. */
const NODES = new Map<string, Record<string, unknown>>([
  ["count", { id: "count", node_id: "ns=1;s=Count", sampling_ms: 50 }],
  ["setpoint", { id: "setpoint", node_id: "ns=1;s=Setpoint", sampling_ms: 50, writable: true }],
  ["ghost", { id: "ghost", node_id: "ns=1;s=NoSuchNode", sampling_ms: 50 }],
]);

runPointConnectorContract("OPC UA", async () => {
  const dir = await tempDir();
  const server = await startOpcuaServer({ pkiDir: `${dir.path}/server` }).catch(async (err) => {
    await dir[Symbol.asyncDispose]();
    throw err;
  });
  const nowhere = `opc.tcp://127.0.0.1:${freePort()}/UA/Kiln`;
  return {
    kind: "opcua",
    name: "plc1",
    readOnly: "count",
    writable: { id: "setpoint", values: [12.25, 3] },
    refused: "ghost",
    // One PKI folder under `dir` for every connector: the client's certificate is made once.
    connector: (points, { reachable = true } = {}) =>
      createOpcuaConnector(
        testEndpoint(reachable ? server.url : nowhere, dir.path, {
          nodes: points.map((id) => NODES.get(id)),
        }),
      ),
    async [Symbol.asyncDispose]() {
      await server.kill();
      await dir[Symbol.asyncDispose]();
    },
  };
});
