/**
 * Deployment plans for the benchmarks, built directly (no manifest), from the example modules.
 *
 * @module
 */
import createWabt from "wabt";
import type { DeploymentPlan, ModulePlan, SimSensorPlan, ThreadCpus } from "../runtime/mod.ts";

/** The repository root, as a path. */
export const ROOT = new URL("../", import.meta.url).pathname;

/**
 * The thread layout the tracked real-time rows use, and `examples/plant.yaml` recommends (`scheduling.cpus`):
 * every Kiln thread on CPU 1, so that a channel record (from the `normal` executor) and an event (from the
 * runtime's thread) both wake the SCHED_FIFO `realtime` executor on their own CPU. CPU 0 keeps V8's and
 * tokio's helper threads, the OS and other processes.
 */
export const ONE_CPU: ThreadCpus = { runtime: [1], realtime: [1], normal: [1] };

/**
 * The layout compared with it: both executors on CPU 1, the runtime's thread on CPU 0. A channel record
 * still wakes its reader locally, but an event crosses CPUs.
 */
export const SPLIT: ThreadCpus = { runtime: [0], realtime: [1], normal: [1] };

const wabt = await createWabt();

/** Assembles WAT into a file in a temporary directory and returns its path. */
export async function watFile(name: string, source: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-" });
  const path = `${dir}/${name}.wasm`;
  await Deno.writeFile(path, wabt.parseWat(`${name}.wat`, source).toBinary({}).buffer);
  return path;
}

/** A module plan with benchmark defaults (never restarted, generous budgets). */
export function module(
  over: Partial<ModulePlan> & Pick<ModulePlan, "name" | "wasm" | "schedule">,
): ModulePlan {
  return {
    sha256: null,
    maxMemoryMb: 4,
    budgetUs: 20_000,
    fuel: null,
    capabilities: [],
    inputs: [],
    actuators: [],
    params: {},
    data: [],
    restart: { policy: "never", maxRestarts: 0, backoffMs: 100, maxBackoffMs: 100 },
    persistence: null,
    enabled: true,
    ...over,
  };
}

/** The FFT and anomaly modules on one vibration sensor, both from raw samples. */
export function vibrationPipeline(sensor: string): ModulePlan[] {
  return [
    module({
      name: `fft_${sensor}`,
      wasm: `${ROOT}modules/fft/fft.wasm`,
      schedule: { mode: "stream", source: `sim:${sensor}`, window: 1024, hop: 512, priority: 50 },
      capabilities: [`read:sim:${sensor}`, "write:channel:unused"],
    }),
    module({
      name: `anomaly_${sensor}`,
      wasm: `${ROOT}modules/anomaly/anomaly.wasm`,
      schedule: { mode: "stream", source: `sim:${sensor}`, window: 1024, hop: 1024, priority: 50 },
      capabilities: [`read:sim:${sensor}`],
      data: [{ name: "weights", path: `${ROOT}modules/anomaly/weights.bin`, sha256: null }],
    }),
  ];
}

/** A plan over the given sensors and modules. */
export function plan(sim: SimSensorPlan[], modules: ModulePlan[]): DeploymentPlan {
  return {
    device: { id: "bench", location: null },
    policy: ["read:*:*", "write:*:*"],
    sim,
    modbus: [],
    mqtt: null,
    opcua: [],
    modules,
    channels: [],
    listen: "127.0.0.1:0",
    metricsPublic: false,
    tls: null,
  };
}

/** p50, p99, p99.9 and max of some values, rounded to `digits` decimals (0.1 by default). */
export function distribution(
  values: readonly number[],
  digits = 1,
): { p50: number; p99: number; p999: number; max: number; n: number } {
  const s = values.toSorted((a, b) => a - b);
  const scale = 10 ** digits;
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * scale) / scale;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1), n: s.length };
}

/**
 * Runs every configuration once per round for `rounds` rounds, the order rotating each round, so that a
 * change in the host's load over the run hits every configuration alike. Returns each one's results in order.
 */
export async function inRounds<K extends string, R>(
  rounds: number,
  configs: Record<K, () => Promise<R>>,
): Promise<Record<K, R[]>> {
  const names = Object.keys(configs) as K[];
  const out = Object.fromEntries(names.map((n) => [n, [] as R[]])) as Record<K, R[]>;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length]!;
      out[name].push(await configs[name]());
    }
  }
  return out;
}

/**
 * Percentiles of several rounds as one: p50 and p99 are the median over the rounds of each round's (a round
 * the host stalled does not decide them), p99.9 and max the worst round's.
 */
export function acrossRounds<D extends { p50: number; p99: number; p999?: number; max: number }>(
  rounds: readonly (D | null)[],
): { p50: number; p99: number; p999?: number; max: number; rounds: D[] } | null {
  const ds = rounds.filter((d): d is D => d !== null);
  if (ds.length === 0) return null;
  const median = (xs: number[]) => {
    const s = xs.toSorted((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const p999 = ds.every((d) => d.p999 !== undefined) ? Math.max(...ds.map((d) => d.p999!)) : undefined;
  return {
    p50: median(ds.map((d) => d.p50)),
    p99: median(ds.map((d) => d.p99)),
    ...(p999 !== undefined && { p999 }),
    max: Math.max(...ds.map((d) => d.max)),
    rounds: ds,
  };
}

/** The machine the results were measured on. */
export async function machine(): Promise<Record<string, unknown>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKb = Number(/MemTotal:\s*(\d+)/.exec(meminfo)?.[1] ?? NaN);
  return {
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    arch: Deno.build.arch,
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    memory_mib: Number.isFinite(memKb) ? Math.round(memKb / 1024) : null,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date: new Date().toISOString(),
  };
}

/** Writes `bench/results/<name>.json`. */
export async function writeResult(name: string, result: unknown): Promise<void> {
  await Deno.mkdir(new URL("results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    new URL(`results/${name}.json`, import.meta.url),
    JSON.stringify(result, null, 2) + "\n",
  );
}
