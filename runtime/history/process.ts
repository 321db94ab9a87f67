/**
 * {@linkcode ProcessSampler}: the gateway process's own figures (`GET /api/v1/gateway`): memory from
 * `Deno.memoryUsage()`, CPU from `process.cpuUsage()` (node:process; neither needs a permission) sampled
 * once a second into a short history so the CPU share is an average over the last ~5 s, and the load
 * average only where the process holds `--allow-sys=loadavg` (the sandbox of `kiln run` does not grant it:
 * then it is null).
 *
 * @module
 */
import process from "node:process";

/** The process's figures at one moment. */
export interface ProcessFigures {
  /** Resident set size, bytes. */
  readonly rssBytes: number;
  /** V8 heap in use, bytes. */
  readonly heapUsedBytes: number;
  /**
   * CPU time of this process (every thread: executors included) over the last ~5 s, in percent of one
   * core (over 100 on several busy cores); null until a second has been sampled.
   */
  readonly cpuPercent: number | null;
  /** The system's 1, 5 and 15 minute load averages; null without the `sys` permission for `loadavg`. */
  readonly loadAvg: [number, number, number] | null;
}

/** How often the CPU time is sampled, ms. */
export const CPU_SAMPLE_MS = 1000;
/** The window the CPU share is averaged over, ms. */
export const CPU_WINDOW_MS = 5000;
/** Samples kept: enough to reach back one window. */
const SAMPLES = CPU_WINDOW_MS / CPU_SAMPLE_MS + 1;

/** Where the sampler reads the clock and the CPU time (tests swap them). */
export interface ProcessClock {
  /** Monotonic milliseconds. @default performance.now() */
  nowMs(): number;
  /** CPU time used by the process so far, microseconds (user + system). @default process.cpuUsage() */
  cpuUs(): number;
}

const REAL_CLOCK: ProcessClock = {
  nowMs: () => performance.now(),
  cpuUs: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
};

/**
 * Samples the process's CPU time once a second while started, and answers its figures. Started by the
 * runtime with the modules, stopped by its `close()`.
 */
export class ProcessSampler implements Disposable {
  readonly #clock: ProcessClock;
  /** Sample times (monotonic ms) and CPU times (us), oldest first, at most {@linkcode SAMPLES}. */
  #samples: { atMs: number; cpuUs: number }[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(clock: ProcessClock = REAL_CLOCK) {
    this.#clock = clock;
  }

  /** Starts sampling once a second (idempotent); the timer does not keep the process alive. */
  start(): void {
    if (this.#timer !== null) return;
    this.sample();
    const timer = setInterval(() => this.sample(), CPU_SAMPLE_MS);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops sampling (idempotent). */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  [Symbol.dispose](): void {
    this.stop();
  }

  /** Takes one CPU sample now (the timer calls it; tests too). */
  sample(): void {
    this.#samples.push({ atMs: this.#clock.nowMs(), cpuUs: this.#clock.cpuUs() });
    if (this.#samples.length > SAMPLES) this.#samples.shift();
  }

  /**
   * The CPU share since the oldest sample within the window (about 5 s ago once sampling has run that long),
   * in percent of one core, one decimal; null until a sample at least half a period old exists.
   */
  cpuPercent(): number | null {
    const nowMs = this.#clock.nowMs();
    const cpuUs = this.#clock.cpuUs();
    const from = this.#samples.find((s) => nowMs - s.atMs <= CPU_WINDOW_MS + CPU_SAMPLE_MS / 2);
    if (from === undefined || nowMs - from.atMs < CPU_SAMPLE_MS / 2) return null;
    const share = (cpuUs - from.cpuUs) / 1000 / (nowMs - from.atMs);
    return Math.round(Math.max(0, share) * 1000) / 10;
  }

  /** The figures now. */
  figures(): ProcessFigures {
    const memory = Deno.memoryUsage();
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      cpuPercent: this.cpuPercent(),
      loadAvg: loadAvg(),
    };
  }
}

/** The load averages, or null when the process may not read them (asked without prompting). */
function loadAvg(): [number, number, number] | null {
  if (Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state !== "granted") return null;
  const [one, five, fifteen] = Deno.loadavg();
  return [one ?? 0, five ?? 0, fifteen ?? 0];
}
