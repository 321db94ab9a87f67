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
