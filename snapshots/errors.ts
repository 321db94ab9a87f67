/**
 * Errors of the SQLite store.
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/** The database cannot be opened or is not Kiln's. */
export class StoreError extends KilnError {
  readonly code = "store_failed";
  readonly kind = "unavailable";
  constructor(readonly path: string, message: string, options?: ErrorOptions) {
    super(`Cannot open the store "${path}": ${message}`, options);
  }
}

/** The database was written by a newer Kiln: its schema version is ahead of this build's migrations. */
export class StoreVersionError extends KilnError {
  readonly code = "store_version";
  readonly kind = "conflict";
  constructor(readonly path: string, readonly found: number, readonly supported: number) {
    super(
      `The store "${path}" has schema version ${found}, but this Kiln supports up to ${supported}: ` +
        `it was written by a newer Kiln; upgrade Kiln or use another --data directory`,
    );
  }
}
