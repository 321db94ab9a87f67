/**
 * Bounds on the child processes the tests start, so that no test can hang the suite.
 *
 * Every `new Deno.Command(...)` under `tests/` takes `signal: AbortSignal.timeout(<bound>)` with one of
 * these bounds (`tests/suite_guard_test.ts` checks it); a long-lived peer or gateway is also stopped on
 * dispose with {@linkcode stopChild}, which escalates to SIGKILL. The bounds are backstops against a hang,
 * never a measure of speed: they are generous for a busy 2-core machine, and a test never asserts them.
 *
 * Deno sends SIGTERM when the signal aborts. A process that handles SIGTERM (a `kiln run`, which shuts down
 * gracefully) can still hang in its handler, so {@linkcode killAfterGrace} follows up with SIGKILL.
 *
 * @example
 * ```ts
 * import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "./_timeouts.ts";
 *
 * const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
 * const child = new Deno.Command("sleep", { args: ["3600"], signal }).spawn();
 * killAfterGrace(child, signal);
 * await stopChild(child); // SIGTERM, then SIGKILL if it is still there after KILL_GRACE_MS
 * ```
 *
 * @module
 */

/** A quick tool (`ps`, `taskset`, `mount`, `pkg-config`, `openssl`, `mkfifo`...) is killed after this, ms. */
export const TOOL_TIMEOUT_MS = 60_000;

/**
 * A build or a Deno script that runs to completion (`gcc`, `deno task bundle`, `deno run` of a script, the
 * modules' clang rebuild, a `kiln` command) is killed after this, ms.
 */
export const BUILD_TIMEOUT_MS = 300_000;

/**
 * A long-lived peer (Mosquitto, socat, a protocol server, `mosquitto_sub`, a browser driver) or a gateway a
 * test starts is killed after this lifetime at the latest, ms, besides being stopped on dispose. A caller
 * that needs one for longer (the soak) passes its own `lifetimeMs`.
 */
export const PEER_LIFETIME_MS = 600_000;

/** How long a process may take to exit after SIGTERM before it gets SIGKILL, ms. */
export const KILL_GRACE_MS = 30_000;

/** Sends `signal` to `child`, ignoring the error Deno throws when it has already exited. */
function send(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // It exited meanwhile.
  }
}

/**
 * Once `signal` aborts (and Deno sent SIGTERM), sends SIGKILL to `child` if it is still running `graceMs`
 * later: a SIGTERM handler that hangs cannot keep it alive. Pass the `signal` given to its `Deno.Command`.
 */
export function killAfterGrace(
  child: Deno.ChildProcess,
  signal: AbortSignal,
  graceMs: number = KILL_GRACE_MS,
): void {
  const escalate = () => {
    const timer = setTimeout(() => send(child, "SIGKILL"), graceMs);
    child.status.finally(() => clearTimeout(timer));
  };
  if (signal.aborted) escalate();
  else signal.addEventListener("abort", escalate, { once: true });
}

/**
 * Stops `child`: SIGTERM, then SIGKILL if it has not exited `graceMs` later; resolves with its status once
 * it is gone. Never throws for a process that already exited.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  graceMs: number = KILL_GRACE_MS,
): Promise<Deno.CommandStatus> {
  send(child, "SIGTERM");
  const timer = setTimeout(() => send(child, "SIGKILL"), graceMs);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}
