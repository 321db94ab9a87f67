/**
 * The base error every Kiln layer extends. Each folder keeps its own subclasses in its `errors.ts`,
 * with structured fields so callers (the CLI, the API) can tell errors apart by `code`, never by message text.
 *
 * @module
 */

/** Base class of every error Kiln raises on purpose: a user's mistake, a refused module, a failed transport. */
export abstract class KilnError extends Error {
  /** Stable machine-readable code, e.g. `"manifest_invalid"`; the API maps codes to HTTP statuses. */
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True when `err` is a {@linkcode KilnError}: an expected failure whose message is fit to show a user. */
export function isKilnError(err: unknown): err is KilnError {
  return err instanceof KilnError;
}
