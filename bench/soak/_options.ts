/**
 * The soak's command line: its duration, the fault schedule (which scales with the duration unless set), the
 * load, the check bounds, and where the results go.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { KilnError } from "../../errors.ts";

/** A command-line option of the soak is unknown, missing its value or out of range. */
export class SoakUsageError extends KilnError {
  readonly code = "soak_usage";
  readonly kind = "invalid";
  constructor(readonly option: string, message: string) {
    super(message);
  }
}

/** Everything a soak run is told, times in milliseconds. */
export interface SoakOptions {
  /** How long the gateway runs under load and faults (the end-of-run drain comes after it). */
  readonly durationMs: number;
  /** Time from start excluded from the memory slope and the latency baseline. */
  readonly warmUpMs: number;
  /** One infrastructure fault (broker restart, PLC kill, OPC UA restart, disk pressure, in turn) every... */
  readonly faultEveryMs: number;
  /** One module crash every... */
  readonly crashEveryMs: number;
  /** How long the broker, the PLC and the OPC UA server stay down in a fault. */
  readonly downMs: number;
  /** The longest the broker stays down waiting for the outbox to reach its disk budget. */
  readonly pressureMaxMs: number;
  /** Resident memory and status samples every... */
  readonly sampleEveryMs: number;
  /** Latency percentiles per window of... */
  readonly windowMs: number;
  /** API events sent to the probe module a second (each sets a GPIO pin and publishes one message). */
  readonly eventsPerS: number;
  /** The outbox's disk budget, KiB. */
  readonly diskBudgetKib: number;
  /** Pass bound of the resident memory's least-squares slope after warm-up, MiB per hour. */
  readonly slopeBoundMibPerH: number;
  /** Pass bound of the last windows' p99 over the first windows' (after warm-up). */
  readonly latencyFactor: number;
  /** Added to a connector's (or module's) `max_backoff_ms` for its recovery bound. */
  readonly recoveryMarginMs: number;
  /** Where `soak.json` and the two SVG charts go. */
  readonly outDir: string;
  /** Keep the temporary folder (manifest, logs, databases) instead of removing it. */
  readonly keep: boolean;
}

/**
 * What a run may take beyond its duration before the harness stops it itself: starting the peers and the
 * gateway (up to 2 min each on a cold cache), a last fault running over, the drain (3 min), the teardown.
 * Every process the soak starts is also bounded by its duration plus this.
 */
export const OVERHEAD_MS = 15 * 60_000;

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `90s`, `60m`, `24h`, `1500ms` or `1h30m` into milliseconds.
 *
 * @throws {SyntaxError} when `text` is not one.
 * @example
 * ```ts
 * import { parseDuration } from "./_options.ts";
 * parseDuration("90s"); // 90000
 * parseDuration("1h30m"); // 5400000
 * ```
 */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    throw new SyntaxError(`Cannot read the duration "${text}": expected e.g. "90s", "60m", "24h" or "1h30m"`);
  }
  return Math.round(parts.reduce((ms, p) => ms + Number(p[1]) * UNITS[p[2]!]!, 0));
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/**
 * The schedule a duration gets unless told otherwise: warm-up a tenth of the run (15 s to 10 min), an
 * infrastructure fault every 24th of it (12 s to 5 min: 24 an hour, 6 of each kind), a module crash every
 * 20th (10 s to 3 min: "every few minutes"), faults down for a quarter of their period (2 s to 60 s),
 * latency windows of a twelfth (5 s to 60 s), samples every 2 to 10 s.
 */
export function scheduleFor(durationMs: number) {
  const faultEveryMs = Math.round(clamp(durationMs / 24, 12_000, 300_000));
  return {
    warmUpMs: Math.round(clamp(durationMs / 10, 15_000, 600_000)),
    faultEveryMs,
    crashEveryMs: Math.round(clamp(durationMs / 20, 10_000, 180_000)),
    downMs: Math.round(clamp(faultEveryMs / 4, 2_000, 60_000)),
    pressureMaxMs: Math.round(clamp(faultEveryMs, 60_000, 300_000)),
    windowMs: Math.round(clamp(durationMs / 12, 5_000, 60_000)),
    sampleEveryMs: Math.round(clamp(durationMs / 360, 2_000, 10_000)),
  };
}

const HELP = `deno task soak [--duration 60m] [options]

Runs the demo gateway with a Modbus PLC, an OPC UA server and Mosquitto in their own processes, injects
faults on a schedule and checks memory, message accounting, recovery, API status codes and latency.

  --duration D          how long to run: 90s, 60m, 24h (default 60m)
  --warm-up D           excluded from the memory slope and latency baseline (default: a tenth, 15s..10m)
  --fault-every D       one infrastructure fault every D (default: duration/24, 12s..5m)
  --crash-every D       one module crash every D (default: duration/20, 10s..3m)
  --down D              how long a peer stays down in a fault (default: fault-every/4, 2s..60s)
  --pressure-max D      longest broker outage waiting for the outbox budget (default: fault-every, 60s..5m)
  --sample-every D      memory and status samples (default: duration/360, 2s..10s)
  --window D            latency percentile windows (default: duration/12, 5s..60s)
  --events-per-s N      API events to the probe module a second (default 10)
  --disk-budget-kib N   the outbox's disk budget (default 128)
  --slope-bound N       pass bound of the memory slope, MiB/h (default 16)
  --latency-factor N    pass bound of last/first windows' p99 (default 3)
  --recovery-margin D   added to max_backoff_ms for the recovery bound (default 10s)
  --out-dir PATH        where soak.json and the charts go (default bench/results)
  --keep                keep the temporary folder (manifest, logs, databases)
`;

/**
 * Reads the soak's options from `args`.
 *
 * @throws {SoakUsageError} on an unknown option, a bad duration or a number out of range.
 */
export function parseSoakArgs(args: readonly string[], defaultOutDir: string): SoakOptions | "help" {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        duration: { type: "string" },
        "warm-up": { type: "string" },
        "fault-every": { type: "string" },
        "crash-every": { type: "string" },
        down: { type: "string" },
        "pressure-max": { type: "string" },
        "sample-every": { type: "string" },
        window: { type: "string" },
        "events-per-s": { type: "string" },
        "disk-budget-kib": { type: "string" },
        "slope-bound": { type: "string" },
        "latency-factor": { type: "string" },
        "recovery-margin": { type: "string" },
        "out-dir": { type: "string" },
        keep: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new SoakUsageError("?", `${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) return "help";
  const duration = (key: keyof typeof values, fallback: number) => {
    const text = values[key];
    if (typeof text !== "string") return fallback;
    try {
      const ms = parseDuration(text);
      if (ms <= 0) throw new SyntaxError(`a duration must be above 0`);
      return ms;
    } catch (err) {
      throw new SoakUsageError(`--${key}`, `--${key}: ${(err as Error).message}`);
    }
  };
  const number = (key: keyof typeof values, fallback: number, min: number, max: number) => {
    const text = values[key];
    if (typeof text !== "string") return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new SoakUsageError(`--${key}`, `--${key} must be a number from ${min} to ${max}, got "${text}"`);
    }
    return n;
  };
  const durationMs = duration("duration", 3_600_000);
  const auto = scheduleFor(durationMs);
  const faultEveryMs = duration("fault-every", auto.faultEveryMs);
  return {
    durationMs,
    warmUpMs: duration("warm-up", auto.warmUpMs),
    faultEveryMs,
    crashEveryMs: duration("crash-every", auto.crashEveryMs),
    downMs: duration("down", values["fault-every"] ? clamp(faultEveryMs / 4, 2_000, 60_000) : auto.downMs),
    pressureMaxMs: duration("pressure-max", auto.pressureMaxMs),
    sampleEveryMs: duration("sample-every", auto.sampleEveryMs),
    windowMs: duration("window", auto.windowMs),
    eventsPerS: number("events-per-s", 10, 0.1, 200),
    diskBudgetKib: number("disk-budget-kib", 128, 16, 1024 * 1024),
    slopeBoundMibPerH: number("slope-bound", 16, 0, 1e6),
    latencyFactor: number("latency-factor", 3, 1, 1e6),
    recoveryMarginMs: duration("recovery-margin", 10_000),
    outDir: typeof values["out-dir"] === "string" ? values["out-dir"] : defaultOutDir,
    keep: values.keep ?? false,
  };
}

/** The usage text. */
export const SOAK_HELP = HELP;
