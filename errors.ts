/**
 * The base error every Kiln layer extends. Each folder keeps its own subclasses in its `errors.ts`,
 * with structured fields so callers (the CLI, the API) can tell errors apart by `code`, never by message text,
 * and a `kind` that says what sort of failure it is, so the API can answer every error with the right status
 * through one exhaustive table (`api/errors.ts`) instead of a list of codes.
 *
 * @module
 */

/**
 * What sort of failure an error is, whatever layer raised it. The set is closed: the API maps each kind to one
 * HTTP status in a `Record<ErrorKind, ...>`, so a new kind does not compile until it has a status.
 *
 * - `invalid`: the input is malformed or out of range (a body that is not JSON, an unknown fault, a capability
 *   or topic that does not parse, an unreadable manifest file). HTTP 400.
 * - `unauthorized`: no credentials, or unknown ones. HTTP 401.
 * - `forbidden`: credentials that do not allow this. HTTP 403.
 * - `not_found`: the named thing does not exist (a module, a sensor, a pin, a token, a file), or this runtime
 *   has no such part (no uplink, no store, no deploys). HTTP 404.
 * - `conflict`: the thing exists but its state forbids the operation (starting a running module, deploying a
 *   name twice, setting an output pin from outside, a store written by a newer Kiln). HTTP 409.
 * - `too_large`: the input is over a size limit (a request body, an event payload, an outbox message). HTTP 413.
 * - `rejected`: well-formed but refused by a check: an invalid manifest, a module outside ABI v1 or the Wasm
 *   features Kiln runs, a checksum mismatch, a policy or resource limit, a deploy whose trial start failed.
 *   HTTP 422.
 * - `wrong_protocol`: the endpoint speaks another protocol (a plain GET on the WebSocket stream). HTTP 426.
 * - `internal`: Kiln failed in a way it did not expect; its log says more. HTTP 500.
 * - `failed`: a device, peer or module operation failed (a Modbus exception, an OPC UA Bad status, a lost
 *   connection, a refused connect, a GPIO write the kernel refused, a corrupt snapshot). HTTP 502.
 * - `unavailable`: a part Kiln needs is not working now (not connected, an executor that failed, the snapshot
 *   store, a port it cannot listen on, the stream's connection slots all taken). HTTP 503.
 * - `timeout`: a device or peer did not answer in time. HTTP 504.
 */
export type ErrorKind =
  | "invalid"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "rejected"
  | "wrong_protocol"
  | "internal"
  | "failed"
  | "unavailable"
  | "timeout";

/** Every {@linkcode ErrorKind}, in the order of their HTTP statuses. */
export const ERROR_KINDS: readonly ErrorKind[] = [
  "invalid",
  "unauthorized",
  "forbidden",
  "not_found",
  "conflict",
  "too_large",
  "rejected",
  "wrong_protocol",
  "internal",
  "failed",
  "unavailable",
  "timeout",
];

/**
 * Base class of every error Kiln raises on purpose: a user's mistake, a refused module, a failed transport.
 * A subclass declares its `code` and its `kind` (or inherits them from a base that declares them on purpose);
 * one that declares no kind does not compile.
 */
export abstract class KilnError extends Error {
  /** Stable machine-readable code, e.g. `"manifest_invalid"`. */
  abstract readonly code: string;
  /** What sort of failure it is; the API answers with the status of its kind. */
  abstract readonly kind: ErrorKind;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True when `err` is a {@linkcode KilnError}: an expected failure whose message is fit to show a user. */
export function isKilnError(err: unknown): err is KilnError {
  return err instanceof KilnError;
}
