/**
 * A real Prometheus server (Debian's `prometheus` package) in a child process, for the tests of `deploy/`:
 * started on a free port with a config and a temporary TSDB, queried over its HTTP API, stopped on dispose.
 *
 * @module
 */
import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";
import { readOutput } from "../_process.ts";

/** An instant query's result (`GET /api/v1/query`): one sample per series. */
export interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** A running Prometheus; `await using` stops it. */
export interface RunningPrometheus extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  /** Runs an instant query. @throws {Error} when the server does not answer 200 or 400/422 with JSON. */
  query(expr: string): Promise<QueryResult>;
  /** Everything it logged so far. */
  output(): string;
}

/** A free TCP port on 127.0.0.1 (bound, read and released: another process could take it meanwhile). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts `prometheus --config.file=<dir>/<configFile>` with its TSDB under `dir`, and resolves once
 * `/-/ready` answers 200.
 *
 * @throws {Deno.errors.NotFound} when prometheus is not installed.
 * @throws {Error} when it exits or is not ready within `readyTimeoutMs`, with its log.
 */
export async function startPrometheus(
  dir: string,
  options: { configFile?: string; readyTimeoutMs?: number } = {},
): Promise<RunningPrometheus> {
  const port = freePort();
  const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/${options.configFile ?? "prometheus.yml"}`,
      `--storage.tsdb.path=${dir}/tsdb`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  killAfterGrace(child, signal);
  const output = readOutput(child);
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    await output.closed();
  };
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let ready = false;
  while (!ready && !exited && Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/-/ready`);
      await res.body?.cancel();
      ready = res.status === 200;
    } catch {
      // Not listening yet.
    }
    if (!ready) await new Promise((r) => setTimeout(r, 200));
  }
  if (!ready) {
    await stop();
    throw new Error(`prometheus did not get ready on ${base}:\n${output.text}`);
  }
  return {
    base,
    output: () => output.text,
    async query(expr) {
      const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (![200, 400, 422].includes(res.status)) {
        throw new Error(`Prometheus answered ${res.status} to ${expr}: ${await res.text()}`);
      }
      return await res.json() as QueryResult;
    },
    [Symbol.asyncDispose]: stop,
  };
}
