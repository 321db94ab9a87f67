/**
 * A rollout with a shadow phase, end to end: a real Mosquitto, a real Distribution registry, two sandboxed
 * `kiln run` gateways with a `fleet` section and `kiln fleet run`. Both gateways first get counter 1.0.0.
 * Then a candidate that counts by 2 runs in shadow on one device beside 1.0.0: it diverges, the condition
 * `shadow_divergence_rate > 0` breaches, its shadow is dropped, and no device ever runs it. Then a rebuild
 * that behaves as 1.0.0 runs in shadow, matches every invocation, and the next phase deploys it everywhere.
 */
import assert from "node:assert/strict";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { counterWasm, startGateway } from "../lifecycle/_gateway.ts";
import { fleetPeers } from "./_fleet.ts";
import {
  createRollout,
  pushCounter,
  rolloutStatus,
  SPEC,
  startController,
  watchReports,
  writeGatewayManifest,
} from "./_rollout.ts";
import { waitFor } from "../_helpers.ts";

const DEVICES = ["gw-s1", "gw-s2"];
const TEST_TIMEOUT_MS = 240_000;

Deno.test({
  name:
    "a shadow phase rolls back a candidate that diverges before any device runs it, and deploys one that matches",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deadline = AbortSignal.timeout(TEST_TIMEOUT_MS);
    await using peers = await fleetPeers("kiln-shadow-rollout-");
    const { dir, broker, host, pki } = peers;
    const v1 = await pushCounter(pki, host, "1.0.0", counterWasm(1));
    const diverging = await pushCounter(pki, host, "2.0.0", counterWasm(2));
    const rebuilt = await pushCounter(pki, host, "1.0.1", counterWasm(1, "rebuilt 1.0.1"));
    const specFile = `${dir}/spec.json`;
    await Deno.writeTextFile(specFile, JSON.stringify(SPEC));
    const ctlData = `${dir}/controller`;

    await using watcher = await watchReports(broker.url);
    const untilAll = (what: string, check: (r: ReportedState) => boolean) =>
      watcher.untilAll(what, DEVICES, check);
    const gateways = [];
    const controller = startController(broker.url, ctlData, deadline);
    const completed = (id: string, state: string) =>
      waitFor(`rollout ${id} ${state}`, () => rolloutStatus(ctlData, id).rollout.state === state, 120_000)
        .catch((err) => {
          throw new Error(`${(err as Error).message}\n${JSON.stringify(rolloutStatus(ctlData, id).rollout)}`);
        });
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

      // 0. Every device runs counter 1.0.0.
      const base = await createRollout(ctlData, specFile, v1, "100%");
      await completed(base, "completed");
      await untilAll("1.0.0 everywhere", (r) => r.modules.counter?.image === v1);

      // 1. A candidate counting by 2, in shadow on one device: it diverges and is rolled back.
      const bad = await createRollout(
        ctlData,
        specFile,
        diverging,
        "1:30s:shadow,100%",
        "--condition",
        "shadow_divergence_rate > 0",
      );
      await completed(bad, "rolled_back");
      const badStatus = rolloutStatus(ctlData, bad);
      const canary = badStatus.members[0]!.device;
      assert.equal(badStatus.members.length, 1, "only the shadow phase's device was touched");
      assert.equal(badStatus.members[0]!.shadow, true);
      assert.equal(badStatus.rollout.breach?.device, canary);
      assert.match(
        badStatus.rollout.breach!.cause,
        /in shadow/,
        JSON.stringify(watcher.all(canary).flatMap((r) => r.errors).at(-1)),
      );
      assert.ok(badStatus.rollout.breach!.figures.shadow_divergence_rate! > 0);
      const shadowed = watcher.all(canary).map((r) => r.modules.counter?.shadow)
        .filter((sh) => sh?.image === diverging);
      assert.ok(shadowed.length > 0, "the canary reported the candidate's shadow");
      const worst = shadowed.at(-1)!;
      assert.ok(worst.diverged > 0, JSON.stringify(worst));
      assert.ok((worst.max_difference ?? Infinity) > 0, "the count differs by a nonzero amount");
      await untilAll(
        "the shadow is dropped and 1.0.0 runs on",
        (r) =>
          r.modules.counter?.image === v1 && r.modules.counter.state === "running" &&
          r.modules.counter.shadow === undefined,
      );
      for (const device of DEVICES) {
        assert.ok(
          watcher.all(device).every((r) => r.modules.counter?.image !== diverging),
          `${device} never ran the diverging candidate itself`,
        );
      }

      // 2. A rebuild that behaves as 1.0.0: it matches in shadow, then deploys to every device.
      const good = await createRollout(
        ctlData,
        specFile,
        rebuilt,
        "1:3s:shadow,100%:1s",
        "--condition",
        "shadow_divergence_rate > 0",
      );
      await completed(good, "completed");
      const goodStatus = rolloutStatus(ctlData, good);
      assert.equal(goodStatus.rollout.breach, null);
      assert.equal(goodStatus.members.length, 2);
      assert.ok(goodStatus.members.every((m) => !m.shadow && m.status === "running"));
      const first = goodStatus.members.find((m) => m.phase === 0)!.device;
      const matched = watcher.all(first).filter((r) => r.modules.counter?.shadow?.image === rebuilt);
      assert.ok(matched.length > 0, "the shadow device reported the rebuild's shadow");
      const lastShadow = matched.at(-1)!.modules.counter!.shadow!;
      assert.ok(lastShadow.invocations > 0 && lastShadow.diverged === 0, JSON.stringify(lastShadow));
      assert.equal(lastShadow.max_difference, 0);
      await untilAll(
        "the rebuild runs everywhere, without a shadow",
        (r) => r.modules.counter?.image === rebuilt && r.modules.counter.shadow === undefined,
      );
    } finally {
      await controller.stop();
      for (const g of gateways) await g[Symbol.asyncDispose]();
    }
  },
});
