/**
 * Cold start with and without a snapshot, for a module with an expensive `kiln_init` (it fills its memory
 * with values that each take 64 rounds of a PRNG, standing in for a model warming up).
 *
 * - In process, per memory case (1 MiB full, 16 MiB full, 64 MiB with 4 MiB used, 64 MiB full): the
 *   module's start time through the runtime, from the start request to running, side by side: re-initialised
 *   (`kiln_init`) and resumed from its snapshot (read from SQLite, decompressed, checked, instantiated and
 *   copied in). 5 runs each, alternating.
 * - As a process (16 MiB full): from spawning `kiln run` to the module running, first without a snapshot,
 *   then resuming from the one the first run took at its graceful stop. 3 runs each.
 *
 * Run: `deno run -A bench/cold_start.ts`; writes bench/results/cold_start.json (`--in-process-only` prints
 * the in-process figures and writes nothing).
 *
 * @module
 */
import { createRuntime, type ModulePlan, Snapshotter } from "../runtime/mod.ts";
import { listSnapshots, openStore } from "../snapshots/mod.ts";
import { machine, module, plan, ROOT, watFile, writeResult } from "./_plan.ts";

const RUNS = 5;
const BENCH_TOKEN = "kiln_bench_token";
const MIB = 1 << 20;

/** A module whose init fills `usedMib` MiB (from 64 KiB) in a memory of `memoryMib` MiB. */
function expensiveInit(memoryMib: number, usedMib: number): string {
  const end = 65536 + usedMib * MIB - 65536;
  return `(module
  (memory (export "memory") ${memoryMib * 16})
  (global $heap (mut i32) (i32.const 1024))
  (global $x (mut i32) (i32.const 0x12345678))
  (global $ticks (mut i64) (i64.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_init") (result i32)
    (local $p i32) (local $r i32)
    (local.set $p (i32.const 65536))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (i32.const ${end})))
      (local.set $r (i32.const 64))
      (loop $rounds
        (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 13))))
        (global.set $x (i32.xor (global.get $x) (i32.shr_u (global.get $x) (i32.const 17))))
        (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 5))))
        (local.tee $r (i32.sub (local.get $r) (i32.const 1)))
        (br_if $rounds))
      (i32.store (local.get $p) (global.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l)))
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
    (i32.const 0)))`;
}

const CASES = [
  { memory_mib: 1, used_mib: 1 },
  { memory_mib: 16, used_mib: 16 },
  { memory_mib: 64, used_mib: 4 },
  { memory_mib: 64, used_mib: 64 },
];

function median(values: number[]): number {
  const s = values.slice().sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 100) / 100;
}

function modulePlanFor(wasm: string, memoryMib: number): ModulePlan {
  return module({
    name: "warm",
    wasm,
    maxMemoryMb: memoryMib,
    budgetUs: 2_000_000,
    schedule: { mode: "periodic", periodUs: 100_000, priority: 50 },
    persistence: { warmUpIterations: null, intervalS: null, keep: 2 },
  });
}

async function inProcess(c: (typeof CASES)[number]) {
  const wasm = await watFile(`init_${c.memory_mib}_${c.used_mib}`, expensiveInit(c.memory_mib, c.used_mib));
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-" });
  using store = openStore(`${dir}/kiln.db`);
  await using snapshots = new Snapshotter(store.path);
  const m = modulePlanFor(wasm, c.memory_mib);
  // Two runtimes over the same store: one that snapshots, one that never does (so it always runs kiln_init).
  await using withSnap = await createRuntime({
    plan: plan([], [m]),
    version: "bench",
    snapshots,
    log: () => {},
  });
  await using withoutSnap = await createRuntime({ plan: plan([], [m]), version: "bench", log: () => {} });
  await withSnap.start();
  await withoutSnap.start();
  const t = performance.now();
  const info = await withSnap.takeSnapshot("warm");
  const snapshotMs = performance.now() - t;
  const init: number[] = [];
  const restore: number[] = [];
  const read: number[] = [];
  const copy: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    withoutSnap.removeModule("warm");
    init.push((await withoutSnap.deployModule(m)).start_ms!);
    withSnap.removeModule("warm");
    const s = await withSnap.deployModule(m);
    if (s.snapshot?.restored_from !== info.seq) {
      throw new Error(`not restored: ${JSON.stringify(s.snapshot)}`);
    }
    restore.push(s.start_ms!);
    read.push(s.snapshot.read_ms!);
    copy.push(s.snapshot.restore_ms!);
  }
  return {
    ...c,
    stored_bytes: info.storedBytes,
    snapshot_ms: Math.round(snapshotMs * 100) / 100,
    without_snapshot_ms: median(init),
    with_snapshot_ms: median(restore),
    /** Of with_snapshot_ms: reading and checking the snapshot (snapshot worker), and instantiating and copying it in. */
    read_ms: median(read),
    restore_ms: median(copy),
    runs_ms: { without_snapshot: init, with_snapshot: restore, read, restore: copy },
    speedup: Math.round(median(init) / median(restore) * 10) / 10,
  };
}

/** Spawns `kiln run` and returns ms from spawn until the module is running, then stops it with SIGTERM. */
async function processStart(
  manifest: string,
  data: string,
): Promise<{ ms: number; restored: number | null }> {
  const t0 = Date.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "run", manifest, "--data", data, "--listen", "127.0.0.1:0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", KILN_ADMIN_TOKEN: BENCH_TOKEN },
    signal: AbortSignal.timeout(300_000),
  }).spawn();
  let text = "";
  const pump = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const errs = new Response(child.stderr).text();
  let base: string | null = null;
  while (!base) {
    base = /health\s+(http:\/\/\S+)\/health/.exec(text)?.[1] ?? null;
    if (!base) await new Promise((r) => setTimeout(r, 5));
    if (Date.now() - t0 > 60_000) throw new Error(`kiln did not start: ${text}`);
  }
  const m = await (await fetch(`${base}/api/v1/modules/warm`, {
    headers: { authorization: `Bearer ${BENCH_TOKEN}` },
  })).json();
  child.kill("SIGTERM");
  await child.status;
  await pump;
  await errs;
  return { ms: Date.parse(m.started_at) - t0, restored: m.snapshot.restored_from };
}

async function asProcess() {
  const c = { memory_mib: 16, used_mib: 16 };
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-" });
  const wasm = await watFile("init_process", expensiveInit(c.memory_mib, c.used_mib));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: bench }
# A 2 s budget (a 20 s init budget) for an init that fills 16 MiB: more than the policy's defaults allow.
policy: { max_budget_us: 2000000, max_init_budget_us: 20000000 }
modules:
  warm:
    wasm: ${wasm}
    limits: { max_memory_mb: ${c.memory_mib}, budget_us: 2000000 }
    schedule: { mode: periodic, period_us: 100000, priority: 50 }
    persistence: { snapshot: true }
`,
  );
  const without: number[] = [];
  const withSnap: number[] = [];
  for (let i = 0; i < 3; i++) {
    const data = `${dir}/data${i}`;
    const cold = await processStart(`${dir}/kiln.yaml`, data);
    if (cold.restored !== null) throw new Error("a fresh data directory restored a snapshot");
    without.push(cold.ms);
    {
      using store = openStore(`${data}/kiln.db`);
      if (listSnapshots(store.db, "warm").length !== 1) throw new Error("no stop snapshot was taken");
    }
    const warm = await processStart(`${dir}/kiln.yaml`, data);
    if (warm.restored === null) throw new Error("the second start did not restore");
    withSnap.push(warm.ms);
  }
  return {
    ...c,
    without_snapshot_ms: median(without),
    with_snapshot_ms: median(withSnap),
    runs_ms: { without_snapshot: without, with_snapshot: withSnap },
  };
}

const inProcessResults = [];
for (const c of CASES) inProcessResults.push(await inProcess(c));
if (Deno.args.includes("--in-process-only")) {
  console.log(JSON.stringify(inProcessResults.map(({ runs_ms: _, ...r }) => r), null, 2));
  Deno.exit(0);
}
const process = await asProcess();

await writeResult("cold_start", {
  machine: await machine(),
  method: "A module whose kiln_init fills its memory with values of 64 PRNG rounds each. " +
    "in_process: the module's start_ms through the runtime (start request to running), median of " +
    `${RUNS} alternating runs, re-initialised vs resumed from its snapshot (read, decompress, check, copy). ` +
    "process: spawning `deno run main.ts run` until the module is running (its started_at), median of 3.",
  in_process: inProcessResults,
  process,
});
console.log(
  JSON.stringify({ in_process: inProcessResults.map(({ runs_ms: _, ...r }) => r), process }, null, 2),
);
