/**
 * The gateway `kiln run` serves once it runs with the permissions it keeps (narrowed, or as started): the
 * store, the desired state, the runtime, the API and the fleet agent, until SIGINT or SIGTERM. Loaded by
 * `run.ts` only then, so a launcher that execs into its narrowed self loads none of it.
 *
 * @module
 */
import { startTraceExport } from "../runtime/trace/mod.ts";
import { apiPorts, createApp, StreamFeed, StreamHub } from "../api/mod.ts";
import type { LoadedManifest } from "../runtime/manifest/mod.ts";
import {
  BlobStore,
  createDeployer,
  createRuntime,
  type DeploymentPlan,
  dropSpareExecutors,
  FleetAgent,
  Lifecycle,
  planDeployment,
  prewarmPlan,
  resolveDesiredState,
  type SimFault,
  Snapshotter,
} from "../runtime/mod.ts";
import {
  AlertLog,
  AuditLog,
  countActiveTokens,
  createOutbox,
  createToken,
  listSnapshots,
  openStore,
  type Store,
  verifyToken,
} from "../snapshots/mod.ts";
import type { Authenticator } from "../api/mod.ts";
import { timingSafeEqual } from "node:crypto";
import { UsageError } from "./_usage.ts";
import { lockDataDir } from "./data_lock.ts";
import type { ProcessLog } from "./_log.ts";
import { type DenoGrants, type SandboxReport, watchLauncher } from "./sandbox.ts";

/** What `kiln run` decided before serving. */
export interface GatewayOptions {
  dataDir: string;
  /** The manifest file. */
  configPath: string;
  manifest: LoadedManifest;
  plan: DeploymentPlan;
  listen: { hostname: string; port: number };
  faults: Map<string, SimFault>;
  out: ProcessLog;
  sandbox: SandboxReport;
  /** The grants this process was relaunched with, or null. */
  grants: DenoGrants | null;
  version: string;
}

/** Serves until a signal stops it; returns the exit code. */
export async function serveGateway(o: GatewayOptions): Promise<number> {
  const { configPath, manifest, plan, listen, faults, out, sandbox, grants, version } = o;
  // Before anything in the data directory is opened: one runtime per data directory.
  using _lock = lockDataDir(o.dataDir);
  // The executors' workers boot (40-60 ms each, on their own threads) while the store, the desired state and
  // the modules load; the runtime's executors take them, and those it did not need end after its start.
  prewarmPlan(plan);
  using store = openStore(`${o.dataDir}/kiln.db`);
  await using snapshots = new Snapshotter(store.path);
  // Modules that resume read their snapshots first thing: the snapshot worker boots meanwhile, from now when
  // the manifest has one, or once the desired state shows one (a module deployed through the API).
  const snapshotted = (p: DeploymentPlan) => p.modules.some((m) => m.persistence !== null);
  if (snapshotted(plan)) snapshots.start();
  // What to run: the manifest file overlaid with the accepted API actions recorded since (runtime/lifecycle/).
  const blobs = new BlobStore(o.dataDir);
  const desired = await resolveDesiredState({
    manifest,
    db: store.db,
    blobs,
    dataDir: o.dataDir,
    log: out.log,
  });
  const running: DeploymentPlan = {
    ...plan,
    modules: planDeployment(desired.manifest, { dataDir: o.dataDir }).modules,
  };
  if (snapshotted(running)) snapshots.start();

  const outbox = plan.mqtt
    ? createOutbox(store, { diskBudgetBytes: plan.mqtt.outbox.diskBudgetBytes })
    : null;
  // Before the runtime exists: it refuses an unknown sensor (SensorUnknownError), but that is a usage error.
  for (const id of faults.keys()) {
    if (!plan.sim.some((s) => s.id === id)) {
      throw new UsageError(`--fault: no simulated sensor "${id}" in ${configPath}`);
    }
  }
  const runtime = await createRuntime({
    plan: running,
    version,
    // Module text reaches this log escaped, each module's lines marked as its own (../log_text.ts).
    log: out.log,
    faults,
    audit: new AuditLog(store),
    alerts: new AlertLog(store), // kept across restarts, acknowledged (issue 21)
    snapshots,
    ...(outbox && { outbox }),
    traceDir: `${o.dataDir}/traces`, // live recordings (`kiln record --url`)
    scratchDir: `${o.dataDir}/tmp`, // shadow candidates while they load
  });
  // Trace sampling and the OTLP exporter (`observability:`), applied before the modules start.
  await using _traceExport = startTraceExport(runtime.traces, manifest.observability, {
    version,
    deviceId: plan.device.id,
  });
  await runtime.start();
  dropSpareExecutors();
  const lifecycle = new Lifecycle({
    db: store.db,
    dataDir: o.dataDir,
    blobs,
    desired,
    keepVersions: manifest.lifecycle.keep_versions,
    runtime,
    log: out.log,
  });
  // A version rolled back on its probation's figures is recorded like an operator's rollback.
  runtime.onRollback((name, r) =>
    lifecycle.recordAutomaticRollback(name, { toSha256: r.to_sha256, reason: r.reason })
  );

  const deployer = createDeployer({ manifestFile: configPath, dataDir: o.dataDir, runtime, lifecycle });
  // Fleet control (docs/fleet.md): deploys through the same deployer as the API, recorded `by: "fleet"`.
  await using fleet = manifest.fleet && plan.mqtt
    ? await FleetAgent.start({
      manifest,
      mqtt: plan.mqtt,
      version,
      dataDir: o.dataDir,
      runtime,
      deployer,
      log: out.log,
    })
    : null;

  const auth = await authenticator(store, o.dataDir, out);
  const ports = apiPorts(runtime);
  await using hub = new StreamHub();
  await using feed = new StreamFeed(ports, hub);
  feed.start();
  const app = createApp({
    ...ports,
    auth,
    metricsPublic: plan.metricsPublic,
    stream: hub,
    deployer,
    deployments: lifecycle,
    sandbox: () => sandbox,
    listSnapshots: (module) => listSnapshots(store.db, module),
  });
  const stopped = Promise.withResolvers<void>();
  const tls = plan.tls
    ? { cert: await Deno.readTextFile(plan.tls.certFile), key: await Deno.readTextFile(plan.tls.keyFile) }
    : null;
  const server = Deno.serve({
    hostname: listen.hostname,
    port: listen.port,
    ...tls,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      const base = `${tls ? "https" : "http"}://${host}:${port}`;
      const h = runtime.health();
      // Hints that work as printed: the token where this start took it from (bannerToken).
      const t = bannerToken(o.dataDir);
      const curl = `curl -H "Authorization: Bearer ${t.shell}"`;
      out.say(
        `kiln ${version}: device "${plan.device.id}", ${running.modules.length} modules (${h.modules.running} running)\n` +
          `  health   ${base}/health\n  modules  ${curl} ${base}/api/v1/modules\n` +
          `  alerts   ${curl} ${base}/api/v1/alerts\n` +
          (plan.sim.some((s) => s.id === "vibration_1")
            ? `  inject a fault: ${curl} -X POST ${base}/api/v1/sim/sensors/vibration_1/fault -d '{"fault":"bearing"}'\n`
            : "") +
          `  from the CLI: ${t.cli}kiln status --url ${base}${t.data} (kiln --help lists the commands)`,
      );
    },
    onError: (err) => {
      console.error("Unexpected error in the HTTP server:", err);
      return Response.json({ error: { code: "internal", message: "Internal error" } }, { status: 500 });
    },
  }, app.fetch);

  const shutdown = () => stopped.resolve();
  Deno.addSignalListener("SIGINT", shutdown);
  Deno.addSignalListener("SIGTERM", shutdown);
  if (grants?.lifeline) {
    // Relaunched as a child: a launcher that is gone (even by SIGKILL) stops this process as SIGTERM would.
    watchLauncher(() => {
      out.say("kiln: the launcher process has exited");
      shutdown();
    });
  }
  await stopped.promise;
  out.say("kiln: stopping");
  await fleet?.close(); // before the runtime: no deploy starts while it stops
  await runtime.shutdown();
  // Close the live streams (1001, "going away") before the server: its shutdown does not end WebSockets.
  await feed[Symbol.asyncDispose]();
  await hub[Symbol.asyncDispose]();
  await server.shutdown();
  Deno.removeSignalListener("SIGINT", shutdown);
  Deno.removeSignalListener("SIGTERM", shutdown);
  return 0;
}

/** The admin token from the environment, when it is set and readable. */
export const ADMIN_TOKEN_ENV = "KILN_ADMIN_TOKEN";

/**
 * Where the start banner's hints take the token from, as a shell sees it: `$KILN_ADMIN_TOKEN` when that is
 * the admin token, else the data directory's `admin.token` when this runtime wrote one, else `$KILN_TOKEN`
 * (a token made with `kiln token create`). `cli` and `data` make `kiln status` find the same token.
 */
function bannerToken(dataDir: string): { shell: string; cli: string; data: string } {
  try {
    if (Deno.env.get(ADMIN_TOKEN_ENV)) {
      return { shell: `$${ADMIN_TOKEN_ENV}`, cli: `KILN_TOKEN=$${ADMIN_TOKEN_ENV} `, data: "" };
    }
  } catch { /* not allowed to read it: as if unset */ }
  const path = `${dataDir}/admin.token`;
  try {
    Deno.statSync(path);
  } catch {
    return { shell: "$KILN_TOKEN", cli: "", data: "" };
  }
  const quote = (p: string) => /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replaceAll("'", `'\\''`)}'`;
  return {
    shell: `$(cat ${quote(path)})`,
    cli: "",
    data: dataDir === "./data" ? "" : ` --data ${quote(dataDir)}`,
  };
}

/**
 * Checks API tokens against the store, and `KILN_ADMIN_TOKEN` when set. Without that variable and without an
 * active admin token, creates one, prints it once and writes it to `admin.token` (mode 0600) in the data
 * directory.
 */
async function authenticator(store: Store, dataDir: string, out: ProcessLog): Promise<Authenticator> {
  let envToken: string | null = null;
  try {
    envToken = Deno.env.get(ADMIN_TOKEN_ENV) || null;
  } catch { /* not allowed to read it: as if unset */ }
  if (envToken === null && countActiveTokens(store.db, "admin") === 0) {
    const { token } = createToken(store.db, { role: "admin", name: "admin" });
    const path = `${dataDir}/admin.token`;
    await Deno.writeTextFile(path, `${token}\n`, { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    out.say(`kiln: created the admin token (shown once; also in ${path}):\n  ${token}`);
  }
  const env = envToken === null ? null : new TextEncoder().encode(envToken);
  return {
    verify(token) {
      if (env !== null) {
        const given = new TextEncoder().encode(token);
        if (given.length === env.length && timingSafeEqual(given, env)) {
          return { name: ADMIN_TOKEN_ENV, role: "admin" };
        }
      }
      const t = verifyToken(store.db, token);
      return t && { name: t.name, role: t.role };
    },
  };
}
