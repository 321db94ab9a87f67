/**
 * The soak's processes as Linux sees them (`/proc`): a census of every descendant the harness started
 * (Mosquitto, the PLC, the OPC UA server, the gateway and the sandboxed gateway it relaunches), so that
 * every one can be killed on any exit and shown gone afterwards; resident memory and CPU time of one; and a
 * timeout around a stop that may hang.
 *
 * @module
 */

/** One process, identified by its pid and its start time (so a reused pid is never mistaken for it). */
export interface ProcessId {
  readonly pid: number;
  /** Clock ticks after boot when it started (`/proc/<pid>/stat` field 22). */
  readonly startTicks: number;
  /** Its command name (`comm`). */
  readonly comm: string;
}

interface Stat extends ProcessId {
  readonly ppid: number;
  /** User plus system CPU time, clock ticks. */
  readonly cpuTicks: number;
  /** `R`, `S`, `Z`... */
  readonly state: string;
}

/** `/proc/<pid>/stat`, or null when the process is gone. */
function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name is in parentheses and may hold spaces and parentheses: split after the last ")".
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const f = text.slice(close + 2).split(" "); // f[0] is field 3 (state)
  return {
    pid,
    comm,
    state: f[0] ?? "?",
    ppid: Number(f[1]),
    cpuTicks: Number(f[11]) + Number(f[12]), // utime, stime: fields 14 and 15
    startTicks: Number(f[19]), // field 22
  };
}

/** Every process now, from `/proc`. */
function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const s = readStat(Number(entry.name));
    if (s) out.push(s);
  }
  return out;
}

/** The descendants of `root` now (children, their children...). */
export function descendants(root: number = Deno.pid): ProcessId[] {
  const byParent = new Map<number, Stat[]>();
  for (const s of allStats()) {
    const list = byParent.get(s.ppid) ?? [];
    list.push(s);
    byParent.set(s.ppid, list);
  }
  const out: ProcessId[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push({ pid: child.pid, startTicks: child.startTicks, comm: child.comm });
      queue.push(child.pid);
    }
  }
  return out;
}

/** Whether `p` still runs (a zombie waiting for its parent counts as gone). */
export function isAlive(p: ProcessId): boolean {
  const s = readStat(p.pid);
  return s !== null && s.startTicks === p.startTicks && s.state !== "Z";
}

/** The processes the harness has started, as seen in successive censuses. */
export class ProcessCensus {
  #seen = new Map<string, ProcessId>();

  /** Adds the harness's descendants now. */
  take(): void {
    for (const p of descendants()) this.#seen.set(`${p.pid}:${p.startTicks}`, p);
  }

  /** Every process seen so far. */
  get seen(): ProcessId[] {
    return [...this.#seen.values()];
  }

  /** Those still running. */
  alive(): ProcessId[] {
    return this.seen.filter(isAlive);
  }

  /** SIGKILLs every process seen that still runs (the last resort on any exit); returns how many. */
  killAll(): number {
    this.take();
    let killed = 0;
    for (const p of this.alive()) {
      try {
        Deno.kill(p.pid, "SIGKILL");
        killed++;
      } catch { /* it exited meanwhile */ }
    }
    return killed;
  }
}

/** Resident memory of `pid` (`VmRSS` in `/proc/<pid>/status`), KiB; null when it is gone. */
export function residentKib(pid: number): number | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? null : Number(kib);
  } catch {
    return null;
  }
}

/**
 * What `pid`'s resident memory is made of (`RssAnon`, `RssFile`, `RssShmem` in `/proc/<pid>/status`), KiB:
 * a leak grows the anonymous part; file pages (code, mapped files) come and go with the page cache.
 */
export function residentParts(pid: number): { anonKib: number; fileKib: number; shmemKib: number } | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? NaN);
    return { anonKib: get("RssAnon"), fileKib: get("RssFile"), shmemKib: get("RssShmem") };
  } catch {
    return null;
  }
}

/** User plus system CPU time of `pid`, clock ticks (100 a second on Linux); null when it is gone. */
export function cpuTicks(pid: number): number | null {
  return readStat(pid)?.cpuTicks ?? null;
}

/** Linux's USER_HZ: `/proc` counts CPU time in hundredths of a second on every architecture Deno runs on. */
export const TICKS_PER_S = 100;

/**
 * Resolves with `promise`, or after `limitMs` calls `onTimeout` (which should end what hangs) and rejects
 * naming `what`.
 *
 * @throws {Error} when `promise` rejects or does not settle in time.
 */
export async function bounded<T>(
  promise: PromiseLike<T>,
  what: string,
  limitMs: number,
  onTimeout: () => void = () => {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} did not finish within ${limitMs} ms`));
    }, limitMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` (at once for 0 or less), or as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
