/**
 * What a hostile case expects of its module (refused at deploy, or deployed and contained) and the
 * expectations the case files share: a refusal for a reason, an interruption for the CPU budget.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ModuleRejectedError, type ModuleStatus, type Runtime } from "../../runtime/mod.ts";
import type { AuditLog } from "../../snapshots/mod.ts";

/** Polled until it returns true; then `check` runs. */
export interface Containment {
  until: (m: ModuleStatus, rt: Runtime) => boolean;
  check?: (m: ModuleStatus, rt: Runtime, audit: AuditLog) => void | Promise<void>;
}

/** What a case expects of the hostile module. */
export type Expectation =
  /** Refused at deploy: the predicate receives the error. */
  | { refused: (err: unknown) => boolean }
  /** Deployed; `until` is polled until it returns true, then `check` runs. */
  | Containment
  /** Either refused at deploy (`refused` receives the error), or deployed and contained as `contained` says. */
  | { refused: (err: unknown) => boolean; orContained: Containment };

/**
 * A refusal at deploy: a {@linkcode ModuleRejectedError} (code `module_rejected`) with a reason matching
 * `reason`, and, when given, caused by an error of class `cause` (the decoder's error the loader wrapped).
 */
export function refusedFor(reason: RegExp, cause?: abstract new (...args: never[]) => Error): Expectation {
  return { refused: rejectedFor(reason, cause) };
}

/** The predicate of {@linkcode refusedFor}, for {@linkcode Expectation}'s `orContained` form. */
export function rejectedFor(
  reason: RegExp,
  cause?: abstract new (...args: never[]) => Error,
): (err: unknown) => boolean {
  return (e) =>
    e instanceof ModuleRejectedError && e.code === "module_rejected" &&
    e.reasons.some((r) => reason.test(r)) && (cause === undefined || e.cause instanceof cause);
}

/**
 * A module interrupted for its CPU budget (`budget_exceeded`) in a function named by `fn`, once `until`;
 * then `check`, when given.
 */
export function interrupted(
  fn: RegExp,
  until: (m: ModuleStatus) => boolean,
  check?: (m: ModuleStatus) => void,
): Containment {
  return {
    until: (m) => until(m) && m.last_fault?.kind === "budget_exceeded",
    check: (m) => {
      assert.equal(m.last_fault?.kind, "budget_exceeded");
      assert.match(m.last_fault?.function ?? "", fn);
      assert.match(m.last_fault?.message ?? "", /^budget exceeded: /);
      check?.(m);
    },
  };
}

/**
 * How late this process's timers fired lately: a 5 ms interval notes each lateness over 1 ms (the newest
 * 2,000). On a machine so busy that threads wait their turn for a tenth of a second, an interrupted call's
 * wall time grows by that wait too: the margin below adds it, so the check judges Kiln, not the scheduler.
 */
const LAG_PROBE_MS = 5;
const lags: { at: number; lagMs: number }[] = [];
let nextProbe = performance.now() + LAG_PROBE_MS;
const probe = setInterval(() => {
  const now = performance.now();
  const lagMs = now - nextProbe;
  nextProbe = now + LAG_PROBE_MS;
  if (lagMs > 1) lags.push({ at: now, lagMs });
  if (lags.length > 2_000) lags.shift();
}, LAG_PROBE_MS);
Deno.unrefTimer(probe);

/** The largest timer lateness of this process in the last `windowMs`, µs. */
export function recentLagUs(windowMs = 5_000): number {
  const since = performance.now() - windowMs;
  let max = 0;
  for (const l of lags) if (l.at >= since && l.lagMs > max) max = l.lagMs;
  return Math.round(max * 1000);
}

/**
 * The margin an interrupted call may run past its limit: three times the limit plus 10 ms, generous for a
 * loaded machine, and far below what an uncharged host call or a caught interrupt runs (tens of times over);
 * plus twice the process's recent timer lateness ({@linkcode recentLagUs}), which is 0-2 ms on a quiet
 * machine and only grows when the scheduler, not the module, holds threads back.
 */
export function interruptMarginUs(limitUs: number): number {
  return 3 * limitUs + 10_000 + 2 * recentLagUs();
}

/**
 * Asserts that the module's last interrupt came within {@linkcode interruptMarginUs} of its limit, as the
 * fault message the runtime writes says ("budget exceeded: interrupted after 3012 us (limit 3000 us)"):
 * microseconds the runtime counted, not a timing taken by the test.
 */
export function assertInterruptedInTime(m: ModuleStatus): void {
  const match = /interrupted after (\d+) us \(limit (\d+) us\)/.exec(m.last_fault?.message ?? "");
  assert.ok(match, `no interruption in the fault: ${m.last_fault?.message}`);
  const [ranUs, limitUs] = [Number(match[1]), Number(match[2])];
  const margin = interruptMarginUs(limitUs);
  assert.ok(
    ranUs <= margin,
    `the call ran ${ranUs} us against a limit of ${limitUs} us (at most ${margin} us, ` +
      `with ${recentLagUs()} us of recent timer lateness)`,
  );
}

/** An error as a case's message shows it: its class, its code and its message (or a refusal's reasons). */
export function describeError(err: unknown): string {
  if (err instanceof ModuleRejectedError) return `${err.name} (${err.code}): ${err.reasons.join("; ")}`;
  if (err instanceof Error) return `${err.name}${"code" in err ? ` (${err.code})` : ""}: ${err.message}`;
  return String(err);
}
