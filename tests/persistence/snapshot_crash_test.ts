/**
 * Crash safety of snapshots: `kiln run` is killed with SIGKILL at random moments while it writes a
 * snapshot of an 8 MiB memory every 100 ms, many times over. After every kill the database opens, passes
 * SQLite's integrity check, every snapshot in it passes its own checks, and the next start resumes from the
 * newest one.
 */
import assert from "node:assert/strict";
import { listSnapshots, loadSnapshot, openStore } from "../../snapshots/mod.ts";
import { getJson, startKiln } from "../_process.ts";
import { wat } from "../_helpers.ts";

const ROUNDS = 12;

/** `kiln_init` fills 8 MiB with noise (incompressible, so each snapshot writes all of it); ticks change it. */
const NOISE = `(module
  (memory (export "memory") 130)
  (global $heap (mut i32) (i32.const 1024))
  (global $x (mut i32) (i32.const 0x12345678))
  (global $ticks (mut i64) (i64.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func $next (result i32)
    (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 13))))
    (global.set $x (i32.xor (global.get $x) (i32.shr_u (global.get $x) (i32.const 17))))
    (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 5))))
    (global.get $x))
  (func (export "kiln_init") (result i32)
    (local $p i32)
    (local.set $p (i32.const 65536))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (i32.const 8454144)))
      (i32.store (local.get $p) (call $next))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l)))
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
    (i32.store (i32.add (i32.const 65536) (i32.and (call $next) (i32.const 0x7ffffc))) (call $next))
    (i32.const 0)))`;

Deno.test(`snapshots survive ${ROUNDS} SIGKILLs at random moments: the store opens and the newest snapshot restores`, async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/noise.wasm`, wat(NOISE));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: crash-test }
# The noise module fills 8 MiB in kiln_init and snapshots every 0.1 s: more than the policy's defaults allow.
policy: { max_budget_us: 200000, min_snapshot_interval_s: 0.1 }
modules:
  noise:
    wasm: noise.wasm
    limits: { max_memory_mb: 16, budget_us: 200000 }
    schedule: { mode: periodic, period_us: 10000, priority: 50 }
    persistence: { snapshot: true, snapshot_interval_s: 0.1, keep: 3 }
`,
  );
  const data = `${dir}/data`;
  let killedWithSnapshots = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let newest: number | null = null;
    if (round > 0) {
      using store = openStore(`${data}/kiln.db`);
      const check = store.db.prepare("PRAGMA integrity_check").get() as { integrity_check: string };
      assert.equal(check.integrity_check, "ok", `round ${round}`);
      const all = listSnapshots(store.db, "noise");
      for (const s of all) {
        const loaded = loadSnapshot(store.db, s.id); // throws SnapshotCorruptError on a torn write
        assert.equal(loaded?.image.memoryBytes, s.memoryBytes);
      }
      newest = all[0]?.seq ?? null;
      if (newest !== null) killedWithSnapshots++;
    }
    await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", data]); // stopped even if a check fails
    const m = await getJson<{ state: string; snapshot: { restored_from: number | null } }>(
      `${kiln.base}/api/v1/modules/noise`,
    );
    assert.equal(m.state, "running", kiln.output());
    assert.equal(m.snapshot.restored_from, newest, `round ${round}: resumed from the newest snapshot`);
    // Kill somewhere in the next 150-650 ms: several snapshot writes, one of them likely under way.
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 500));
    kiln.child.kill("SIGKILL");
    await kiln.stop();
  }
  assert.ok(killedWithSnapshots >= ROUNDS - 2, `${killedWithSnapshots} rounds started with snapshots`);
});
