/**
 * The attack suite's harness: every hostile case runs in a real runtime (real executors, real audit store)
 * beside three healthy neighbours, one on each path a hostile module could stall:
 *
 * - `n_stream`, a stream module on the simulated vibration sensor, in the `normal` executor;
 * - `n_tick`, a periodic module of priority 75, in the `realtime` executor;
 * - `n_event`, an event module in `realtime`, sent API events at a steady rate through the runtime's fast
 *   path (`triggerEvent`) for as long as the case runs.
 *
 * While the case runs, the harness also calls the in-process API (`GET /health`, `GET /api/v1/modules`, the
 * hostile module's status, an event over `POST`) and samples the process's resident memory. Afterwards it
 * asserts that each neighbour kept its rate (invocations over a window after the case, and the periodic one's
 * deadline misses over the case: counts, never latencies), never restarted and is running, that the runtime
 * is healthy (`health()`, `GET /health`, `GET /api/v1/modules`) once the hostile module is removed, that no API
 * call answered 5xx, and that resident memory grew by less than {@linkcode MAX_RSS_GROWTH_BYTES}.
 *
 * The hostile module's priority chooses its executor (`normal` below 70, `realtime` from 70):
 * {@linkcode testInBothExecutors} runs a case in each.
 *
 * The hostile modules' fixtures are assembled by `_hostile_fixtures.ts`, the expectations are in
 * `_expectations.ts`, and what runs beside a case (events, API calls, memory samples) in `_gateway_watch.ts`;
 * the case files import all of it from here.
 *
 * @module
 */
import type { LogEntry } from "../../log_text.ts";
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import {
  createRuntime,
  type ModulePlan,
  type ModuleStatus,
  REALTIME_PRIORITY,
  type Runtime,
} from "../../runtime/mod.ts";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";
import { type Containment, describeError as describe, type Expectation } from "./_expectations.ts";
import { NEIGHBOUR_PERIOD_MS, Watch } from "./_gateway_watch.ts";

// The case files import everything from here: the module fixtures, the expectations and the runner.
export { fixture, FIXTURES, fixtureWith } from "./_hostile_fixtures.ts";
export {
  assertInterruptedInTime,
  type Containment,
  type Expectation,
  interrupted,
  interruptMarginUs,
  refusedFor,
  rejectedFor,
} from "./_expectations.ts";

/** One hostile case. */
export interface HostileCase {
  /** The module binary (or use `fixture()`). */
  bytes: Uint8Array;
  /** Plan fields for the hostile module; defaults: periodic every 5 ms, 1 MiB, on-failure restarts. */
  plan?: Partial<ModulePlan>;
  /** The hostile module's priority, which chooses its executor; overrides `plan.schedule`'s. */
  priority?: number;
  expect: Expectation;
  /** How long the deploy, and then the expected state, may take. @default 10_000 */
  timeoutMs?: number;
  /** Receives every line the runtime logs (its own and what modules caused), as the process log has them. */
  log?: (entry: LogEntry) => void;
}

/** What a case measured, for the log ({@linkcode runHostile} prints it when `KILN_HARNESS_LOG` is set). */
export interface HostileReport {
  /** The hostile module's executor, or null when it was refused. */
  executor: string | null;
  /** Why it was refused, or null. */
  refusal: string | null;
  /** The largest growth of the process's resident memory over its value before the deploy, bytes. */
  rssPeakGrowthBytes: number;
  /** API calls made during the case, and API events fired at `n_event` through `triggerEvent`. */
  apiCalls: number;
  eventsFired: number;
  /** Each neighbour's invocations in the window after the case (it ends once each made 10). */
  window: Record<string, number>;
  /** `n_tick`'s deadline misses and ticks from the deploy to the end of the window. */
  tickMisses: number;
  ticks: number;
}

/** The bound on the process's resident memory growth during a case, bytes. */
export const MAX_RSS_GROWTH_BYTES = 256 * 1024 * 1024;
/**
 * After the case, each neighbour must make {@linkcode MIN_IN_WINDOW} invocations within this window, ms: at
 * its nominal rate (100 a second) it takes a tenth of that; an executor held by the hostile module makes none.
 * The window is long because the machine is shared: a loaded one slows the neighbours, never stops them.
 */
const WINDOW_MS = 5_000;
const MIN_IN_WINDOW = 10;
/** `n_tick`'s deadline misses allowed over a case beyond its tick count (restarts of a module cost a few). */
const MISSES_SLACK = 50;
/**
 * The neighbours' budget, us: generous, so that a loaded machine (a call descheduled for milliseconds) never
 * interrupts one; the hostile module runs its calls apart from theirs, on a thread or in turns.
 */
const NEIGHBOUR_BUDGET_US = 1_000_000;

/** The hostile module's placements: priority 50 runs in the `normal` executor, 80 in `realtime`. */
export const PLACEMENTS: readonly { executor: "normal" | "realtime"; priority: number }[] = [
  { executor: "normal", priority: 50 },
  { executor: "realtime", priority: 80 },
];

/** Registers `name` twice, the hostile module at each of {@linkcode PLACEMENTS}' priorities. */
export function testInBothExecutors(name: string, run: (priority: number) => Promise<unknown>): void {
  for (const p of PLACEMENTS) {
    Deno.test(`${name} (${p.executor} executor)`, async () => void await run(p.priority));
  }
}

/** A neighbour counting its calls of `handler` (taking `params`) as the output `key`. */
const counter = (handler: string, params: string, key: string) =>
  `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $n (mut f64) (f64.const 0))
  (data (i32.const 16) "${key}")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $size i32) (result i32)
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (i32.sub (global.get $heap) (local.get $size)))
  (func (export "${handler}") (param ${params}) (result i32)
    (global.set $n (f64.add (global.get $n) (f64.const 1)))
    (drop (call $output (i32.const 16) (i32.const ${key.length}) (global.get $n)))
    (i32.const 0)))`;

const NEIGHBOURS = ["n_stream", "n_tick", "n_event"] as const;

/**
 * Runs a hostile module beside the healthy neighbours, checks the expectation, then checks the neighbours,
 * the runtime's health, the API and the process's memory (see the module documentation).
 *
 * @returns What the case measured.
 */
export async function runHostile(c: HostileCase): Promise<HostileReport> {
  const dir = await Deno.makeTempDir();
  try {
    return await runIn(dir, c);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runIn(dir: string, c: HostileCase): Promise<HostileReport> {
  using store = openStore(`${dir}/kiln.db`);
  const audit = new AuditLog(store);
  const neighbour = (name: string, source: string) => writeFixture(dir, `${name}.wasm`, wat(source));
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "n_stream",
        wasm: await neighbour("n_stream", streamModuleWat()),
        budgetUs: NEIGHBOUR_BUDGET_US,
      }),
      modulePlan({
        name: "n_tick",
        wasm: await neighbour("n_tick", counter("kiln_on_tick", "i64", "ticks")),
        schedule: { mode: "periodic", periodUs: NEIGHBOUR_PERIOD_MS * 1000, priority: 75 },
        budgetUs: NEIGHBOUR_BUDGET_US,
      }),
      modulePlan({
        name: "n_event",
        wasm: await neighbour("n_event", counter("kiln_on_event", "i32 i32 i32", "events")),
        schedule: { mode: "event", trigger: "api", priority: 90 },
        budgetUs: NEIGHBOUR_BUDGET_US,
      }),
    ]),
    version: "attack",
    log: c.log ?? (() => {}),
    audit,
  });
  await rt.start();
  assert.equal(rt.getModule("n_stream")!.executor, "normal");
  assert.equal(rt.getModule("n_tick")!.executor, "realtime");
  assert.equal(rt.getModule("n_event")!.executor, "realtime");
  const watch = new Watch(rt);
  try {
    await waitFor(
      "the neighbours to run",
      () => NEIGHBOURS.every((n) => rt.getModule(n)!.invocations >= 3),
    );
    watch.startMemory();
    const tickBefore = rt.getModule("n_tick")!;
    const { executor, refusal } = await runCase(rt, audit, dir, c);

    // The neighbours kept their rate after the case, whatever it left behind.
    const start = invocations(rt);
    const grew = () => NEIGHBOURS.every((n) => invocations(rt)[n]! - start[n]! >= MIN_IN_WINDOW);
    await waitFor("the neighbours to keep running", grew, WINDOW_MS).catch(() => false);
    const end = invocations(rt);
    await watch.stop();
    const window = Object.fromEntries(NEIGHBOURS.map((n) => [n, end[n]! - start[n]!]));
    const tickAfter = rt.getModule("n_tick")!;
    const report: HostileReport = {
      executor,
      refusal,
      rssPeakGrowthBytes: watch.rssPeakGrowth,
      apiCalls: watch.apiCalls,
      eventsFired: watch.eventsFired,
      window,
      tickMisses: tickAfter.deadline_misses - tickBefore.deadline_misses,
      ticks: tickAfter.invocations - tickBefore.invocations,
    };
    if (Deno.env.get("KILN_HARNESS_LOG")) console.error(`harness: ${JSON.stringify(report)}`);
    for (const n of NEIGHBOURS) {
      const m = rt.getModule(n)!;
      assert.ok(
        window[n]! >= MIN_IN_WINDOW,
        `neighbour ${n} (${m.executor}) made ${
          window[n]
        } invocations in the ${WINDOW_MS} ms after the case, ` +
          `fewer than ${MIN_IN_WINDOW}: its executor is held (${JSON.stringify(report)})`,
      );
      assert.equal(m.restarts, 0, `neighbour ${n} restarted: ${m.last_error}`);
      assert.equal(m.state, "running", `neighbour ${n} is ${m.state}`);
      assert.equal(m.last_fault, null, `neighbour ${n} faulted: ${m.last_error}`);
    }
    assert.ok(
      report.tickMisses <= report.ticks + MISSES_SLACK,
      `n_tick missed ${report.tickMisses} deadlines for ${report.ticks} ticks during the case`,
    );
    assert.deepEqual(watch.triggerErrors, [], "every event sent to n_event was taken");
    assert.deepEqual(watch.serverErrors, [], "no API call answered 5xx during the case");
    assert.ok(
      report.rssPeakGrowthBytes < MAX_RSS_GROWTH_BYTES,
      `resident memory grew by ${mib(report.rssPeakGrowthBytes)} MiB during the case, more than ` +
        `${mib(MAX_RSS_GROWTH_BYTES)} MiB`,
    );

    // Without the hostile module, the runtime is healthy, and says so over the API.
    if (rt.getModule("hostile")) await rt.removeModule("hostile");
    assert.equal(rt.health().status, "ok");
    const app = createApp(apiPorts(rt));
    const health = await app.request("/health");
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "ok");
    const modules = await app.request("/api/v1/modules");
    assert.equal(modules.status, 200);
    assert.deepEqual(
      (await modules.json()).modules.map((m: ModuleStatus) => m.state),
      ["running", "running", "running"],
    );
    return report;
  } finally {
    await watch.stop();
  }
}

/** Deploys the hostile module and checks the expectation; returns its executor, or why it was refused. */
async function runCase(
  rt: Runtime,
  audit: AuditLog,
  dir: string,
  c: HostileCase,
): Promise<{ executor: string | null; refusal: string | null }> {
  const wasm = await writeFixture(dir, "hostile.wasm", c.bytes);
  const base = modulePlan({
    name: "hostile",
    wasm,
    schedule: { mode: "periodic", periodUs: 5_000, priority: 50 },
    restart: { policy: "on-failure", maxRestarts: 3, backoffMs: 20, maxBackoffMs: 100 },
    ...c.plan,
  });
  const plan: ModulePlan = c.priority === undefined
    ? base
    : { ...base, schedule: { ...base.schedule, priority: c.priority } };
  const timeoutMs = c.timeoutMs ?? 10_000;
  const expect = c.expect;
  let error: unknown = null;
  try {
    await within("the hostile module's deploy", rt.deployModule(plan), timeoutMs);
  } catch (err) {
    error = err;
  }
  if ("refused" in expect) {
    if (error !== null) {
      assert.ok(expect.refused(error), `refused for another reason: ${describe(error)}`);
      assert.equal(rt.getModule("hostile"), null, "a refused module leaves nothing behind");
      return { executor: null, refusal: describe(error) };
    }
    if (!("orContained" in expect)) {
      assert.fail(`the hostile module was deployed but should have been refused: ${status(rt)}`);
    }
  } else if (error !== null) {
    throw error;
  }
  const contained = "orContained" in expect ? expect.orContained : expect as Containment;
  const expected = plan.schedule.mode === "event" || plan.schedule.priority >= REALTIME_PRIORITY
    ? "realtime"
    : "normal";
  assert.equal(rt.getModule("hostile")!.executor, expected);
  const m = await waitFor(
    "the hostile module's expected state",
    () => contained.until(rt.getModule("hostile")!, rt) && rt.getModule("hostile")!,
    timeoutMs,
  ).catch((err) => {
    throw new Error(`${err.message}\nstatus: ${status(rt)}`);
  });
  await contained.check?.(m, rt, audit);
  return { executor: expected, refusal: null };
}

/** Each neighbour's invocations now. */
function invocations(rt: Runtime): Record<string, number> {
  return Object.fromEntries(NEIGHBOURS.map((n) => [n, rt.getModule(n)!.invocations]));
}

const mib = (bytes: number) => Math.round(bytes / (1024 * 1024));

function status(rt: Runtime): string {
  return JSON.stringify(rt.getModule("hostile"));
}

/**
 * Awaits `promise`, or throws once `ms` pass first: a start function or `kiln_init` that never returns (no
 * CPU budget enforced) must fail its case, not hang the suite. Disposing the runtime then ends the worker.
 */
async function within<T>(what: string, promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
