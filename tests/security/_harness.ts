/**
 * The attack suite's harness: every hostile case runs beside a well-behaved neighbour in a real runtime
 * (real executors, real audit store), and must leave the runtime healthy and the neighbour processing.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan, type ModuleStatus, type Runtime } from "../../runtime/mod.ts";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

/** The folder of the hostile WAT sources. */
export const FIXTURES = new URL("./fixtures/", import.meta.url);

/** Reads and assembles `fixtures/<name>.wat`. */
export async function fixture(name: string): Promise<Uint8Array> {
  return wat(await Deno.readTextFile(new URL(`${name}.wat`, FIXTURES)), `${name}.wat`);
}

/** What a case expects of the hostile module. */
export type Expectation =
  /** Refused at deploy: the predicate receives the error. */
  | { refused: (err: unknown) => boolean }
  /** Deployed; `until` is polled until it returns true, then `check` runs. */
  | {
    until: (m: ModuleStatus, rt: Runtime) => boolean;
    check?: (m: ModuleStatus, rt: Runtime, audit: AuditLog) => void | Promise<void>;
  };

/** One hostile case. */
export interface HostileCase {
  /** The module binary (or use `fixture()`). */
  bytes: Uint8Array;
  /** Plan fields for the hostile module; defaults: periodic every 5 ms, 1 MiB, on-failure restarts. */
  plan?: Partial<ModulePlan>;
  expect: Expectation;
  /** How long the deploy, and then the expected state, may take. @default 10_000 */
  timeoutMs?: number;
}

/**
 * Runs a hostile module beside a healthy stream module, checks the expectation, and then that the runtime is
 * healthy and the neighbour kept processing throughout.
 */
export async function runHostile(c: HostileCase): Promise<void> {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  const audit = new AuditLog(store);
  const good = await writeFixture(dir, "good.wasm", wat(streamModuleWat()));
  await using rt = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "good", wasm: good })]),
    version: "attack",
    log: () => {},
    audit,
  });
  await rt.start();
  await waitFor("the neighbour to run", () => rt.getModule("good")!.invocations > 5);
  const before = rt.getModule("good")!.invocations;

  const wasm = await writeFixture(dir, "hostile.wasm", c.bytes);
  const plan = modulePlan({
    name: "hostile",
    wasm,
    schedule: { mode: "periodic", periodUs: 5_000, priority: 50 },
    restart: { policy: "on-failure", maxRestarts: 3, backoffMs: 20, maxBackoffMs: 100 },
    ...c.plan,
  });
  if ("refused" in c.expect) {
    let error: unknown = null;
    try {
      await within("the hostile module's deploy", rt.deployModule(plan), c.timeoutMs ?? 10_000);
    } catch (err) {
      error = err;
    }
    assert.ok(error !== null, "the hostile module was deployed but should have been refused");
    assert.ok(c.expect.refused(error), `refused for another reason: ${(error as Error)?.message ?? error}`);
    assert.equal(rt.getModule("hostile"), null, "a refused module leaves nothing behind");
  } else {
    await within("the hostile module's deploy", rt.deployModule(plan), c.timeoutMs ?? 10_000);
    const expect = c.expect;
    const m = await waitFor(
      "the hostile module's expected state",
      () => expect.until(rt.getModule("hostile")!, rt) && rt.getModule("hostile")!,
      c.timeoutMs ?? 10_000,
    ).catch((err) => {
      throw new Error(`${err.message}\nstatus: ${JSON.stringify(rt.getModule("hostile"))}`);
    });
    await expect.check?.(m, rt, audit);
  }

  // The neighbour kept processing, and the runtime answers.
  await waitFor("the neighbour to keep processing", () => rt.getModule("good")!.invocations > before + 10);
  const good_ = rt.getModule("good")!;
  assert.equal(good_.state, "running");
  assert.equal(good_.restarts, 0, "the neighbour never crashed");
  assert.notEqual(rt.health().status, "stopping");
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
