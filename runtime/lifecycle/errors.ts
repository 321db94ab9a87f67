/**
 * Errors of the desired state: a stored binary that changed or vanished, a version a module does not keep.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/**
 * A stored binary or data blob in the data directory no longer has the digest it is stored under: changed
 * on disk since it was deployed. The module it belongs to is not started from it.
 */
export class BlobCorruptError extends KilnError {
  readonly code = "blob_corrupt";
  readonly kind = "rejected";
  constructor(readonly path: string, readonly expected: string, readonly actual: string) {
    super(
      `The stored file "${path}" changed on disk: its sha256 is ${actual}, it was stored as ${expected}`,
    );
  }
}

/** A stored binary or data blob is missing from the data directory (or cannot be read). */
export class BlobMissingError extends KilnError {
  readonly code = "blob_missing";
  readonly kind = "not_found";
  constructor(readonly path: string, reason: string, options?: ErrorOptions) {
    super(`The stored file "${path}" cannot be read: ${reason}`, options);
  }
}

/** A rollback named a version the module does not keep (never had, or pruned). */
export class VersionUnknownError extends KilnError {
  readonly code = "version_unknown";
  readonly kind = "not_found";
  constructor(readonly module: string, readonly version: number, readonly kept: readonly number[]) {
    super(
      `Module "${module}" keeps no version ${version}` +
        (kept.length > 0 ? ` (it keeps ${kept.join(", ")})` : " (it keeps none)"),
    );
  }
}

/** A rollback without a version, of a module that keeps no version older than the one it runs. */
export class NoPreviousVersionError extends KilnError {
  readonly code = "no_previous_version";
  readonly kind = "conflict";
  constructor(readonly module: string, readonly current: number | null) {
    super(
      `Cannot roll back module "${module}": it keeps no version older than ` +
        (current === null ? "the one it runs" : `version ${current}, the one it runs`),
    );
  }
}

/** A rollback named the version the module runs already. */
export class AlreadyCurrentError extends KilnError {
  readonly code = "version_current";
  readonly kind = "conflict";
  constructor(readonly module: string, readonly version: number) {
    super(`Module "${module}" runs version ${version} already`);
  }
}
