/**
 * Errors of the fleet controller (`kiln fleet`).
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/** A rollback condition does not parse: `position` is the 0-based character offset of the problem. */
export class ConditionSyntaxError extends KilnError {
  readonly code = "condition_invalid";
  readonly kind = "invalid";
  constructor(readonly source: string, readonly position: number, readonly expected: string, found: string) {
    super(
      `Condition "${source}" at character ${position + 1}: expected ${expected}, found ${found}`,
    );
  }
}

/** A rollout (or its phases, target or image) is not acceptable as given. */
export class RolloutInvalidError extends KilnError {
  readonly code = "rollout_invalid";
  readonly kind = "invalid";
  constructor(message: string) {
    super(message);
  }
}

/** No rollout has this id. */
export class RolloutNotFoundError extends KilnError {
  readonly code = "rollout_not_found";
  readonly kind = "not_found";
  constructor(readonly id: string) {
    super(`Rollout "${id}" not found`);
  }
}

/** The rollout's state does not allow the operation (approving a running rollout, resuming a finished one). */
export class RolloutStateError extends KilnError {
  readonly code = "rollout_state";
  readonly kind = "conflict";
  constructor(readonly id: string, readonly state: string, operation: string) {
    super(`Cannot ${operation} rollout "${id}": it is ${state}`);
  }
}

/** The fleet store cannot be opened, or was written by a newer Kiln. */
export class FleetStoreError extends KilnError {
  readonly code = "fleet_store_failed";
  readonly kind = "unavailable";
  constructor(readonly path: string, message: string, options?: ErrorOptions) {
    super(`Cannot open the fleet store "${path}": ${message}`, options);
  }
}
