/**
 * Cold start with and without a snapshot, for a module with an expensive `kiln_init` (it fills its memory
 * with values that each take 64 rounds of a PRNG, standing in for a model warming up).
 *
 * - In process, per memory case (1 MiB full, 16 MiB full, 64 MiB with 4 MiB used, 64 MiB full): the
 *   module's start time through the runtime, from the start request to running, side by side: re-initialised
 *   (`kiln_init`) and resumed from its snapshot (read from SQLite, decompressed, checked, instantiated and
 *   copied in). 9 runs each, alternating. And pages that are mostly zero: read back as stored (their
 *   non-zero runs) against zstd-decoded ({@linkcode pageCodecs}).
 * - As a process (16 MiB full): from spawning `kiln run` to the module running, first without a snapshot,
 *   then resuming from the one the first run took at its graceful stop. 3 runs each.
 * - The floor and the demo as a process (see {@linkcode floor} and {@linkcode demoStarts}): spawn to the
 *   first processed window of a stream module, with and without its snapshot, phase by phase from the
 *   startup trace (`KILN_STARTUP_MARKS`, `runtime/_startup_marks.ts`), against a bare `deno run`.
 *
 * Run: `deno run -A bench/cold_start.ts`; writes bench/results/cold_start.json (`--in-process-only` prints
 * the in-process figures and writes nothing; `--trace-only` the floor and the demo's phases).
 *
 * @module
 */
import { createRuntime, type ModulePlan, Snapshotter } from "../runtime/mod.ts";
import zlib from "node:zlib";
import { listSnapshots, loadSnapshot, openStore, saveSnapshot } from "../snapshots/mod.ts";
import { machine, module, plan, ROOT, watFile, writeResult } from "./_plan.ts";
import { npmImportsOf, startupPhases, traceProcess } from "./_kiln_process.ts";
import { denoTask } from "../tests/_process.ts";

const RUNS = 9;
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
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-" });
  try {
    return await inProcessIn(dir, c);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function inProcessIn(dir: string, c: (typeof CASES)[number]) {
  const wasm = await watFile(`init_${c.memory_mib}_${c.used_mib}`, expensiveInit(c.memory_mib, c.used_mib));
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
    if (Date.now() - t0 > 60_000) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`kiln did not start: ${text}`);
    }
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
  await Deno.remove(dir, { recursive: true });
  return {
    ...c,
    without_snapshot_ms: median(without),
    with_snapshot_ms: median(withSnap),
    runs_ms: { without_snapshot: without, with_snapshot: withSnap },
  };
}

/** Runs of each process measurement; `KILN_BENCH_PROCESS_RUNS` overrides it (a quick look). */
const PROCESS_RUNS = Number(Deno.env.get("KILN_BENCH_PROCESS_RUNS") ?? 7);

function percentile(values: number[], q: number): number {
  const s = values.slice().sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))]! * 100) / 100;
}

const dist = (values: number[]) => ({
  p50: percentile(values, 0.5),
  p90: percentile(values, 0.9),
  runs: values,
});

/**
 * The floor: a bare `deno run` of an empty script, and of one that only imports what `main.ts` imports from
 * npm; each prints one mark when its code runs. ms from spawning to that mark.
 */
async function floor(dir: string) {
  const ready = 'const o = Number(Deno.env.get("KILN_STARTUP_MARKS"));\n' +
    "console.error(`@@mark process_start ${(performance.timeOrigin - o).toFixed(2)} ${Deno.pid}\\n` +\n" +
    "  `@@mark ready ${(performance.timeOrigin + performance.now() - o).toFixed(2)} ${Deno.pid}`);\n";
  const all = await npmImportsOf({ dynamic: true });
  const atStart = await npmImportsOf({ dynamic: false });
  await Deno.writeTextFile(`${dir}/empty.ts`, ready);
  await Deno.writeTextFile(`${dir}/deps.ts`, all.map((i) => `import "${i}";\n`).join("") + ready);
  await Deno.writeTextFile(`${dir}/static.ts`, atStart.map((i) => `import "${i}";\n`).join("") + ready);
  const run = async (file: string) => {
    const t = await traceProcess(["run", "-A", "--config", `${ROOT}deno.json`, file], {
      until: (marks) => marks.some((m) => m.name === "ready"),
      timeoutMs: 60_000,
    });
    const at = (name: string) => {
      const m = t.marks.find((m) => m.name === name);
      if (!m) throw new Error(`deno run ${file} printed no ${name} mark:\n${t.stderr}`);
      return m.atMs;
    };
    return { ready: at("ready"), processStart: at("process_start") };
  };
  const empty: number[] = [], deps: number[] = [], statics: number[] = [], emptyStart: number[] = [];
  for (let i = 0; i < PROCESS_RUNS; i++) {
    const e = await run(`${dir}/empty.ts`);
    empty.push(e.ready);
    emptyStart.push(e.processStart);
    deps.push((await run(`${dir}/deps.ts`)).ready);
    statics.push((await run(`${dir}/static.ts`)).ready);
  }
  return {
    npm_imports: all,
    npm_static_imports: atStart,
    /** Spawn until the empty script's first line runs; of which, spawn until V8's time origin. */
    empty_script_ms: dist(empty),
    empty_process_start_ms: dist(emptyStart),
    /** Every npm package main.ts may load, static or dynamic (Kiln's dependencies): the floor the target names. */
    npm_imports_ms: dist(deps),
    /** Only those main.ts imports statically (with lazy loading, what every start pays). */
    npm_static_imports_ms: dist(statics),
  };
}

/** The demo manifest with absolute paths, and `fft` (a stream module) snapshotted as `anomaly` is. */
async function demoManifest(dir: string): Promise<string> {
  const text = (await Deno.readTextFile(`${ROOT}examples/demo.yaml`))
    .replaceAll("../modules/", `${ROOT}modules/`)
    .replace(
      "      window: 1024\n      hop: 512\n",
      "      window: 1024\n      hop: 512\n    persistence: { snapshot: true }\n",
    );
  if (!text.includes("persistence: { snapshot: true }")) throw new Error("examples/demo.yaml changed shape");
  await Deno.writeTextFile(`${dir}/demo.yaml`, text);
  return `${dir}/demo.yaml`;
}

/**
 * `kiln run` of the demo, traced: a fresh data directory (every module runs kiln_init), stopped once fft
 * and anomaly have produced outputs (their stop snapshots are taken), then started again on it (both resume).
 */
/**
 * The demo's starts from `entry`: the source tree's `main.ts`, or the bundle `dist/kiln.js` (what the
 * one-file package runs: `deno task package`).
 */
async function demoStarts(dir: string, entry = `${ROOT}main.ts`) {
  const manifest = await demoManifest(dir);
  const runs: { without: ReturnType<typeof startupPhases>[]; with: ReturnType<typeof startupPhases>[] } = {
    without: [],
    with: [],
  };
  const start = async (data: string, restored: boolean) => {
    const t = await traceProcess(
      ["run", "-A", entry, "run", manifest, "--data", data, "--listen", "127.0.0.1:0"],
      {
        until: (m) => ["first_output:fft", "first_output:anomaly"].every((n) => m.some((x) => x.name === n)),
        stdoutLine: /health\s+http:\/\/\S+\/health/,
        env: { KILN_ADMIN_TOKEN: BENCH_TOKEN },
        timeoutMs: 60_000,
      },
    );
    const didRestore = t.marks.some((m) => m.name === "instantiate_restore:fft");
    if (didRestore !== restored) {
      throw new Error(`fft ${restored ? "did not resume" : "resumed"} from a snapshot:\n${t.stdout}`);
    }
    return startupPhases(t.marks, t.stdoutLineMs);
  };
  for (let i = 0; i < PROCESS_RUNS; i++) {
    const data = `${dir}/demo-data${i}`;
    runs.without.push(await start(data, false));
    runs.with.push(await start(data, true));
    await Deno.remove(data, { recursive: true });
  }
  const summary = (list: ReturnType<typeof startupPhases>[]) => {
    const keys = Object.keys(list[0]!) as (keyof ReturnType<typeof startupPhases>)[];
    // A phase the trace lacks in some run (no relaunch, no uplink) is left out.
    return Object.fromEntries(keys.flatMap((k) => {
      const values = list.map((p) => p[k]).filter((v): v is number => v !== null);
      return values.length === list.length ? [[k, dist(values)]] : [];
    })) as Partial<Record<keyof ReturnType<typeof startupPhases>, ReturnType<typeof dist>>>;
  };
  return { without_snapshot: summary(runs.without), with_snapshot: summary(runs.with) };
}

if (Deno.args.includes("--trace-only")) {
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-cold-" });
  const f = await floor(dir);
  const d = await demoStarts(dir);
  await Deno.remove(dir, { recursive: true });
  const p50 = (o: Record<string, { p50: number } | null>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v?.p50 ?? null]));
  console.log(JSON.stringify(
    {
      floor: {
        empty: f.empty_script_ms.p50,
        npm_imports: f.npm_imports_ms.p50,
        npm_static_imports: f.npm_static_imports_ms.p50,
      },
      without_snapshot: p50(d.without_snapshot),
      with_snapshot: p50(d.with_snapshot),
    },
    null,
    2,
  ));
  Deno.exit(0);
}
/**
 * Pages that are mostly zero (3000 bytes of data each, as a heap with a few objects): reading 256 of them
 * back (SQLite, decode, CRC) as stored today (their non-zero runs), against decoding the same pages from
 * zstd (the codec they had before), the SQLite read left out of the latter.
 */
function pageCodecs() {
  const P = 65536, N = 256;
  const pages = Array.from({ length: N }, (_, k) => {
    const p = new Uint8Array(P);
    for (let i = 0; i < 3000; i++) p[(k * 1024) % 60000 + i] = ((i * 31 + k) & 0xff) | 1;
    return p;
  });
  const dir = Deno.makeTempDirSync({ prefix: "kiln-bench-codec-" });
  const key = { moduleSha256: "a".repeat(64), abiVersion: 1, configSha256: "b".repeat(64) };
  const time = (f: () => unknown) => {
    const runs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      f();
      runs.push(performance.now() - t);
    }
    return median(runs);
  };
  try {
    using store = openStore(`${dir}/kiln.db`);
    const image = {
      memoryBytes: P * N,
      index: Uint32Array.from(pages.keys()),
      pages,
      state: new Uint8Array(),
    };
    const info = saveSnapshot(store.db, "m", { key, reason: "demand", image, keep: 1 });
    store.db.exec("PRAGMA mmap_size = 1073741824"); // as the snapshot worker reads
    const zstd = pages.map((p) =>
      zlib.zstdCompressSync(p, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } })
    );
    return {
      pages: N,
      runs_stored_bytes: info.storedBytes,
      zstd_stored_bytes: zstd.reduce((n, z) => n + z.length, 0),
      runs_read_ms: time(() => loadSnapshot(store.db, info.id)),
      zstd_decode_only_ms: time(() => zstd.forEach((z) => zlib.crc32(zlib.zstdDecompressSync(z)))),
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const inProcessResults = [];
for (const c of CASES) inProcessResults.push(await inProcess(c));
if (Deno.args.includes("--in-process-only")) {
  console.log(JSON.stringify(inProcessResults.map(({ runs_ms: _, ...r }) => r), null, 2));
  console.log(JSON.stringify({ page_codecs: pageCodecs() }, null, 2));
  Deno.exit(0);
}
const scratch = await Deno.makeTempDir({ prefix: "kiln-bench-cold-" });
const floorResult = await floor(scratch);
const demo = await demoStarts(scratch);
const bundled = await denoTask("bundle");
if (bundled.code !== 0) throw new Error(`deno task bundle exited with ${bundled.code}:\n${bundled.output}`);
const bundleDemo = await demoStarts(scratch, `${ROOT}dist/kiln.js`);
const process = await asProcess();
await Deno.remove(scratch, { recursive: true });
const floorMs = floorResult.npm_imports_ms.p50;
const firstWindow = (k: "with_snapshot" | "without_snapshot", d = demo) => d[k].fft_first_output;
const ratio = (
  d: { p50: number } | null | undefined,
) => (d ? Math.round((d.p50 / floorMs) * 100) / 100 : null);

await writeResult("cold_start", {
  machine: await machine(),
  method: "A module whose kiln_init fills its memory with values of 64 PRNG rounds each. " +
    "in_process: the module's start_ms through the runtime (start request to running), median of " +
    `${RUNS} alternating runs, re-initialised vs resumed from its snapshot (read, decompress, check, copy). ` +
    "process: spawning `deno run main.ts run` until the module is running (its started_at), median of 3. " +
    "floor: spawning `deno run` of an empty script, and of one importing every npm package main.ts may " +
    "load (static and dynamic imports; and the static ones alone), until " +
    `its code runs (${PROCESS_RUNS} runs). demo: spawning \`deno run -A main.ts run\` of examples/demo.yaml ` +
    "(fft snapshotted too) with KILN_STARTUP_MARKS, until fft's and anomaly's first outputs; phases from " +
    `the startup trace (runtime/_startup_marks.ts), ${PROCESS_RUNS} fresh starts and ${PROCESS_RUNS} resumed. ` +
    "bundle_demo: the same from dist/kiln.js (deno task bundle, run first), the one-file package's entry. " +
    `page_codecs: 256 pages of 3000 bytes each, read back as stored (runs) vs zstd-decoded, median of ${RUNS}.`,
  in_process: inProcessResults,
  page_codecs: pageCodecs(),
  process,
  floor: floorResult,
  demo,
  /** The same starts from the bundle, `dist/kiln.js` (the one-file package's entry). */
  bundle_demo: bundleDemo,
  /** Spawn to fft's first processed window, p50, over the floor with npm imports. */
  first_window_to_floor_ratio: {
    with_snapshot: ratio(firstWindow("with_snapshot")),
    without_snapshot: ratio(firstWindow("without_snapshot")),
    bundle_with_snapshot: ratio(firstWindow("with_snapshot", bundleDemo)),
    bundle_without_snapshot: ratio(firstWindow("without_snapshot", bundleDemo)),
  },
});
console.log(
  JSON.stringify(
    {
      in_process: inProcessResults.map(({ runs_ms: _, ...r }) => r),
      process,
      floor: {
        empty: floorResult.empty_script_ms.p50,
        npm_imports: floorMs,
        npm_static_imports: floorResult.npm_static_imports_ms.p50,
      },
      demo_p50: Object.fromEntries(
        (["without_snapshot", "with_snapshot"] as const).map((k) => [
          k,
          Object.fromEntries(Object.entries(demo[k]).map(([p, d]) => [p, d?.p50 ?? null])),
        ]),
      ),
      bundle_first_window_p50: {
        with_snapshot: firstWindow("with_snapshot", bundleDemo)?.p50 ?? null,
        without_snapshot: firstWindow("without_snapshot", bundleDemo)?.p50 ?? null,
      },
    },
    null,
    2,
  ),
);
