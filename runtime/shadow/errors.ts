/**
 * Errors of shadow validation.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** A module has a shadow candidate running already: one shadow per module at a time. */
export class ShadowActiveError extends KilnError {
  readonly code = "shadow_active";
  readonly kind = "conflict";
  constructor(readonly module: string) {
    super(`Cannot attach a shadow to module "${module}": a shadow candidate is running beside it`);
  }
}

/** A module has no shadow (none attached since the gateway started, or it was dropped). */
export class ShadowNotFoundError extends KilnError {
  readonly code = "shadow_not_found";
  readonly kind = "not_found";
  constructor(readonly module: string) {
    super(`Module "${module}" has no shadow candidate`);
  }
}
