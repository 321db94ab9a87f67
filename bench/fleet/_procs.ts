/**
 * Processes of the fleet benchmark: child processes bounded by a lifetime (SIGTERM then SIGKILL), their
 * output kept in a log file, and their CPU time and memory read from `/proc`.
 *
 * @module
 */
import { killAfterGrace, stopChild } from "../../tests/_timeouts.ts";
import { cpuTicks, TICKS_PER_S } from "../soak/_procs.ts";

/** How long a child may take to exit after SIGTERM before it gets SIGKILL, ms. */
const STOP_GRACE_MS = 10_000;

/** A child process the bench started, with its output in `log`. */
export interface Child extends AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  /** The file its stdout and stderr go to (stdout lines are also passed to `onLine`). */
  readonly log: string;
  readonly status: Promise<Deno.CommandStatus>;
  /** SIGTERM, SIGKILL after a grace period; resolves once it exited. Never throws. */
  stop(): Promise<void>;
  /** The last lines it printed (for error messages). */
  tail(): string;
}

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  /** Killed after this long whatever happens, ms. */
  readonly lifetimeMs: number;
  /** Called with each stdout line. */
  readonly onLine?: (line: string) => void;
  readonly cwd?: string;
}

/**
 * Starts `cmd args` with its output appended to `log`; it is killed at `lifetimeMs` at the latest.
 *
 * @throws {Deno.errors.NotFound} when `cmd` does not exist.
 */
export function spawn(name: string, cmd: string, args: string[], log: string, o: SpawnOptions): Child {
  const signal = AbortSignal.timeout(o.lifetimeMs);
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
    ...(o.cwd !== undefined && { cwd: o.cwd }),
  }).spawn();
  killAfterGrace(child, signal, STOP_GRACE_MS);
  const file = Deno.openSync(log, { create: true, append: true });
  const encoder = new TextEncoder();
  let tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail = tail.slice(-20);
    file.writeSync(encoder.encode(line + "\n"));
  };
  const pump = async (stream: ReadableStream<Uint8Array>, lines: boolean) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        keep(line);
        if (lines) o.onLine?.(line);
      }
    }
    if (rest.length > 0) keep(rest);
  };
  const pumps = Promise.all([pump(child.stdout, true), pump(child.stderr, false)]).catch(() => {});
  const status = child.status.then(async (s) => {
    await pumps;
    file.close();
    return s;
  });
  const stop = async () => {
    await stopChild(child, STOP_GRACE_MS).catch(() => {});
    await status.catch(() => {});
  };
  return {
    name,
    pid: child.pid,
    log,
    status,
    stop,
    tail: () => tail.slice(-15).join("\n"),
    [Symbol.asyncDispose]: stop,
  };
}

/** CPU time (user + system) a process used so far, ms; null once it is gone. */
export function cpuMs(pid: number): number | null {
  const ticks = cpuTicks(pid);
  return ticks === null ? null : (ticks * 1000) / TICKS_PER_S;
}

/** A process's resident memory now and at its peak (`VmRSS`, `VmHWM`), KiB; null once it is gone. */
export function memoryKb(pid: number): { rssKb: number; peakKb: number } | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) => Number(new RegExp(`^${name}:\\s*(\\d+)`, "m").exec(status)?.[1] ?? NaN);
    return { rssKb: field("VmRSS"), peakKb: field("VmHWM") };
  } catch {
    return null;
  }
}

/**
 * Resets a process's peak resident memory (`VmHWM`) to its current RSS (`echo 5 > /proc/<pid>/clear_refs`),
 * so the peak read later is the peak since now. Returns false when the kernel refused.
 */
export function resetPeak(pid: number): boolean {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** A process's "Max open files" soft limit, or null. */
export function openFilesLimit(pid: number): number | null {
  try {
    const limits = Deno.readTextFileSync(`/proc/${pid}/limits`);
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    return m === null ? null : m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return null;
  }
}
