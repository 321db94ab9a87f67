/**
 * The capability resource an OPC UA node covers, for the runtime to check against a module's grants
 * (`runtime/capabilities.ts` parses it; `hal/` only produces the text).
 *
 * @module
 */
import { canonicalNodeId } from "./config.ts";
import type { OpcuaNode } from "./config.ts";

/** Endpoint names, as capability resources allow them (`RESOURCE_ID` in `runtime/capabilities.ts`). */
const ENDPOINT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * The resource of a node: `<endpoint>/<nodeId>`, the node id in its canonical Part 6 §5.3.1.10 text
 * (`ns=0;` dropped), e.g. `plc1/ns=2;s=Temp`.
 *
 * @throws {RangeError} when the endpoint name cannot name a resource, or `nodeId` is not a node id.
 */
export function opcuaResource(endpoint: string, nodeId: string): string {
  if (!ENDPOINT_NAME.test(endpoint)) {
    throw new RangeError(
      `The endpoint name "${endpoint}" must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  const canonical = canonicalNodeId(nodeId);
  if (canonical === null) throw new RangeError(`"${nodeId}" is not an OPC UA node id such as "ns=2;s=Temp"`);
  return `${endpoint}/${canonical}`;
}

/**
 * The capability a module needs to read or write a node, e.g. `read:opcua:plc1/ns=2;s=Temp`.
 *
 * @example
 * ```ts
 * import { opcuaCapability } from "./capability.ts";
 *
 * opcuaCapability("write", "plc1", { nodeId: "ns=1;s=Valve", writable: true }); // "write:opcua:plc1/ns=1;s=Valve"
 * ```
 *
 * @throws {TypeError} when a write names a node the config does not mark `writable`.
 * @throws {RangeError} as {@linkcode opcuaResource}.
 */
export function opcuaCapability(
  operation: "read" | "write",
  endpoint: string,
  node: Pick<OpcuaNode, "nodeId" | "writable">,
): string {
  if (operation === "write" && !node.writable) {
    throw new TypeError(`Cannot write node "${node.nodeId}": it is not marked writable`);
  }
  return `${operation}:opcua:${opcuaResource(endpoint, node.nodeId)}`;
}
