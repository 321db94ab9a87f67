/**
 * Errors of the Modbus connector. Transport failures throw one of these; a point's quality is data
 * (`Sample.quality`), never an error.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** Any failure of a Modbus device: `device` is the connector's name (`plc1`). */
export abstract class ModbusError extends KilnError {
  constructor(readonly device: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The meaning of each exception code (Modbus Application Protocol v1.1b3 §7, "MODBUS Exception Responses"). */
export const MODBUS_EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  0x01: "illegal function",
  0x02: "illegal data address",
  0x03: "illegal data value",
  0x04: "server device failure",
  0x05: "acknowledge",
  0x06: "server device busy",
  0x08: "memory parity error",
  0x0a: "gateway path unavailable",
  0x0b: "gateway target device failed to respond",
};

/**
 * The device answered with an exception response (Modbus Application Protocol v1.1b3 §7): it is reachable,
 * but refused the request, e.g. code 2 for an address it does not have. The connection stays up.
 */
export class ModbusExceptionError extends ModbusError {
  readonly code = "modbus_exception";
  readonly kind = "failed";
  /**
   * @param device The connector's name.
   * @param functionCode The function code of the request (3 for Read Holding Registers), not the response's
   * `0x80 | functionCode`.
   * @param exceptionCode The exception code of the response (§7), e.g. 2 for "illegal data address".
   * @param what What was attempted, e.g. `read hr 100-101`.
   */
  constructor(
    device: string,
    readonly functionCode: number,
    readonly exceptionCode: number,
    readonly what: string,
    options?: ErrorOptions,
  ) {
    const meaning = MODBUS_EXCEPTION_NAMES[exceptionCode] ?? "unknown exception";
    super(
      device,
      `Cannot ${what}: device "${device}" answered function ${functionCode} with exception ${exceptionCode} (${meaning})`,
      options,
    );
  }
}

/** A request got no (complete) response within the device's `timeout_ms`. */
export class ModbusTimeoutError extends ModbusError {
  readonly code = "modbus_timeout";
  readonly kind = "timeout";
  constructor(device: string, readonly timeoutMs: number, readonly what: string, options?: ErrorOptions) {
    super(device, `Cannot ${what}: device "${device}" timed out after ${timeoutMs}ms`, options);
  }
}

/** A request was made while the connection to the device is down (Kiln is reconnecting). */
export class ModbusNotConnectedError extends ModbusError {
  readonly code = "modbus_not_connected";
  readonly kind = "unavailable";
  constructor(device: string, readonly what: string, options?: ErrorOptions) {
    super(device, `Cannot ${what}: device "${device}" is not connected`, options);
  }
}

/** Opening the connection failed (refused, unreachable, timed out). */
export class ModbusConnectError extends ModbusError {
  readonly code = "modbus_connect_failed";
  readonly kind = "failed";
  /** @param address Where Kiln tried to connect, e.g. `10.0.0.5:502`. */
  constructor(device: string, readonly address: string, reason: string, options?: ErrorOptions) {
    super(device, `Cannot connect to device "${device}" at ${address}: ${reason}`, options);
  }
}

/**
 * The connection to the device closed: the device (or a network element) ended it, Kiln dropped it, or its
 * serial port went away (`reason` says how, when it is known: `error reading: Input/output error`).
 */
export class ModbusConnectionLostError extends ModbusError {
  readonly code = "modbus_connection_lost";
  readonly kind = "failed";
  readonly reason: string | null;
  /** @param address Where the device is, e.g. `10.0.0.5:502` or `/dev/ttyUSB0`. */
  constructor(device: string, readonly address: string, options?: ErrorOptions & { reason?: string }) {
    const reason = options?.reason ?? null;
    super(
      device,
      `The connection to device "${device}" at ${address} was lost${reason ? `: ${reason}` : ""}`,
      options,
    );
    this.reason = reason;
  }
}

/** The device sent something that is not a valid response to the request (wrong length, code or unit). */
export class ModbusProtocolError extends ModbusError {
  readonly code = "modbus_protocol";
  readonly kind = "failed";
  constructor(device: string, readonly what: string, reason: string, options?: ErrorOptions) {
    super(device, `Cannot ${what}: device "${device}" sent an invalid response (${reason})`, options);
  }
}
