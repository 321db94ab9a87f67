/**
 * The shape of what the instrumenter returns, apart from `instrument.ts` so that the rewriter
 * (`_rewrite.ts`), which builds it, need not import the module that imports it. Re-exported by
 * `instrument.ts` and `mod.ts`.
 *
 * @module
 */

/** What `instrument` (`instrument.ts`) returns. */
export interface InstrumentResult {
  /** The instrumented binary. */
  bytes: Uint8Array<ArrayBuffer>;
  /**
   * Interrupt checks inserted: one per function entry (except leaf functions), one per loop header, one
   * before each bulk memory or table instruction.
   */
  sites: number;
  /** Defined functions instrumented. */
  functions: number;
  /**
   * Functions with no loop and no call: they run each instruction at most once, so they get no entry check
   * (their callers' checks bound them).
   */
  leafFunctions: number;
  /**
   * Bulk memory and table instructions (`memory.fill`, `memory.copy`, `memory.init`, `table.*`), each a
   * check site that also charges the countdown one site per 64 bytes (or elements) it moves.
   */
  bulkSites: number;
  /** Loop headers instrumented. */
  loops: number;
  /** Fuel charges inserted (straight-line segments); 0 without `fuel`. */
  fuelSegments: number;
}
