/**
 * Snapshots through the runtime: taken on warm-up, on demand and on a graceful stop, restored at start in
 * place of `kiln_init` (memory, mutable globals and the host's buffers), and passed over with a reason when
 * they no longer fit the module or are corrupt.
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan, type Runtime, Snapshotter } from "../../runtime/mod.ts";
import { listSnapshots, openStore, type Store } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/**
 * A periodic module whose state lives in memory (a tick count at 2048, a 512 KiB table filled by
 * `kiln_init`) and in a mutable global (the same count). `kiln_init` also counts its own runs at 2052, so a
 * restored instance shows `inits` 1 and a count that kept going.
 */
const COUNTER = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "param_f64" (func $param (param i32 i32 f64) (result f64)))
  (memory (export "memory") 16)
  (global $heap (mut i32) (i32.const 4096))
  (global $count (mut i64) (i64.const 0))
  (global $scale (mut f64) (f64.const 0))
  (data (i32.const 16) "count")   ;; 16..21
  (data (i32.const 24) "global")  ;; 24..30
  (data (i32.const 32) "inits")   ;; 32..37
  (data (i32.const 40) "table")   ;; 40..45
  (data (i32.const 48) "scale")   ;; 48..53
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_init") (result i32)
    (local $i i32)
    (i32.store (i32.const 2052) (i32.add (i32.load (i32.const 2052)) (i32.const 1)))
    (global.set $scale (call $param (i32.const 48) (i32.const 5) (f64.const 1)))
    ;; an "expensive" warm-up: fill 512 KiB at 64 KiB with a pattern
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const 131072)))
      (i32.store (i32.add (i32.const 65536) (i32.shl (local.get $i) (i32.const 2))) (i32.mul (local.get $i) (i32.const 2654435761)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 2048) (i32.add (i32.load (i32.const 2048)) (i32.const 1)))
    (global.set $count (i64.add (global.get $count) (i64.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 2048)))))
    (drop (call $output (i32.const 24) (i32.const 6) (f64.convert_i64_u (global.get $count))))
    (drop (call $output (i32.const 32) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 2052)))))
    (drop (call $output (i32.const 48) (i32.const 5) (global.get $scale)))
    ;; the table is intact: word 1000 still holds 1000 * 2654435761 mod 2^32
    (drop (call $output (i32.const 40) (i32.const 5)
      (f64.convert_i32_u (i32.eq (i32.load (i32.const 69536)) (i32.mul (i32.const 1000) (i32.const 2654435761))))))
    (i32.const 0)))`;

async function setup(): Promise<{ dir: string; plan: (over?: Partial<ModulePlan>) => ModulePlan }> {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "counter.wasm", wat(COUNTER));
  const plan = (over: Partial<ModulePlan> = {}) =>
    modulePlan({
      name: "counter",
      wasm,
      maxMemoryMb: 4,
      schedule: { mode: "periodic", periodUs: 5_000, priority: 50 },
      persistence: { warmUpIterations: 3, intervalS: null, keep: 3 },
      ...over,
    });
  return { dir, plan };
}

/** Starts a runtime over the store in `dir`; dispose both. */
async function start(dir: string, module: ModulePlan) {
  const store = openStore(`${dir}/kiln.db`);
  const snapshots = new Snapshotter(store.path);
  const rt = await createRuntime({
    plan: deploymentPlan([module]),
    version: "test",
    snapshots,
    log: () => {},
  });
  await rt.start();
  return {
    rt,
    store,
    snapshots,
    async [Symbol.asyncDispose]() {
      rt.close();
      await snapshots.close();
      store.close();
    },
  };
}

const outputs = (rt: Runtime) => rt.getModule("counter")!.outputs;

Deno.test("a restarted runtime resumes a module from its snapshot: memory, globals and buffers, without kiln_init", async () => {
  const { dir, plan } = await setup();
  let countAtStop: number;
  {
    await using r = await start(dir, plan({ params: { scale: 2 } }));
    // The warm-up snapshot is taken by itself after 3 ticks.
    await waitFor(
      "the warm-up snapshot",
      () => r.rt.getModule("counter")!.snapshot?.last?.reason === "warm_up",
    );
    await waitFor("10 ticks", () => (outputs(r.rt).count ?? 0) >= 10);
    await r.rt.stopModule("counter"); // a graceful stop snapshots
    const s = r.rt.getModule("counter")!.snapshot!;
    assert.equal(s.last?.reason, "stop");
    assert.equal(s.restored_from, null);
    countAtStop = outputs(r.rt).count!;
    assert.deepEqual(listSnapshots(r.store.db, "counter").map((x) => x.reason), ["stop", "warm_up"]);
  }
  await using r = await start(dir, plan({ params: { scale: 2 } }));
  const m = r.rt.getModule("counter")!;
  assert.equal(m.state, "running");
  assert.equal(m.snapshot?.restored_from, 2);
  assert.equal(m.snapshot?.reinit_reason, null);
  assert.ok(typeof m.start_ms === "number");
  await waitFor("ticks after the restore", () => outputs(r.rt).count !== undefined);
  const o = outputs(r.rt);
  assert.equal(o.inits, 1, "kiln_init did not run again");
  assert.ok(o.count! > countAtStop - 1 && o.count! >= 10, `count went on from ${countAtStop}: ${o.count}`);
  assert.equal(o.global, o.count, "the mutable global was restored with the memory");
  assert.equal(o.table, 1, "the table kiln_init filled is intact");
  assert.equal(o.scale, 2);
  // A restored instance is warm: no second warm-up snapshot.
  await new Promise((res) => setTimeout(res, 150));
  assert.deepEqual(listSnapshots(r.store.db, "counter").map((x) => x.reason), ["stop", "warm_up"]);
});

Deno.test("a snapshot taken with other params is not restored, and the module says why", async () => {
  const { dir, plan } = await setup();
  {
    await using r = await start(dir, plan({ params: { scale: 2 } }));
    await waitFor("ticks", () => (outputs(r.rt).count ?? 0) >= 3);
    await r.rt.takeSnapshot("counter");
  }
  await using r = await start(dir, plan({ params: { scale: 3 } }));
  const s = r.rt.getModule("counter")!.snapshot!;
  assert.equal(s.restored_from, null);
  assert.match(
    s.reinit_reason ?? "",
    /snapshot 1 skipped: the module's params, data blobs or window changed/,
  );
  await waitFor("a fresh start", () => outputs(r.rt).scale === 3);
});

Deno.test("a corrupt newest snapshot is passed over and the one before it restores", async () => {
  const { dir, plan } = await setup();
  {
    await using r = await start(dir, plan());
    await waitFor("ticks", () => (outputs(r.rt).count ?? 0) >= 3);
    await r.rt.takeSnapshot("counter");
    await waitFor("more ticks", () => (outputs(r.rt).count ?? 0) >= 8);
    await r.rt.takeSnapshot("counter");
  }
  {
    using store: Store = openStore(`${dir}/kiln.db`);
    const newest = listSnapshots(store.db, "counter")[0]!;
    store.db.prepare(
      "UPDATE snapshot_pages SET data = zeroblob(length(data)) WHERE snapshot_id = ? AND page = 1",
    )
      .run(newest.id);
  }
  await using r = await start(dir, plan());
  const m = r.rt.getModule("counter")!;
  const seqs = listSnapshots(r.store.db, "counter").map((x) => x.seq);
  assert.equal(m.state, "running");
  assert.equal(m.snapshot?.restored_from, seqs[1]);
  assert.equal(m.snapshot?.reinit_reason, null);
  assert.equal(m.snapshot?.passed_over.length, 1);
  assert.match(m.snapshot!.passed_over[0]!, new RegExp(`snapshot ${seqs[0]} skipped: page 1 fails`));
});

Deno.test("on demand, snapshots refuse a module without persistence and one that is not running", async () => {
  const { dir, plan } = await setup();
  await using r = await start(dir, plan({ persistence: null }));
  assert.equal(r.rt.getModule("counter")!.snapshot, null);
  await assert.rejects(
    () => r.rt.takeSnapshot("counter"),
    (e: Error & { code?: string }) => e.code === "module_state",
  );
  await assert.rejects(
    () => r.rt.takeSnapshot("nope"),
    (e: Error & { code?: string }) => e.code === "module_unknown",
  );
});

Deno.test("shutdown snapshots every running snapshotted module", async () => {
  const { dir, plan } = await setup();
  const store = openStore(`${dir}/kiln.db`);
  const snapshots = new Snapshotter(store.path);
  const rt = await createRuntime({
    plan: deploymentPlan([plan({ persistence: { warmUpIterations: null, intervalS: null, keep: 3 } })]),
    version: "test",
    snapshots,
    log: () => {},
  });
  await rt.start();
  await waitFor("ticks", () => (outputs(rt).count ?? 0) >= 2);
  await rt.shutdown();
  await snapshots.close();
  assert.deepEqual(listSnapshots(store.db, "counter").map((x) => x.reason), ["stop"]);
  store.close();
});

Deno.test("the snapshot worker starts only when a module snapshots, and a store never used closes", async () => {
  const { dir, plan } = await setup();
  {
    await using r = await start(dir, plan({ persistence: null }));
    await waitFor("ticks", () => (outputs(r.rt).count ?? 0) >= 3);
    assert.equal(r.snapshots.started, false, "no worker for a module without persistence");
    await r.snapshots.close(); // and again when r is disposed
    await assert.rejects(r.snapshots.loadLatest("counter", {} as never), /the snapshot store is closed/);
  }
  await using r = await start(dir, plan());
  await waitFor(
    "the warm-up snapshot",
    () => r.rt.getModule("counter")!.snapshot?.last?.reason === "warm_up",
  );
  assert.deepEqual(listSnapshots(r.store.db, "counter").map((x) => x.reason), ["warm_up"]);
});
