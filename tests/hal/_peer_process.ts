/**
 * A protocol peer of the integration tests in its own process (the libmodbus server, the node-opcua server),
 * speaking a small line protocol on stdout: `PORT <n>` or `READY` once it listens, then `WRITE <what>` for
 * each write a client made. Its stderr is kept for error messages.
 *
 * @module
 */

import { killAfterGrace, PEER_LIFETIME_MS } from "../_timeouts.ts";

/** A running peer process. */
export interface PeerProcess extends AsyncDisposable {
  /** The port it printed, or 0 for `READY`. */
  readonly port: number;
  /** The `WRITE ...` lines it printed so far. */
  readonly writes: readonly string[];
  /** Resolves when it has printed `line`, or rejects after `timeoutMs`. */
  waitForWrite(line: string, timeoutMs?: number): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /** Kills the process (SIGKILL, a crash) and waits for it. */
  kill(): Promise<void>;
  /** Its exit code, once it exited. */
  readonly exited: Promise<number>;
}

/** Options of {@linkcode startPeer}. */
export interface PeerOptions {
  /** What it is, for error messages, e.g. `Modbus server`. */
  readonly name: string;
  /** What it was doing when it failed to start, for error messages. */
  readonly what: string;
  /** How long it may take to print its port, ms. @default 60000 */
  readonly startTimeoutMs?: number;
  /**
   * The longest it may run, ms: it gets SIGTERM then (SIGKILL after a grace period), so a test that never
   * disposes of it cannot keep it alive. @default PEER_LIFETIME_MS (10 minutes)
   */
  readonly lifetimeMs?: number;
}

/**
 * Runs `command` and resolves once it printed `PORT <n>` or `READY`.
 *
 * @throws {Error} naming `name` and its stderr when it exits first, or stays silent for `startTimeoutMs`.
 */
export async function startPeer(command: string, args: string[], options: PeerOptions): Promise<PeerProcess> {
  const signal = AbortSignal.timeout(options.lifetimeMs ?? PEER_LIFETIME_MS);
  const child = new Deno.Command(command, { args, stdout: "piped", stderr: "piped", signal }).spawn();
  killAfterGrace(child, signal);
  const writes: string[] = [];
  let stderr = "";
  let resolveReady: (port: number) => void = () => {};
  const ready = new Promise<number>((resolve) => resolveReady = resolve);
  const readOut = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const match = /^PORT (\d+)$/.exec(line);
        if (match) resolveReady(Number(match[1]));
        else if (line === "READY") resolveReady(0);
        else if (line.startsWith("WRITE ")) writes.push(line);
      }
    }
  })();
  const readErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const done = Promise.all([status, readOut, readErr]);
  const kill = async () => {
    if (!exited) {
      try {
        child.kill("SIGKILL");
      } catch { /* it exited meanwhile */ }
    }
    await done;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tooSlow = new Promise<"stayed silent">((resolve) => {
    timer = setTimeout(() => resolve("stayed silent"), options.startTimeoutMs ?? 60_000);
  });
  const bound = await Promise.race([ready, status.then(() => "exited" as const), tooSlow]);
  clearTimeout(timer);
  if (typeof bound !== "number") {
    await kill();
    throw new Error(`The ${options.name} ${bound} before ${options.what}: ${stderr}`);
  }
  return {
    port: bound,
    writes,
    async waitForWrite(line, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!writes.includes(line)) {
        if (Date.now() > deadline) {
          throw new Error(`The ${options.name} printed no "${line}"; it printed ${writes}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    kill,
    exited: done.then(([s]) => s.code),
    [Symbol.asyncDispose]: kill,
  };
}
