/**
 * Re-executing `kiln run` with narrowed Deno permissions (`sandbox.ts` decides them): the grants' shape, their
 * `deno run` flags, and the exec itself. Kept apart, with nothing heavier than libc's paths behind it, because
 * the launcher's shortcut (`_launch_cache.ts`) loads it before anything else.
 *
 * @module
 */
import { existingLibcPaths, LIBC_PATHS } from "../runtime/executor/realtime_thread.ts";
import { startupMarksEnv } from "../runtime/_startup_marks.ts";

/** The environment variable that marks the relaunched, narrowed process. */
export const SANDBOXED_ENV = "KILN_SANDBOXED";

/** The Deno permissions a `kiln run` needs for one configuration. */
export interface DenoGrants {
  read: string[];
  write: string[];
  net: string[];
  env: string[];
  /** `Deno.*` system information (none unless OPC UA needs it). */
  sys: string[];
  /** Libraries for FFI: libc when `scheduling.realtime_fifo_priority` or `scheduling.cpus` is set, else none. */
  ffi?: string[];
  /** Programs it may run: `stty` and `dd` when a Modbus device is on a serial line, else none. */
  run?: string[];
  /**
   * Set by a launcher that spawned this process and stays resident ({@linkcode relaunch}): its standard input
   * is the launcher's lifeline ({@linkcode watchLauncher}). Absent when the launcher exec'd into it.
   */
  lifeline?: boolean;
  /**
   * Paths the process may not write although they lie in a folder it may: the launch cache
   * (`cli/_launch_cache.ts`), so that no code in the narrowed process can widen its next start.
   */
  sealed?: string[];
  /** Set when the launcher took these grants from its launch cache: the process checks them again. */
  cached?: boolean;
}

/** The `deno run` flags for some grants. */
export function denoFlags(g: DenoGrants): string[] {
  return [
    `--allow-read=${g.read.join(",")}`,
    `--allow-write=${g.write.join(",")}`,
    ...(g.sealed && g.sealed.length > 0 ? [`--deny-write=${g.sealed.join(",")}`] : []),
    `--allow-net=${g.net.join(",")}`,
    `--allow-env=${g.env.join(",")}`,
    ...(g.sys.length > 0 ? [`--allow-sys=${g.sys.join(",")}`] : []),
    ...(g.ffi && g.ffi.length > 0 ? [`--allow-ffi=${g.ffi.join(",")}`] : []),
    ...(g.run && g.run.length > 0 ? [`--allow-run=${g.run.join(",")}`] : []),
    "--unstable-worker-options",
    `--v8-flags=${V8_FLAGS.join(",")}`,
  ];
}

/**
 * V8 flags of the narrowed process (`bench/footprint.ts` measures both):
 * - a young generation of at most 1 MiB semi-spaces per isolate (the main thread and every executor): V8's
 *   default lets each grow to 16 MiB, resident once touched, for a gateway whose handlers allocate little on
 *   the JavaScript heap;
 * - no short builtin calls: V8 otherwise copies its embedded builtins next to each isolate's code (about
 *   1.5 MiB resident per isolate, 5-6 MiB for the demo's main thread and three workers) so that JIT code may
 *   call them with near calls. The compute benchmark's hot-loop and paced ratios did not move beyond their
 *   run-to-run spread without it.
 */
export const V8_FLAGS: readonly string[] = ["--max-semi-space-size=1", "--no-short-builtin-calls"];

/** The `deno run` command line that runs this program again with `grants`. */
export function relaunchArgs(args: readonly string[], grants: DenoGrants): string[] {
  return ["run", ...denoFlags(grants), Deno.mainModule, ...args];
}

/**
 * The paths libc may have here that FFI is granted for (the launcher's `--allow-ffi`): those that exist, and
 * those this process may not even stat (`deno task start` reads only its folder), which `dlopen` then tries.
 */
function libcCandidates(): string[] {
  if (Deno.build.os !== "linux") return [];
  const existing = existingLibcPaths(); // those this process may stat
  return LIBC_PATHS.filter((path) =>
    Deno.permissions.querySync({ name: "ffi", path }).state === "granted" &&
    (Deno.permissions.querySync({ name: "read", path }).state !== "granted" || existing.includes(path))
  );
}

/** libc, when FFI to it is granted (the launcher's `--allow-ffi`); null otherwise. */
export function execLibc(): string | null {
  return libcCandidates()[0] ?? null;
}

function openLibc():
  | Deno.DynamicLibrary<{ execv: { parameters: ["buffer", "buffer"]; result: "i32" } }>
  | null {
  for (const path of libcCandidates()) {
    try {
      return Deno.dlopen(path, { execv: { parameters: ["buffer", "buffer"], result: "i32" } });
    } catch { /* not this one: the next candidate */ }
  }
  return null;
}

/**
 * Replaces this process with `deno run <narrow flags> <main module> ...args` ({@linkcode SANDBOXED_ENV} set),
 * through libc's `execv`: the same PID, standard streams and environment, no launcher left resident (a
 * supervisor's `kill -9` of the PID it started ends Kiln; nothing holds the port after it). Returns only
 * when it could not: the reason (no FFI grant, or `execv` failed), and the caller relaunches with
 * {@linkcode relaunch} instead.
 */
export function execRelaunch(args: string[], grants: DenoGrants): string {
  const lib = openLibc();
  if (lib === null) return "no FFI grant for libc (the launcher's --allow-ffi)";
  const encoder = new TextEncoder();
  const cString = (s: string) => encoder.encode(`${s}\0`);
  const argv = [Deno.execPath(), ...relaunchArgs(args, grants)].map(cString);
  const pointers = new BigUint64Array(argv.length + 1); // NULL-terminated
  argv.forEach((a, i) => pointers[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a))));
  try {
    Deno.env.set(SANDBOXED_ENV, JSON.stringify(grants)); // execv passes this process's environment on
    // A startup trace (KILN_STARTUP_MARKS) keeps the launcher's origin across the exec.
    for (const [name, value] of Object.entries(startupMarksEnv())) Deno.env.set(name, value);
    lib.symbols.execv(argv[0]!, pointers);
    Deno.env.delete(SANDBOXED_ENV);
    return "execv failed";
  } finally {
    lib.close();
  }
}

/** The grants this process was relaunched with, or null when it was not. */
export function sandboxedGrants(): DenoGrants | null {
  const raw = Deno.env.get(SANDBOXED_ENV) ?? null;
  return raw === null ? null : JSON.parse(raw) as DenoGrants;
}
