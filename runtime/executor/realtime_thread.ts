/**
 * Real-time scheduling of the `realtime` executor's thread. On Linux a thread woken by another (an event
 * doorbell) waits for a CPU like any other under the default policy; measured on this 2-vCPU VM, that wake
 * takes about 200 us at the median and over a millisecond at p99 while other threads are busy. With
 * `SCHED_FIFO` the woken thread preempts normal threads at once (about 40 us median, a few hundred at p99).
 *
 * Deno has no API for scheduling policy, so the executor calls libc's `sched_setscheduler` for its own thread
 * through FFI. That is opt-in (`scheduling.realtime_fifo_priority` in the manifest) because FFI widens Deno's
 * sandbox: only the `realtime` executor's worker, and `kiln run`'s process, get the FFI permission, and only
 * for libc. The kernel's real-time throttling (`/proc/sys/kernel/sched_rt_runtime_us`, 95% by default) still
 * leaves other threads some CPU if a module spun; the sandbox's CPU budget interrupts it first.
 *
 * A `SCHED_FIFO` thread woken from another CPU still waits for that CPU to be told (an inter-processor
 * interrupt, and on a VM the host waking an idle virtual CPU): measured here, p99 about 140 us. Woken from
 * its own CPU, it preempts the waker at once: p99 about 14 us. So `scheduling.cpus` pins the runtime's and
 * the executors' threads with `sched_setaffinity` (no privilege needed for one's own threads), e.g. all of
 * them on one CPU, so that a channel record from the `normal` executor and an event from the runtime's thread
 * both wake the `realtime` executor locally, and V8's helper threads keep the other CPU.
 *
 * Used by executor workers (their own thread), the runtime (`../_thread.ts`, its thread), `kiln run`'s
 * relaunch (`cli/sandbox.ts`: the libc paths it grants FFI for) and the ring benchmark's workers.
 *
 * @module
 */

/** Where glibc and musl keep libc on common Linux distributions, in the order tried. */
export const LIBC_PATHS = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/lib/arm-linux-gnueabihf/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
  "/lib/libc.musl-x86_64.so.1",
  "/lib/ld-musl-aarch64.so.1",
] as const;

/** The libc paths that exist here (for the FFI grant), read with the caller's permissions. */
export function existingLibcPaths(): string[] {
  return LIBC_PATHS.filter((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

/** A thread's scheduling, as the executor reports it. */
export interface ThreadScheduling {
  /** `"fifo"` when the thread runs at `SCHED_FIFO`, `"normal"` otherwise. */
  policy: "fifo" | "normal";
  /** The `SCHED_FIFO` priority (1-98), or null under the normal policy. */
  priority: number | null;
  /** Why the thread runs at the normal policy although `SCHED_FIFO` was asked for, or null. */
  error: string | null;
  /** The CPUs the thread is pinned to, as the kernel reports them after pinning; null when not pinned. */
  cpus: number[] | null;
  /** Why the thread is not pinned although `scheduling.cpus` asked for it, or null. */
  cpuError: string | null;
}

/** An unpinned thread at the normal policy. */
export const NORMAL_THREAD: ThreadScheduling = {
  policy: "normal",
  priority: null,
  error: null,
  cpus: null,
  cpuError: null,
};

const SCHED_FIFO = 1;
const EPERM = 1;
const EINVAL = 22;
/** Bytes of the CPU mask passed to `sched_setaffinity`: glibc's `cpu_set_t`, 1024 CPUs. */
const MASK_BYTES = 128;

const SYMBOLS = {
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  sched_getscheduler: { parameters: ["i32"], result: "i32" },
  sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

/**
 * Runs `use` with libc opened from the first of `paths` that loads, then closes it. Never throws for a
 * missing library or permission: `use` receives null and the reason.
 */
function withLibc<T>(paths: readonly string[], use: (lib: Libc | null, reason: string) => T): T {
  let lastError = "no libc found";
  for (const path of paths) {
    let lib: Libc;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (err) {
      // Not granted is no verdict yet: `kiln run` grants only the libc paths that exist on this machine,
      // which need not be the first ones tried (an ARM gateway has no x86_64 path).
      lastError = err instanceof Deno.errors.NotCapable
        ? `no FFI permission for ${path}`
        : (err as Error).message;
      continue;
    }
    try {
      return use(lib, "");
    } finally {
      lib.close();
    }
  }
  return use(null, lastError);
}

function errno(lib: Libc): number {
  const ptr = lib.symbols.__errno_location();
  return ptr === null ? -1 : new Deno.UnsafePointerView(ptr).getInt32();
}

/**
 * Puts the calling thread under `SCHED_FIFO` at `priority`, and reads back what the kernel applied. Never
 * throws: a refusal (no FFI permission, no libc found, `EPERM` without root or `CAP_SYS_NICE`) is reported.
 */
export function enterRealtime(
  priority: number,
  paths: readonly string[] = LIBC_PATHS,
): Pick<ThreadScheduling, "policy" | "priority" | "error"> {
  const normal = (error: string) => ({ policy: "normal" as const, priority: null, error });
  return withLibc(paths, (lib, reason) => {
    if (lib === null) return normal(`cannot load libc: ${reason}`);
    const param = new Int32Array([priority]);
    if (lib.symbols.sched_setscheduler(0, SCHED_FIFO, new Uint8Array(param.buffer)) !== 0) {
      const e = errno(lib);
      return normal(
        e === EPERM
          ? "sched_setscheduler refused (EPERM): SCHED_FIFO needs root or CAP_SYS_NICE"
          : `sched_setscheduler failed (errno ${e})`,
      );
    }
    const applied = lib.symbols.sched_getscheduler(0);
    return applied === SCHED_FIFO
      ? { policy: "fifo" as const, priority, error: null }
      : normal(`the kernel reports policy ${applied} after sched_setscheduler`);
  });
}

/** The calling thread's CPU affinity, read with `sched_getaffinity`; null when libc cannot be used. */
function readAffinity(lib: Libc): number[] | null {
  const mask = new Uint8Array(MASK_BYTES);
  if (lib.symbols.sched_getaffinity(0, BigInt(MASK_BYTES), mask) !== 0) return null;
  const cpus: number[] = [];
  for (let cpu = 0; cpu < MASK_BYTES * 8; cpu++) if (mask[cpu >> 3]! & (1 << (cpu & 7))) cpus.push(cpu);
  return cpus;
}

/** The calling thread's CPUs (for restoring them later), or null when libc cannot be used. */
export function threadCpus(paths: readonly string[] = LIBC_PATHS): number[] | null {
  return withLibc(paths, (lib) => lib === null ? null : readAffinity(lib));
}

/**
 * Pins the calling thread to `cpus` with `sched_setaffinity`, and reads back what the kernel applied. Threads
 * it starts afterwards inherit the pinning. Needs no privilege for the caller's own thread. Never throws:
 * a refusal (no FFI permission, no libc, none of `cpus` online) is reported.
 */
export function pinThread(
  cpus: readonly number[],
  paths: readonly string[] = LIBC_PATHS,
): Pick<ThreadScheduling, "cpus" | "cpuError"> {
  return withLibc(paths, (lib, reason) => {
    if (lib === null) return { cpus: null, cpuError: `cannot load libc: ${reason}` };
    const mask = new Uint8Array(MASK_BYTES);
    for (const cpu of cpus) mask[cpu >> 3]! |= 1 << (cpu & 7);
    if (lib.symbols.sched_setaffinity(0, BigInt(MASK_BYTES), mask) !== 0) {
      const e = errno(lib);
      return {
        cpus: null,
        cpuError: e === EINVAL
          ? `sched_setaffinity refused (EINVAL): none of CPUs ${
            cpus.join(", ")
          } is online here (${navigator.hardwareConcurrency} CPUs)`
          : `sched_setaffinity failed (errno ${e})`,
      };
    }
    return { cpus: readAffinity(lib), cpuError: null };
  });
}

/** One line for the log: the thread's policy and CPUs, and why either is not what was asked for. */
export function describeThread(s: ThreadScheduling): string {
  const policy = s.policy === "fifo"
    ? `SCHED_FIFO priority ${s.priority}`
    : `the normal policy${s.error ? ` (${s.error})` : ""}`;
  const cpus = s.cpus !== null
    ? `, pinned to CPU ${s.cpus.join(", ")}`
    : s.cpuError !== null
    ? `, not pinned (${s.cpuError})`
    : "";
  return `thread at ${policy}${cpus}`;
}
