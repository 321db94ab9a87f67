/**
 * `kiln run`: load the manifest, decide the permissions to run with (exec or relaunch narrowed, or keep the
 * ones it was started with), then serve the gateway (`_gateway.ts`, loaded only then) until SIGINT or
 * SIGTERM. What a launcher loads before it execs stays small: the manifest, the plan and the sandbox.
 *
 * @module
 */
import { loadManifest, parseListenAddress } from "../runtime/manifest/mod.ts";
import { type DeploymentPlan, planDeployment } from "../runtime/plan.ts";
import type { SimFault } from "../runtime/io/plant.ts";
import { parse, UsageError } from "./_usage.ts";
import { assertDataDirFree } from "./data_lock.ts";
import { createProcessLog, logFormatOf } from "./_log.ts";
import { unpackEmbeddedDemo } from "./_demo.ts";
import { mark } from "../runtime/_startup_marks.ts";
import {
  launchCachePath,
  markLaunchStale,
  sameGrants,
  saveLaunch,
  STALE_EXIT_CODE,
} from "./_launch_cache.ts";
import {
  cannotRelaunch,
  execRelaunch,
  grantsFor,
  probe,
  relaunch,
  revokeUnneeded,
  sandboxedGrants,
  type SandboxReport,
} from "./sandbox.ts";

/** The demo manifest `kiln run` uses without `--config`; embedded in the compiled binary. */
export const DEMO_MANIFEST = new URL("../examples/demo.yaml", import.meta.url);

const FAULTS: readonly SimFault[] = ["none", "bearing", "overheat"];

/** Parses `--fault sensor=kind` flags, by sensor id. */
function parseFaults(values: string[]): Map<string, SimFault> {
  const faults = new Map<string, SimFault>();
  for (const v of values) {
    const [sensor, fault] = v.split("=");
    if (!sensor || !fault || !(FAULTS as string[]).includes(fault)) {
      throw new UsageError(
        `Invalid --fault "${v}": expected SENSOR=FAULT with FAULT one of ${FAULTS.join(", ")}`,
      );
    }
    faults.set(sensor, fault as SimFault);
  }
  return faults;
}

/** Runs until a signal stops it; returns the exit code. */
export async function runCommand(args: string[], version: string): Promise<number> {
  mark("run_command"); // KILN_STARTUP_MARKS: bench/cold_start.ts
  const { values, positionals } = parse(args, {
    options: {
      config: { type: "string", short: "c" },
      data: { type: "string", default: "./data" },
      listen: { type: "string" },
      fault: { type: "string", multiple: true, default: [] },
      "log-format": { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 1 || (positionals.length === 1 && values.config)) {
    throw new UsageError("run takes one manifest, either as --config FILE or as its argument");
  }
  // A bundle carries the demo and writes it under <data>/demo/ (cli/_demo.ts); the source tree reads it in place.
  const configPath = values.config ?? positionals[0] ?? (await unpackEmbeddedDemo(values.data)) ??
    fileOf(DEMO_MANIFEST);
  let listen: { hostname: string; port: number } | null = null;
  if (values.listen !== undefined) {
    try {
      listen = parseListenAddress(values.listen);
    } catch (err) {
      throw new UsageError(`--listen: ${(err as Error).message}`);
    }
  }
  const faults = parseFaults(values.fault);
  const out = createProcessLog({ format: logFormatOf(values["log-format"]) });

  const grants = sandboxedGrants();
  // The narrowed process serves for sure: its gateway's module graph loads while the manifest does.
  const gateway = grants === null ? null : import("./_gateway.ts");
  gateway?.catch(() => {}); // awaited below; a start that stops before then has its own error
  let manifest;
  try {
    manifest = await loadManifest(configPath);
  } catch (err) {
    if (!grants?.cached) throw err;
    // Under grants from the launch cache, a manifest the sandbox cannot read means the entry is stale.
    dropCachedGrants(values.data, out, err);
    return STALE_EXIT_CODE;
  }
  const plan = planDeployment(manifest, {
    dataDir: values.data,
    ...(values.listen !== undefined && { listen: values.listen }),
  });
  listen ??= parseListenAddress(plan.listen);
  mark("manifest_loaded");
  await Deno.mkdir(values.data, { recursive: true });

  let sandbox: SandboxReport;
  if (grants === null) {
    const why = cannotRelaunch();
    if (why === null) {
      // The relaunched process takes the lock (data_lock.ts says why); refuse a second start here at once.
      assertDataDirFree(values.data);
      const narrowed = grantsFor({ manifest, dataDir: values.data, listen });
      await saveLaunch(args, configPath, values.data, narrowed); // the next start's shortcut (_launch_cache.ts)
      mark("relaunch");
      const why = execRelaunch(["run", ...args], narrowed); // returns only when it could not exec
      out.say(`kiln: relaunching narrowed in a child process: ${why}`);
      return await relaunch(["run", ...args], narrowed);
    }
    out.say(`kiln: running with the Deno permissions it was started with: ${why}`);
    revokeUnneeded({
      sys: plan.opcua.length > 0,
      ffi: needsFfi(plan),
      // A Modbus device on a serial line runs stty and dd (hal/modbus/serial.ts).
      run: plan.modbus.some((d) => d.transport === "rtu"),
    });
    sandbox = { narrowed: false, reason: why, grants: null, probes: probe(values.data) };
  } else {
    if (grants.cached) {
      const expected = grantsFor({ manifest, dataDir: values.data, listen, libcPaths: grants.ffi ?? [] });
      if (!sameGrants(grants, expected)) {
        dropCachedGrants(values.data, out, null);
        return STALE_EXIT_CODE;
      }
    }
    revokeUnneeded({ sys: plan.opcua.length > 0, ffi: needsFfi(plan) });
    sandbox = { narrowed: true, reason: null, grants, probes: probe(values.data) };
  }

  const { serveGateway } = await (gateway ?? import("./_gateway.ts"));
  mark("gateway_loaded");
  return await serveGateway({
    dataDir: values.data,
    configPath,
    manifest,
    plan,
    listen,
    faults,
    out,
    sandbox,
    grants,
    version,
  });
}

/** Drops the launch cache's grants (the stale marker) and says why: `err`, or null for grants that differ. */
function dropCachedGrants(dataDir: string, out: { say(line: string): void }, err: unknown): void {
  markLaunchStale(dataDir);
  const why = err === null
    ? "Kiln's code changed since they were saved"
    : `the manifest cannot be loaded with them: ${(err as Error).message}`;
  out.say(
    `kiln: the permissions cached in ${launchCachePath(dataDir)} are not the ones this configuration ` +
      `needs (${why}); they are dropped: start kiln again`,
  );
}

/** FFI (libc) is needed for a SCHED_FIFO or pinned thread (runtime/executor/realtime_thread.ts). */
function needsFfi(plan: DeploymentPlan): boolean {
  return plan.realtimeFifoPriority !== undefined || plan.cpus !== undefined;
}

function fileOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}
