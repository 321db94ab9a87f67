import assert from "node:assert/strict";
import { modulePlan } from "../tests/_helpers.ts";
import type { LoadedModule } from "./loader.ts";
import { ModuleSlot } from "./_slot.ts";

function slot(actuators: string[] = []): ModuleSlot {
  const plan = modulePlan({ name: "m", wasm: "/dev/null", actuators });
  return new ModuleSlot({ plan, sha256: "0".repeat(64), sizeBytes: 0, reservedBytes: 0 } as LoadedModule);
}

const FAULT = { kind: "trap", function: "kiln_on_tick", message: "unreachable" } as const;

Deno.test("a slot's transitions: starting, running, crashed then failed by its policy, stopped", () => {
  const s = slot();
  assert.equal(s.state, "stopped");
  const generation = s.starting();
  assert.equal(s.state, "starting");
  assert.equal(s.generation, generation);
  s.running(12.5);
  assert.equal(s.state, "running");
  assert.equal(s.startMs, 12.5);
  assert.ok(s.startedAtMs !== null);
  const giveUp = (failures: number) => failures > 1;
  const first = s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp });
  assert.deepEqual(first, { state: "crashed", wasRunning: true, consecutiveFailures: 1 });
  assert.equal(s.lastError, "unreachable");
  assert.equal(s.startedAtMs, null);
  s.starting();
  const second = s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp });
  assert.deepEqual(second, { state: "failed", wasRunning: false, consecutiveFailures: 2 });
  assert.equal(s.status(null).traps, 2);
  s.stopped();
  assert.equal(s.state, "stopped");
  s.operatorStarting(true);
  assert.equal(s.status(null).restarts, 1, "an operator's restart counts");
  s.starting();
  assert.equal(
    s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp }).consecutiveFailures,
    1,
    "an operator's start forgives the failures",
  );
});

Deno.test("a scheduled restart is dropped when the slot is stopped, restarted or its executor lost first", async () => {
  const s = slot();
  s.starting();
  s.running(1);
  s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp: () => false });
  let restarts = 0;
  s.restartAfter(5, () => restarts++);
  s.stopped();
  s.restartAfter(5, () => restarts++); // a stopped slot is not crashed: it does not restart either
  s.starting();
  s.running(1);
  s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp: () => false });
  s.restartAfter(5, () => restarts++);
  s.invalidate();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(restarts, 0);
  s.crashed(FAULT, null, { healthyAfterMs: 60_000, giveUp: () => false });
  s.restartAfter(1, () => restarts++);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(restarts, 1);
  assert.equal(s.status(null).restarts, 1);
});

Deno.test("an actuator write's outcome is recorded unless a later write replaced the value", () => {
  const s = slot(["plc1/valve"]);
  assert.equal(s.actuating(1, 1), null, "no such actuator");
  const first = s.actuating(0, 1)!;
  assert.equal(first.id, "plc1/valve");
  const second = s.actuating(0, 0)!;
  first.done("ok", false); // late: the value was replaced
  assert.deepEqual(
    { ...s.status(null).actuators[0], last_at: null },
    { id: "plc1/valve", writes: 2, failures: 0, last_value: 0, last_result: "pending", last_at: null },
  );
  second.done("timed out", true);
  const a = s.status(null).actuators[0]!;
  assert.deepEqual([a.failures, a.last_result], [1, "timed out"]);
});

Deno.test("only the supervisor calls a slot's transitions", async () => {
  // A call on a slot (the runtime names them `slot` or `s`), not the supervisor's methods of the same names.
  const transitions =
    /\b(?:slot|s)\.(starting|running|crashed|restartAfter|operatorStarting|stopped|restartedByWatchdog|invalidate|closed|grant)\(/;
  const offenders: string[] = [];
  const root = new URL("./", import.meta.url);
  const walk = async (dir: URL, rel: string) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir), `${rel}${entry.name}/`);
      if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
      const path = `${rel}${entry.name}`;
      if (path === "_slot.ts" || path === "_supervisor.ts") continue;
      const text = await Deno.readTextFile(new URL(entry.name, dir));
      text.split("\n").forEach((line, i) => {
        if (transitions.test(line)) offenders.push(`${path}:${i + 1}`);
      });
    }
  };
  await walk(root, "");
  assert.deepEqual(offenders, []);
  // The check finds a call where there is one.
  assert.ok(transitions.test("slot.crashed(fault, null, options)"));
  assert.ok(!transitions.test("this.#supervisor.crashed(slot, fault, stats)"));
});
