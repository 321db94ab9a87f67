/**
 * The Kiln gateway under soak: `main.ts run <manifest>` in a child process, which relaunches itself in its
 * narrowed sandbox as its own child (the process that runs the runtime, whose memory the soak samples). Its
 * output goes to a log file rather than memory, so a day-long run does not grow the harness.
 *
 * @module
 */
import { descendants, isAlive, type ProcessId } from "./_procs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A running gateway. */
export interface Gateway extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` of its API. */
  readonly base: string;
  /** The process the harness started (the launcher). */
  readonly launcher: ProcessId;
  /** The sandboxed process that runs the runtime (the launcher's child), or the launcher if it did not relaunch. */
  readonly runtime: ProcessId;
  /** Sends SIGTERM, waits up to `timeoutMs`, then SIGKILLs both processes; resolves with the exit code. */
  stop(timeoutMs?: number): Promise<{ code: number; killed: boolean }>;
  /** The log file's path. */
  readonly logPath: string;
  /** Resolves with the launcher's exit code when it exits, whoever stopped it. */
  readonly exited: Promise<number>;
}

/** Options of {@linkcode startGateway}. */
export interface GatewayOptions {
  readonly manifest: string;
  readonly dataDir: string;
  readonly logPath: string;
  /** `KILN_ADMIN_TOKEN` of the gateway. */
  readonly token: string;
  /** @default 120000 (the first start type-checks nothing but loads node-opcua) */
  readonly startTimeoutMs?: number;
  /** The longest the gateway may run (the soak's own bound): Deno sends it SIGTERM then, SIGKILL 30 s later. */
  readonly lifetimeMs: number;
}

/**
 * Starts the gateway and resolves once it prints its API address and its sandboxed child is found.
 *
 * @throws {Error} with the log's tail when it exits or stays silent past `startTimeoutMs`.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = await Deno.open(options.logPath, { create: true, append: true });
  const lifetime = AbortSignal.timeout(options.lifetimeMs);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}main.ts`,
      "run",
      options.manifest,
      "--data",
      options.dataDir,
      "--listen",
      "127.0.0.1:0",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_ADMIN_TOKEN: options.token },
    signal: lifetime,
  }).spawn();
  lifetime.addEventListener("abort", () => void stop(), { once: true }); // SIGTERM, then SIGKILL of both
  let head = ""; // the first 64 KiB, where the API address is printed
  const encoder = new TextEncoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      if (head.length < 65_536) head += new TextDecoder().decode(chunk);
      await log.write(chunk).catch(() => 0);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited: Deno.CommandStatus | null = null;
  const status = child.status.then((s) => exited = s);
  const launcher: ProcessId = descendants().find((p) => p.pid === child.pid) ??
    { pid: child.pid, startTicks: -1, comm: "deno" };
  let runtime: ProcessId | null = null;
  let stopping: Promise<{ code: number; killed: boolean }> | null = null;
  const kill = (p: ProcessId | null) => {
    if (p === null || !isAlive(p)) return;
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch { /* gone */ }
  };
  const stop = (timeoutMs = 30_000) =>
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM"); // the launcher forwards it to the sandboxed child
      } catch { /* already exited */ }
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        kill(runtime);
        kill(launcher);
      }, timeoutMs);
      const s = await status;
      clearTimeout(timer);
      // The sandboxed child outlives a launcher that was killed: never leave it behind.
      if (runtime !== null && isAlive(runtime)) {
        killed = true;
        kill(runtime);
      }
      await pumps.catch(() => {});
      await log.write(encoder.encode(`\n[soak] gateway exited with ${s.code}${killed ? " (killed)" : ""}\n`))
        .catch(() => 0);
      log.close();
      return { code: s.code, killed };
    })();
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  let base: string | null = null;
  let listeningAt = 0;
  while (exited === null && Date.now() < deadline) {
    if (base === null) {
      base = /health\s+(http:\/\/\S+)\/health/.exec(head)?.[1] ?? null;
      listeningAt = Date.now();
    }
    runtime ??= descendants(child.pid).find((p) => p.comm === "deno") ?? null;
    if (base !== null && runtime !== null) break;
    // Listening without a sandboxed child (a build that cannot relaunch): the launcher runs the runtime.
    if (base !== null && Date.now() - listeningAt > 5000) runtime = launcher;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (base === null || runtime === null) {
    await stop(5000);
    throw new Error(
      `The gateway did not start (${exited === null ? "no API address in time" : "it exited"}):\n${
        head.slice(-4000)
      }`,
    );
  }
  const found = runtime;
  return {
    base,
    launcher,
    runtime: found,
    stop,
    logPath: options.logPath,
    exited: status.then((s) => s.code),
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
