/**
 * The zod building blocks every part of the manifest's schema shares (`schema.ts`, `_connectors.ts`): strict
 * objects whose unknown keys name the allowed ones or the nearest, integers in a range, entity ids with the
 * message that explains them.
 *
 * @module
 */
import { z } from "zod";
import { closest } from "../_near.ts";

/** Module names: a lowercase letter, then up to 62 lowercase letters, digits, `_` or `-`. */
export const MODULE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** Sim sensor and channel ids follow the module name rule. */
export const ENTITY_ID = MODULE_NAME;

/**
 * Separates the per-key messages zod gets for one `unrecognized_keys` issue (its error callback returns one
 * string for all the keys); `_issues.ts` splits them again. A newline never appears in a message otherwise.
 */
export const KEY_MESSAGE_SEPARATOR = "\n";

/** The zod error callback signature for an object's unknown keys. */
export type UnknownKeyMessage = (key: string, allowed: readonly string[]) => string;

const unknownKey: UnknownKeyMessage = (key, allowed) => {
  const near = closest(key, allowed);
  return near === null
    ? `unknown key "${key}" (allowed: ${allowed.join(", ")})`
    : `unknown key "${key}"; did you mean "${near}"?`;
};

/** A strict object whose unknown keys are each reported with the allowed keys or the nearest one. */
export function strict<T extends z.core.$ZodLooseShape>(shape: T, message: UnknownKeyMessage = unknownKey) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => message(key, allowed)).join(KEY_MESSAGE_SEPARATOR)
        : undefined,
  });
}

/** An integer in `[min, max]`. */
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);
/** A number above 0. */
export const positive = () => z.number().positive();
/** An entity id ({@linkcode ENTITY_ID}); `what` names it in the message, e.g. `channel id`. */
export const id = (what: string) =>
  z.string().regex(
    ENTITY_ID,
    `a ${what} must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
  );
/** A file path, not empty. */
export const path = z.string().min(1, "a path must not be empty");
