/**
 * `kiln run` as a child process for the benchmarks that need the real thing (its API).
 *
 * @module
 */
import { ROOT } from "./_plan.ts";

/** A running `kiln run`; disposing it stops it with SIGTERM and waits for it to exit. */
export interface KilnProcess extends AsyncDisposable {
  /** e.g. `http://127.0.0.1:40123` */
  base: string;
  /** The `deno` process this started (it relaunches itself in a narrowed sandbox as its child). */
  pid: number;
}

/**
 * Starts `kiln run <manifest>` on a free loopback port with `KILN_ADMIN_TOKEN` set to `token`, and resolves
 * once it prints its API address.
 *
 * @throws {Error} when it exits or prints no address within `timeoutMs`.
 */
export async function startKiln(
  manifest: string,
  options: { token: string; timeoutMs?: number; lifetimeMs?: number },
): Promise<KilnProcess> {
  const data = await Deno.makeTempDir({ prefix: "kiln-bench-data-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "run", manifest, "--data", data, "--listen", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_ADMIN_TOKEN: options.token },
    // The longest a benchmark's gateway may run (SIGTERM then), even if the benchmark never disposes of it.
    signal: AbortSignal.timeout(options.lifetimeMs ?? 30 * 60_000),
  }).spawn();
  let text = "";
  const pump = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const errors = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let base: string | null = null;
  while (base === null) {
    base = /health\s+(http:\/\/\S+)\/health/.exec(text)?.[1] ?? null;
    if (base !== null) break;
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await status;
      throw new Error(`kiln run did not start: ${text}\n${await errors}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    base,
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await pump;
      await errors;
      await Deno.remove(data, { recursive: true }).catch(() => {});
    },
  };
}
