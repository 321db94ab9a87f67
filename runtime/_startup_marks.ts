/**
 * A startup trace for `bench/cold_start.ts`: with `KILN_STARTUP_MARKS` set, the points of a start (module
 * graph loaded, executors up, a module compiled, its snapshot read, its first output...) are printed to
 * stderr as they happen, one line each:
 *
 * ```
 * @@mark <name> <ms since the origin> <pid>
 * @@span <name> <duration ms> <ms since the origin at its end> <pid>
 * ```
 *
 * The origin is `performance.timeOrigin` (this process's start), or, when the variable holds a Unix time in
 * milliseconds (`KILN_STARTUP_MARKS=1733600000000.5`), that time: a benchmark sets its own spawn time there,
 * so the launcher's marks and its relaunched child's share one origin. Off (the variable unset or not
 * readable, as in a worker), every call is one comparison and returns. Private to `runtime/` and the CLI.
 *
 * @module
 */

/** The environment variable that turns the trace on; its value `1`, or the origin as a Unix time in ms. */
export const STARTUP_MARKS_ENV = "KILN_STARTUP_MARKS";

/** The origin as a Unix time in ms, or null when the trace is off. */
const origin: number | null = readOrigin();
/**
 * Names marked once, and "" once `process_start` is written: one set for the process, shared by every copy
 * of this module in it (the launcher's bundle and the CLI's each hold one: scripts/bundle.ts).
 */
const seen = ((globalThis as Record<symbol, unknown>)[Symbol.for("kiln.startup_marks.seen")] ??= new Set<
  string
>()) as Set<string>;
const encoder = new TextEncoder();

function readOrigin(): number | null {
  try {
    // Never a permission prompt: a process not allowed to read the variable runs without the trace.
    if (Deno.permissions.querySync({ name: "env", variable: STARTUP_MARKS_ENV }).state !== "granted") {
      return null;
    }
    const raw = Deno.env.get(STARTUP_MARKS_ENV);
    if (raw === undefined || raw === "" || raw === "0") return null;
    const at = Number(raw);
    return Number.isFinite(at) && at > 1e12 ? at : performance.timeOrigin;
  } catch {
    return null;
  }
}

/** Whether the startup trace is on in this process. */
export function startupMarksOn(): boolean {
  return origin !== null;
}

/**
 * What a launcher sets in the environment of the process it relaunches (exec or spawn) so that the child's
 * marks share its origin: `{ KILN_STARTUP_MARKS: "<origin as Unix ms>" }` with the trace on, `{}` off.
 */
export function startupMarksEnv(): Record<string, string> {
  return origin === null ? {} : { [STARTUP_MARKS_ENV]: origin.toFixed(3) };
}

function write(line: string): void {
  if (seen.size === 0) {
    seen.add("");
    // The process's own start, before any of its code ran, relative to the origin.
    write(`@@mark process_start ${(performance.timeOrigin - origin!).toFixed(2)} ${Deno.pid}\n`);
  }
  try {
    Deno.stderr.writeSync(encoder.encode(line));
  } catch { /* stderr closed: the trace is lost, the start goes on */ }
}

function sinceOrigin(epochMs: number): string {
  return (epochMs - origin!).toFixed(2);
}

/**
 * Prints a startup mark `name` now (or at `atEpochMs`, a Unix time in ms taken elsewhere, e.g. a worker's
 * `Date.now()`). With `once`, a name already marked is not marked again (a module's first output).
 */
export function mark(name: string, options?: { atEpochMs?: number; once?: boolean }): void {
  if (origin === null) return;
  if (options?.once) {
    if (seen.has(name)) return;
    seen.add(name);
  }
  const at = options?.atEpochMs ?? performance.timeOrigin + performance.now();
  write(`@@mark ${name} ${sinceOrigin(at)} ${Deno.pid}\n`);
}

/**
 * Prints a span `name` that began at `startMs` (a `performance.now()` of this process) and ends now.
 */
export function span(name: string, startMs: number): void {
  if (origin === null) return;
  const now = performance.now();
  write(
    `@@span ${name} ${(now - startMs).toFixed(2)} ${sinceOrigin(performance.timeOrigin + now)} ${Deno.pid}\n`,
  );
}

/**
 * Marks `first_output:<module>` once, at the time of the first of a report's output points (the executor's
 * `Date.now()` when the call set it; without points, `reportAtMs`, the report's arrival): the module's
 * first processed window or tick.
 */
export function markFirstOutput(
  module: string,
  points: readonly (readonly [string, number, number])[],
  reportAtMs: number,
): void {
  if (origin === null) return;
  mark(`first_output:${module}`, { atEpochMs: points[0]?.[2] ?? reportAtMs, once: true });
}
