/**
 * Isolation and how cost grows with the number of modules, each point in a fresh process:
 *
 * - idle: 0, 1, 10, 50 and 100 modules that tick once a second; the process's resident memory (after a
 *   garbage collection of the main isolate, median of 5 readings over 1 s). The overhead per module is what
 *   the process holds beyond the modules' linear memory, over the process with no module:
 *   `(rss(N) - rss(0) - N * linear) / N`, N = 100; the marginal figure is the same between 10 and 100 modules,
 *   when both executors already run.
 * - active: 1, 10, 50 and 100 modules ticking at 200 Hz, each tick a ~15 us loop; the process's CPU use (all
 *   threads, % of one core) and each module's worst tick lateness (jitter) over the run.
 *
 * Each module is a distinct binary (a constant differs), so V8 cannot share one compiled module between them.
 *
 * Run: `deno run -A bench/isolation.ts [--seconds N]`; writes bench/results/isolation.json.
 *
 * @module
 */
import process from "node:process";
import { createRuntime, type ModulePlan } from "../runtime/mod.ts";
import { machine, module, plan, watFile, writeResult } from "./_plan.ts";

const arg = (name: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const SECONDS = Number(arg("--seconds") ?? 5);
const SETTLE_MS = 2000;
const IDLE_COUNTS = [0, 1, 10, 50, 100];
const ACTIVE_COUNTS = [1, 10, 50, 100];
/** 200 Hz: the runtime keeps lateness over a module's last 1024 ticks, 5.1 s, about the measured span. */
const ACTIVE_PERIOD_US = 5_000;
const IDLE_PERIOD_US = 1_000_000;
/** Rounds of a xorshift per tick of an active module: about 15 us. */
const WORK_ROUNDS = 2_000;

/** A periodic module: `rounds` of work per tick; `id` makes each binary distinct. */
function tickWat(id: number, rounds: number): string {
  return `(module
  (memory (export "memory") 1)
  (global $x (mut i32) (i32.const ${0x9e3779b9 ^ id}))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (local $n i32)
    (local.set $n (i32.const ${rounds}))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 13))))
      (global.set $x (i32.xor (global.get $x) (i32.shr_u (global.get $x) (i32.const 17))))
      (global.set $x (i32.xor (global.get $x) (i32.shl (global.get $x) (i32.const 5))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (i32.const 0)))`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1]!;

/** Resident memory of this process in bytes: the median of 5 readings over a second, after a GC. */
async function rssBytes(): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(200);
    readings.push(Deno.memoryUsage().rss);
  }
  return median(readings);
}

interface Point {
  kind: "idle" | "active";
  modules: number;
  rss_bytes: number;
  linear_memory_bytes: number;
  cpu_percent: number;
  /** Per module, the worst tick lateness over the run, ms. */
  max_jitter_ms: number[];
  lateness_p99_us: number[];
  deadline_misses: number;
  states: string[];
  errors: string[];
}

/** One point, in this (child) process. */
async function child(kind: "idle" | "active", count: number): Promise<Point> {
  const modules: ModulePlan[] = [];
  for (let i = 0; i < count; i++) {
    modules.push(module({
      name: `m${i}`,
      wasm: await watFile(`tick_${i}`, tickWat(i, kind === "active" ? WORK_ROUNDS : 0)),
      schedule: {
        mode: "periodic",
        periodUs: kind === "active" ? ACTIVE_PERIOD_US : IDLE_PERIOD_US,
        priority: 50,
      },
      maxMemoryMb: 1,
      // Generous: this measures jitter, and a wall-clock budget can interrupt a tick whose thread lost its core.
      budgetUs: 100_000,
    }));
  }
  await using rt = await createRuntime({ plan: plan([], modules), version: "bench", log: () => {} });
  await rt.start();
  await sleep(SETTLE_MS); // executors started, lazily compiled code in place
  const misses0 = rt.listModules().reduce((a, m) => a + m.deadline_misses, 0);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rss = await rssBytes();
  if (kind === "active") await sleep(SECONDS * 1000 - (performance.now() - t0));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const list = rt.listModules();
  return {
    kind,
    modules: count,
    rss_bytes: rss,
    linear_memory_bytes: list.reduce((a, m) => a + m.memory_bytes, 0),
    cpu_percent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 1000) / 10,
    max_jitter_ms: list.map((m) => Math.round((m.lateness_us?.max ?? 0) / 10) / 100),
    lateness_p99_us: list.map((m) => m.lateness_us?.p99 ?? 0),
    deadline_misses: list.reduce((a, m) => a + m.deadline_misses, 0) - misses0,
    states: [...new Set(list.map((m) => m.state))],
    errors: [...new Set(list.flatMap((m) => (m.last_error ? [m.last_error] : [])))],
  };
}

/** Runs one point in a fresh process (with `gc` exposed), returning its JSON. */
async function spawnPoint(kind: "idle" | "active", count: number): Promise<Point> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--child",
      kind,
      "--modules",
      String(count),
      "--seconds",
      String(SECONDS),
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(SECONDS * 1000 + 300_000),
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  if (code !== 0) {
    throw new Error(
      `isolation child (${kind}, ${count}) exited with ${code}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return JSON.parse(text.slice(text.lastIndexOf("\n") + 1)) as Point;
}

const childKind = arg("--child");
if (childKind === "idle" || childKind === "active") {
  console.log(JSON.stringify(await child(childKind, Number(arg("--modules")))));
  Deno.exit(0);
}

const idle: Point[] = [];
for (const n of IDLE_COUNTS) idle.push(await spawnPoint("idle", n));
const active: Point[] = [];
for (const n of ACTIVE_COUNTS) active.push(await spawnPoint("active", n));

const base = idle.find((p) => p.modules === 0)!;
const kb = (bytes: number) => Math.round(bytes / 1024 * 10) / 10;
/** Resident bytes per module beyond its linear memory, between two idle points. */
const perModule = (from: Point, to: Point) =>
  kb(
    (to.rss_bytes - from.rss_bytes - (to.linear_memory_bytes - from.linear_memory_bytes)) /
      (to.modules - from.modules),
  );
const at = (points: Point[], n: number) => points.find((p) => p.modules === n)!;
const ten = at(active, 10);
const report = {
  machine: await machine(),
  method: `each point in a fresh process; idle modules tick once a second (WAT, 1 page of linear memory, a ` +
    `distinct binary each); rss = Deno.memoryUsage().rss after gc() of the main isolate, median of 5 readings ` +
    `over 1 s, ${SETTLE_MS / 1000} s after start; active modules tick at ${
      1e6 / ACTIVE_PERIOD_US
    } Hz with ${WORK_ROUNDS} ` +
    `xorshift rounds per tick, measured for ${SECONDS} s; cpu_percent is the whole process (all threads) as a ` +
    `percentage of one core; jitter is each module's worst tick lateness (the runtime's lateness_us.max, over ` +
    `its last 1024 ticks, about the measured span); deadline_misses counted over the measured span`,
  concurrent_modules: {
    modules: 10,
    cpu_percent: ten.cpu_percent,
    max_jitter_ms: ten.max_jitter_ms,
    deadline_misses: ten.deadline_misses,
  },
  overhead_per_module_kb: perModule(base, at(idle, 100)),
  marginal_overhead_per_module_kb: perModule(at(idle, 10), at(idle, 100)),
  idle: idle.map((p) => ({
    modules: p.modules,
    rss_bytes: p.rss_bytes,
    linear_memory_bytes: p.linear_memory_bytes,
    overhead_per_module_kb: p.modules > 0 ? perModule(base, p) : null,
  })),
  active: active.map((p) => ({
    modules: p.modules,
    rss_bytes: p.rss_bytes,
    cpu_percent: p.cpu_percent,
    max_jitter_ms: Math.max(...p.max_jitter_ms),
    lateness_p99_us_worst: Math.max(...p.lateness_p99_us),
    deadline_misses: p.deadline_misses,
    states: p.states,
    errors: p.errors,
  })),
};
await writeResult("isolation", report);
console.log(JSON.stringify(report, null, 2));
