/**
 * Test helpers for running Kiln as a user does: as a child process, with the permissions of `deno task kiln`.
 *
 * @module
 */

import { BUILD_TIMEOUT_MS, KILL_GRACE_MS, killAfterGrace, PEER_LIFETIME_MS, stopChild } from "./_timeouts.ts";

/** The repository root. */
export const ROOT = new URL("../", import.meta.url).pathname;

/** The flags of `deno task kiln` (deno.json), so tests run with what users run. */
export const KILN_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env=LOG_TOKENS,LOG_STREAM,KILN_SANDBOXED,KILN_ADMIN_TOKEN,KILN_TOKEN",
];

/** The admin token every `kiln run` started by these helpers accepts (as `KILN_ADMIN_TOKEN`). */
export const TEST_ADMIN_TOKEN = "kiln_test_admin_token_0123456789";

/** Request headers with the test admin token. */
export const AUTH = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } as const;

/** Result of a finished command. */
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno run <flags> <entry> ...args` to completion in the repository root. It is sent SIGTERM after
 * `timeoutMs` and SIGKILL after a grace period (a Kiln that hangs then fails the test with its exit signal).
 */
export async function runKiln(
  args: string[],
  options: { entry?: string; flags?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Ran> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? BUILD_TIMEOUT_MS);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? KILN_FLAGS), options.entry ?? "main.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_TOKEN: TEST_ADMIN_TOKEN, ...options.env },
    signal,
  }).spawn();
  killAfterGrace(child, signal);
  const output = readOutput(child);
  const { code } = await child.status;
  await output.closed();
  return { code, stdout: output.stdout, stderr: output.stderr };
}

/**
 * Runs `deno task <name>` in the repository root (`bundle`, `package`, `compile`), bounded by
 * `BUILD_TIMEOUT_MS`; returns its exit code and its stdout and stderr as one text.
 */
export async function denoTask(
  name: string,
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", name],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

/** A child's stdout and stderr read as text as they come. */
export interface Output {
  readonly stdout: string;
  readonly stderr: string;
  /** Both, interleaved as they arrived. */
  readonly text: string;
  /**
   * Resolves once both pipes closed; when they are still open `graceMs` after the call (a grandchild that
   * outlived the child holds them: `kiln run` relaunched under narrowed permissions), stops reading them.
   */
  closed(graceMs?: number): Promise<void>;
}

/** Reads `child`'s piped stdout and stderr as text as they come; see {@linkcode Output}. */
export function readOutput(child: Deno.ChildProcess): Output {
  const texts = { stdout: "", stderr: "", text: "" };
  const readers = [child.stdout, child.stderr].map((s) => s.pipeThrough(new TextDecoderStream()).getReader());
  const pump = async (reader: ReadableStreamDefaultReader<string>, key: "stdout" | "stderr") => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      texts[key] += value;
      texts.text += value;
    }
  };
  const done = Promise.all([pump(readers[0]!, "stdout"), pump(readers[1]!, "stderr")]);
  return {
    get stdout() {
      return texts.stdout;
    },
    get stderr() {
      return texts.stderr;
    },
    get text() {
      return texts.text;
    },
    async closed(graceMs = KILL_GRACE_MS) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), graceMs));
      try {
        if (await Promise.race([done, late]) === "late") {
          await Promise.all(readers.map((r) => r.cancel()));
          await done;
        }
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A `kiln run` in a child process, stopped with SIGTERM on dispose (SIGKILL if it does not exit in time). */
export interface RunningKiln extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` of its API. */
  base: string;
  child: Deno.ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Sends SIGTERM and waits for the exit code; SIGKILL after a grace period (then the code is 137). */
  stop(): Promise<number>;
}

/** Options of {@linkcode startKiln}. */
export interface StartKilnOptions {
  /** @default "main.ts" */
  entry?: string;
  /** @default KILN_FLAGS */
  flags?: string[];
  /** How long it may take to print its health URL, ms. @default 30000 */
  timeoutMs?: number;
  /** The longest it may run, ms: SIGTERM then, SIGKILL after a grace period. @default PEER_LIFETIME_MS */
  lifetimeMs?: number;
  env?: Record<string, string>;
}

/**
 * Starts `kiln run --listen 127.0.0.1:0 ...args` and resolves once it prints its health URL.
 *
 * @throws {Error} when it exits or does not listen within `timeoutMs`.
 */
export async function startKiln(args: string[], options: StartKilnOptions = {}): Promise<RunningKiln> {
  const signal = AbortSignal.timeout(options.lifetimeMs ?? PEER_LIFETIME_MS);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.flags ?? KILN_FLAGS),
      options.entry ?? "main.ts",
      "run",
      "--listen",
      "127.0.0.1:0",
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_ADMIN_TOKEN: TEST_ADMIN_TOKEN, ...options.env },
    signal,
  }).spawn();
  killAfterGrace(child, signal);
  const output = readOutput(child);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let base: string | null = null;
  let exited = false;
  child.status.then(() => exited = true);
  while (!base && !exited && Date.now() < deadline) {
    base = /health\s+(https?:\/\/\S+)\/health/.exec(output.text)?.[1] ?? null;
    if (!base) await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<number> | null = null;
  const stop = () => {
    if (!stopped) {
      stopped = (async () => {
        const { code } = await stopChild(child);
        await output.closed();
        return code;
      })();
    }
    return stopped;
  };
  if (!base) {
    await stop();
    throw new Error(`kiln did not start listening:\n${output.text}`);
  }
  return {
    base,
    child,
    output: () => output.text,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** GETs JSON from a running Kiln, with the test admin token. */
export async function getJson<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url, { headers: AUTH });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return await res.json() as T;
}
