/**
 * The executor watchdog: the last line of defence when something still blocks an executor's thread (a
 * blocking atomic wait, a host-glue bug, a V8 pathology) after the CPU budget's interrupt and the host
 * calls' own deadlines. Each executor worker shares a small heartbeat with the main thread: its loop bumps a
 * counter every turn (and its report timer every 100 ms when it idles), and around every call into a module
 * instance it writes which instance is running, in which entry, and how long that call may take. The main
 * thread looks at every executor every {@linkcode WATCHDOG_PERIOD_MS}; an executor whose heartbeat has not
 * moved for longer than the running call's allowance plus {@linkcode CALL_MARGIN_MS} (with no call running,
 * for {@linkcode IDLE_STALL_MS}) is terminated, the module whose call was running is faulted as
 * `executor_stalled`, and the executor's other modules are started again in a fresh worker.
 *
 * This is the main thread's side: judging heartbeats and terminating; the worker's side, the heartbeat itself
 * and the calls' allowances, is `executor/heartbeat.ts`. Private to `runtime/`.
 *
 * @module
 */
import { ExecutorError } from "./errors.ts";
import { nowMs } from "./executor/doorbell.ts";
import type { ModuleFault } from "./executor/protocol.ts";
import { type CallEntry, type Heartbeat, type HeartbeatWords } from "./executor/heartbeat.ts";

export {
  CALL_ENTRIES,
  type CallEntry,
  COPY_BYTES_PER_MS,
  copyAllowedMs,
  handlerAllowedMs,
  Heartbeat,
  type HeartbeatWords,
  loadAllowedMs,
} from "./executor/heartbeat.ts";

/** How often the main thread looks at every executor's heartbeat, ms. */
export const WATCHDOG_PERIOD_MS = 100;

/**
 * How long past its allowance a call may hold its executor before the watchdog terminates it, ms. The
 * budget's interrupt fires at the allowance itself, give or take one check interval of module code or one
 * host call; the margin absorbs that, a garbage collection, and a busy 2-core machine descheduling the
 * thread, so that only a thread that is really held (blocked, not merely slow) is terminated. So nothing a
 * module does holds an executor longer than its call's allowance + this + {@linkcode WATCHDOG_PERIOD_MS}
 * (+ the time the worker takes to terminate).
 */
export const CALL_MARGIN_MS = 1_000;

/**
 * How long an executor with no module call running may go without a heartbeat, ms. Between calls it beats
 * every turn of its loop (at most every 50 ms while it sleeps) or every 100 ms from its report timer, so
 * this is twenty missed beats: only a thread held outside any module call (host glue, the worker's own
 * code) reaches it.
 */
export const IDLE_STALL_MS = 2_000;

/** What the main thread last saw of an executor's heartbeat: the beat, and when it first saw it (its clock). */
export interface BeatSeen {
  beat: number;
  sinceMs: number;
}

/** The watchdog's decision about one executor at one moment. */
export type StallVerdict =
  | { stalled: false; seen: BeatSeen | null }
  | { stalled: true; stall: Stall };

/** An executor found stalled: which call held it, and for how long. */
export interface Stall {
  /** The load id of the instance whose call was running, or 0 when none was (the worker's own code). */
  slot: number;
  entry: CallEntry;
  /** How long the heartbeat had not moved, ms: at least this long, at most one watchdog period longer. */
  heldMs: number;
  /** How long the running call was allowed, ms (0 with no call running). */
  allowedMs: number;
  /** The limit it went past: `allowedMs` + {@linkcode CALL_MARGIN_MS}, or {@linkcode IDLE_STALL_MS}. */
  limitMs: number;
}

/**
 * Judges one executor from its heartbeat: stalled when the beat has not moved since the main thread first
 * saw it, `nowMs - seen.sinceMs` ago, for longer than the running call's allowance (`deadlineAt -
 * startedAt`) plus {@linkcode CALL_MARGIN_MS}, or with no call running for longer than
 * {@linkcode IDLE_STALL_MS}. Only the main thread's own clock measures how long: the worker's times give the
 * allowance as a duration, so clocks that differ between threads cannot trigger it early. A worker that has
 * not beaten yet (it is still loading its code, and runs no module before it has) is never stalled. Pure.
 *
 * @param seen What {@linkcode judgeHeartbeat} returned last time for this executor (null the first time).
 * @param nowMs The main thread's clock, epoch ms.
 */
export function judgeHeartbeat(words: HeartbeatWords, seen: BeatSeen | null, nowMs: number): StallVerdict {
  if (!words.stable) return { stalled: false, seen };
  if (seen === null && words.beat === 0) return { stalled: false, seen: null };
  if (seen === null || seen.beat !== words.beat) {
    return { stalled: false, seen: { beat: words.beat, sinceMs: nowMs } };
  }
  const heldMs = nowMs - seen.sinceMs;
  const calling = words.slot !== 0;
  const allowedMs = calling ? Math.max(0, words.deadlineAt - words.startedAt) : 0;
  const limitMs = calling ? allowedMs + CALL_MARGIN_MS : IDLE_STALL_MS;
  if (!(heldMs > limitMs)) return { stalled: false, seen };
  return {
    stalled: true,
    stall: {
      slot: calling ? words.slot : 0,
      entry: calling ? words.entry : "none",
      heldMs,
      allowedMs,
      limitMs,
    },
  };
}

/** Which module's call a stall was in, as the executor that owns the slot ids knows it. */
export interface StallCulprit {
  module: string;
  /** A deploy's trial start (no slot of the runtime ran it). */
  trial: boolean;
}

/**
 * An executor held its thread past its heartbeat's limit and was terminated by the watchdog. The culprit, when
 * a module's call was running, is named; it is faulted with {@linkcode stallFault}.
 */
export class ExecutorStalledError extends ExecutorError {
  constructor(
    executor: string,
    readonly culprit: StallCulprit | null,
    readonly stall: Stall,
  ) {
    super(
      executor,
      `terminated by the watchdog: ${
        culprit
          ? `module "${culprit.module}"${
            culprit.trial ? " (a deploy's trial start)" : ""
          } held it in ${stall.entry}`
          : "its thread was held outside any module call"
      } for ${Math.round(stall.heldMs)} ms${
        stall.slot !== 0
          ? ` (the call was allowed ${round(stall.allowedMs)} ms + ${CALL_MARGIN_MS} ms margin)`
          : ""
      }`,
    );
  }
}

/** The fault of the module whose call stalled its executor. */
export function stallFault(err: ExecutorStalledError): ModuleFault {
  const entry = err.stall.entry;
  return {
    kind: "executor_stalled",
    function: entry.startsWith("kiln_on_") ? entry : null,
    message: `executor "${err.executor}" stalled: module "${
      err.culprit?.module ?? "?"
    }" held it in ${entry} for ${Math.round(err.stall.heldMs)} ms (allowed ${
      round(err.stall.allowedMs)
    } ms + ${CALL_MARGIN_MS} ms margin); the watchdog terminated it`,
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** An executor as the watchdog sees it. */
export interface WatchTarget {
  readonly name: string;
  readonly heartbeat: Heartbeat;
  /** Called once when the watchdog finds it stalled: terminate the worker and report. */
  stalled(stall: Stall): void;
}

/**
 * Watches executors' heartbeats with one timer (unref'd, so it never keeps a process alive, and cleared when
 * the last executor is unwatched) and counts terminations per executor name across replacements.
 */
export class Watchdog {
  #watched = new Map<WatchTarget, BeatSeen | null>();
  #terminations = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #now: () => number;
  #useTimer: boolean;

  /**
   * @param options.now The clock, epoch ms. @default nowMs
   * @param options.timer Check every {@linkcode WATCHDOG_PERIOD_MS} on a timer; tests with a fake clock pass
   *   false and call {@linkcode Watchdog.check} themselves. @default true
   */
  constructor(options: { now?: () => number; timer?: boolean } = {}) {
    this.#now = options.now ?? nowMs;
    this.#useTimer = options.timer ?? true;
  }

  /** Starts watching `target`; returns the function that stops it (call it when the executor closes). */
  watch(target: WatchTarget): () => void {
    this.#watched.set(target, null);
    if (!this.#terminations.has(target.name)) this.#terminations.set(target.name, 0);
    if (this.#timer === null && this.#useTimer) {
      const timer = setInterval(() => this.check(), WATCHDOG_PERIOD_MS);
      Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    return () => {
      this.#watched.delete(target);
      if (this.#watched.size === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }

  /** Looks at every watched executor once; a stalled one is unwatched, counted and told. */
  check(): void {
    const now = this.#now();
    for (const [target, seen] of [...this.#watched]) {
      if (!this.#watched.has(target)) continue; // unwatched by an earlier one's termination
      const verdict = judgeHeartbeat(target.heartbeat.read(), seen, now);
      if (!verdict.stalled) {
        this.#watched.set(target, verdict.seen);
        continue;
      }
      this.#watched.delete(target);
      this.#terminations.set(target.name, (this.#terminations.get(target.name) ?? 0) + 1);
      target.stalled(verdict.stall);
    }
    if (this.#watched.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Executors terminated by the watchdog, by executor name (every executor ever watched, from 0). */
  terminations(): Map<string, number> {
    return new Map(this.#terminations);
  }
}
