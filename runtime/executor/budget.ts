/**
 * One module instance's CPU budget, call by call: the deadline of the running call, its fuel, and why it
 * was interrupted. It implements `kiln.__check` (the hook the instrumenter inserts at function entries and
 * loop headers) and the gate every host import passes (`host_guard.ts`). Runs in the executor.
 *
 * An interrupt is a trap, never an exception: `check` returns 0 and the instrumented code executes
 * `unreachable`. Wasm exception handling (`catch_all`, `try_table`) catches what a host function throws,
 * but no handler catches a trap (exception handling proposal: traps are not exceptions), so the call
 * unwinds to the host whatever the module's code does. Once interrupted, every later check returns 0 and
 * every host import refuses, until the next call is armed.
 *
 * @example
 * ```ts ignore
 * const budget = new CallBudget(null);
 * const instance = new WebAssembly.Instance(module, { kiln: { __check: budget.check, ...guarded } });
 * budget.bind(instance.exports);
 * budget.arm(10_000); // 10 ms
 * try { (instance.exports.run as () => void)(); } finally { budget.disarm(); }
 * if (budget.interrupt) console.log(budget.interrupt.message);
 * ```
 *
 * @module
 */
import type { HostGate } from "./host_guard.ts";
import { nowMs } from "./doorbell.ts";
import { WasiExit } from "./host_wasi.ts";
import type { ModuleFault } from "./protocol.ts";
import { COUNTDOWN_EXPORT, DEFAULT_CHECK_INTERVAL, FUEL_EXPORT } from "../wasm/constants.ts";

/** The budget of one instance's calls (one call at a time: instances are not re-entrant). */
export class CallBudget implements HostGate {
  /** Instructions per call when metered (`limits.fuel`), else null. */
  readonly #fuelPerCall: number | null;
  /** When the running call must stop, epoch ms (`+Infinity` between calls). */
  #deadlineMs = Number.POSITIVE_INFINITY;
  /** The running call's budget, for the fault message. */
  #budgetUs = 0;
  #fuel: WebAssembly.Global | null = null;
  #countdown: WebAssembly.Global | null = null;
  #interrupt: ModuleFault | null = null;

  constructor(fuelPerCall: number | null) {
    this.#fuelPerCall = fuelPerCall;
  }

  /** Finds the instrumented globals (`__kiln_fuel`, `__kiln_countdown`) among an instance's exports. */
  bind(exports: WebAssembly.Exports): void {
    const fuel = exports[FUEL_EXPORT];
    this.#fuel = fuel instanceof WebAssembly.Global ? fuel : null;
    const countdown = exports[COUNTDOWN_EXPORT];
    this.#countdown = countdown instanceof WebAssembly.Global ? countdown : null;
  }

  /** Starts a call of `budgetUs` microseconds (and a full tank of fuel when metered). */
  arm(budgetUs: number): void {
    this.#interrupt = null;
    this.#budgetUs = budgetUs;
    this.#deadlineMs = nowMs() + budgetUs / 1000;
    if (this.#fuel && this.#fuelPerCall !== null) this.#fuel.value = BigInt(this.#fuelPerCall);
  }

  /** Ends the call: no deadline until the next `arm`. The interrupt, if any, stays readable. */
  disarm(): void {
    this.#deadlineMs = Number.POSITIVE_INFINITY;
  }

  /** When the running call must stop, epoch ms (as `nowMs()`); `+Infinity` between calls. */
  get deadlineMs(): number {
    return this.#deadlineMs;
  }

  /** Why the current (or last) call was interrupted, or null. */
  get interrupt(): ModuleFault | null {
    return this.#interrupt;
  }

  /** Instructions the last call executed, when metered; null otherwise. */
  get fuelUsed(): number | null {
    if (!this.#fuel || this.#fuelPerCall === null) return null;
    return this.#fuelPerCall - Number(this.#fuel.value as bigint);
  }

  /**
   * `kiln.__check`: the next countdown, or 0 when the call is past its deadline or out of fuel (the
   * instrumented code then traps). Once interrupted, 0 on every later check of the call.
   */
  check = (): number => {
    if (this.#interrupt) return 0;
    if (this.#fuel && this.#fuelPerCall !== null && (this.#fuel.value as bigint) < 0n) {
      this.#interruptWith({
        kind: "fuel_exhausted",
        function: null,
        message: `fuel exhausted: the call ran past its ${this.#fuelPerCall} instructions`,
      });
      return 0;
    }
    const now = nowMs();
    if (now > this.#deadlineMs) {
      this.#interruptWith(this.#overBudget(now));
      return 0;
    }
    return DEFAULT_CHECK_INTERVAL;
  };

  /** The host imports' gate: true while the call may do host work; past its deadline, interrupts it. */
  allow(): boolean {
    if (this.#interrupt) return false;
    const now = nowMs();
    if (now <= this.#deadlineMs) return true;
    this.#interruptWith(this.#overBudget(now));
    return false;
  }

  /** A host import threw `err`: the call ends in that fault even if the module catches the exception. */
  threw(err: unknown, name: string): void {
    this.#interruptWith(
      err instanceof WasiExit
        ? { kind: "proc_exit", function: null, message: `the module called proc_exit(${err.exitCode})` }
        : { kind: "host_error", function: null, message: `host error in import "${name}": ${String(err)}` },
    );
  }

  /** Interrupts the running call: the next check site traps (the countdown is set to 0), imports refuse. */
  #interruptWith(fault: ModuleFault): void {
    if (this.#interrupt) return;
    this.#interrupt = fault;
    if (this.#countdown) this.#countdown.value = 0;
  }

  #overBudget(now: number): ModuleFault {
    const ranUs = Math.round((now - this.#deadlineMs) * 1000 + this.#budgetUs);
    return {
      kind: "budget_exceeded",
      function: null,
      message: `budget exceeded: interrupted after ${ranUs} us (limit ${Math.round(this.#budgetUs)} us)`,
    };
  }
}
