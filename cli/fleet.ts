/**
 * `kiln fleet`: the fleet controller. `run` is the controller loop (MQTT broker + its own SQLite store);
 * `serve` is the same loop with its HTTP API (`fleet/http/`, `docs/fleet_api.md`), `token` manages that API's
 * tokens; `rollout create`, `status`, `approve`, `pause`, `resume` and `abort` act on the store, and a running
 * controller picks the change up at its next step (within a second).
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import {
  type ControllerOptions,
  DEFAULT_SHADOW,
  FleetController,
  FleetStore,
  type KnownDevice,
  parsePhases,
  type Rollout,
  type RolloutCommand,
  type ShadowOptions,
  validateRolloutInput,
} from "../fleet/mod.ts";
import { FLEET_ADMIN_TOKEN_ENV, FleetTokens, startFleetServer } from "../fleet/http/mod.ts";
import { parseListenAddress } from "../runtime/manifest/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { tokenSubcommand } from "./token.ts";

/** The `kiln fleet` part of `kiln --help`. */
export const FLEET_HELP =
  `  kiln fleet run --broker URL [--data DIR] [--fleet F] [--username U --password-file F] [--ca-file PEM]
                 [--tick-ms N]
      The fleet controller: reads reports on kiln/fleet/+/+/reported, steps every rollout on each report
      and every second, publishes each device's desired state retained. Restartable at any moment.
  kiln fleet rollout create [--data DIR] --fleet F --module M --image REF@sha256:... --spec FILE
            --phases "10%:60s,30%:60s:approve,100%" [--target-groups G,...] [--target-hardware TAG,...]
            [--condition "crash_rate > 0.1% or p99_ms > 15"] [--offline-grace SECONDS|wait]
            [--shadow-tolerance X] [--shadow-start image|init] [--shadow-warmup N]
      Start a rollout (phase: N% or a device count, :Ss minimum observation, :approve gate before it,
      :shadow to run the new version as a shadow beside the live one first: docs/fleet.md). A device
      offline longer than the grace (default 600 s) stops holding its phase back; it converges when it
      returns.
  kiln fleet status [--data DIR] [--fleet F] [--json]
  kiln fleet approve|pause|resume|abort <rollout> [--data DIR]
      Show rollouts and devices per version, or act on a rollout (abort rolls back every device it touched).
  kiln fleet serve --broker URL [--data DIR] [--listen HOST:PORT] [--tls-cert PEM --tls-key PEM]
                   [--fleet F] [--username U --password-file F] [--ca-file PEM] [--tick-ms N]
      The controller loop and its HTTP API in one process (docs/fleet_api.md; default 127.0.0.1:8470):
      the gateway's roles (viewer reads, operator creates and steers rollouts, admin tokens); the first
      start writes an admin token to DIR/admin.token unless KILN_ADMIN_TOKEN is set.
  kiln fleet token create --role viewer|operator|admin [--name N] [--data DIR] [--json]
  kiln fleet token list [--data DIR] [--json] | kiln fleet token revoke <id> [--data DIR]
      The controller API's tokens (in DIR/fleet_tokens.db; a created token is shown once).`;

const DEFAULT_DATA = "./data/fleet";

/** Runs `kiln fleet ...`; returns the exit code (`run` returns when SIGINT/SIGTERM stops it). */
export async function fleetCommand(args: string[], version = "unknown"): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "run":
      return await runController(rest);
    case "serve":
      return await serveController(rest, version);
    case "token":
      return await fleetToken(rest);
    case "rollout":
      if (rest[0] !== "create") throw new UsageError('fleet rollout takes "create"');
      return await createRollout(rest.slice(1));
    case "status":
      return status(rest);
    case "approve":
    case "pause":
    case "resume":
    case "abort":
      return command(sub, rest);
    default:
      throw new UsageError(
        `fleet takes run, serve, rollout create, status, approve, pause, resume, abort or token`,
      );
  }
}

/** The flags `kiln fleet run` and `kiln fleet serve` share: the broker, the store, the loop's tick. */
const LOOP_FLAGS = {
  broker: { type: "string" },
  data: { type: "string" },
  fleet: { type: "string" },
  username: { type: "string" },
  "password-file": { type: "string" },
  "ca-file": { type: "string" },
  "tick-ms": { type: "string" },
} as const;

/** The controller loop's options from {@linkcode LOOP_FLAGS}. */
async function loopOptions(
  command: string,
  values: { [K in keyof typeof LOOP_FLAGS]?: string | undefined },
): Promise<ControllerOptions & { tickMs: number }> {
  if (values.broker === undefined) throw new UsageError(`fleet ${command} needs --broker URL`);
  if ((values.username === undefined) !== (values["password-file"] === undefined)) {
    throw new UsageError("--username and --password-file go together");
  }
  const tickMs = values["tick-ms"] === undefined ? 1000 : Number(values["tick-ms"]);
  if (!Number.isInteger(tickMs) || tickMs < 50 || tickMs > 60_000) {
    throw new UsageError("--tick-ms is a whole number of milliseconds, 50..60000");
  }
  const password = values["password-file"] === undefined
    ? undefined
    : (await Deno.readTextFile(values["password-file"])).split("\n")[0]!;
  return {
    broker: values.broker,
    dataDir: values.data ?? DEFAULT_DATA,
    tickMs,
    ...(values.fleet !== undefined && { fleet: values.fleet }),
    ...(values.username !== undefined && { username: values.username }),
    ...(password !== undefined && { password }),
    ...(values["ca-file"] !== undefined && { caFile: values["ca-file"] }),
  };
}

/** Resolves at the first SIGINT or SIGTERM. */
async function untilStopSignal(): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const stop = () => resolve();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await promise;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
}

async function runController(args: string[]): Promise<number> {
  const { values } = parse(args, { options: LOOP_FLAGS });
  const options = await loopOptions("run", values);
  const controller = await FleetController.start(options);
  console.log(`kiln fleet: controller connected to ${options.broker}, store ${options.dataDir}`);
  await untilStopSignal();
  await controller.close();
  console.log("kiln fleet: controller stopped");
  return 0;
}

async function createRollout(args: string[]): Promise<number> {
  const { values } = parse(args, {
    options: {
      data: { type: "string" },
      fleet: { type: "string" },
      module: { type: "string" },
      image: { type: "string" },
      spec: { type: "string" },
      phases: { type: "string" },
      "target-groups": { type: "string" },
      "target-hardware": { type: "string" },
      condition: { type: "string" },
      "offline-grace": { type: "string" },
      "shadow-tolerance": { type: "string" },
      "shadow-start": { type: "string" },
      "shadow-warmup": { type: "string" },
    },
  });
  for (const flag of ["fleet", "module", "image", "spec", "phases"] as const) {
    if (values[flag] === undefined) throw new UsageError(`fleet rollout create needs --${flag}`);
  }
  const spec = parseYaml(await Deno.readTextFile(values.spec!)) as unknown;
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new UsageError(`--spec ${values.spec}: a module entry (a YAML or JSON mapping)`);
  }
  const list = (text: string | undefined) =>
    text === undefined ? [] : text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const input = validateRolloutInput({
    fleet: values.fleet!,
    module: values.module!,
    image: values.image!,
    spec: spec as Record<string, unknown>,
    target: { groups: list(values["target-groups"]), hardware: list(values["target-hardware"]) },
    phases: parsePhases(values.phases!, {
      tolerance: Number(values["shadow-tolerance"] ?? DEFAULT_SHADOW.tolerance),
      start: (values["shadow-start"] ?? DEFAULT_SHADOW.start) as ShadowOptions["start"],
      warmup: Number(values["shadow-warmup"] ?? DEFAULT_SHADOW.warmup),
    }),
    condition: values.condition ?? "crash_rate > 0.1%",
    ...(values["offline-grace"] !== undefined && { offline_grace_s: offlineGrace(values["offline-grace"]) }),
  });
  using store = FleetStore.open(values.data ?? DEFAULT_DATA);
  const rollout = store.createRollout(input, Date.now());
  console.log(rollout.id);
  return 0;
}

/** `--offline-grace`: seconds (`90` or `90s`), or `wait` (null). */
function offlineGrace(text: string): number | null {
  if (text === "wait") return null;
  const m = /^(\d+)s?$/.exec(text);
  if (m === null) throw new UsageError(`--offline-grace ${text}: seconds (e.g. 600) or "wait"`);
  return Number(m[1]);
}

function status(args: string[]): number {
  const { values } = parse(args, {
    options: { data: { type: "string" }, fleet: { type: "string" }, json: { type: "boolean" } },
  });
  using store = FleetStore.open(values.data ?? DEFAULT_DATA);
  const rollouts = store.listRollouts(values.fleet === undefined ? {} : { fleet: values.fleet });
  const report = rollouts.map((r) => ({
    rollout: r,
    members: store.listMembers(r.id),
    versions: versionsOf(r, store.listDevices(r.fleet)),
  }));
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  if (report.length === 0) console.log("No rollouts");
  for (const { rollout: r, members, versions } of report) {
    console.log(`${r.id}  ${r.fleet}/${r.module}  ${r.image}`);
    console.log(
      `  state: ${r.state}, phase ${r.phase + 1}/${r.phases.length}${
        r.phases[r.phase]?.shadow ? " (shadow)" : ""
      }, devices touched: ${members.length}`,
    );
    if (r.reason !== null) console.log(`  reason: ${r.reason}`);
    if (r.breach !== null) console.log(`  breach: ${r.breach.device} ${JSON.stringify(r.breach.figures)}`);
    if (r.skipped.length > 0) console.log(`  skipped (hardware): ${r.skipped.join(", ")}`);
    const absent = members.filter((m) => m.status === "deployed").map((m) => m.device);
    if (absent.length > 0) console.log(`  waiting for: ${absent.join(", ")}`);
    for (const [version, devices] of versions) console.log(`  ${version}: ${devices.join(", ")}`);
  }
  return 0;
}

/** Devices of the rollout's fleet by what they report for its module: `<image or version> <state>`. */
function versionsOf(r: Rollout, devices: readonly KnownDevice[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const d of devices) {
    const m = Object.hasOwn(d.reported.modules, r.module) ? d.reported.modules[r.module]! : null;
    const shadow = m?.shadow?.image === r.image
      ? `, new in shadow ${m.shadow.state} (${m.shadow.diverged}/${m.shadow.invocations} diverged)`
      : "";
    const key = m === null
      ? "(not running it)"
      : `${m.image === r.image ? "new" : (m.version ?? m.sha256.slice(0, 12))} ${m.state}${shadow}${
        d.online ? "" : " offline"
      }`;
    out.set(key, [...(out.get(key) ?? []), d.id]);
  }
  return out;
}

function command(sub: RolloutCommand, args: string[]): number {
  const { values, positionals } = parse(args, {
    options: { data: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError(`fleet ${sub} takes one rollout id`);
  using store = FleetStore.open(values.data ?? DEFAULT_DATA);
  const r = store.command(positionals[0]!, sub, Date.now());
  console.log(`Rollout ${r.id}: ${r.state}`);
  return 0;
}

/** `kiln fleet serve`: the controller loop and its HTTP API (`fleet/http/`) until SIGINT/SIGTERM. */
async function serveController(args: string[], version: string): Promise<number> {
  const { values } = parse(args, {
    options: {
      ...LOOP_FLAGS,
      listen: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
    },
  });
  const options = await loopOptions("serve", values);
  if ((values["tls-cert"] === undefined) !== (values["tls-key"] === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  let listen: { hostname: string; port: number };
  try {
    listen = parseListenAddress(values.listen ?? "127.0.0.1:8470");
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }
  let envToken: string | null = null;
  try {
    envToken = Deno.env.get(FLEET_ADMIN_TOKEN_ENV) || null;
  } catch { /* not allowed to read it: as if unset */ }
  const server = await startFleetServer({
    ...options,
    hostname: listen.hostname,
    port: listen.port,
    version,
    envToken,
    ...(values["tls-cert"] !== undefined &&
      { tls: { certFile: values["tls-cert"], keyFile: values["tls-key"]! } }),
  });
  await untilStopSignal();
  console.log("kiln fleet: stopping");
  await server.close();
  console.log("kiln fleet: controller and API stopped");
  return 0;
}

/** `kiln fleet token create|list|revoke`: the controller API's tokens. */
async function fleetToken(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    options: {
      data: { type: "string" },
      role: { type: "string" },
      name: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const dir = values.data ?? DEFAULT_DATA;
  if (sub !== "create") {
    try {
      await Deno.stat(`${dir}/fleet_tokens.db`);
    } catch {
      throw new UsageError(`No controller tokens in "${dir}": pass kiln fleet serve's --data directory`);
    }
  }
  using tokens = FleetTokens.open(dir);
  return tokenSubcommand("fleet token", sub, values, positionals, tokens);
}
