import assert from "node:assert/strict";
import { parsePhases, staleAfter, stepRollout, wantedCount } from "../../fleet/mod.ts";
import { FakeFleet, NEW, OLD, rollout, T0 } from "./_engine_fake.ts";

Deno.test("a phase covers its share of eligible devices, rounded up and at least one", () => {
  const phases = parsePhases("10%,2,30%,100%");
  assert.equal(wantedCount(phases, 0, 10), 1);
  assert.equal(wantedCount(phases, 0, 3), 1);
  assert.equal(wantedCount(phases, 1, 10), 2);
  assert.equal(wantedCount(phases, 2, 10), 3);
  assert.equal(wantedCount(phases, 3, 10), 10);
  assert.equal(wantedCount(phases, 1, 1), 1);
});

Deno.test("a canary is picked deterministically, observed, then the rollout advances to 100% and completes", () => {
  const fleet = new FakeFleet(rollout("10%:60s,50%:60s,100%:30s"), 10);
  fleet.published.set("gw03", { rev: 4, modules: { other: { image: OLD, spec: {} } } });
  const first = fleet.step(T0);
  assert.equal(first.publish.size, 1);
  const canary = [...first.publish.keys()][0]!;
  // The same canary whatever the order of the devices.
  const reversed = stepRollout({
    rollout: rollout("10%:60s,50%:60s,100%:30s"),
    members: [],
    devices: [...fleet.devices.values()].reverse(),
    published: new Map(),
    nowMs: T0,
  });
  assert.deepEqual([...reversed.publish.keys()], [canary]);
  assert.equal(fleet.r.observe_since_ms, null, "not observed before the canary reports");
  fleet.step(T0 + 5_000);
  assert.equal(fleet.r.phase, 0);
  fleet.report(T0 + 10_000);
  fleet.step(T0 + 10_000);
  assert.equal(fleet.r.observe_since_ms, T0 + 10_000);
  fleet.report(T0 + 69_000);
  fleet.step(T0 + 69_000);
  assert.equal(fleet.r.phase, 0, "59 s of observation is not enough");
  fleet.report(T0 + 70_000);
  fleet.step(T0 + 70_000);
  assert.equal(fleet.r.phase, 1);
  assert.equal(fleet.running().length, 5);
  fleet.report(T0 + 80_000);
  fleet.step(T0 + 80_000);
  fleet.report(T0 + 140_000);
  fleet.step(T0 + 140_000);
  assert.equal(fleet.r.phase, 2);
  assert.equal(fleet.running().length, 10);
  fleet.report(T0 + 150_000);
  fleet.step(T0 + 150_000);
  fleet.report(T0 + 180_000);
  fleet.step(T0 + 180_000);
  assert.equal(fleet.r.state, "completed");
  // The controller merged the module into what it had published before for that device.
  const gw03 = fleet.published.get("gw03")!;
  assert.equal(gw03.rev, 5);
  assert.deepEqual(Object.keys(gw03.modules).sort(), ["fft", "other"]);
  assert.equal(fleet.members.find((m) => m.device === "gw03")?.previous, null);
  // A completed rollout does nothing more.
  assert.equal(fleet.step(T0 + 200_000).changed, false);
});

Deno.test("a rollout waits at an approval gate until an operator approves the phase", () => {
  const fleet = new FakeFleet(rollout("1:0s,100%:0s:approve"), 4);
  fleet.step(T0);
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.state, "awaiting_approval");
  assert.equal(fleet.r.phase, 1);
  fleet.report(T0 + 100_000);
  fleet.step(T0 + 100_000);
  assert.equal(fleet.running().length, 1, "no device added before approval");
  fleet.r = { ...fleet.r, state: "running", approved_phase: 1 }; // what `kiln fleet approve` stores
  fleet.step(T0 + 101_000);
  assert.equal(fleet.running().length, 4);
  fleet.report(T0 + 102_000);
  fleet.step(T0 + 102_000);
  assert.equal(fleet.r.state, "completed");
});

Deno.test("a breach of the condition on the canary rolls back only the canary and records the figures", () => {
  const fleet = new FakeFleet(rollout("1:60s,100%"), 5);
  const previous = { image: OLD, spec: { schedule: { mode: "periodic", period_ms: 50 } } };
  for (const id of fleet.devices.keys()) fleet.published.set(id, { rev: 1, modules: { fft: previous } });
  fleet.step(T0);
  const canary = fleet.members[0]!.device;
  fleet.report(T0 + 2_000);
  fleet.step(T0 + 2_000);
  fleet.report(T0 + 5_000, (_id, m) => m.image === NEW ? { ...m, figures: { ...m.figures, crashes: 3 } } : m);
  const result = fleet.step(T0 + 5_000);
  assert.equal(fleet.r.state, "rolled_back");
  assert.equal(fleet.r.breach?.device, canary);
  assert.deepEqual(fleet.r.breach?.figures, { crash_rate: 0.003, p99_ms: 0.8 });
  assert.match(fleet.r.reason ?? "", /condition/);
  assert.deepEqual([...result.publish.keys()], [canary]);
  assert.deepEqual(fleet.published.get(canary)?.modules.fft, previous);
  assert.equal(fleet.published.get(canary)?.rev, 3);
  for (const [id, doc] of fleet.published) if (id !== canary) assert.equal(doc.rev, 1, `${id} untouched`);
  assert.equal(fleet.members[0]?.status, "rolled_back");
  assert.equal(fleet.step(T0 + 6_000).publish.size, 0, "a rolled-back rollout publishes once");
});

Deno.test("a device that rolled the version back by itself breaches, and a device without it gets null", () => {
  const fleet = new FakeFleet(
    rollout("1:60s,100%", { condition: "error_rate >= 5% and invocations > 100" }),
    3,
  );
  fleet.step(T0);
  const canary = fleet.members[0]!.device;
  fleet.report(T0 + 3_000, (_id, m) => ({
    ...m,
    image: undefined as unknown as string,
    last_rollback: { at: new Date(T0 + 2_500).toISOString(), reason: "probation breach: trap" },
  }));
  fleet.step(T0 + 3_000);
  assert.equal(fleet.r.state, "rolled_back");
  assert.equal(fleet.r.breach?.device, canary);
  assert.equal(fleet.r.breach?.figures.rolled_back, 1);
  assert.equal(fleet.published.get(canary)?.modules.fft, null);
});

Deno.test("a device refusing the image (unsigned) breaches, but one retrying an unreachable registry does not", () => {
  const fleet = new FakeFleet(rollout("1:60s,100%"), 3);
  fleet.step(T0);
  const canary = fleet.members[0]!.device;
  const withError = (code: string) => {
    const d = fleet.devices.get(canary)!;
    fleet.devices.set(canary, {
      ...d,
      last_seen_ms: T0 + 1_000,
      reported: { ...d.reported, errors: [{ module: "fft", rev: 1, code, message: "..." }] },
    });
  };
  withError("registry_unavailable");
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.state, "running");
  withError("image_unsigned");
  fleet.step(T0 + 2_000);
  assert.equal(fleet.r.state, "rolled_back");
  assert.match(fleet.r.breach?.cause ?? "", /image_unsigned/);
});

Deno.test("an offline or silent device is not healthy: the observation waits for it", () => {
  const fleet = new FakeFleet(rollout("1:10s,100%"), 3);
  fleet.step(T0);
  const canary = fleet.members[0]!.device;
  fleet.report(T0 + 1_000);
  fleet.devices.set(canary, { ...fleet.devices.get(canary)!, online: false });
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.observe_since_ms, null);
  assert.equal(fleet.members[0]?.status, "deployed");
  fleet.report(T0 + 2_000);
  fleet.step(T0 + 2_000);
  assert.equal(fleet.r.observe_since_ms, T0 + 2_000);
  // No report for longer than 30 s: stale, the observation restarts.
  fleet.step(T0 + 40_000);
  assert.equal(fleet.r.observe_since_ms, null);
  assert.equal(fleet.r.phase, 0);
});

Deno.test("a device offline past the grace stops holding its phase back, and the rollout follows it back", () => {
  const fleet = new FakeFleet(rollout("1,100%:5s", { offline_grace_s: 60 }), 4);
  fleet.step(T0);
  const canary = fleet.members[0]!.device;
  const away = [...fleet.devices.keys()].find((id) => id !== canary)!;
  const silent = new Set([away]);
  fleet.devices.set(away, { ...fleet.devices.get(away)!, online: false });
  fleet.report(T0 + 1_000, undefined, silent);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.phase, 1, "the canary phase observes 0 s");
  assert.equal(fleet.members.length, 4, "the absent device is picked too: its desired state is retained");
  assert.equal(fleet.published.get(away)?.modules.fft?.image, NEW);
  for (const t of [2_000, 30_000, 60_000]) {
    fleet.report(T0 + t, undefined, silent);
    fleet.step(T0 + t);
  }
  assert.equal(fleet.r.state, "running", "within its grace the absent device holds the phase");
  assert.equal(fleet.r.observe_since_ms, null);
  fleet.report(T0 + 62_000, undefined, silent);
  fleet.step(T0 + 62_000);
  assert.equal(fleet.r.observe_since_ms, T0 + 62_000, "past the grace the others are observed");
  fleet.report(T0 + 67_000, undefined, silent);
  fleet.step(T0 + 67_000);
  assert.equal(fleet.r.state, "completed");
  assert.match(fleet.r.reason ?? "", new RegExp(`completed without ${away}: offline past the 60 s grace`));
  assert.equal(fleet.members.find((m) => m.device === away)?.status, "deployed");
  // It returns, converges through its retained document, and the completed rollout records it.
  fleet.report(T0 + 100_000);
  assert.equal(fleet.step(T0 + 100_000).changed, true);
  assert.equal(fleet.members.find((m) => m.device === away)?.status, "running");
  assert.equal(fleet.r.state, "completed");
  assert.equal(fleet.step(T0 + 101_000).changed, false);

  // Without a grace, the phase waits for it.
  const waiting = new FakeFleet(rollout("1,100%:5s", { offline_grace_s: null }), 4);
  waiting.step(T0);
  const gone = [...waiting.devices.keys()].find((id) => id !== waiting.members[0]!.device)!;
  waiting.devices.set(gone, { ...waiting.devices.get(gone)!, online: false });
  for (const t of [1_000, 2_000, 500_000, 900_000]) {
    waiting.report(T0 + t, undefined, new Set([gone]));
    waiting.step(T0 + t);
  }
  assert.equal(waiting.r.state, "running");
  assert.equal(waiting.r.phase, 1);
});

Deno.test("devices with other hardware are skipped and listed, and never picked", () => {
  const fleet = new FakeFleet(rollout("50%,100%"), 2);
  fleet.add("arm1", "arm64");
  fleet.add("arm2", "arm64");
  fleet.step(T0);
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  fleet.report(T0 + 2_000);
  fleet.step(T0 + 2_000);
  assert.equal(fleet.r.state, "completed");
  assert.deepEqual(fleet.r.skipped, ["arm1", "arm2"]);
  assert.deepEqual(fleet.running(), ["gw00", "gw01"]);
});

Deno.test("a paused rollout does not advance, and an aborted one rolls back every device it touched", () => {
  const fleet = new FakeFleet(rollout("1:0s,100%"), 3);
  fleet.step(T0);
  fleet.r = { ...fleet.r, state: "paused" };
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.running().length, 1);
  assert.equal(fleet.r.phase, 0);
  fleet.r = { ...fleet.r, state: "aborted", reason: "aborted by an operator" };
  const result = fleet.step(T0 + 2_000);
  assert.equal(result.publish.size, 1);
  assert.equal(fleet.running().length, 0);
  assert.ok(fleet.members.every((m) => m.status === "rolled_back"));
});

Deno.test("a device is gone after three of its own report intervals, and never sooner than the floor", () => {
  const fleet = new FakeFleet(rollout("1:10s,100%"), 2);
  const d = fleet.devices.get("gw00")!;
  const every = (s: number | undefined) => ({
    ...d,
    reported: { ...d.reported, report_every_s: s as number },
  });
  assert.equal(staleAfter(every(60), 30_000), 180_000);
  assert.equal(staleAfter(every(5), 30_000), 30_000, "the floor");
  assert.equal(staleAfter(every(undefined), 30_000), 30_000, "10 s assumed for an older gateway");
  assert.equal(staleAfter(every(1e9), 30_000), 30_000, "an absurd interval is not believed");
  // A canary reporting every 60 s stays healthy 40 s after its last report.
  for (const [id, dev] of fleet.devices) {
    fleet.devices.set(id, { ...dev, reported: { ...dev.reported, report_every_s: 60 } });
  }
  fleet.step(T0);
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.observe_since_ms, T0 + 1_000);
  fleet.step(T0 + 41_000);
  assert.equal(fleet.r.phase, 1, "observed 40 s without a report, as its interval allows");
});
