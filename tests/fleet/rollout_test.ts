/**
 * A rollout end to end: a real Mosquitto, a real Distribution registry, three sandboxed `kiln run` gateways
 * with a `fleet` section (reports every second) and `kiln fleet run` as a child process. A good version goes
 * canary (one device) then 100%; then a version that traps after its first seconds is rolled back from the
 * canary (the gateway's probation rolls it back and reports `last_rollback`, the controller then breaches and
 * publishes the previous entry) while the other devices are never touched.
 */
import assert from "node:assert/strict";
import { runKiln } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { counterWasm, startGateway } from "../lifecycle/_gateway.ts";
import { fleetPeers } from "./_fleet.ts";
import {
  crashingWasm,
  createRollout,
  fleetStatus,
  pushCounter,
  SPEC,
  startController,
  watchReports,
  writeGatewayManifest,
} from "./_rollout.ts";

const DEVICES = ["gw-a", "gw-b", "gw-c"];
const TEST_TIMEOUT_MS = 240_000;

Deno.test({
  name:
    "a good version rolls out canary then 100% across a controller killed mid-rollout, and a crashing one is rolled back from the canary only",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deadline = AbortSignal.timeout(TEST_TIMEOUT_MS);
    await using peers = await fleetPeers("kiln-rollout-");
    const { dir, broker, host, pki } = peers;
    const good = await pushCounter(pki, host, "1.0.0", counterWasm(1));
    const bad = await pushCounter(pki, host, "2.0.0", crashingWasm(20));
    const specFile = `${dir}/spec.json`;
    await Deno.writeTextFile(specFile, JSON.stringify(SPEC));
    const ctlData = `${dir}/controller`;

    await using watcher = await watchReports(broker.url);
    const untilAll = (what: string, check: (r: ReportedState) => boolean) =>
      watcher.untilAll(what, DEVICES, check);

    const gateways = [];
    let controller = startController(broker.url, ctlData, deadline);
    try {
      for (const device of DEVICES) {
        const manifest = await writeGatewayManifest(`${dir}/${device}`, {
          device,
          host,
          brokerPort: broker.port,
        });
        gateways.push(await startGateway(manifest, `${dir}/${device}/data`, true));
      }
      await untilAll("every gateway reports", (r) => r.modules.local?.state === "running");

      // 1. The good version: one canary, then everyone.
      const first = await createRollout(ctlData, specFile, good, "1:3s,100%:2s");
      // The controller is killed once it has picked the canary, and resumes from its store.
      await waitFor("the canary is picked", () => fleetStatus(ctlData)[0]?.members.length === 1, 60_000);
      controller.child.kill("SIGKILL");
      await controller.stop();
      controller = startController(broker.url, ctlData, deadline);
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
          !watcher.all(device).some((r) => r.modules.counter?.image === bad),
          `${device} never ran 2.0.0`,
        );
      }
      assert.ok(
        watcher.all(canary).some((r) =>
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
      await controller.stop();
    }
  },
});
