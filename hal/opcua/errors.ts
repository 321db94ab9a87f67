/**
 * Errors of the OPC UA connector. Transport failures and refused requests throw one of these; a node's
 * quality is data (`Sample.quality`), never an error.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** Any failure of an OPC UA endpoint: `endpoint` is the connector's name (`plc1`). */
export abstract class OpcuaError extends KilnError {
  constructor(readonly endpoint: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Opening the secure channel or the session failed: refused, unreachable, timed out, rejected certificate or
 * user, or the peer does not speak UA TCP (Part 6 §7.1).
 */
export class OpcuaConnectError extends OpcuaError {
  readonly code = "opcua_connect_failed";
  readonly kind = "failed";
  /** @param url Where Kiln tried to connect, e.g. `opc.tcp://10.0.0.7:4840/UA/Line1`. */
  constructor(endpoint: string, readonly url: string, reason: string, options?: ErrorOptions) {
    super(endpoint, `Cannot connect to OPC UA endpoint "${endpoint}" at ${url}: ${reason}`, options);
  }
}

/** The connection to the server broke after it was up (the server went away, or the channel failed). */
export class OpcuaConnectionLostError extends OpcuaError {
  readonly code = "opcua_connection_lost";
  readonly kind = "failed";
  constructor(endpoint: string, readonly url: string, reason: string, options?: ErrorOptions) {
    super(endpoint, `The connection to OPC UA endpoint "${endpoint}" at ${url} was lost: ${reason}`, options);
  }
}

/** A request was made while there is no session (Kiln is connecting or reconnecting). */
export class OpcuaNotConnectedError extends OpcuaError {
  readonly code = "opcua_not_connected";
  readonly kind = "unavailable";
  constructor(endpoint: string, readonly what: string, options?: ErrorOptions) {
    super(endpoint, `Cannot ${what}: OPC UA endpoint "${endpoint}" is not connected`, options);
  }
}

/** A request got no response within the endpoint's `timeout_ms`. */
export class OpcuaTimeoutError extends OpcuaError {
  readonly code = "opcua_timeout";
  readonly kind = "timeout";
  constructor(endpoint: string, readonly timeoutMs: number, readonly what: string, options?: ErrorOptions) {
    super(endpoint, `Cannot ${what}: OPC UA endpoint "${endpoint}" timed out after ${timeoutMs}ms`, options);
  }
}

/**
 * The server answered with a bad status code (Part 4 §7.34, Part 6 §A.2), e.g. `BadNodeIdUnknown` for a
 * monitored item or `BadUserAccessDenied` for a write. The session stays up.
 */
export class OpcuaStatusError extends OpcuaError {
  readonly code = "opcua_bad_status";
  readonly kind = "failed";
  /**
   * @param statusCode The 32-bit status code, e.g. `0x80340000`.
   * @param statusName Its name, e.g. `BadNodeIdUnknown`.
   * @param what What was attempted, e.g. `write node "ns=1;s=Valve"`.
   */
  constructor(
    endpoint: string,
    readonly statusCode: number,
    readonly statusName: string,
    readonly what: string,
    options?: ErrorOptions,
  ) {
    const hex = `0x${statusCode.toString(16).padStart(8, "0")}`;
    super(endpoint, `Cannot ${what}: OPC UA endpoint "${endpoint}" answered ${statusName} (${hex})`, options);
  }
}

/**
 * A node's value or data type is not one Kiln can hand modules as a number: only Boolean (0 or 1) and the
 * numeric built-in types (Part 6 §5.1.2) are; writes also refuse Int64 and UInt64.
 */
export class OpcuaUnsupportedTypeError extends OpcuaError {
  readonly code = "opcua_unsupported_type";
  readonly kind = "rejected";
  /** @param dataType The built-in type's name, e.g. `String`. */
  constructor(endpoint: string, readonly nodeId: string, readonly dataType: string, options?: ErrorOptions) {
    super(
      endpoint,
      `Node "${nodeId}" of OPC UA endpoint "${endpoint}" holds a ${dataType}, not a number`,
      options,
    );
  }
}
