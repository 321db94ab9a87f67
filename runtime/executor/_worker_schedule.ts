/**
 * A periodic module's schedule in its executor worker (`worker.ts`): the next deadline, the periods a late
 * tick skips, and the lateness of the recent ticks (start of the tick minus its deadline). A tick that
 * starts a whole period or more late skips the missed periods and counts them as deadline misses; it never
 * runs them in a burst. Private to the worker.
 *
 * @module
 */
import type { ModuleInstance } from "./instance.ts";

/** Ticks whose lateness is kept for the percentiles. */
export const LATENESS_WINDOW = 1024;

/** A periodic module's schedule, and its recent lateness. */
export interface PeriodicTask {
  inst: ModuleInstance;
  periodMs: number;
  /** The next deadline, epoch ms. */
  next: number;
  /** Lateness of the last ticks, us, a ring of {@linkcode LATENESS_WINDOW}. */
  lateness: Float64Array;
  latenessCount: number;
}

/** The schedule of `inst`, whose first deadline is one period after `nowMs` (epoch ms). */
export function createPeriodicTask(inst: ModuleInstance, nowMs: number): PeriodicTask {
  const periodMs = inst.spec.periodUs / 1000;
  return {
    inst,
    periodMs,
    next: nowMs + periodMs,
    lateness: new Float64Array(LATENESS_WINDOW),
    latenessCount: 0,
  };
}

/**
 * Starts a tick at `startMs` (epoch ms): records its lateness, skips the periods it missed entirely
 * (counted in the instance's `deadlineMisses`) and moves the deadline to the next period.
 */
export function startTick(p: PeriodicTask, startMs: number): void {
  const late = startMs - p.next;
  p.lateness[p.latenessCount++ % LATENESS_WINDOW] = late * 1000;
  if (late >= p.periodMs) {
    const missed = Math.floor(late / p.periodMs);
    p.inst.stats.deadlineMisses += missed;
    p.next += missed * p.periodMs;
  }
  p.next += p.periodMs;
}

/** Lateness percentiles of the last ticks, in microseconds; null before the first tick. */
export function latenessOf(p: PeriodicTask): { p50: number; p99: number; max: number } | null {
  const n = Math.min(p.latenessCount, LATENESS_WINDOW);
  if (n === 0) return null;
  const sorted = p.lateness.slice(0, n).sort();
  const at = (q: number) => Math.round(sorted[Math.min(n - 1, Math.floor(q * n))]! * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}
