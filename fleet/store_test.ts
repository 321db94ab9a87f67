import assert from "node:assert/strict";
import { FleetStore, type NewRollout } from "./store.ts";
import { parsePhases, validateRolloutInput } from "./rollout_input.ts";
import { FleetStoreError, RolloutInvalidError, RolloutStateError } from "./errors.ts";
import { DatabaseSync } from "node:sqlite";
import { FLEET_MIGRATIONS } from "./_migrations.ts";
import type { ReportedState } from "../runtime/fleet/protocol.ts";

const IMAGE = `127.0.0.1:5000/kiln/fft:2.0.0@sha256:${"a".repeat(64)}`;
const input: NewRollout = {
  fleet: "plant-a",
  module: "fft",
  image: IMAGE,
  spec: { schedule: { mode: "periodic", period_ms: 100 } },
  target: { groups: ["line-3"], hardware: ["x86_64"] },
  phases: parsePhases("10%:60s,30%:60s:approve,100%"),
  condition: "crash_rate > 0.1% or p99_ms > 15",
};

function report(groups: string[]): ReportedState {
  return {
    rev_applied: null,
    rev_seen: null,
    group_revs: {},
    at: "2026-12-07T13:00:00.000Z",
    runtime_version: "0.1.0",
    report_every_s: 10,
    hardware: "x86_64",
    groups,
    modules: {},
    errors: [],
  };
}

Deno.test("the fleet store keeps rollouts, members, devices and published documents across reopening", () => {
  const dir = Deno.makeTempDirSync();
  try {
    let id: string;
    {
      using store = FleetStore.open(dir);
      assert.equal(store.version, 3);
      const r = store.createRollout(validateRolloutInput(input), 1000);
      assert.equal(r.offline_grace_s, 600, "the default grace");
      id = r.id;
      assert.equal(r.state, "running");
      const ok = store.writeStep(
        {
          rollout: { ...r, phase: 1, observe_since_ms: 2000 },
          members: [{
            device: "gw1",
            phase: 0,
            previous: null,
            status: "deployed",
            joined_ms: 1500,
            rev: 1,
            shadow: false,
          }],
          published: new Map([["gw1", { rev: 1, modules: { fft: { image: IMAGE, spec: {} } } }]]),
        },
        r.revision,
        2000,
      );
      assert.equal(ok, true);
      store.putReported("plant-a", "gw1", report(["line-3"]), 2100);
      store.setOnline("gw1", false);
    }
    using store = FleetStore.open(dir);
    const r = store.getRollout(id)!;
    assert.equal(r.phase, 1);
    assert.equal(r.observe_since_ms, 2000);
    assert.deepEqual(r.phases, input.phases);
    assert.deepEqual(store.listMembers(id).map((m) => [m.device, m.status, m.previous]), [[
      "gw1",
      "deployed",
      null,
    ]]);
    assert.deepEqual(store.listPublished("plant-a").get("gw1")?.rev, 1);
    const [dev] = store.listDevices("plant-a");
    assert.equal(dev?.online, false);
    assert.deepEqual(dev?.groups, ["line-3"]);
    assert.deepEqual(store.listFleets(), ["plant-a"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a step based on an older revision is refused after an operator's command", () => {
  const dir = Deno.makeTempDirSync();
  try {
    using store = FleetStore.open(dir);
    const r = store.createRollout(input, 1000);
    store.command(r.id, "pause", 1100);
    assert.equal(
      store.writeStep({ rollout: { ...r, phase: 2 }, members: [], published: new Map() }, r.revision, 1200),
      false,
    );
    assert.equal(store.getRollout(r.id)?.state, "paused");
    assert.equal(store.getRollout(r.id)?.phase, 0);
    assert.throws(() => store.command(r.id, "approve", 1300), RolloutStateError);
    assert.equal(store.command(r.id, "resume", 1400).state, "running");
    assert.throws(() => store.createRollout(input, 1500), RolloutStateError);
    assert.equal(store.command(r.id, "abort", 1600).state, "aborted");
    assert.equal(store.createRollout(input, 1700).state, "running");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("phases parse with counts, percentages, observation and approval, and bad ones are refused", () => {
  assert.deepEqual(parsePhases("1:5s, 50%:10s:approve,100%"), [
    { count: 1, min_observe_s: 5, approval: false },
    { percent: 50, min_observe_s: 10, approval: true },
    { percent: 100, min_observe_s: 0, approval: false },
  ]);
  for (const bad of ["10%,50%", "0%,100%", "1.5,100%", "10%:5m,100%", ""]) {
    assert.throws(() => parsePhases(bad), RolloutInvalidError, bad);
  }
  assert.throws(
    () => validateRolloutInput({ ...input, image: "127.0.0.1:5000/kiln/fft:2.0.0" }),
    RolloutInvalidError,
  );
  assert.throws(() => validateRolloutInput({ ...input, spec: { wasm: "x.wasm" } }), RolloutInvalidError);
  assert.throws(() => validateRolloutInput({ ...input, condition: "crashes >" }), {
    code: "condition_invalid",
  });
});

Deno.test("a fleet store written by a newer Kiln is refused", () => {
  const dir = Deno.makeTempDirSync();
  try {
    FleetStore.open(dir).close();
    const db = new DatabaseSync(`${dir}/fleet.db`);
    db.exec("PRAGMA user_version = 99");
    db.close();
    assert.throws(
      () => FleetStore.open(dir),
      (err: unknown) => err instanceof FleetStoreError && /99/.test(err.message),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a store from before the offline grace is upgraded, and its rollouts keep waiting for every device", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const db = new DatabaseSync(`${dir}/fleet.db`);
    db.exec(FLEET_MIGRATIONS[0]!.sql);
    db.exec("PRAGMA user_version = 1");
    db.prepare(
      `INSERT INTO rollouts (id, fleet, module, image, spec_json, target_json, phases_json, condition, state,
         phase, approved_phase, observe_since_ms, reason, breach_json, skipped_json, created_ms, updated_ms,
         revision)
       VALUES ('old1', 'plant-a', 'fft', ?, '{}', '{"groups":[],"hardware":[]}', ?, 'crash_rate > 1%',
         'running', 0, -1, NULL, NULL, NULL, '[]', 1, 1, 1)`,
    ).run(IMAGE, JSON.stringify(parsePhases("100%")));
    db.close();
    using store = FleetStore.open(dir);
    assert.equal(store.version, FLEET_MIGRATIONS.length);
    assert.equal(store.getRollout("old1")?.offline_grace_s, null);
    assert.equal(
      store.createRollout(validateRolloutInput({ ...input, module: "rms", offline_grace_s: 30 }), 2)
        .offline_grace_s,
      30,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
