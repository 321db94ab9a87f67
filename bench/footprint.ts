/**
 * Resident memory of the whole gateway (issue #20): `kiln run` started as a supervisor starts it (the
 * launcher, which execs into its narrowed self), every process of its tree summed (VmRSS), once its modules
 * run and it has settled. Four configurations, in rotating order over the rounds: the demo manifest; a
 * manifest with no module; the same with 10 and with 50 idle modules (periodic every 10 s, doing nothing, one
 * 64 KiB page each): the cost of one more idle module from 0 (with the first executor they start) and from 10
 * (over 40 more, so that a module's share stands out of the few MiB the tree's memory varies by).
 *
 * Run: `deno run -A bench/footprint.ts [--rounds N]`; writes bench/results/footprint.json.
 *
 * @module
 */
import { startKiln } from "./_kiln_process.ts";
import { distribution, inRounds, machine, ROOT, writeResult } from "./_plan.ts";
import { wat } from "../tests/_helpers.ts";

const ROUNDS = Number(Deno.args[Deno.args.indexOf("--rounds") + 1] || 3);
const TOKEN = "kiln_bench_footprint_token_0123456789";
/** How long a started gateway runs before it is measured, ms: its first reports, snapshots and GCs. */
const SETTLE_MS = 4_000;
const IDLE_MODULES = 10;
/** The idle modules the second step adds to the first {@linkcode IDLE_MODULES}. */
const MORE_IDLE_MODULES = 40;

/** A module that does nothing every 10 s: the smallest module a plant would run. */
const IDLE_WAT = `(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32) (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

async function writeManifests(dir: string): Promise<Record<string, { file: string; modules: number }>> {
  await Deno.writeFile(`${dir}/idle.wasm`, wat(IDLE_WAT));
  const manifest = (n: number) => {
    const modules = Array.from(
      { length: n },
      (_, i) =>
        `  idle_${i}:\n    wasm: idle.wasm\n    limits: { max_memory_mb: 1 }\n` +
        `    schedule: { mode: periodic, period_us: 10000000 }\n`,
    ).join("");
    // The default policy allows 32 modules; these are idle and ask for nothing.
    return `version: 1\ndevice: { id: gw-footprint }\npolicy: { allow: [], max_modules: 64 }\n` +
      `modules:${n === 0 ? " {}" : ""}\n${modules}`;
  };
  await Deno.writeTextFile(`${dir}/empty.yaml`, manifest(0));
  await Deno.writeTextFile(`${dir}/idle.yaml`, manifest(IDLE_MODULES));
  await Deno.writeTextFile(`${dir}/idle50.yaml`, manifest(IDLE_MODULES + MORE_IDLE_MODULES));
  return {
    demo: { file: `${ROOT}examples/demo.yaml`, modules: 5 },
    empty: { file: `${dir}/empty.yaml`, modules: 0 },
    idle: { file: `${dir}/idle.yaml`, modules: IDLE_MODULES },
    idle50: { file: `${dir}/idle50.yaml`, modules: IDLE_MODULES + MORE_IDLE_MODULES },
  };
}

/** VmRSS of `pid` and every descendant, KiB. */
function treeRssKib(pid: number): { kib: number; processes: number } {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry.name)]);
    } catch { /* exited */ }
  }
  let kib = 0, processes = 0;
  const walk = (p: number) => {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${p}/status`))?.[1] ?? 0);
      processes++;
    } catch { /* exited */ }
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return { kib, processes };
}

async function measure(file: string, modules: number): Promise<{ mib: number; processes: number }> {
  await using kiln = await startKiln(file, { token: TOKEN, timeoutMs: 60_000, lifetimeMs: 120_000 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const health = await fetch(`${kiln.base}/health`).then((r) => r.json()) as {
      modules: { running: number };
    };
    if (health.modules.running === modules) break;
    if (Date.now() > deadline) throw new Error(`${file}: ${JSON.stringify(health)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const { kib, processes } = treeRssKib(kiln.pid);
  return { mib: Math.round((kib / 1024) * 10) / 10, processes };
}

const dir = await Deno.makeTempDir({ prefix: "kiln-footprint-" });
try {
  const configs = await writeManifests(dir);
  const measured = await inRounds(ROUNDS, {
    demo: () => measure(configs.demo!.file, configs.demo!.modules),
    empty: () => measure(configs.empty!.file, configs.empty!.modules),
    idle: () => measure(configs.idle!.file, configs.idle!.modules),
    idle50: () => measure(configs.idle50!.file, configs.idle50!.modules),
  });
  const samples = {
    demo: measured.demo.map((m) => m.mib),
    empty: measured.empty.map((m) => m.mib),
    idle: measured.idle.map((m) => m.mib),
    idle50: measured.idle50.map((m) => m.mib),
  };
  const processes = Math.max(...Object.values(measured).flat().map((m) => m.processes));
  const p50 = (xs: number[]) => distribution(xs, 1).p50;
  const perModuleKib = (from: number[], to: number[], added: number) =>
    Math.round(((p50(to) - p50(from)) * 1024) / added);
  const result = {
    machine: await machine(),
    method: `kiln run as deno task start runs it (the launcher execs into its narrowed self), the VmRSS of ` +
      `its process tree ${
        SETTLE_MS / 1000
      } s after every module runs; ${ROUNDS} rounds in rotating order, p50`,
    processes_count: processes,
    demo_rss_mib: p50(samples.demo),
    empty_rss_mib: p50(samples.empty),
    idle_10_rss_mib: p50(samples.idle),
    idle_50_rss_mib: p50(samples.idle50),
    /** The 10 modules from none: includes the first executor (a worker) they start. */
    per_idle_module_from_0_kib: perModuleKib(samples.empty, samples.idle, IDLE_MODULES),
    per_idle_module_from_10_kib: perModuleKib(samples.idle, samples.idle50, MORE_IDLE_MODULES),
    samples_mib: samples,
    target: "demo <= 96 MB; <= 128 KiB per additional idle module",
  };
  await writeResult("footprint", result);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await Deno.remove(dir, { recursive: true });
}
