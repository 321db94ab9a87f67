/**
 * The parts of the OPC UA driver that validating a manifest and planning a deployment need: the endpoint
 * schema and the capability strings. Unlike `mod.ts`, this does not load `node-opcua-client`, whose
 * transport asks for the host name as it loads: Kiln loads the client only when a manifest has an OPC UA
 * endpoint (`runtime/connectors.ts`), so other deployments need no `--allow-sys`.
 *
 * @module
 */
export { opcuaCapability, opcuaResource } from "./capability.ts";
export {
  canonicalNodeId,
  type OpcuaEndpoint,
  type OpcuaEndpointConfig,
  OpcuaEndpointSchema,
  type OpcuaNode,
  type OpcuaNodeConfig,
  OpcuaNodeSchema,
  toOpcuaEndpoint,
} from "./config.ts";
