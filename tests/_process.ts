/**
 * Test helpers for running Kiln as a user does: as a child process, with the permissions of `deno task kiln`.
 *
 * @module
 */

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

/** Runs `deno run <flags> <entry> ...args` to completion in the repository root. */
export async function runKiln(
  args: string[],
  options: { entry?: string; flags?: string[]; env?: Record<string, string> } = {},
): Promise<Ran> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", ...(options.flags ?? KILN_FLAGS), options.entry ?? "main.ts", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_TOKEN: TEST_ADMIN_TOKEN, ...options.env },
  });
  const out = await cmd.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A `kiln run` in a child process, stopped with SIGTERM on dispose. */
export interface RunningKiln extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` of its API. */
  base: string;
  child: Deno.ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number>;
}

/**
 * Starts `kiln run --listen 127.0.0.1:0 ...args` and resolves once it prints its health URL.
 *
 * @throws {Error} when it exits or does not listen within `timeoutMs`.
 */
export async function startKiln(
  args: string[],
  options: { entry?: string; flags?: string[]; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunningKiln> {
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
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let base: string | null = null;
  let exited = false;
  child.status.then(() => exited = true);
  while (!base && !exited && Date.now() < deadline) {
    base = /health\s+(https?:\/\/\S+)\/health/.exec(text)?.[1] ?? null;
    if (!base) await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<number> | null = null;
  const stop = () => {
    if (!stopped) {
      stopped = (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const { code } = await child.status;
        await pumps;
        return code;
      })();
    }
    return stopped;
  };
  if (!base) {
    await stop();
    throw new Error(`kiln did not start listening:\n${text}`);
  }
  return {
    base,
    child,
    output: () => text,
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
