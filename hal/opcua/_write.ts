/**
 * A write of a number to a writable OPC UA node, in the node's own built-in data type: the type is read from
 * the server before the first write of each node on a link and kept on the link, then the number is
 * converted (see `codec.ts`) and written, and the server's StatusCode decides.
 *
 * @module
 */
import { AttributeIds, type ClientSession, type DataType } from "node-opcua-client";
import { toVariant } from "./codec.ts";
import type { OpcuaNode } from "./config.ts";
import { OpcuaStatusError } from "./errors.ts";
import type { Timed } from "./_link.ts";

/** Options of {@linkcode writeValue}. */
export interface WriteValueOptions {
  /** The connector's name, for errors. */
  readonly connector: string;
  /** The writable node. */
  readonly node: OpcuaNode;
  /** The link's node ids to their data type; filled here on a node's first write. */
  readonly dataTypes: Map<string, DataType>;
  /** What the write is, for errors: `write node "<node id>"`. */
  readonly what: string;
  /** Bounds the read and the write by `timeout_ms`. */
  readonly timed: Timed;
}

/**
 * Writes `value` to a node through `session` and resolves once the server answered Good.
 *
 * @throws {RangeError} when the value does not fit the node's data type.
 * @throws {OpcuaUnsupportedTypeError} when the node's data type is not numeric (or 64-bit).
 * @throws {OpcuaStatusError} when the server answers the read Bad, or the write anything but Good.
 * @throws {OpcuaTimeoutError} when the read or the write takes longer than `timeout_ms`.
 */
export async function writeValue(
  session: ClientSession,
  value: number,
  options: WriteValueOptions,
): Promise<void> {
  const { connector, node, dataTypes, what, timed } = options;
  let dataType = dataTypes.get(node.nodeId);
  if (dataType === undefined) {
    const current = await timed(
      session.read({ nodeId: node.nodeId, attributeId: AttributeIds.Value }),
      what,
    );
    // An Uncertain value still has its type; only a Bad one has none to trust.
    if (current.statusCode.value >>> 30 >= 2) {
      checkStatus(connector, { code: current.statusCode.value, name: current.statusCode.name, what });
    }
    dataType = current.value.dataType;
    dataTypes.set(node.nodeId, dataType);
  }
  const variant = toVariant(value, dataType, connector, node.nodeId);
  const status = await timed(
    session.write({ nodeId: node.nodeId, attributeId: AttributeIds.Value, value: { value: variant } }),
    what,
  );
  checkStatus(connector, { code: status.value, name: status.name, what });
}

/**
 * Throws unless `code` is Good.
 *
 * @throws {OpcuaStatusError} when `code` is Uncertain or Bad.
 */
function checkStatus(connector: string, status: { code: number; name: string; what: string }): void {
  // The two top bits of a StatusCode are its severity: 00 Good, 01 Uncertain, 10 Bad (Part 4 §7.34.1).
  if (status.code >>> 30 !== 0) throw new OpcuaStatusError(connector, status.code, status.name, status.what);
}
