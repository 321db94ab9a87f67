/**
 * Shadow phases of a rollout, in the pure engine: the candidate runs as a shadow beside the version devices
 * run, the condition judges its `shadow_*` figures, a breach drops only the shadows, and the first deploying
 * phase gives the shadow devices the new version itself.
 */
import assert from "node:assert/strict";
import { parsePhases, RolloutInvalidError } from "../../fleet/mod.ts";
import { rolloutFromBody } from "../../fleet/http/rollout_body.ts";
import { RequestInvalidError } from "../../fleet/http/errors.ts";
import type { ReportedModule } from "../../runtime/fleet/protocol.ts";
import { FakeFleet, healthyFigures, NEW, OLD, rollout, T0 } from "./_engine_fake.ts";

/** What a device runs from its own manifest: the old version. */
const manifestFft = (): ReportedModule => ({
  source: "manifest",
  sha256: "old",
  version: "1.0.0",
  state: "running",
  probation: false,
  figures: { ...healthyFigures },
});

function shadowFleet(phases: string, condition: string, count = 4, withModule = count): FakeFleet {
  const fleet = new FakeFleet(
    rollout(phases, { condition }, { tolerance: 0.001, start: "init", warmup: 50 }),
    count,
  );
  for (const id of [...fleet.devices.keys()].slice(0, withModule)) fleet.baseline.set(id, manifestFft());
  return fleet;
}

Deno.test("a shadow phase runs the candidate beside the running version, then the next phase deploys it to every device", () => {
  const fleet = shadowFleet("1:60s:shadow,100%", "shadow_divergence_rate > 1%");
  fleet.report(T0);
  const first = fleet.step(T0);
  assert.equal(first.publish.size, 1);
  const [canary, doc] = [...first.publish][0]!;
  assert.equal(Object.hasOwn(doc.modules, "fft"), false, "the shadow phase leaves the module as it is");
  assert.deepEqual(doc.shadows?.fft, { image: NEW, tolerance: 0.001, start: "init", warmup: 50 });
  assert.equal(fleet.members[0]!.shadow, true);

  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.members[0]!.status, "running", "running once its shadow runs");
  assert.equal(fleet.r.observe_since_ms, T0 + 1_000);
  assert.deepEqual(fleet.running(), [], "no device runs the candidate itself during the shadow phase");

  fleet.report(T0 + 61_000);
  fleet.step(T0 + 61_000);
  assert.equal(fleet.r.phase, 1);
  const converted = fleet.published.get(canary)!;
  assert.equal(converted.modules.fft?.image, NEW, "the shadow device gets the new version itself");
  assert.equal(converted.shadows?.fft, null, "and its shadow is dropped");
  const member = fleet.members.find((m) => m.device === canary)!;
  assert.equal(member.shadow, false);
  assert.equal(member.status, "deployed");
  assert.equal(member.joined_ms, T0 + 61_000);
  assert.deepEqual(fleet.running(), [...fleet.devices.keys()].sort());

  fleet.report(T0 + 62_000);
  fleet.step(T0 + 62_000);
  assert.equal(fleet.r.state, "completed");
});

Deno.test("a candidate diverging in shadow breaches the condition: only the shadows are dropped and no device ever ran it", () => {
  const fleet = shadowFleet("2:60s:shadow,100%", "shadow_divergence_rate > 1% or shadow_time_ratio > 3");
  fleet.report(T0);
  fleet.step(T0);
  const shadowed = fleet.members.map((m) => m.device);
  assert.equal(shadowed.length, 2);
  fleet.shadowPatch = (id, s) => id === shadowed[1] ? { ...s, matched: 480, diverged: 20 } : s;
  fleet.report(T0 + 5_000);
  fleet.step(T0 + 5_000);
  assert.equal(fleet.r.state, "rolled_back");
  assert.equal(fleet.r.breach?.device, shadowed[1]);
  assert.match(fleet.r.breach!.cause, /in shadow/);
  assert.equal(fleet.r.breach!.figures.shadow_divergence_rate, 0.04);
  assert.equal(fleet.r.breach!.figures.shadow_time_ratio, 42 / 40);
  for (const id of shadowed) {
    const doc = fleet.published.get(id)!;
    assert.equal(doc.shadows?.fft, null, `${id}: its shadow dropped`);
    assert.equal(Object.hasOwn(doc.modules, "fft"), false, `${id}: its module never touched`);
  }
  assert.deepEqual(fleet.running(), []);
});

Deno.test("a candidate that traps or falls behind in shadow breaches whatever the condition says", () => {
  for (const reason of ["candidate_trapped: unreachable", "overflow"]) {
    const fleet = shadowFleet("1:60s:shadow,100%", "shadow_diverged > 1000000");
    fleet.report(T0);
    fleet.step(T0);
    fleet.shadowPatch = (_id, s) => ({ ...s, state: "stopped", reason });
    fleet.report(T0 + 1_000);
    fleet.step(T0 + 1_000);
    assert.equal(fleet.r.state, "rolled_back", reason);
    assert.equal(fleet.r.breach?.cause, `the candidate stopped in shadow (${reason})`);
  }
  // Stopped because its live module restarted: the agent attaches it again, no breach.
  const fleet = shadowFleet("1:60s:shadow,100%", "shadow_diverged > 1000000");
  fleet.report(T0);
  fleet.step(T0);
  fleet.shadowPatch = (_id, s) => ({ ...s, state: "stopped", reason: "module_stopped" });
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.state, "running");
  assert.equal(fleet.members[0]!.status, "deployed", "not running while its shadow is stopped");
});

Deno.test("the module's own figures do not breach a shadow phase, and shadow figures are 0 in a deploying phase", () => {
  // The live version crashes: it is not on trial in a shadow phase.
  const fleet = shadowFleet("1:10s:shadow,100%", "crash_rate > 0.1% or shadow_diverged > 0");
  fleet.baseline.set([...fleet.devices.keys()][0]!, {
    ...manifestFft(),
    figures: { ...healthyFigures, crashes: 50 },
  });
  for (const id of [...fleet.devices.keys()].slice(1)) fleet.baseline.delete(id);
  fleet.report(T0);
  fleet.step(T0);
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  assert.equal(fleet.r.state, "running");
  fleet.report(T0 + 12_000);
  fleet.step(T0 + 12_000);
  assert.equal(fleet.r.phase, 1, "the shadow phase passed");
  // Deployed now: a shadow the device still reports (an operator's) is not judged.
  fleet.report(T0 + 13_000, (_id, m) => ({
    ...m,
    shadow: {
      image: NEW,
      candidate_sha256: "y",
      state: "running",
      reason: null,
      invocations: 20,
      matched: 10,
      diverged: 10,
      max_difference: null,
      live_mean_us: 1,
      candidate_mean_us: 9,
    },
  }));
  fleet.step(T0 + 13_000);
  assert.equal(fleet.r.state, "completed", JSON.stringify(fleet.r.breach));
});

Deno.test("a shadow phase picks only devices that run the module; the others join when the new version deploys", () => {
  const fleet = shadowFleet("50%:10s:shadow,100%", "shadow_diverged > 0", 4, 1);
  const [withIt, ...without] = [...fleet.devices.keys()];
  fleet.report(T0);
  fleet.step(T0);
  assert.deepEqual(fleet.members.map((m) => m.device), [withIt], "one device can run a shadow");
  fleet.report(T0 + 1_000);
  fleet.step(T0 + 1_000);
  fleet.report(T0 + 20_000);
  fleet.step(T0 + 20_000);
  assert.equal(fleet.r.phase, 0, "the phase waits for a second device that runs the module");
  fleet.baseline.set(without[0]!, manifestFft());
  fleet.report(T0 + 21_000);
  fleet.step(T0 + 21_000);
  assert.equal(fleet.members.length, 2);
  assert.ok(fleet.members.every((m) => m.shadow));
});

Deno.test("shadow phases parse with their options, come first, and never end a rollout", () => {
  const phases = parsePhases("1:600s:shadow:approve,10%:shadow,100%", {
    tolerance: 0.5,
    start: "image",
    warmup: 0,
  });
  assert.deepEqual(phases[0], {
    count: 1,
    min_observe_s: 600,
    approval: true,
    shadow: { tolerance: 0.5, start: "image", warmup: 0 },
  });
  assert.equal(phases[2]!.shadow, undefined);
  assert.throws(() => parsePhases("10%,20%:shadow,100%"), /shadow phases come first/);
  assert.throws(() => parsePhases("10%:shadow,100%:shadow"), /must be 100%.*deploy/);
  assert.throws(() => parsePhases("10%:shadow:shadow,100%"), /each at most once/);
  assert.throws(
    () => parsePhases("10%:shadow,100%", { tolerance: -1, start: "image", warmup: 0 }),
    RolloutInvalidError,
  );
  assert.throws(
    () => parsePhases("10%:shadow,100%", { tolerance: 0, start: "cold" as "init", warmup: 0 }),
    /Shadow start "cold"/,
  );
  assert.equal(OLD.includes("1.0.0"), true);
});

Deno.test("the controller API takes shadow phases as text or objects, with the shadow options of the body", () => {
  const body = {
    fleet: "plant-a",
    module: "fft",
    image: NEW,
    spec: {},
    phases: [{ count: 2, min_observe_s: 600, shadow: true }, { percent: 100 }],
    shadow: { tolerance: 0.01, start: "init", warmup: 20 },
    condition: "shadow_divergence_rate > 0.1%",
  };
  const input = rolloutFromBody(body);
  assert.deepEqual(input.phases[0]!.shadow, { tolerance: 0.01, start: "init", warmup: 20 });
  assert.equal(input.phases[1]!.shadow, undefined);
  const text = rolloutFromBody({ ...body, phases: "2:600s:shadow,100%", shadow: undefined });
  assert.deepEqual(text.phases[0]!.shadow, { tolerance: 0, start: "image", warmup: 0 });
  assert.throws(
    () => rolloutFromBody({ ...body, shadow: { tolerance: 0, start: "cold" } }),
    (err: RequestInvalidError) => err.issues.some((i) => i.path === "shadow.start"),
  );
  assert.throws(
    () => rolloutFromBody({ ...body, phases: [{ percent: 100, shadow: true }] }),
    (err: RequestInvalidError) => err.issues.some((i) => i.path === "phases" && /deploy/.test(i.message)),
  );
});
