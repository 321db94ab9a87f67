/**
 * The records a module instance's recorder (`runtime/record/tap.ts`) keeps of its handler calls, in a file of
 * their own so that the worker protocol (`protocol.ts`) can carry them without importing the recorder.
 *
 * @module
 */

/** A decoded argument or result: numbers, i64 as bigint, strings, bytes, or null (a pointer out of bounds). */
export type TraceValue = number | bigint | string | Uint8Array | null;

/** One host call a module made during an invocation. */
export interface HostCallRecord {
  /** `kiln.<name>` or `wasi.<name>`. */
  name: string;
  /** The call's arguments as the host understood them (strings and bytes read from memory). */
  args: TraceValue[];
  result: number | bigint;
  /** Bytes the host wrote into the module's memory (an `input` value, a clock, random bytes), or null. */
  out: Uint8Array | null;
}

/** One handler call, with what it received and what it did. */
export interface InvocationRecord {
  /** 0 is the instance's start (`_initialize`, `kiln_init`); handler calls count from 1. */
  seq: number;
  /** `init`, `kiln_on_samples`, `kiln_on_record`, `kiln_on_event`, `kiln_on_tick`. */
  entry: string;
  /** Scalar arguments: the tick's `now_us`, an event's kind; pointers are left out (the host chose them). */
  args: (number | bigint)[];
  /** The sample window, channel record or event payload copied into the module, or null. */
  input: Uint8Array | null;
  calls: HostCallRecord[];
  /** The handler's return value, or null when it trapped. */
  rc: number | bigint | null;
  /** The trap's kind, or null. */
  fault: string | null;
}
