/**
 * The OPC UA server of the connector's integration tests: `fixtures/opcua_server.ts` (node-opcua) in a
 * child process, so the test peer's npm code and its permissions stay out of the test's own process. See
 * the fixture for its address space.
 *
 * @module
 */

const FIXTURE = new URL("./fixtures/opcua_server.ts", import.meta.url).pathname;

/** A running OPC UA server. */
export interface OpcuaServer extends AsyncDisposable {
  readonly port: number;
  /** `opc.tcp://127.0.0.1:<port>/UA/Kiln` */
  readonly url: string;
  /** Its PKI folder: `own/certs/certificate.pem` is its certificate. */
  readonly pkiDir: string;
  /** The `WRITE <name> <value>` lines it printed so far. */
  readonly writes: readonly string[];
  /** Resolves when it has printed `line`, or rejects after `timeoutMs`. */
  waitForWrite(line: string, timeoutMs?: number): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Lets a paused process run again (SIGCONT). */
  resume(): void;
  /** Kills the process (SIGKILL, a crash) and waits for it. */
  kill(): Promise<void>;
}

/** Options of {@linkcode startOpcuaServer}. */
export interface OpcuaServerOptions {
  /** @default 0, a free port */
  readonly port?: number;
  /** Where its certificate and key live; the same folder across restarts keeps the same certificate. */
  readonly pkiDir: string;
  /** `user:password` to require instead of anonymous sessions. */
  readonly credentials?: string;
  /** @default 60000 (the first start downloads and compiles node-opcua) */
  readonly startTimeoutMs?: number;
}

/**
 * Starts the node-opcua server on `127.0.0.1` and resolves once it listens.
 *
 * @throws {Error} when it exits or stays silent before printing its port.
 */
export async function startOpcuaServer(options: OpcuaServerOptions): Promise<OpcuaServer> {
  const args = [
    "run",
    "-A",
    "--quiet",
    FIXTURE,
    String(options.port ?? 0),
    options.pkiDir,
    ...(options.credentials ? [options.credentials] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" }).spawn();
  const writes: string[] = [];
  let stderr = "";
  let resolvePort: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => resolvePort = resolve);
  const readOut = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const match = /^PORT (\d+)$/.exec(line);
        if (match) resolvePort(Number(match[1]));
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
  const tooSlow = new Promise<"slow">((resolve) => {
    timer = setTimeout(() => resolve("slow"), options.startTimeoutMs ?? 60_000);
  });
  const bound = await Promise.race([listening, status.then(() => "exited" as const), tooSlow]);
  clearTimeout(timer);
  if (typeof bound !== "number") {
    await kill();
    throw new Error(`The OPC UA server ${bound} before listening on port ${options.port ?? 0}: ${stderr}`);
  }
  return {
    port: bound,
    url: `opc.tcp://127.0.0.1:${bound}/UA/Kiln`,
    pkiDir: options.pkiDir,
    writes,
    async waitForWrite(line, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!writes.includes(line)) {
        if (Date.now() > deadline) throw new Error(`The server printed no "${line}"; it printed ${writes}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    pause: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    kill,
    [Symbol.asyncDispose]: kill,
  };
}
