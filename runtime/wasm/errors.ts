/**
 * Errors of the Wasm binary tooling: a malformed binary, a feature Kiln refuses, a limit a module exceeds.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** Where in a binary an error was found. */
export interface WasmErrorLocation {
  /** Byte offset in the module binary where the faulty item starts. */
  offset: number;
  /** Name of the section being read, e.g. `"memory"`; absent for the header and section headers. */
  section?: string;
}

/**
 * A binary is not a well-formed WebAssembly module (WebAssembly core spec §5): bad magic or version, a
 * truncated or oversized section, a malformed LEB128, a count larger than the bytes left, an invalid index.
 */
export class WasmFormatError extends KilnError {
  readonly code = "wasm_invalid";
  readonly kind = "rejected";
  /** Byte offset in the binary where the faulty item starts. */
  readonly offset: number;
  /** Name of the section being read, when the error is inside one. */
  readonly section?: string;

  constructor(message: string, location: WasmErrorLocation, options?: ErrorOptions) {
    super(message, options);
    this.offset = location.offset;
    if (location.section !== undefined) this.section = location.section;
  }
}

/**
 * A well-formed binary uses a feature Kiln refuses: V8 may run it, but not without flags, or not under
 * ABI v1 (memory64, GC types).
 */
export class WasmUnsupportedError extends KilnError {
  readonly code = "wasm_unsupported";
  readonly kind = "rejected";
  /** Byte offset in the binary where the feature is used. */
  readonly offset: number;
  /** Name of the section being read. */
  readonly section?: string;

  constructor(
    /** The proposal's short name, e.g. `"memory64"` or `"gc"`. */
    readonly feature: string,
    message: string,
    location: WasmErrorLocation,
  ) {
    super(message);
    this.offset = location.offset;
    if (location.section !== undefined) this.section = location.section;
  }
}

/** A module imports its memory; Kiln ABI v1 requires that a module defines and exports its own. */
export class ImportedMemoryError extends KilnError {
  readonly code = "memory_imported";
  readonly kind = "rejected";
  constructor(readonly importModule: string, readonly importName: string) {
    super(
      `Memory import "${importModule}"."${importName}" is refused: a Kiln module must define and export its own memory`,
    );
  }
}

/** A module needs more of a resource than its limits allow, e.g. more initial memory than `max_memory_mb`. */
export class LimitExceededError extends KilnError {
  readonly code = "limit_exceeded";
  readonly kind = "rejected";
  constructor(
    /** The manifest limit, e.g. `"max_memory_mb"`. */
    readonly limit: string,
    /** What the module needs, in the limit's unit. */
    readonly requested: number,
    /** What the limit allows, in the limit's unit. */
    readonly allowed: number,
    message: string,
  ) {
    super(message);
  }
}
