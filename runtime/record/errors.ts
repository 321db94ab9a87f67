/**
 * Errors of recording and replay.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** A trace file is not a Kiln trace, is of a version this Kiln cannot read, or is truncated or corrupt. */
export class TraceFormatError extends KilnError {
  readonly code = "trace_invalid";
  readonly kind = "invalid";
  constructor(readonly path: string | null, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot read trace${path === null ? "" : ` "${path}"`}: ${reason}`, options);
  }
}

/** A recording went over its disk budget; what was recorded before is kept and the trace says so. */
export class TraceBudgetError extends KilnError {
  readonly code = "trace_budget_exceeded";
  readonly kind = "too_large";
  constructor(readonly module: string, readonly maxBytes: number) {
    super(`Recording of module "${module}" stopped: the trace reached its disk budget of ${maxBytes} bytes`);
  }
}

/** A trace cannot be replayed against the module given (another ABI, a handler the module lacks, a start from a snapshot). */
export class ReplayError extends KilnError {
  readonly code = "replay_failed";
  readonly kind = "rejected";
  constructor(readonly module: string, readonly reason: string, options?: ErrorOptions) {
    super(`Cannot replay the trace of module "${module}": ${reason}`, options);
  }
}

/** A module is being recorded already: one recording per module at a time. */
export class RecordingActiveError extends KilnError {
  readonly code = "recording_active";
  readonly kind = "conflict";
  constructor(readonly module: string) {
    super(`Cannot record module "${module}": a recording of it is under way`);
  }
}

/** A module has no recording (none was started since the gateway started), or its trace is gone. */
export class RecordingNotFoundError extends KilnError {
  readonly code = "recording_not_found";
  readonly kind = "not_found";
  constructor(readonly module: string, reason = "no recording was started since the gateway started") {
    super(`No trace of module "${module}": ${reason}`);
  }
}
