/**
 * A rollout end to end: a real Mosquitto, a real Distribution registry, three sandboxed `kiln run` gateways
 * with a `fleet` section (reports every second) and `kiln fleet run` as a child process. A good version goes
 * canary (one device) then 100%; then a version that traps after its first seconds is rolled back from the
 * canary (the gateway's probation rolls it back and reports `last_rollback`, the controller then breaches and
 * publishes the previous entry) while the other devices are never touched.
 */
import assert from "node:assert/strict";
import mqtt from "mqtt";
import { KILN_FLAGS, readOutput, ROOT, runKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";
import { attestation, sign } from "../signing/_fixture.ts";
import { counterWasm, startGateway } from "../lifecycle/_gateway.ts";
import { pushModule, RegistryClient } from "../../registry/mod.ts";
import { fleetPeers } from "./_fleet.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { FleetStore, type Rollout, type RolloutMember } from "../../fleet/mod.ts";
import { killAfterGrace, stopChild } from "../_timeouts.ts";
import type { TestPki } from "../signing/_pki.ts";

const FLEET = "plant-a";
const DEVICES = ["gw-a", "gw-b", "gw-c"];
const SPEC = { schedule: { mode: "periodic", period_us: 20000 }, limits: { max_memory_mb: 1 } };
const TEST_TIMEOUT_MS = 240_000;

/** A counter that executes `unreachable` on its `trapAt`-th tick (every 20 ms: after about a second). */
function crashingWasm(trapAt: number): Uint8Array {
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

async function push(pki: TestPki, host: string, tag: string, wasm: Uint8Array): Promise<string> {
  using client = new RegistryClient(host, { plainHttp: true });
  const signature = new TextEncoder().encode(
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

async function writeManifest(dir: string, device: string, host: string, brokerPort: number): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeFile(`${dir}/local.wasm`, counterWasm(5));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: ${device}, hardware: arm64 }
policy: { allow: ["read:sim:*"] }
signatures: { mode: optional, trusted_roots: [../pki/root/root.pem] }
connectors:
  mqtt: { url: "mqtt://127.0.0.1:${brokerPort}", client_id: ${device}, batch_interval_s: 0 }
registries:
  "${host}": { plain_http: true }
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

interface StatusEntry {
  rollout: Rollout;
  members: RolloutMember[];
}

/** The rollouts in the controller's store, read beside the running controller (WAL). */
function fleetStatus(data: string): StatusEntry[] {
  using store = FleetStore.open(data);
  return store.listRollouts().map((rollout) => ({ rollout, members: store.listMembers(rollout.id) }));
}

async function createRollout(data: string, specFile: string, image: string, phases: string): Promise<string> {
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
  ], { timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  return ran.stdout.trim();
}

Deno.test({
  name:
    "a good version rolls out canary then 100% across a controller killed mid-rollout, and a crashing one is rolled back from the canary only",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deadline = AbortSignal.timeout(TEST_TIMEOUT_MS);
    await using peers = await fleetPeers("kiln-rollout-");
    const { dir, broker, host, pki } = peers;
    const good = await push(pki, host, "1.0.0", counterWasm(1));
    const bad = await push(pki, host, "2.0.0", crashingWasm(60));
    const specFile = `${dir}/spec.json`;
    await Deno.writeTextFile(specFile, JSON.stringify(SPEC));
    const ctlData = `${dir}/controller`;

    // Every report, per device, as the test sees it.
    const reports = new Map<string, ReportedState[]>();
    const watcher = await mqtt.connectAsync(broker.url, { connectTimeout: 10_000, reconnectPeriod: 500 });
    watcher.on("message", (topic, payload) => {
      const device = topic.split("/")[3]!;
      if (payload.byteLength === 0) return;
      reports.set(device, [...(reports.get(device) ?? []), JSON.parse(new TextDecoder().decode(payload))]);
    });
    await watcher.subscribeAsync(`kiln/fleet/${FLEET}/+/reported`, { qos: 1 });
    const last = (device: string) => reports.get(device)?.at(-1) ?? null;
    const untilAll = (what: string, check: (r: ReportedState) => boolean, timeoutMs = 90_000) =>
      waitFor(what, () => DEVICES.every((d) => last(d) !== null && check(last(d)!)), timeoutMs)
        .catch((err) => {
          throw new Error(`${(err as Error).message}; last: ${JSON.stringify(DEVICES.map(last))}`);
        });

    const gateways = [];
    const ctlArgs = ["--broker", broker.url, "--fleet", FLEET, "--data", ctlData, "--tick-ms", "250"];
    const startController = () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...KILN_FLAGS, "main.ts", "fleet", "run", ...ctlArgs],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
        signal: deadline,
      }).spawn();
      killAfterGrace(child, deadline);
      return { child, output: readOutput(child) };
    };
    let controller = startController();
    try {
      for (const device of DEVICES) {
        const manifest = await writeManifest(`${dir}/${device}`, device, host, broker.port);
        gateways.push(await startGateway(manifest, `${dir}/${device}/data`, true));
      }
      await untilAll("every gateway reports", (r) => r.modules.local?.state === "running");

      // 1. The good version: one canary, then everyone.
      const first = await createRollout(ctlData, specFile, good, "1:3s,100%:2s");
      // The controller is killed once it has picked the canary, and resumes from its store.
      await waitFor("the canary is picked", () => fleetStatus(ctlData)[0]?.members.length === 1, 60_000);
      controller.child.kill("SIGKILL");
      await controller.child.status;
      await controller.output.closed();
      controller = startController();
      await waitFor("the good rollout completes", () => {
        const s = fleetStatus(ctlData);
        return s.find((e) => e.rollout.id === first)?.rollout.state === "completed";
      }, 120_000).catch((err) => {
        throw new Error(`${(err as Error).message}\ncontroller:\n${controller.output.text}`);
      });
      await untilAll(
        "every gateway runs 1.0.0",
        (r) => r.modules.counter?.image === good && r.modules.counter.state === "running",
      );
      const done = (fleetStatus(ctlData)).find((e) => e.rollout.id === first)!;
      const canaries = done.members.filter((m) => m.phase === 0).map((m) => m.device);
      assert.equal(canaries.length, 1, "one canary");
      assert.equal(done.members.length, 3);
      const canaryJoined = done.members.find((m) => m.phase === 0)!.joined_ms;
      for (const m of done.members.filter((m) => m.phase === 1)) {
        assert.ok(m.joined_ms >= canaryJoined + 3000, "the others joined after the canary's observation");
      }

      // 2. The crashing version: rolled back from the canary, the others never see it.
      const second = await createRollout(ctlData, specFile, bad, "1:30s,100%:5s");
      const rolledBack = await waitFor("the crashing rollout is rolled back", () => {
        const s = (fleetStatus(ctlData)).find((e) => e.rollout.id === second);
        return s?.rollout.state === "rolled_back" ? s : null;
      }, 120_000).catch((err) => {
        throw new Error(`${(err as Error).message}\ncontroller:\n${controller.output.text}`);
      });
      assert.equal(rolledBack.members.length, 1, "only the canary was touched");
      const canary = rolledBack.members[0]!.device;
      assert.equal(rolledBack.rollout.breach?.device, canary);
      assert.deepEqual(rolledBack.members[0]!.previous, { image: good, spec: SPEC });
      await untilAll(
        "every gateway runs 1.0.0 again",
        (r) => r.modules.counter?.image === good && r.modules.counter.state === "running",
      );
      for (const device of DEVICES.filter((d) => d !== canary)) {
        assert.ok(
          !reports.get(device)!.some((r) => r.modules.counter?.image === bad),
          `${device} never ran 2.0.0`,
        );
      }
      assert.ok(
        reports.get(canary)!.some((r) =>
          r.modules.counter?.last_rollback !== undefined || r.modules.counter?.image === bad
        ),
        "the canary received 2.0.0",
      );
      const shown = await runKiln(["fleet", "status", "--data", ctlData], { timeoutMs: 60_000 });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`${second} .*\\n  state: rolled_back`));
      assert.match(shown.stdout, new RegExp(`breach: ${canary} `));
    } finally {
      for (const g of gateways) await g.stop();
      await stopChild(controller.child);
      await controller.output.closed();
      await watcher.endAsync(true);
    }
  },
});
