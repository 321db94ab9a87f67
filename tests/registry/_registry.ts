/**
 * Test helper: a real CNCF Distribution registry (Debian's `docker-registry`, 2.8.x) in a child process on a
 * free loopback port, with its own config and storage in a directory the caller owns; optionally with HTTP
 * Basic auth (an htpasswd file hashed with bcryptjs) and TLS (a CA made with openssl).
 *
 * @module
 */
import bcrypt from "bcryptjs";
import { killAfterGrace, PEER_LIFETIME_MS, stopChild } from "../_timeouts.ts";
import { freePort, makeTls, type TlsFiles } from "../hal/_mosquitto.ts";

/** Settings of a test registry. */
export interface RegistryOptions {
  /** `user: password` pairs; when given, every request needs HTTP Basic credentials. */
  readonly users?: Readonly<Record<string, string>>;
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh test CA. @default false */
  readonly tls?: boolean;
  /**
   * Bearer token auth (distribution `docs/spec/auth/token.md`): clients get a JWT from `realm`, which the
   * registry accepts when it is signed by the key of `rootCertFile` (PEM) for `service`, from `issuer`.
   */
  readonly token?: { realm: string; service: string; issuer: string; rootCertFile: string };
  /**
   * Listen on this port: a registry started again on its folder and port is the same registry to its
   * clients (its storage is kept). @default a free port
   */
  readonly port?: number;
}

/** A running registry. */
export interface TestRegistry extends AsyncDisposable {
  /** `127.0.0.1:PORT`, as a reference names it. */
  readonly host: string;
  /** The test CA's certificate (PEM text) when it serves TLS, else null. */
  readonly caCert: string | null;
  /** What it logged so far (for failure messages). */
  log(): string;
}

/** Polls until `host` answers HTTP on `/v2/` (any status: 401 counts), or throws after `timeoutMs`. */
async function waitReady(url: string, client: Deno.HttpClient | null, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000), ...(client && { client }) });
      await res.body?.cancel();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Starts `docker-registry serve` with a config written in `dir`; stopped on dispose. */
export async function startRegistry(dir: string, options: RegistryOptions = {}): Promise<TestRegistry> {
  const port = options.port ?? freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${dir}/storage`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: kiln-test-${crypto.randomUUID()}`,
  ];
  let tls: TlsFiles | null = null;
  if (options.tls) {
    tls = await makeTls(dir);
    lines.push("  tls:", `    certificate: ${tls.serverCert}`, `    key: ${tls.serverKey}`);
  }
  if (options.users) {
    const file = `${dir}/htpasswd`;
    const entries = Object.entries(options.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 4)}`);
    await Deno.writeTextFile(file, entries.join("\n") + "\n");
    lines.push("auth:", "  htpasswd:", "    realm: kiln-test", `    path: ${file}`);
  }
  if (options.token) {
    const { realm, service, issuer, rootCertFile } = options.token;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${realm}`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${rootCertFile}`,
    );
  }
  const config = `${dir}/registry.yml`;
  await Deno.writeTextFile(config, lines.join("\n") + "\n");
  const signal = AbortSignal.timeout(PEER_LIFETIME_MS);
  const child = new Deno.Command("docker-registry", {
    args: ["serve", config],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  killAfterGrace(child, signal);
  let text = "";
  const pumps = [child.stdout, child.stderr].map(async (s) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) text += chunk;
  });
  const caCert = tls ? await Deno.readTextFile(tls.caCert) : null;
  const probe = caCert ? Deno.createHttpClient({ caCerts: [caCert] }) : null;
  const stop = async () => {
    await stopChild(child);
    await Promise.all(pumps);
    probe?.close();
  };
  try {
    await Promise.race([
      waitReady(`${tls ? "https" : "http"}://127.0.0.1:${port}/v2/`, probe, 20_000),
      child.status.then((s) => {
        throw new Error(`docker-registry exited with ${s.code}: ${text}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: `127.0.0.1:${port}`, caCert, log: () => text, [Symbol.asyncDispose]: stop };
}
