/**
 * A plant's rollout end to end, with the faults a plant has: twelve `kiln run` gateways (ten arm64 boxes, one
 * x86_64 box, one arm64 box switched off for maintenance), one Mosquitto, one Distribution registry and
 * `kiln fleet run`, all real processes started here.
 *
 * 1. A good version goes canary (one device) then 100%, while the registry is stopped when the second phase's
 *    devices must pull (they report `registry_unavailable`, retry, and converge once it is back) and the
 *    broker restarts (retained messages lost: the controller publishes its documents again, the gateways
 *    their reports); the x86_64 box is skipped and never touched; the switched-off box no longer holds the
 *    last phase after its grace, and converges when it is switched on again.
 * 2. A version that crashes after its first seconds is rolled back from its two canaries; no other device
 *    ever runs it.
 * 3. An unsigned image published on the group's desired topic, as a compromised controller or broker would,
 *    is refused by every device, and none runs it.
 */
import assert from "node:assert/strict";
import { waitFor } from "../_helpers.ts";
import { counterWasm, startGateway } from "../lifecycle/_gateway.ts";
import { startRegistry, type TestRegistry } from "../registry/_registry.ts";
import type { RunningKiln } from "../_process.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { fleetPeers } from "./_fleet.ts";
import {
  crashingWasm,
  createRollout,
  FLEET,
  pushCounter,
  rolloutStatus,
  SPEC,
  startController,
  watchReports,
  writeGatewayManifest,
} from "./_rollout.ts";

const ARM = Array.from({ length: 10 }, (_, i) => `gw-${String(i + 1).padStart(2, "0")}`);
const X86 = "gw-11";
const AWAY = "gw-12";
const ALL = [...ARM, X86, AWAY];
const TEST_TIMEOUT_MS = 600_000;

/** Whether `r` runs module `counter` from `image`. */
const runs = (image: string) => (r: ReportedState) =>
  r.modules.counter?.image === image && r.modules.counter.state === "running";

Deno.test({
  name:
    "twelve gateways: a rollout survives a stopped registry and a broker restart, skips other hardware, waits out an absent device, rolls a crashing version back from its canaries, and no device runs an unsigned image",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const deadline = AbortSignal.timeout(TEST_TIMEOUT_MS);
    await using peers = await fleetPeers("kiln-plant-");
    const { dir, broker, host, pki } = peers;
    const good = await pushCounter(pki, host, "1.0.0", counterWasm(1));
    const bad = await pushCounter(pki, host, "2.0.0", crashingWasm(20));
    const unsigned = await pushCounter(null, host, "3.0.0", counterWasm(3));
    const specFile = `${dir}/spec.json`;
    await Deno.writeTextFile(specFile, JSON.stringify(SPEC));
    const ctlData = `${dir}/controller`;
    const registryPort = Number(host.split(":")[1]);
    let registry: TestRegistry | null = null; // the one this test starts again

    await using watcher = await watchReports(broker.url);
    const gateways = new Map<string, RunningKiln>();
    const start = async (device: string) => {
      const manifest = await writeGatewayManifest(`${dir}/${device}`, {
        device,
        host,
        brokerPort: broker.port,
        hardware: device === X86 ? "x86_64" : "arm64",
      });
      gateways.set(device, await startGateway(manifest, `${dir}/${device}/data`));
    };
    const controller = startController(broker.url, ctlData, deadline);
    const failWith = (err: unknown) => {
      throw new Error(`${(err as Error).message}\ncontroller:\n${controller.output.text}`);
    };
    try {
      // Four at a time: twelve runtimes starting at once on two cores only make each slower.
      for (let i = 0; i < ALL.length; i += 4) await Promise.all(ALL.slice(i, i + 4).map(start));
      await watcher.untilAll("every gateway reports", ALL, (r) => r.modules.local?.state === "running");
      // The box switched off for maintenance: its graceful stop publishes `offline`.
      await gateways.get(AWAY)!.stop();
      gateways.delete(AWAY);

      // 1. The good version.
      const first = await createRollout(ctlData, specFile, good, "1:10s,100%:2s", "--offline-grace", "5");
      const canary = await waitFor("the canary runs 1.0.0", () => {
        const s = rolloutStatus(ctlData, first);
        return s.members.length === 1 && s.members[0]!.status === "running" ? s.members[0]!.device : null;
      }, 120_000).catch(failWith);
      // During the canary's 10 s observation: the registry stops, the broker restarts.
      await peers.registry[Symbol.asyncDispose]();
      await broker.stop();
      await broker.start();
      const second = ARM.filter((d) => d !== canary);
      await watcher.untilAll(
        "the second phase's devices cannot pull",
        second,
        (r) => r.errors.some((e) => e.module === "counter" && e.code === "registry_unavailable"),
        120_000,
      );
      assert.equal(
        rolloutStatus(ctlData, first).rollout.state,
        "running",
        "an unreachable registry is no breach",
      );
      registry = await startRegistry(`${dir}/registry`, { port: registryPort });
      const done = await waitFor("the good rollout completes", () => {
        const s = rolloutStatus(ctlData, first);
        return s.rollout.state === "completed" ? s : null;
      }, 180_000).catch(failWith);
      await watcher.untilAll("every online arm64 gateway runs 1.0.0", ARM, runs(good));
      assert.deepEqual(done.rollout.skipped, [X86]);
      assert.deepEqual(done.members.map((m) => m.device).sort(), [...ARM, AWAY].sort());
      assert.match(
        done.rollout.reason ?? "",
        new RegExp(`completed without ${AWAY}: offline past the 5 s grace`),
      );
      assert.equal(done.members.find((m) => m.device === AWAY)?.status, "deployed");
      assert.ok(
        watcher.all(X86).every((r) => r.modules.counter === undefined),
        "the x86_64 box never got it",
      );
      assert.ok(
        second.some((d) => watcher.all(d).some((r) => r.modules.counter?.image === good)),
        "the reports came through the broker restart",
      );

      // The absent box comes back and converges from its retained desired state.
      await start(AWAY);
      await watcher.untilAll("the returning box runs 1.0.0", [AWAY], runs(good));
      await waitFor(
        "the controller records it",
        () => rolloutStatus(ctlData, first).members.find((m) => m.device === AWAY)?.status === "running",
        60_000,
      ).catch(failWith);

      // 2. The crashing version: rolled back from its two canaries only.
      const crashing = await createRollout(ctlData, specFile, bad, "2:30s,100%:5s");
      const rolledBack = await waitFor("the crashing rollout is rolled back", () => {
        const s = rolloutStatus(ctlData, crashing);
        return s.rollout.state === "rolled_back" ? s : null;
      }, 120_000).catch(failWith);
      const canaries = rolledBack.members.map((m) => m.device);
      assert.equal(canaries.length, 2, "two canaries were touched");
      assert.ok(canaries.includes(rolledBack.rollout.breach!.device));
      await watcher.untilAll("every arm64 gateway runs 1.0.0 again", [...ARM, AWAY], runs(good));
      for (const device of ALL.filter((d) => !canaries.includes(d))) {
        assert.ok(
          !watcher.all(device).some((r) => r.modules.counter?.image === bad),
          `${device} never ran 2.0.0`,
        );
      }

      // 3. An unsigned image on the group's topic, bypassing the controller.
      const before = new Map(ALL.map((d) => [d, watcher.all(d).length]));
      await watcher.client.publishAsync(
        `kiln/fleet/${FLEET}/groups/line-3/desired`,
        JSON.stringify({ rev: 1, modules: { rogue: { image: unsigned, spec: SPEC } } }),
        { qos: 1, retain: true },
      );
      await watcher.untilAll(
        "every gateway refuses the unsigned image",
        ALL,
        (r) => r.errors.some((e) => e.module === "rogue" && e.code === "image_unsigned"),
      );
      for (const device of ALL) {
        const since = watcher.all(device).slice(before.get(device)!);
        assert.ok(
          since.every((r) => r.modules.rogue === undefined),
          `${device} never ran the unsigned image`,
        );
        assert.ok(since.every((r) => r.modules.counter?.image === (device === X86 ? undefined : good)));
      }
      await watcher.client.publishAsync(`kiln/fleet/${FLEET}/groups/line-3/desired`, "", {
        qos: 1,
        retain: true,
      });
    } finally {
      await Promise.all([...gateways.values()].map((g) => g.stop()));
      await controller.stop();
      await registry?.[Symbol.asyncDispose]();
    }
  },
});
