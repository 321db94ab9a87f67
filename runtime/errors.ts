/**
 * Errors of the module host: a module refused at load, a checksum mismatch, a limit it exceeds.
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/** A module file could not be read. */
export class ModuleNotFoundError extends KilnError {
  readonly code = "module_not_found";
  readonly kind = "not_found";
  constructor(readonly module: string, readonly path: string, options?: ErrorOptions) {
    super(`Cannot load module "${module}": file "${path}" does not exist or cannot be read`, options);
  }
}

/** A module's or data blob's sha256 differs from the one the manifest pins. */
export class ChecksumMismatchError extends KilnError {
  readonly code = "checksum_mismatch";
  readonly kind = "rejected";
  constructor(
    readonly module: string,
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `Checksum mismatch for module "${module}": "${path}" has sha256 ${actual}, the manifest expects ${expected}`,
    );
  }
}

/** A module does not satisfy ABI v1 (a missing or mistyped export, an unknown import). */
export class ModuleRejectedError extends KilnError {
  readonly code = "module_rejected";
  readonly kind = "rejected";
  constructor(readonly module: string, readonly reasons: readonly string[], options?: ErrorOptions) {
    super(
      `Module "${module}" was refused:\n${reasons.map((r) => `  - ${r}`).join("\n")}`,
      options,
    );
  }
}

/** A deploy's new version failed to start; the old version (if any) runs on. */
export class DeployFailedError extends KilnError {
  readonly code = "deploy_failed";
  readonly kind = "rejected";
  constructor(readonly module: string, readonly reason: string, readonly rolledBack: boolean) {
    super(
      `Cannot deploy module "${module}": ${reason}` +
        (rolledBack ? "; the previous version was started again" : ""),
    );
  }
}

/** An operation named a module the runtime does not have. */
export class ModuleUnknownError extends KilnError {
  readonly code = "module_unknown";
  readonly kind = "not_found";
  constructor(readonly module: string) {
    super(`No module named "${module}"`);
  }
}

/** A module of that name is already deployed. */
export class ModuleExistsError extends KilnError {
  readonly code = "module_exists";
  readonly kind = "conflict";
  constructor(readonly module: string) {
    super(`A module named "${module}" is already deployed`);
  }
}

/** An operation is not possible in the module's current state, e.g. starting a module that runs. */
export class ModuleStateError extends KilnError {
  readonly code = "module_state";
  readonly kind = "conflict";
  constructor(readonly module: string, readonly state: string, action: string) {
    super(`Cannot ${action} module "${module}": it is ${state}`);
  }
}

/** An event's payload is larger than an event module's buffer. */
export class EventTooLargeError extends KilnError {
  readonly code = "event_too_large";
  readonly kind = "too_large";
  constructor(readonly module: string, readonly sizeBytes: number, readonly maxBytes: number) {
    super(`Event for module "${module}" is ${sizeBytes} bytes, more than the ${maxBytes}-byte limit`);
  }
}

/** An executor worker failed or stopped answering. */
export class ExecutorError extends KilnError {
  readonly code = "executor_failed";
  readonly kind = "unavailable";
  constructor(readonly executor: string, message: string, options?: ErrorOptions) {
    super(`Executor "${executor}": ${message}`, options);
  }
}

/** An operation named a simulated sensor the plant does not have. */
export class SensorUnknownError extends KilnError {
  readonly code = "sensor_unknown";
  readonly kind = "not_found";
  constructor(readonly sensor: string) {
    super(`No simulated sensor named "${sensor}"`);
  }
}

/** A fault that does not apply to a simulated sensor's kind, e.g. `overheat` on a vibration sensor. */
export class FaultNotApplicableError extends KilnError {
  readonly code = "fault_not_applicable";
  readonly kind = "invalid";
  /**
   * @param sensor The sensor's id.
   * @param sensorKind `vibration` or `temperature`.
   * @param fault The fault asked for.
   * @param applicable The faults this sensor takes, e.g. `["none", "bearing"]`.
   */
  constructor(
    readonly sensor: string,
    readonly sensorKind: string,
    readonly fault: string,
    readonly applicable: readonly string[],
  ) {
    super(
      `Fault "${fault}" does not apply to ${sensorKind} sensor "${sensor}": it takes ${
        applicable.map((f) => `"${f}"`).join(" or ")
      }`,
    );
  }
}

/** An operation named a GPIO pin the bank does not have. */
export class PinUnknownError extends KilnError {
  readonly code = "pin_unknown";
  readonly kind = "not_found";
  /** @param pin The pin as given, e.g. `"99"` or `"x"`. */
  constructor(readonly pin: string) {
    super(`No GPIO pin "${pin}" in the bank`);
  }
}
