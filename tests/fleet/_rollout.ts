/**
 * Helpers of the end-to-end rollout tests: modules pushed to the test registry (signed or not), gateway
 * manifests with a `fleet` section, `kiln fleet run` as a child process, `kiln fleet rollout create`, the
 * controller's store read beside it, and a watcher of every reported state.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import { KILN_FLAGS, type Output, readOutput, ROOT, runKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { counterWasm } from "../lifecycle/_gateway.ts";
import { pushModule, RegistryClient } from "../../registry/mod.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { FleetStore, type Rollout, type RolloutMember } from "../../fleet/mod.ts";
import { killAfterGrace, stopChild } from "../_timeouts.ts";
import type { TestPki } from "../signing/_pki.ts";

/** The fleet of these tests. */
export const FLEET = "plant-a";
/**
 * The module entry every rollout of these tests deploys: a tick every 100 ms with a budget of 80 ms, so that
 * twelve gateways starting on two busy cores do not push a trivial call past its budget (an interrupt is a
 * crash, and probation rolls a crash back).
 */
export const SPEC = {
  schedule: { mode: "periodic", period_us: 100_000 },
  limits: { max_memory_mb: 1, budget_us: 80_000 },
};

/** A counter that executes `unreachable` on its `trapAt`-th tick (every 100 ms with {@linkcode SPEC}). */
export function crashingWasm(trapAt: number): Uint8Array {
  return wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32) (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (if (i32.ge_u (i32.load (i32.const 64)) (i32.const ${trapAt})) (then unreachable))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (i32.const 0)))`);
}

/**
 * Pushes `wasm` as `plant/counter:<tag>` to the registry at `host`, signed by the plant PKI for arm64 (no
 * signature when `pki` is null); returns the digest-pinned reference.
 */
export async function pushCounter(
  pki: TestPki | null,
  host: string,
  tag: string,
  wasm: Uint8Array,
): Promise<string> {
  using client = new RegistryClient(host, { plainHttp: true });
  const signature = pki === null ? null : new TextEncoder().encode(
    await sign(pki, wasm, {
      name: "counter",
      attestation: attestation({ version: tag, capabilities: [], hardware: ["arm64"], max_memory_mb: 1 }),
    }),
  );
  const pushed = await pushModule(client, { repository: "plant/counter", tag }, {
    wasm,
    fileName: "counter.wasm",
    signature,
  });
  return `${host}/plant/counter:${tag}@${pushed.digest}`;
}

/** What a gateway of these tests is. */
export interface GatewaySetup {
  readonly device: string;
  /** @default "arm64" */
  readonly hardware?: string;
  /** The registry's `host:port`. */
  readonly host: string;
  readonly brokerPort: number;
  /** The plant PKI's folder, relative to `dir`. @default "../pki" */
  readonly pki?: string;
}

/**
 * Writes `<dir>/kiln.yaml` for a gateway in group `line-3` of {@linkcode FLEET} reporting every second, with
 * a local counter beside it; returns its path.
 */
export async function writeGatewayManifest(dir: string, g: GatewaySetup): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/local.wasm`, counterWasm(5));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: ${g.device}, hardware: ${g.hardware ?? "arm64"} }
policy: { allow: ["read:sim:*"] }
signatures: { mode: optional, trusted_roots: [${g.pki ?? "../pki"}/root/root.pem] }
connectors:
  mqtt: { url: "mqtt://127.0.0.1:${g.brokerPort}", client_id: ${g.device}, batch_interval_s: 0 }
registries:
  "${g.host}": { plain_http: true }
fleet: { id: ${FLEET}, groups: [line-3], report_every_s: 1 }
modules:
  local:
    wasm: local.wasm
    schedule: { mode: periodic, period_us: 20000 }
    limits: { max_memory_mb: 1 }
`,
  );
  return `${dir}/kiln.yaml`;
}

/** A rollout and the devices it touched. */
export interface StatusEntry {
  rollout: Rollout;
  members: RolloutMember[];
}

/** The rollouts in the controller's store, read beside the running controller (WAL). */
export function fleetStatus(data: string): StatusEntry[] {
  using store = FleetStore.open(data);
  return store.listRollouts().map((rollout) => ({ rollout, members: store.listMembers(rollout.id) }));
}

/** The rollout `id` in the controller's store (it exists). */
export function rolloutStatus(data: string, id: string): StatusEntry {
  const entry = fleetStatus(data).find((e) => e.rollout.id === id);
  if (entry === undefined) throw new Error(`no rollout ${id} in ${data}`);
  return entry;
}

/**
 * `kiln fleet rollout create` of `image` as module `counter` in {@linkcode FLEET}, for arm64 devices of
 * `line-3`, with `more` flags; returns the rollout's id.
 */
export async function createRollout(
  data: string,
  specFile: string,
  image: string,
  phases: string,
  ...more: string[]
): Promise<string> {
  const ran = await runKiln([
    "fleet",
    "rollout",
    "create",
    "--data",
    data,
    "--fleet",
    FLEET,
    "--module",
    "counter",
    "--image",
    image,
    "--spec",
    specFile,
    "--phases",
    phases,
    "--target-groups",
    "line-3",
    "--target-hardware",
    "arm64",
    "--condition",
    "crash_rate > 0.1% or rolled_back == 1",
    ...more,
  ], { timeoutMs: 60_000 });
  if (ran.code !== 0) throw new Error(`fleet rollout create exited ${ran.code}: ${ran.stderr}`);
  return ran.stdout.trim();
}

/** `kiln fleet run` in a child process. */
export interface ControllerProcess {
  readonly child: Deno.ChildProcess;
  readonly output: Output;
  /** SIGTERM (SIGKILL after a grace), then the rest of its output. */
  stop(): Promise<void>;
}

/** Starts `kiln fleet run --broker <url> --fleet plant-a --data <data> --tick-ms 250`, ended by `deadline`. */
export function startController(brokerUrl: string, data: string, deadline: AbortSignal): ControllerProcess {
  return startFleetCommand(
    ["run", "--broker", brokerUrl, "--fleet", FLEET, "--data", data, "--tick-ms", "250"],
    deadline,
  );
}

/** Starts `kiln fleet <args>` (`run`, `serve`...) in a child process, killed once `deadline` aborts. */
export function startFleetCommand(args: readonly string[], deadline: AbortSignal): ControllerProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...KILN_FLAGS, "main.ts", "fleet", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: deadline,
  }).spawn();
  killAfterGrace(child, deadline);
  const output = readOutput(child);
  return {
    child,
    output,
    async stop() {
      await stopChild(child);
      await output.closed();
    },
  };
}

/** Every reported state of a fleet, per device, as a test watching the broker sees them. */
export interface ReportWatcher extends AsyncDisposable {
  readonly client: MqttClient;
  /** Every report received from `device`, oldest first. */
  all(device: string): readonly ReportedState[];
  /** The last report of `device`, or null. */
  last(device: string): ReportedState | null;
  /** Waits until the last report of each of `devices` passes `check`; the error lists those last reports. */
  untilAll(
    what: string,
    devices: readonly string[],
    check: (r: ReportedState) => boolean,
    timeoutMs?: number,
  ): Promise<void>;
}

/** Subscribes to `kiln/fleet/<FLEET>/+/reported` on `brokerUrl` (reconnecting, resubscribing). */
export async function watchReports(brokerUrl: string): Promise<ReportWatcher> {
  const reports = new Map<string, ReportedState[]>();
  const client = await mqtt.connectAsync(brokerUrl, { connectTimeout: 10_000, reconnectPeriod: 500 });
  client.on("message", (topic, payload) => {
    const device = topic.split("/")[3]!;
    if (payload.byteLength === 0) return;
    const list = reports.get(device) ?? [];
    list.push(JSON.parse(new TextDecoder().decode(payload)));
    reports.set(device, list);
  });
  await client.subscribeAsync(`kiln/fleet/${FLEET}/+/reported`, { qos: 1 });
  const last = (device: string) => reports.get(device)?.at(-1) ?? null;
  return {
    client,
    all: (device) => reports.get(device) ?? [],
    last,
    untilAll: (what, devices, check, timeoutMs = 90_000) =>
      waitFor(what, () => devices.every((d) => last(d) !== null && check(last(d)!)), timeoutMs)
        .then(() => {}, (err) => {
          const lasts = devices.map((d) => `${d}: ${JSON.stringify(last(d))}`).join("\n");
          throw new Error(`${(err as Error).message}; last reports:\n${lasts}`);
        }),
    async [Symbol.asyncDispose]() {
      await client.endAsync(true);
    },
  };
}
