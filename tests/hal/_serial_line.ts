/**
 * A serial line for the RTU tests: a pair of pseudo-terminals joined by socat in its own process
 * (`socat pty,raw,echo=0,link=<a> pty,raw,echo=0,link=<b>`), what one end writes the other reads. Killing
 * socat is a device unplugged: both ends hang up (reads fail with EIO) and the links go away.
 *
 * A pty takes the speed and stop bits it is given but refuses parity (EINVAL from the kernel), and ignores
 * them all: the tests run the line at 8N1 or 8N2, and parity is covered by the `stty` arguments' unit test.
 *
 * @module
 */

import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";

/** A running socat with a pty at each end. */
export interface PtyPair extends AsyncDisposable {
  /** The symlinks to the two ends (to `/dev/pts/<n>`). */
  readonly a: string;
  readonly b: string;
  /** Ends socat (SIGTERM: it removes the links; SIGKILL after a grace period) and waits; both ends hang up. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startPtyPair}. */
export interface PtyPairOptions {
  /** The link to one end. @default `<dir>/a` */
  readonly a?: string;
  /** The link to the other end. @default `<dir>/b` */
  readonly b?: string;
  /**
   * The longest socat may run, ms: it is stopped then, even if the test never disposes of it.
   * @default PEER_LIFETIME_MS (10 minutes)
   */
  readonly lifetimeMs?: number;
}

/**
 * Starts socat with pty ends linked at `<dir>/a` and `<dir>/b` (or the given paths), and resolves once it
 * moves data.
 *
 * @throws {Error} naming the Debian package when socat is missing (also under CI=true: a missing peer is a
 * failure, never a skip), or when socat exits before it is ready.
 */
export async function startPtyPair(dir: string, options: PtyPairOptions = {}): Promise<PtyPair> {
  const a = options.a ?? `${dir}/a`;
  const b = options.b ?? `${dir}/b`;
  const signal = AbortSignal.timeout(options.lifetimeMs ?? PEER_LIFETIME_MS);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("socat", {
      args: ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal,
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(
        "socat is not installed: the RTU tests make their serial line with it (apt-get install socat)",
      );
    }
    throw err;
  }
  killAfterGrace(child, signal);
  let log = "";
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => resolveReady = resolve);
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      log += chunk;
      if (log.includes("starting data transfer loop")) resolveReady();
    }
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const done = Promise.all([status, reading]);
  const started = await Promise.race([ready.then(() => true), status.then(() => false)]);
  if (!started) {
    await done;
    throw new Error(`socat exited before the pty pair was ready:\n${log}`);
  }
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) await stopChild(child);
      await done;
    })();
    return stopping;
  };
  return { a, b, stop, [Symbol.asyncDispose]: stop };
}
