/**
 * The executor watchdog, tested below the loader: the loader refuses shared memories, so the hostile modules
 * here (a shared memory and a `memory.atomic.wait32` with an infinite timeout, which parks the executor's
 * thread) are compiled directly and handed to the runtime through its `loadModule` test seam.
 */
import { formatLogLine } from "../../log_text.ts";
import assert from "node:assert/strict";
import { createRuntime, DeployFailedError, type Runtime } from "../../runtime/mod.ts";
import { type LoadedModule, loadModule, sha256Hex } from "../../runtime/mod.ts";
import type { ModulePlan } from "../../runtime/plan.ts";
import type { InstanceSpec } from "../../runtime/executor/protocol.ts";
import { renderMetrics } from "../../api/mod.ts";
import { readModule } from "../../runtime/wasm/mod.ts";
import {
  CALL_MARGIN_MS,
  copyAllowedMs,
  handlerAllowedMs,
  Heartbeat,
  type HeartbeatWords,
  IDLE_STALL_MS,
  judgeHeartbeat,
  loadAllowedMs,
  type Stall,
  Watchdog,
  type WatchTarget,
} from "../../runtime/_watchdog.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

// ---- the stall decision, with fake time -------------------------------------------------------------

const T0 = 1_700_000_000_000;

function words(over: Partial<HeartbeatWords> = {}): HeartbeatWords {
  return { beat: 7, stable: true, slot: 0, entry: "none", startedAt: 0, deadlineAt: 0, ...over };
}

Deno.test("the watchdog judges an executor stalled only when its heartbeat is held past the call's allowance plus the margin", async (t) => {
  await t.step("a worker that has not beaten yet is never stalled", () => {
    const v = judgeHeartbeat(words({ beat: 0 }), null, T0 + 60_000);
    assert.deepEqual(v, { stalled: false, seen: null });
  });

  await t.step("a beat that moved is recorded with the time it was first seen", () => {
    const v = judgeHeartbeat(words({ beat: 8 }), { beat: 7, sinceMs: T0 }, T0 + 5_000);
    assert.deepEqual(v, { stalled: false, seen: { beat: 8, sinceMs: T0 + 5_000 } });
  });

  await t.step("with no call running, the idle limit applies", () => {
    const seen = { beat: 7, sinceMs: T0 };
    assert.equal(judgeHeartbeat(words(), seen, T0 + IDLE_STALL_MS).stalled, false);
    const v = judgeHeartbeat(words(), seen, T0 + IDLE_STALL_MS + 1);
    assert.ok(v.stalled);
    assert.equal(v.stall.slot, 0);
    assert.equal(v.stall.entry, "none");
    assert.equal(v.stall.limitMs, IDLE_STALL_MS);
  });

  await t.step(
    "a running call may hold it for its allowance plus the margin, on the main thread's clock",
    () => {
      // The worker's clock is far off: only the allowance, a duration, is taken from it.
      const call = words({ slot: 42, entry: "kiln_on_tick", startedAt: 5, deadlineAt: 20 });
      const seen = { beat: 7, sinceMs: T0 };
      assert.equal(judgeHeartbeat(call, seen, T0 + 15 + CALL_MARGIN_MS).stalled, false);
      const v = judgeHeartbeat(call, seen, T0 + 16 + CALL_MARGIN_MS);
      assert.ok(v.stalled);
      assert.deepEqual(v.stall, {
        slot: 42,
        entry: "kiln_on_tick",
        heldMs: 16 + CALL_MARGIN_MS,
        allowedMs: 15,
        limitMs: 15 + CALL_MARGIN_MS,
      });
    },
  );

  await t.step("a long allowance (an init budget) is honoured", () => {
    const init = words({ slot: 3, entry: "start", startedAt: 0, deadlineAt: 5_000 });
    assert.equal(judgeHeartbeat(init, { beat: 7, sinceMs: T0 }, T0 + 5_000 + CALL_MARGIN_MS).stalled, false);
  });

  await t.step("words read while the worker wrote are never judged", () => {
    const seen = { beat: 7, sinceMs: T0 };
    assert.deepEqual(judgeHeartbeat(words({ stable: false }), seen, T0 + 60_000), { stalled: false, seen });
  });

  await t.step("a beat that wrapped past zero is still a beat", () => {
    const seen = { beat: -1, sinceMs: T0 };
    assert.deepEqual(judgeHeartbeat(words({ beat: 0 }), seen, T0 + 10), {
      stalled: false,
      seen: { beat: 0, sinceMs: T0 + 10 },
    });
    assert.ok(judgeHeartbeat(words({ beat: -1 }), seen, T0 + IDLE_STALL_MS + 1).stalled);
  });
});

Deno.test("a call's allowance is its hard deadline per handler call, the init budget for an instance's first", () => {
  const spec = { budgetUs: 10_000, initBudgetUs: 100_000, data: new Map() } as unknown as InstanceSpec;
  assert.equal(handlerAllowedMs(spec, 1, true), 15);
  assert.equal(handlerAllowedMs(spec, 1, false), 100);
  assert.equal(handlerAllowedMs(spec, 3, true), 45);
  assert.equal(handlerAllowedMs(spec, 3, false), 130);
  // Six start steps at the init budget, and the copy of a 1 MB image for a restore.
  assert.equal(loadAllowedMs(spec, 0), 600 + copyAllowedMs(0));
  assert.ok(loadAllowedMs(spec, 1_000_000) > loadAllowedMs(spec, 0));
});

Deno.test("the watchdog tells a stalled executor once, counts it, and stops watching it", () => {
  let now = T0;
  const watchdog = new Watchdog({ now: () => now, timer: false });
  const stalls: Stall[] = [];
  const beating = { name: "realtime", heartbeat: new Heartbeat(), stalled: () => assert.fail("it beats") };
  const held: WatchTarget = { name: "normal", heartbeat: new Heartbeat(), stalled: (s) => stalls.push(s) };
  held.heartbeat.beat();
  held.heartbeat.begin(9, "kiln_on_event", 15);
  watchdog.watch(held);
  const unwatch = watchdog.watch(beating);
  for (let i = 0; i < 40; i++) {
    beating.heartbeat.beat();
    watchdog.check();
    now += 100;
  }
  assert.equal(stalls.length, 1);
  assert.equal(stalls[0]!.slot, 9);
  assert.equal(stalls[0]!.entry, "kiln_on_event");
  assert.deepEqual([...watchdog.terminations()], [["normal", 1], ["realtime", 0]]);
  unwatch();
});

// ---- a real runtime ----------------------------------------------------------------------------------

/**
 * A module with a shared memory whose thread blocks for good in an atomic wait: in its start function, in
 * `kiln_init`, or on its 31st tick (at 10 ms, after its executor has sent a few reports).
 */
function blockingWat(where: "start" | "init" | "tick"): string {
  const block = `(drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))`;
  return `(module
    (memory (export "memory") 1 1 shared)
    (global $ticks (mut i32) (i32.const 0))
    (func $block ${block})
    ${where === "start" ? "(start $block)" : ""}
    (func (export "kiln_abi_version") (result i32) (i32.const 1))
    ${where === "init" ? `(func (export "kiln_init") (result i32) (call $block) (i32.const 0))` : ""}
    (func (export "kiln_on_tick") (param i64) (result i32)
      (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
      ${where === "tick" ? "(if (i32.gt_u (global.get $ticks) (i32.const 30)) (then (call $block)))" : ""}
      (i32.const 0)))`;
}

const TICK = `(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

/**
 * Compiles a module as it is, without the loader's checks or instrumentation: the test seam's loader. The
 * rest of what the loader returns comes from loading a benign periodic module (`shell`) with the same plan.
 */
async function compileUnchecked(plan: ModulePlan, shell: string): Promise<LoadedModule> {
  const bytes = await Deno.readFile(plan.wasm);
  const benign = await loadModule({ ...plan, wasm: shell, sha256: null });
  return {
    ...benign,
    plan,
    sha256: await sha256Hex(bytes),
    sizeBytes: bytes.length,
    module: await WebAssembly.compile(bytes),
    info: readModule(bytes),
  };
}

/** Awaits `p`, failing the test if it has not settled after `ms` (a bound, never a timing assertion). */
async function settles<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const NEVER = { policy: "never", maxRestarts: 0, backoffMs: 10, maxBackoffMs: 10 } as const;

interface Plant {
  rt: Runtime;
  lines: string[];
  dir: string;
}

/** A runtime with `stuck` (and what `extra` adds), a neighbour `cool` in `normal` and `rt` in `realtime`. */
async function plant(extra: (dir: string) => Promise<ModulePlan[]>): Promise<Plant> {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const cool = await writeFixture(dir, "cool.wasm", wat(streamModuleWat()));
  const tick = await writeFixture(dir, "tick.wasm", wat(TICK));
  const rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({ name: "cool", wasm: cool }),
      modulePlan({ name: "rt", wasm: tick, schedule: { mode: "periodic", periodUs: 10_000, priority: 80 } }),
      ...await extra(dir),
    ]),
    version: "test",
    log: (entry) => lines.push(formatLogLine(entry, { format: "text" })),
    // Modules named `stuck*` skip the loader.
    loadModule: (plan) => plan.name.startsWith("stuck") ? compileUnchecked(plan, tick) : loadModule(plan),
  });
  return { rt, lines, dir };
}

async function executors(rt: Runtime): Promise<Map<string, number>> {
  return new Map((await rt.listExecutors()).map((e) => [e.name, e.watchdog_terminations]));
}

Deno.test("a module that blocks its executor's thread is faulted by the watchdog, its neighbour there restarted, the realtime one untouched", async () => {
  const { rt, lines } = await plant(async (dir) => [
    modulePlan({
      name: "stuck",
      wasm: await writeFixture(dir, "stuck.wasm", wat(blockingWat("tick"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
      restart: NEVER,
    }),
  ]);
  try {
    await settles("start", rt.start());
    assert.equal(rt.getModule("stuck")!.executor, "normal");
    assert.equal(rt.getModule("cool")!.executor, "normal");
    assert.equal(rt.getModule("rt")!.executor, "realtime");
    const rtStarted = rt.getModule("rt")!.started_at;

    const stuck = await waitFor("the watchdog to fault stuck", () => {
      const m = rt.getModule("stuck")!;
      return m.state === "failed" && m;
    }, 20_000);
    assert.equal(stuck.last_fault?.kind, "executor_stalled");
    assert.equal(stuck.last_fault?.function, "kiln_on_tick");
    assert.match(
      stuck.last_fault!.message,
      /executor "normal" stalled: module "stuck" held it in kiln_on_tick/,
    );
    assert.ok(
      lines.some((l) => l.includes("watchdog") && l.includes(`"stuck"`)),
      "a log line names the culprit",
    );

    // The neighbour in the same executor starts again in a fresh one, not as a failure of its own...
    const cool = await waitFor("cool to run again", () => {
      const m = rt.getModule("cool")!;
      return m.state === "running" && m.restarts === 1 && m;
    });
    assert.equal(cool.traps, 0);
    assert.equal(cool.last_fault, null);
    const after = cool.invocations;
    await waitFor("cool's invocations to grow again", () => rt.getModule("cool")!.invocations > after + 10);
    // ...and the one in the realtime executor never stopped.
    const before = rt.getModule("rt")!.invocations;
    await waitFor("rt to keep ticking", () => rt.getModule("rt")!.invocations > before + 10);
    const rtNow = rt.getModule("rt")!;
    assert.equal(rtNow.restarts, 0);
    assert.equal(rtNow.started_at, rtStarted);

    assert.deepEqual(await executors(rt), new Map([["normal", 1], ["realtime", 0]]));
    assert.deepEqual(
      rt.listExecutorCounters().sort((a, b) => a.name.localeCompare(b.name)),
      [{ name: "normal", watchdog_terminations: 1 }, { name: "realtime", watchdog_terminations: 0 }],
    );
    assert.match(renderMetrics(rt), /^kiln_executor_watchdog_terminations_total\{executor="normal"\} 1$/m);
    const health = rt.health();
    assert.equal(health.status, "degraded", "the runtime serves; one module failed");
    assert.deepEqual(health.modules, { starting: 0, running: 2, stopped: 0, crashed: 0, failed: 1 });
    rt.removeModule("stuck");
    assert.equal(rt.health().status, "ok");
  } finally {
    await settles("shutdown", rt.shutdown());
  }
});

Deno.test("a start function or kiln_init that blocks its executor settles the runtime's start and a deploy", async () => {
  const { rt, dir } = await plant(async (dir) => [
    modulePlan({
      name: "stuck_start",
      wasm: await writeFixture(dir, "stuck_start.wasm", wat(blockingWat("start"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
      restart: NEVER,
    }),
  ]);
  try {
    // `kiln run` waits for this before it serves its API.
    await settles("start", rt.start());
    const m = rt.getModule("stuck_start")!;
    assert.equal(m.state, "failed");
    assert.equal(m.last_fault?.kind, "executor_stalled");
    assert.match(m.last_fault!.message, /module "stuck_start" held it in start/);
    await waitFor("cool to run", () => rt.getModule("cool")!.state === "running");

    const plan = modulePlan({
      name: "stuck_deploy",
      wasm: await writeFixture(dir, "stuck_deploy.wasm", wat(blockingWat("init"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
    });
    const refused = await settles("deploy", rt.replaceModule(plan).then(() => null, (err) => err));
    assert.ok(refused instanceof DeployFailedError, `a deploy error, not ${refused}`);
    assert.equal(refused.code, "deploy_failed");
    assert.match(refused.message, /executor_stalled|stalled/);
    assert.equal(rt.getModule("stuck_deploy"), null, "nothing changed");
    assert.deepEqual(await executors(rt), new Map([["normal", 2], ["realtime", 0]]));
    await waitFor("cool to run again", () => {
      const cool = rt.getModule("cool")!;
      return cool.state === "running" && cool.restarts === 2;
    });
    assert.equal(rt.getModule("rt")!.restarts, 0);
  } finally {
    await settles("shutdown", rt.shutdown());
  }
});

Deno.test("stopping or deleting a module that holds its executor settles and frees the executor", async () => {
  const { rt } = await plant(async (dir) => [
    modulePlan({
      name: "stuck_stop",
      wasm: await writeFixture(dir, "stuck_stop.wasm", wat(blockingWat("tick"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
    }),
    modulePlan({
      name: "stuck_delete",
      wasm: await writeFixture(dir, "stuck_delete.wasm", wat(blockingWat("tick"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 80 },
    }),
  ]);
  try {
    await settles("start", rt.start());
    await waitFor(
      "both to tick",
      () => rt.getModule("stuck_stop")!.invocations >= 10 && rt.getModule("stuck_delete")!.invocations >= 10,
    );
    // Their 31st tick, due 200 ms after the 10th at the latest, waits for good: give it time to have started.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const stopped = await settles("stop", rt.stopModule("stuck_stop"));
    assert.equal(stopped.state, "stopped");
    assert.equal((await executors(rt)).get("normal"), 1, "the stop returned once the held executor was gone");
    rt.removeModule("stuck_delete");
    assert.equal(rt.getModule("stuck_delete"), null);
    await waitFor(
      "the watchdog to free the realtime executor",
      async () => (await executors(rt)).get("realtime") === 1,
    );
    await waitFor("cool to run again", () => {
      const cool = rt.getModule("cool")!;
      return cool.state === "running" && cool.restarts === 1;
    });
    await waitFor("rt to run again", () => {
      const m = rt.getModule("rt")!;
      return m.state === "running" && m.restarts === 1;
    });
    const before = rt.getModule("rt")!.invocations;
    await waitFor("rt to tick again", () => rt.getModule("rt")!.invocations > before + 10);
    assert.equal(rt.health().status, "ok");
  } finally {
    await settles("shutdown", rt.shutdown());
  }
});

Deno.test("closing a runtime whose executor is held completes", async () => {
  const { rt } = await plant(async (dir) => [
    modulePlan({
      name: "stuck",
      wasm: await writeFixture(dir, "stuck.wasm", wat(blockingWat("tick"))),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
    }),
  ]);
  await settles("start", rt.start());
  await waitFor("stuck to tick", () => rt.getModule("stuck")!.invocations >= 10);
  await new Promise((resolve) => setTimeout(resolve, 600)); // its 31st tick waits for good
  rt.close();
  assert.equal(rt.health().status, "stopping");
  assert.ok(rt.listModules().every((m) => m.state !== "running" && m.state !== "starting"));
  await settles("shutdown after close", rt.shutdown());
});
