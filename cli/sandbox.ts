/**
 * Deno's permission model under Kiln: `kiln run` relaunches itself with the narrowest Deno permissions its
 * configuration needs, so a bug anywhere in the runtime is still fenced in by Deno itself:
 *
 * - read: the manifest, its modules and data blobs, the data directory, Kiln's schema migrations, and
 *   Kiln's own code (which Deno checks when it loads the executor worker);
 * - write: the data directory;
 * - read and write: a Linux GPIO bank's sysfs folder (`connectors.gpio.root`, a bind mount of `/sys`: Deno
 *   opens nothing under `/sys` itself without `--allow-all`, see `hal/gpio/config.ts`), only when one is
 *   configured;
 * - net: the API's listen address (and, later, the configured connectors);
 * - env: the two debug variables the `yaml` package reads, `KILN_SANDBOXED`, `KILN_ADMIN_TOKEN` and
 *   `KILN_LOG_FORMAT`;
 * - run: `stty` and `dd`, only when a Modbus device is on a serial line (they set the line and move its
 *   bytes: Deno opens nothing under `/dev` without `--allow-all`, see `hal/modbus/serial.ts`). Like any
 *   subprocess they are not sandboxed: `dd` can read and write whatever files the user running Kiln can;
 * - nothing else: no other subprocesses, no FFI, no system information.
 *
 * Executors run below that with permissions `"none"`. A compiled binary cannot relaunch with other flags
 * (its permissions are fixed by `deno compile`), so there the runtime only revokes the kinds it never needs.
 *
 * The relaunch replaces the launcher (libc's `execv` through FFI, `--allow-ffi`): one process, the PID a
 * supervisor started, holds the port. Without FFI it falls back to a child process and a resident launcher.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { LoadedManifest } from "../runtime/manifest/mod.ts";
import { TTY_COMMANDS } from "../hal/modbus/mod.ts";
import { existingLibcPaths } from "../runtime/executor/realtime_thread.ts";
import { startupMarksEnv } from "../runtime/_startup_marks.ts";
import { launchCachePath } from "./_launch_cache.ts";
import { type DenoGrants, execLibc, relaunchArgs, SANDBOXED_ENV, sandboxedGrants } from "./_exec.ts";

export {
  denoFlags,
  type DenoGrants,
  execRelaunch,
  SANDBOXED_ENV,
  sandboxedGrants,
  V8_FLAGS,
} from "./_exec.ts";

/**
 * Environment variables the runtime may read: the `yaml` package's debug switches, the sandbox marker, the
 * admin token, the log format and the temporary folder.
 */
const ENV_ALLOWED = [
  "LOG_TOKENS",
  "LOG_STREAM",
  SANDBOXED_ENV,
  "KILN_ADMIN_TOKEN",
  "KILN_LOG_FORMAT",
  "KILN_STARTUP_MARKS", // the startup trace, runtime/_startup_marks.ts
  "TMPDIR",
  "TMP",
  "TEMP",
];

/** What the running process may do, as `GET /api/v1/sandbox` reports it. */
export interface SandboxReport {
  /** True when this process was relaunched with {@linkcode DenoGrants}. */
  narrowed: boolean;
  /** Why not, when it was not. */
  reason: string | null;
  grants: DenoGrants | null;
  /** Permission states for accesses the runtime must not have (all should be "prompt" or "denied"). */
  probes: Record<string, Deno.PermissionState>;
}

/** The permissions a configuration needs. */
export function grantsFor(options: {
  manifest: LoadedManifest;
  dataDir: string;
  listen: { hostname: string; port: number };
  /** libc's paths for FFI, when known (a narrowed process cannot stat them); else looked up. */
  libcPaths?: string[];
}): DenoGrants {
  const read = new Set<string>([options.manifest.file, resolve(options.dataDir)]);
  const registryHosts = new Set<string>();
  for (const m of Object.values(options.manifest.modules)) {
    if (m.image !== undefined) {
      // Pulled into the data directory (already readable); the registry is `host[:port]` up to the first "/".
      registryHosts.add(m.image.slice(0, m.image.indexOf("/")));
      continue;
    }
    read.add(m.wasm.resolved);
    // Its signature bundle (which may not exist: an unsigned module).
    read.add(
      m.signature === undefined ? `${m.wasm.resolved}.sig` : resolve(options.manifest.dir, m.signature),
    );
    for (const d of Object.values(m.data)) read.add(d.resolved);
  }
  // The fleet agent pulls from any registry the manifest lists (runtime/fleet/).
  if (options.manifest.fleet) {
    for (const host of Object.keys(options.manifest.registries)) registryHosts.add(host);
  }
  const { signatures } = options.manifest;
  for (const p of [...signatures.trusted_roots, ...signatures.crls]) {
    read.add(resolve(options.manifest.dir, p));
  }
  read.add(dirname(new URL("../snapshots/migrations/", import.meta.url).pathname + "x"));
  // Deno checks read access when it loads the executor worker's module graph: grant Kiln's own code
  // (the folder of the main module: the source tree, or dist/ for the bundle), read-only.
  read.add(dirname(new URL(Deno.mainModule).pathname));
  const { hostname, port } = options.listen;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  // Port 0 asks the kernel for a free port, which Deno can only allow as "any port on this host".
  const net = new Set([port === 0 ? host : `${host}:${port}`]);
  const write = new Set([resolve(options.dataDir)]);
  const connectors = options.manifest.connectors;
  const modbus = Object.values(connectors?.modbus ?? {});
  for (const d of modbus) if (d.transport === "tcp") net.add(hostPort(d.host, d.port));
  const mqtt = connectors?.mqtt;
  if (mqtt?.url) {
    const u = new URL(mqtt.url.replace(/^mqtts?:/, "http:"));
    net.add(
      hostPort(
        u.hostname.replace(/^\[|\]$/g, ""),
        Number(u.port || (mqtt.url.startsWith("mqtts:") ? 8883 : 1883)),
      ),
    );
  }
  const gpio = connectors?.gpio;
  if (gpio?.backend === "linux-sysfs") {
    read.add(resolve(gpio.root));
    write.add(resolve(gpio.root));
  }
  for (const e of Object.values(connectors?.opcua ?? {})) {
    const u = new URL(e.url.replace(/^opc\.tcp:/, "http:"));
    net.add(hostPort(u.hostname.replace(/^\[|\]$/g, ""), Number(u.port || 4840)));
    if (e.password_file !== undefined) read.add(resolve(options.manifest.dir, e.password_file));
    if (e.pki_dir !== undefined) {
      read.add(resolve(e.pki_dir));
      write.add(resolve(e.pki_dir));
    }
  }
  for (const host of registryHosts) {
    const spec = Object.hasOwn(options.manifest.registries, host)
      ? options.manifest.registries[host]
      : undefined;
    // Without a port, the scheme's (a Bearer token server elsewhere is not known here: see the README).
    net.add(/:[0-9]+$/.test(host) ? host : `${host}:${spec?.plain_http ? 80 : 443}`);
    for (const f of [spec?.password_file, spec?.ca_file]) {
      if (f !== undefined) read.add(resolve(options.manifest.dir, f));
    }
  }
  if (mqtt?.embedded) net.add(mqtt.embedded.port === 0 ? "127.0.0.1" : `127.0.0.1:${mqtt.embedded.port}`);
  const otlp = options.manifest.observability.otlp;
  if (otlp) {
    const u = new URL(otlp.endpoint);
    net.add(
      hostPort(u.hostname.replace(/^\[|\]$/g, ""), Number(u.port || (u.protocol === "https:" ? 443 : 80))),
    );
  }
  const api = options.manifest.api?.tls;
  for (
    const f of [
      mqtt?.password_file,
      mqtt?.tls?.ca_file,
      mqtt?.tls?.cert_file,
      mqtt?.tls?.key_file,
      api?.cert_file,
      api?.key_file,
    ]
  ) {
    if (f !== undefined) read.add(resolve(options.manifest.dir, f));
  }
  return {
    read: [...read],
    write: [...write],
    // node-opcua asks for the host name, home directory and user id when it makes its certificate.
    sys: connectors?.opcua ? ["hostname", "homedir", "uid"] : [],
    // The realtime executor calls libc's sched_setscheduler, and pinned threads sched_setaffinity, for their
    // own threads (runtime/executor/realtime_thread.ts).
    ffi: options.manifest.scheduling?.realtime_fifo_priority !== undefined ||
        options.manifest.scheduling?.cpus !== undefined
      ? options.libcPaths ?? existingLibcPaths()
      : [],
    // A serial line is set with stty and read and written by dd; the device path itself needs no grant (the
    // runtime never opens it, and Deno would refuse anything under /dev without --allow-all).
    run: modbus.some((d) => d.transport === "rtu") ? [...TTY_COMMANDS] : [],
    net: [...net],
    env: [...ENV_ALLOWED],
    // The launch cache: only a launcher writes it (cli/_launch_cache.ts).
    sealed: [launchCachePath(options.dataDir)],
  };
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Why this process cannot relaunch itself narrowed, or null when it can (by exec or by a child process). */
export function cannotRelaunch(): string | null {
  if (Deno.build.standalone) return "a compiled binary keeps the permissions it was compiled with";
  if (execLibc() !== null) return null;
  if (Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state !== "granted") {
    return `no permission to run "${Deno.execPath()}" (the launcher needs --allow-ffi to exec, or --allow-run)`;
  }
  return null;
}

/**
 * Runs this program again as `deno run <narrow flags> <main module> ...args` with {@linkcode SANDBOXED_ENV}
 * set, forwarding SIGINT and SIGTERM, and returns its exit code: the relaunch when {@linkcode execRelaunch}
 * cannot exec. The child stops by itself when this process ends without forwarding anything (SIGKILL): see
 * {@linkcode watchLauncher}.
 */
export async function relaunch(args: string[], grants: DenoGrants): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: relaunchArgs(args, grants),
    env: { [SANDBOXED_ENV]: JSON.stringify({ ...grants, lifeline: true }), ...startupMarksEnv() },
    // A pipe nothing is written to: when this process ends, even by SIGKILL, the kernel closes it and the
    // child stops ({@linkcode watchLauncher}) instead of living on with the port and the data directory.
    stdin: "piped",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const lifeline = child.stdin.getWriter();
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* it has exited */ }
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  try {
    return (await child.status).code;
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
    await lifeline.close().catch(() => {}); // the child has exited: its end is closed
  }
}

/**
 * In a relaunched process: calls `gone` once its standard input, the launcher's lifeline, reaches its end:
 * the launcher exited, however it ended. The launcher never writes to it.
 */
export function watchLauncher(gone: () => void): void {
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* nothing is ever written */ }
    } catch { /* closed or unreadable: the same */ }
    gone();
  })();
}

/**
 * Revokes permission kinds the runtime never needs (effective even where flags could not be narrowed):
 * subprocesses unless `keep.run` (a Modbus device on a serial line runs `stty` and `dd`), FFI unless
 * `keep.ffi` (a `SCHED_FIFO` realtime executor), system information unless `keep.sys` (OPC UA's
 * certificates need some).
 *
 * `keep.run` defaults to whether this process was relaunched with programs to run: those are the only ones
 * it may run then. A process that could not be narrowed keeps every program it was started with when
 * `keep.run` is true, and none otherwise.
 */
export function revokeUnneeded(
  keep: { sys?: boolean; ffi?: boolean; run?: boolean } = {},
): void {
  const run = keep.run ?? (sandboxedGrants()?.run ?? []).length > 0;
  if (!run) Deno.permissions.revokeSync({ name: "run" });
  if (!keep.ffi) Deno.permissions.revokeSync({ name: "ffi" });
  if (!keep.sys) Deno.permissions.revokeSync({ name: "sys" });
}

/** Probes accesses the runtime must not have. */
export function probe(dataDir: string): SandboxReport["probes"] {
  const q = (d: Deno.PermissionDescriptor) => Deno.permissions.querySync(d).state;
  return {
    "read /etc/passwd": q({ name: "read", path: "/etc/passwd" }),
    "write /tmp": q({ name: "write", path: "/tmp/kiln-probe" }),
    [`write ${resolve(dataDir)}/../outside`]: q({ name: "write", path: resolve(dataDir, "..", "outside") }),
    [`write ${launchCachePath(dataDir)}`]: q({ name: "write", path: launchCachePath(dataDir) }),
    "net 10.0.0.1:502": q({ name: "net", host: "10.0.0.1:502" }),
    "run": q({ name: "run" }),
    "ffi": q({ name: "ffi" }),
    "env HOME": q({ name: "env", variable: "HOME" }),
  };
}
