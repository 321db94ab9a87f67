/**
 * Helpers of the OPC UA connector's tests: the test endpoint through the manifest schema, waits that name the
 * connector's status, temporary folders, and a probe that runs a connector in a child process under Kiln's
 * narrow permissions, bounded by a timeout.
 *
 * @module
 */
import {
  type OpcuaConnector,
  type OpcuaEndpoint,
  OpcuaEndpointSchema,
  toOpcuaEndpoint,
} from "../../hal/opcua/mod.ts";
import { waitFor } from "../_helpers.ts";
import { killAfterGrace } from "../_timeouts.ts";

/** The fixture server's nodes, sampled every 50 ms (see `fixtures/opcua_server.ts`). */
export const NODES = [
  { id: "temperature", node_id: "ns=1;s=Temperature", sampling_ms: 50 },
  { id: "count", node_id: "ns=1;s=Count", sampling_ms: 50 },
  { id: "valve", node_id: "ns=1;s=Valve", sampling_ms: 50, writable: true },
  { id: "setpoint", node_id: "ns=1;s=Setpoint", sampling_ms: 50, writable: true },
];

/**
 * An endpoint `plc1` through the manifest schema, with a fast backoff for tests and its PKI under `dir`;
 * `over` replaces manifest fields. Handshakes keep their default `connect_timeout_ms`.
 */
export function testEndpoint(url: string, dir: string, over: Record<string, unknown> = {}): OpcuaEndpoint {
  return toOpcuaEndpoint(
    "plc1",
    OpcuaEndpointSchema.parse({
      url,
      timeout_ms: 2000,
      backoff_ms: 50,
      max_backoff_ms: 400,
      nodes: NODES,
      ...over,
    }),
    { dataDir: dir },
  );
}

/**
 * {@linkcode waitFor}, naming the connector's status when it times out.
 *
 * @throws {Error} when `check` stays falsy for `timeoutMs`.
 */
export async function until<T>(
  plc: OpcuaConnector,
  what: string,
  check: () => T,
  timeoutMs = 20_000,
): Promise<void> {
  try {
    await waitFor(what, check, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message} (status: ${JSON.stringify(plc.status())})`);
  }
}

/**
 * Resolves with a promise's value, or rejects naming what it is when it has not settled after a minute: a
 * guard against a hang (a test then fails instead of stalling the run), not a measure of time.
 */
export { settles } from "../../hal/_wait.ts";

/** A temporary directory removed on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "kiln-opcua-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * What `kiln run` must grant for the client, beyond Kiln's own variables (`cli/_env.ts`, imported first as
 * `main.ts` does): `os.tmpdir()` reads TMPDIR, TMP and TEMP; node-opcua asks for the host name (its
 * application URI), the home directory and the uid; it reads and writes only the PKI folder.
 */
export const CLIENT_PERMISSIONS = [
  "--allow-env=KILN_SANDBOXED,KILN_ADMIN_TOKEN,KILN_TOKEN,LOG_TOKENS,LOG_STREAM,NO_COLOR,TMPDIR,TMP,TEMP",
  "--allow-sys=hostname,homedir,uid",
  "--allow-net=127.0.0.1",
];

/** What a probe printed, and how it ended. */
export interface ProbeResult {
  /** Its exit code; 137 after the test killed it. */
  readonly code: number;
  /** Whether the test had to kill it because it did not exit within `timeoutMs`. */
  readonly killed: boolean;
  /** The JSON after each `RESULT ` line it printed, parsed. */
  readonly results: unknown[];
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@linkcode runProbe}. */
export interface ProbeOptions {
  /** A folder for the probe's script. */
  readonly dir: string;
  /** Kiln's data directory in the probe: the only folder it may read and write. */
  readonly dataDir: string;
  /**
   * The probe's body, after imports of `cli/_env.ts` and of `createOpcuaConnector`, `OpcuaEndpointSchema`
   * and `toOpcuaEndpoint` from `hal/opcua/mod.ts`. `Deno.args` holds `args`; it prints `RESULT <json>` lines.
   */
  readonly body: string;
  readonly args: readonly string[];
  /** @default 90000 */
  readonly timeoutMs?: number;
}

/** How long a probe may take to exit after its SIGTERM before it gets SIGKILL, ms. */
const PROBE_KILL_GRACE_MS = 5_000;

/**
 * Runs a connector in a child process under {@linkcode CLIENT_PERMISSIONS} plus read and write on
 * `dataDir`, and waits for it to exit by itself: it is killed after `timeoutMs` (SIGTERM, then SIGKILL 5 s
 * later), so a connector that keeps its process alive fails the test instead of hanging the run.
 */
export async function runProbe(options: ProbeOptions): Promise<ProbeResult> {
  const from = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `${options.dir}/probe_${crypto.randomUUID()}.ts`;
  await Deno.writeTextFile(
    script,
    `import ${from("../../cli/_env.ts")};
import { createOpcuaConnector, OpcuaEndpointSchema, toOpcuaEndpoint } from ${from("../../hal/opcua/mod.ts")};
${options.body}
`,
  );
  const signal = AbortSignal.timeout(options.timeoutMs ?? 90_000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${new URL("../../deno.json", import.meta.url).pathname}`,
      ...CLIENT_PERMISSIONS,
      `--allow-read=${options.dataDir}`,
      `--allow-write=${options.dataDir}`,
      script,
      ...options.args,
    ],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  killAfterGrace(child, signal, PROBE_KILL_GRACE_MS);
  const out = await child.output();
  // Killed: the bound passed and it did not end well by itself (a process that handles SIGTERM may exit 143).
  const killed = signal.aborted && !out.success;
  const stdout = new TextDecoder().decode(out.stdout);
  const results = stdout.split("\n").filter((l) => l.startsWith("RESULT ")).map((l) =>
    JSON.parse(l.slice(7))
  );
  return { code: out.code, killed, results, stdout, stderr: new TextDecoder().decode(out.stderr) };
}
