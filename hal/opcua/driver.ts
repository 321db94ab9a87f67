/**
 * The OPC UA point driver (`../point_driver.ts`): an endpoint's manifest schema, its nodes' capabilities and
 * its plan, for the runtime's registry (`../drivers.ts`). Unlike `mod.ts`, this does not load
 * `node-opcua-client`, whose transport asks for the host name as it loads: the registry hands the driver a
 * `load` that imports the connector when the runtime's connectors start with an endpoint configured, so
 * validating a manifest, planning a deployment and running one without OPC UA need no `--allow-sys`.
 *
 * @module
 */
import { resolve } from "node:path";
import type { ConnectorMaker, PointDriver } from "../point_driver.ts";
import { opcuaCapability, opcuaResource } from "./capability.ts";
import { type OpcuaEndpoint, OpcuaEndpointSchema, OpcuaNodeSchema, toOpcuaEndpoint } from "./config.ts";

/** The OPC UA driver's type. */
export type OpcuaDriver = PointDriver<"opcua", typeof OpcuaEndpointSchema, OpcuaEndpoint>;

/**
 * The OPC UA driver; `load` imports the connector (`createOpcuaConnector` of `mod.ts`) when it is first
 * needed.
 */
export function createOpcuaDriver(load: () => Promise<ConnectorMaker<OpcuaEndpoint>>): OpcuaDriver {
  return {
    kind: "opcua",
    deviceNoun: "endpoint",
    pointNoun: "node",
    pointsKey: "nodes",
    schema: OpcuaEndpointSchema,
    pointAccess(raw, { device, operation }) {
      const node = OpcuaNodeSchema.safeParse(raw);
      // The schema refuses a node id that is not one, and the manifest's endpoint names are valid resource
      // names, so the capability below cannot throw.
      if (!node.success) return null;
      if (operation === "write" && !node.data.writable) {
        return { refusal: "is not writable: mark it writable: true under its endpoint" };
      }
      return {
        capability: opcuaCapability(operation, device, {
          nodeId: node.data.node_id,
          writable: node.data.writable,
        }),
      };
    },
    plan: (name, config, { manifestDir, dataDir }) =>
      toOpcuaEndpoint(
        name,
        {
          ...config,
          ...(config.password_file !== undefined &&
            { password_file: resolve(manifestDir, config.password_file) }),
        },
        { dataDir },
      ),
    pointIds: (endpoint) => endpoint.nodes.map((n) => n.id),
    fastestMs: (endpoint) => Math.min(...endpoint.nodes.map((n) => n.samplingMs)),
    writeResource(ref, endpoint) {
      const node = endpoint?.nodes.find((n) => n.id === ref.point);
      // `ns=0;s=__unknown__` is a node id no manifest grants: the writes are refused and audited.
      return node?.writable ? opcuaResource(ref.device, node.nodeId) : `${ref.device}/ns=0;s=__unknown__`;
    },
    connectors: { load },
  };
}
