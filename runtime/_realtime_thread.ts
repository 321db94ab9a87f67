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
 * Private to `runtime/`.
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
}

const SCHED_FIFO = 1;
const EPERM = 1;

/**
 * Puts the calling thread under `SCHED_FIFO` at `priority`, and reads back what the kernel applied. Never
 * throws: a refusal (no FFI permission, no libc found, `EPERM` without root or `CAP_SYS_NICE`) is reported.
 */
export function enterRealtime(priority: number, paths: readonly string[] = LIBC_PATHS): ThreadScheduling {
  const normal = (error: string): ThreadScheduling => ({ policy: "normal", priority: null, error });
  let lib:
    | Deno.DynamicLibrary<{
      sched_setscheduler: { parameters: ["i32", "i32", "buffer"]; result: "i32" };
      sched_getscheduler: { parameters: ["i32"]; result: "i32" };
      __errno_location: { parameters: []; result: "pointer" };
    }>
    | null = null;
  let lastError = "no libc found";
  for (const path of paths) {
    try {
      lib = Deno.dlopen(path, {
        sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
        sched_getscheduler: { parameters: ["i32"], result: "i32" },
        __errno_location: { parameters: [], result: "pointer" },
      });
      break;
    } catch (err) {
      // Not granted is no verdict yet: `kiln run` grants only the libc paths that exist on this machine,
      // which need not be the first ones tried (an ARM gateway has no x86_64 path).
      lastError = err instanceof Deno.errors.NotCapable
        ? `no FFI permission for ${path}`
        : (err as Error).message;
    }
  }
  if (lib === null) return normal(`cannot load libc: ${lastError}`);
  try {
    const param = new Int32Array([priority]);
    if (lib.symbols.sched_setscheduler(0, SCHED_FIFO, new Uint8Array(param.buffer)) !== 0) {
      const errnoPtr = lib.symbols.__errno_location();
      const errno = errnoPtr === null ? -1 : new Deno.UnsafePointerView(errnoPtr).getInt32();
      return normal(
        errno === EPERM
          ? "sched_setscheduler refused (EPERM): SCHED_FIFO needs root or CAP_SYS_NICE"
          : `sched_setscheduler failed (errno ${errno})`,
      );
    }
    const applied = lib.symbols.sched_getscheduler(0);
    return applied === SCHED_FIFO
      ? { policy: "fifo", priority, error: null }
      : normal(`the kernel reports policy ${applied} after sched_setscheduler`);
  } finally {
    lib.close();
  }
}
