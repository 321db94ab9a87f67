/**
 * Test helpers for the MQTT connector: a real Mosquitto broker in a child process on a free loopback port,
 * its command-line clients, TLS material made with openssl, and a TCP proxy that can cut or stall a
 * connection the way a network does.
 *
 * @module
 */

import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";

/** A temporary directory, removed with everything in it on dispose. */
export async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "kiln_mqtt_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/**
 * Polls `check` every 10 ms until it is true; after `timeoutMs` throws naming `what` (a function is called
 * then, so it can describe the state at the time of failure).
 */
export async function until(
  what: string | (() => string),
  check: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A Mosquitto listener's settings. */
export interface MosquittoOptions {
  /** `user: password` pairs; when given, anonymous clients are refused. */
  readonly passwords?: Readonly<Record<string, string>>;
  /** TLS on the listener: PEM file paths; `requireCertificate` asks clients for a certificate signed by `cafile`. */
  readonly tls?: { cafile: string; certfile: string; keyfile: string; requireCertificate?: boolean };
  /** Keep sessions and queued messages across a restart (`persistence true`, in `dir`). @default false */
  readonly persistence?: boolean;
  /**
   * The longest each started broker process may run, ms: it is stopped then, even if the test never
   * disposes of it. @default PEER_LIFETIME_MS (10 minutes)
   */
  readonly lifetimeMs?: number;
}

/** A Mosquitto that can be stopped and started again on the same port (the same broker, to its clients). */
export interface Mosquitto extends AsyncDisposable {
  readonly port: number;
  /** `mqtt://127.0.0.1:PORT` (or `mqtts://` with TLS). */
  readonly url: string;
  /** Starts the broker and resolves once it accepts TCP connections. */
  start(): Promise<void>;
  /** Stops the broker (SIGTERM, SIGKILL after a grace period) and waits for it to exit; a no-op when stopped. */
  stop(): Promise<void>;
  /** What the broker printed so far (for failure messages). */
  log(): string;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The longest a Mosquitto client the tests start may live, ms: it is killed then. */
const CLIENT_TIMEOUT_MS = 60_000;

async function run(cmd: string, args: string[], options: { stdin?: Uint8Array } = {}): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    // node-opcua's PKI code sets OPENSSL_CONF in this process's environment (to "undefined" when it has no
    // file): a test file that ran an OPC UA client earlier in the same `deno test` would break openssl here.
    ...(cmd === "openssl" && { clearEnv: true, env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" } }),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS), // killed if it never ends (a broker that never answers)
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(options.stdin);
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Polls until something accepts TCP connections on 127.0.0.1:`port`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Writes a Mosquitto configuration for a broker on a free port, without starting it; `start()` starts it.
 * `dir` holds the configuration (and the password file).
 */
export async function createMosquitto(dir: string, options: MosquittoOptions = {}): Promise<Mosquitto> {
  const port = freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    options.persistence ? `persistence true\npersistence_location ${dir}/` : "persistence false",
    "log_dest stderr",
    "log_type error",
    "log_type warning",
    "log_type notice",
  ];
  // Mosquitto started as root switches to the user "mosquitto", which cannot read a private temp directory.
  if (Deno.uid() === 0) lines.push("user root");
  if (options.passwords) {
    const file = `${dir}/passwords`;
    await Deno.writeTextFile(file, "");
    for (const [user, password] of Object.entries(options.passwords)) {
      await run("mosquitto_passwd", ["-b", file, user, password]);
    }
    lines.push(`password_file ${file}`, "allow_anonymous false");
  } else {
    lines.push("allow_anonymous true");
  }
  if (options.tls) {
    lines.push(
      `cafile ${options.tls.cafile}`,
      `certfile ${options.tls.certfile}`,
      `keyfile ${options.tls.keyfile}`,
      `require_certificate ${options.tls.requireCertificate ? "true" : "false"}`,
    );
  }
  const conf = `${dir}/mosquitto-${port}.conf`;
  await Deno.writeTextFile(conf, lines.join("\n") + "\n");

  let child: Deno.ChildProcess | null = null;
  let pump: Promise<void> | null = null;
  let text = "";
  const stop = async () => {
    if (child === null) return;
    const c = child;
    child = null;
    await stopChild(c);
    await pump;
  };
  return {
    port,
    url: `${options.tls ? "mqtts" : "mqtt"}://127.0.0.1:${port}`,
    async start() {
      if (child !== null) return;
      const signal = AbortSignal.timeout(options.lifetimeMs ?? PEER_LIFETIME_MS);
      const c = new Deno.Command("mosquitto", { args: ["-c", conf], stdout: "null", stderr: "piped", signal })
        .spawn();
      killAfterGrace(c, signal);
      child = c;
      pump = (async () => {
        for await (const chunk of c.stderr.pipeThrough(new TextDecoderStream())) text += chunk;
      })();
      try {
        await Promise.race([
          waitForPort(port, 10_000),
          c.status.then((s) => {
            throw new Error(`mosquitto exited with ${s.code}: ${text}`);
          }),
        ]);
      } catch (err) {
        await stop();
        throw err;
      }
    },
    stop,
    log: () => text,
    [Symbol.asyncDispose]: stop,
  };
}

/** Creates and starts a Mosquitto; see {@linkcode createMosquitto}. */
export async function startMosquitto(dir: string, options: MosquittoOptions = {}): Promise<Mosquitto> {
  const broker = await createMosquitto(dir, options);
  await broker.start();
  return broker;
}

/** One message as `mosquitto_sub` printed it. */
export interface SubMessage {
  readonly topic: string;
  readonly qos: number;
  readonly payload: Uint8Array;
}

/** A running `mosquitto_sub -C count`, subscribed (SUBACK seen) when {@linkcode startSub} resolves. */
export interface Sub extends AsyncDisposable {
  /** Resolves with the `count` messages once they arrived and mosquitto_sub exited. */
  readonly messages: Promise<SubMessage[]>;
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** A broker on loopback, and the user name and password it wants (the embedded broker's), if any. */
export interface BrokerAddress {
  readonly port: number;
  readonly credentials?: { readonly username: string; readonly password: string } | null;
}

/** The Mosquitto clients' host, port and login arguments for `broker`. */
function login(broker: BrokerAddress): string[] {
  const args = ["-h", "127.0.0.1", "-p", `${broker.port}`];
  if (broker.credentials) args.push("-u", broker.credentials.username, "-P", broker.credentials.password);
  return args;
}

/**
 * Starts `mosquitto_sub` for `count` messages on `topic` at QoS 2 (so each arrives at the QoS it was sent
 * with); resolves once the broker acknowledged the subscription. Payloads are printed in hex, so bytes
 * compare exactly.
 */
export async function startSub(
  broker: BrokerAddress,
  topic: string,
  count: number,
): Promise<Sub> {
  // stdbuf: mosquitto_sub's stdout is block-buffered into a pipe, and the SUBACK line is needed at once.
  const args = [...login(broker), "-t", topic, "-q", "2", "-C", `${count}`, "-d"];
  const child = new Deno.Command("stdbuf", {
    args: ["-oL", "mosquitto_sub", ...args, "-F", "MSG %q %t %x"],
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => subscribed = resolve);
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      out += chunk;
      if (out.includes("received SUBACK")) subscribed();
    }
  })();
  const stderr = new Response(child.stderr).text();
  const finished = (async () => {
    const status = await child.status;
    await reading;
    const err = await stderr;
    if (!status.success) throw new Error(`mosquitto_sub exited with ${status.code}: ${err}`);
    return out.split("\n").filter((l) => l.startsWith("MSG ")).map((line) => {
      const [, qos, topic, hex] = line.split(" ");
      return { topic: topic ?? "", qos: Number(qos), payload: fromHex(hex ?? "") };
    });
  })();
  // Keep an early failure from being unhandled before the caller awaits `messages`.
  finished.catch(() => {});
  await Promise.race([
    ready,
    finished.then(() => {
      throw new Error(`mosquitto_sub ended before subscribing: ${out}`);
    }),
  ]);
  return {
    messages: finished,
    async [Symbol.asyncDispose]() {
      await stopChild(child);
      await finished.catch(() => {});
    },
  };
}

/** Publishes `payload` (exact bytes, from stdin) with `mosquitto_pub`. */
export async function pub(
  broker: BrokerAddress,
  topic: string,
  payload: Uint8Array,
  options: { qos?: 0 | 1 | 2; retain?: boolean } = {},
): Promise<void> {
  const args = [...login(broker), "-t", topic, "-q", `${options.qos ?? 1}`, "-s"];
  if (options.retain) args.push("-r");
  await run("mosquitto_pub", args, { stdin: payload });
}

/** PEM files for a test CA, a broker certificate for 127.0.0.1 and a client certificate. */
export interface TlsFiles {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** Makes a CA, a server certificate (SAN 127.0.0.1, localhost) and a client certificate with openssl in `dir`. */
export async function makeTls(dir: string): Promise<TlsFiles> {
  const p = (name: string) => `${dir}/${name}`;
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...key,
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=Kiln Test CA",
  ]);
  const sign = async (name: string, cn: string, ext: string) => {
    await Deno.writeTextFile(p(`${name}.ext`), ext);
    await run("openssl", [
      "req",
      ...key,
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    ]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      p(`${name}.ext`),
    ]);
  };
  await sign(
    "server",
    "127.0.0.1",
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  await sign(
    "client",
    "kiln-test-client",
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
  );
  return {
    caCert: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
  };
}

/** A TCP proxy to 127.0.0.1:`targetPort` that a test can stall or cut, as a network fault would. */
export interface TcpProxy extends AsyncDisposable {
  readonly port: number;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /** Stops forwarding bytes in both directions (the link hangs) until {@linkcode TcpProxy.resume}. */
  pause(): void;
  resume(): void;
  /** Closes every proxied connection on both sides: the broker sees the client vanish without DISCONNECT. */
  cut(): void;
}

/** Starts a {@linkcode TcpProxy} on a free port. */
export function startProxy(targetPort: number): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<{ a: Deno.Conn; b: Deno.Conn; done: Promise<void> }>();
  let paused: PromiseWithResolvers<void> | null = null;
  const closeQuietly = (c: Deno.Conn) => {
    try {
      c.close();
    } catch {
      // Already closed.
    }
  };
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        while (paused) await paused.promise;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // One side was closed under us.
    } finally {
      // When either direction ends, end both, so the proxy behaves like one connection.
      closeQuietly(from);
      closeQuietly(to);
    }
  };
  const accepting = (async () => {
    for await (const a of listener) {
      let b: Deno.Conn;
      try {
        b = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        closeQuietly(a);
        continue;
      }
      const pair = {
        a,
        b,
        done: Promise.all([pipe(a, b), pipe(b, a)]).then(() => {}),
      };
      pairs.add(pair);
      pair.done.finally(() => pairs.delete(pair));
    }
  })();
  const cut = () => {
    for (const { a, b } of pairs) {
      closeQuietly(a);
      closeQuietly(b);
    }
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return pairs.size;
    },
    pause() {
      paused ??= Promise.withResolvers<void>();
    },
    resume() {
      paused?.resolve();
      paused = null;
    },
    cut,
    async [Symbol.asyncDispose]() {
      paused?.resolve();
      paused = null;
      listener.close();
      await accepting.catch(() => {});
      cut();
      await Promise.all([...pairs].map((p) => p.done));
    },
  };
}
