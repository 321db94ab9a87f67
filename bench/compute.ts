/**
 * Kiln modules against native code built from the same C source, side by side in one run.
 *
 * - `fft1024_q15` (modules/fft) and `autoencoder_int8` (modules/anomaly): `kiln_on_samples` on a 1024-sample
 *   window, run as a Kiln module through the real invocation path (the module loaded by `loadModule`:
 *   verified, memory-capped, instrumented with the interrupt checks that enforce budgets, compiled; then
 *   instantiated and invoked by `ModuleInstance`, the class the executor worker runs each module in, timed
 *   around `pushSamples` of one window, so the window's copy into linear memory and the runtime's accounting
 *   are in), against the module's own C files built with the machine's gcc -O2 and linked with stub host
 *   imports (bench/native/kiln_host_stubs.c) in bench/native/module_bench.c. The kernels alone
 *   (`fft_q15_1024`, `ae_score`) are timed too, as exports of the same instrumented module called directly.
 *   Before timing, both run the same 16 windows from `kiln_init` and every output (scalars, the spectrum
 *   array, the anomaly score) and the kernels' results must be bit-identical, or the benchmark fails.
 * - `matmul_f32`: bench/native/matmul_f32.c (512 x 512, i-k-j) built with clang-19 --target=wasm32 -O2
 *   -msimd128 and run in Deno's V8, plain and with Kiln's interrupt-check instrumentation, against gcc -O2;
 *   the result matrices must hash the same.
 *
 * Rounds alternate which side goes first; the native side runs in a fresh process per round (warmed up in
 * it); the whole benchmark runs pinned to one CPU (taskset), so both sides run on the same one. The ratio
 * is the median over rounds of each round's p50s. Where no machine compiler is installed the native figures
 * are null with the reason.
 *
 * Run: `deno run -A bench/compute.ts [--rounds N] [--iterations N]`; writes bench/results/compute.json.
 *
 * @module
 */
import { type LoadedModule, loadModule, type ModulePlan } from "../runtime/mod.ts";
// The executor's per-module host: imported from its file because runtime/mod.ts keeps it private.
import { ModuleInstance } from "../runtime/executor/instance.ts";
import type { InstanceSink } from "../runtime/executor/host_kiln.ts";
import type { InstanceSpec } from "../runtime/executor/protocol.ts";
import { DEFAULT_CHECK_INTERVAL } from "../runtime/wasm/mod.ts";
import { SimVibrationSensor } from "../hal/sim/mod.ts";
import { distribution, machine, module, ROOT, writeResult } from "./_plan.ts";
import { matmulCase } from "./_matmul.ts";
import { executorPaced, type PacedCall, pacedCase, PACES_MS } from "./_paced.ts";
import {
  compile,
  CompilerMissingError,
  currentCpu,
  fnv1a16,
  GCC_FLAGS,
  runJson,
  toolVersion,
} from "./_native.ts";

const arg = (name: string, fallback: number) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
};
// Short rounds, alternating often: on a shared VM one side can run in a slower state for seconds at a time.
const ROUNDS = arg("--rounds", 30);
const ITERATIONS = arg("--iterations", 200);
/** Warm-up of the Wasm side: V8 tiers a hot function up from Liftoff to TurboFan on a background thread. */
const WARMUP = 1000;
const WARMUP_MS = 1500;
const MATMUL_ITERATIONS = 8;
/** Paced rows (bench/_paced.ts): rounds, and calls per side per round at each pace. */
const PACED_ROUNDS = arg("--paced-rounds", 3);
const PACED_CALLS = arg("--paced-calls", 60);
/** How long each pace runs in the plant (bench/_paced.ts `executorPaced`), s. */
const PLANT_SECONDS = arg("--plant-seconds", 6);
/**
 * Run the whole benchmark, and so both sides, on one CPU (`--no-pin` to let the kernel choose): unpinned on
 * this shared VM, either side sometimes ran 20-45% slower for seconds at a time, which skewed the ratio.
 */
const PIN = !Deno.args.includes("--no-pin");
const PINNED_ENV = "KILN_BENCH_PINNED_CPU";
const WINDOW = 1024;
/**
 * The modules' budget: a second, far above any call, so that a call preempted on this shared machine (one
 * held 16.6 ms, another 200 ms while other work ran on its CPU) is not interrupted and the run lost. The
 * interrupt checks cost the same whatever the budget.
 */
const BUDGET_US = 1_000_000;
const PARAMS: Record<string, number> = {
  "kiln.sample_rate_hz": 25_600,
  "kiln.full_scale": 16,
  "kiln.window": WINDOW,
  "kiln.hop": WINDOW,
};

type Output = [key: string, value: number | number[]];

/** 16 windows of the simulated 25.6 kHz accelerometer; a bearing fault from the 9th on. */
function makeWindows(): Int16Array[] {
  const sensor = new SimVibrationSensor({ id: "v", rateHz: 25_600, seed: 21 });
  return Array.from({ length: 16 }, (_, i) => {
    if (i === 8) sensor.setFault("bearing");
    const w = new Int16Array(WINDOW);
    sensor.fill(w);
    return w;
  });
}

/** Captures a module's outputs while `recording` is set. */
class RecordingSink implements InstanceSink {
  recording: Output[] | null = null;
  output(_module: string, key: string, value: number): void {
    this.recording?.push([key, value]);
  }
  outputArray(_module: string, key: string, values: Float32Array): void {
    this.recording?.push([key, Array.from(values)]);
  }
  alert(): void {}
  log(): void {}
  denied(): void {}
  used(): void {}
  write(): void {}
  publish(): boolean {
    return true;
  }
}

/** The spec the runtime would give this stream module (`Runtime#spec`), one invocation per window. */
function specFor(plan: ModulePlan, loaded: LoadedModule): InstanceSpec {
  return {
    name: plan.name,
    mode: "stream",
    source: "sim:bench",
    window: WINDOW,
    hop: WINDOW,
    periodUs: 0,
    priority: 50,
    budgetUs: plan.budgetUs,
    initBudgetUs: Math.max(10 * plan.budgetUs, 50_000),
    fuel: null,
    params: { ...PARAMS },
    data: loaded.data,
    channelWrites: [],
    channelRead: null,
    actuators: [],
    capabilities: plan.capabilities,
    inputs: [],
    functionNames: loaded.functionNames,
    clockOriginMs: performance.timeOrigin + performance.now(),
    warmUpIterations: null,
    instantiationWrites: null,
  };
}

/**
 * The instrumented module (or `module`, e.g. the binary as built) instantiated bare, to call a kernel export
 * directly (host imports stubbed).
 */
function bareInstance(loaded: LoadedModule, module: WebAssembly.Module = loaded.module) {
  let memory: WebAssembly.Memory | null = null;
  const decoder = new TextDecoder();
  const text = (ptr: number, len: number) => decoder.decode(new Uint8Array(memory!.buffer, ptr, len));
  const placed = new Map<string, [ptr: number, len: number]>();
  const kiln: Record<string, (...args: never[]) => unknown> = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === "kiln" && imp.kind === "function") kiln[imp.name] = () => 0;
  }
  Object.assign(kiln, {
    __check: () => DEFAULT_CHECK_INTERVAL,
    now_us: () => 0n,
    input: () => -2,
    channel_write: () => -2,
    param_f64: (ptr: number, len: number, fallback: number) => PARAMS[text(ptr, len)] ?? fallback,
    data: (ptr: number, len: number, outLen: number) => {
      const blob = placed.get(text(ptr, len));
      if (!blob) return 0;
      new DataView(memory!.buffer).setInt32(outLen, blob[1], true);
      return blob[0];
    },
  });
  const instance = new WebAssembly.Instance(module, { kiln });
  const exports = instance.exports as Record<string, CallableFunction> & { memory: WebAssembly.Memory };
  memory = exports.memory;
  const alloc = (size: number): number => {
    const ptr = exports.kiln_alloc!(size) as number;
    if (ptr === 0) throw new Error(`kiln_alloc(${size}) returned 0`);
    return ptr;
  };
  for (const [name, bytes] of [...loaded.data]) {
    const ptr = alloc(bytes.length);
    new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
    placed.set(name, [ptr, bytes.length]);
  }
  if (exports.kiln_init!() !== 0) throw new Error(`kiln_init of "${loaded.plan.name}" failed`);
  return { exports, memory, alloc };
}

/** A kernel on the bare instance: `prepare` (untimed) then `run`, which returns what is verified. */
function wasmKernel(kind: "fft" | "anomaly", loaded: LoadedModule) {
  const { exports, memory, alloc } = bareInstance(loaded);
  if (kind === "fft") {
    const work = alloc(4 * WINDOW);
    return {
      name: "fft_q15_1024",
      prepare(window: Int16Array) {
        const data = new Int16Array(memory.buffer, work, 2 * WINDOW);
        for (let n = 0; n < WINDOW; n++) (data[2 * n] = window[n]!, data[2 * n + 1] = 0);
      },
      run: () => exports.fft_q15_1024!(work) as number,
      verified: (result: number): [number, number] => [
        result,
        fnv1a16(new Int16Array(memory.buffer, work, 2 * WINDOW)),
      ],
    };
  }
  const samples = alloc(2 * WINDOW);
  const features = alloc(4 * 256);
  return {
    name: "ae_score",
    prepare(window: Int16Array) {
      new Int16Array(memory.buffer, samples, WINDOW).set(window);
      exports.ae_features!(samples, features);
    },
    run: () => exports.ae_score!(features) as number,
    verified: (result: number): number => result,
  };
}

/** `kiln_on_samples` of the module's own binary, not instrumented, on a bare instance: "raw Deno". */
async function rawSamplesCall(loaded: LoadedModule): Promise<PacedCall> {
  const module = await WebAssembly.compile(await Deno.readFile(loaded.plan.wasm));
  const { exports, memory, alloc } = bareInstance(loaded, module);
  const samples = alloc(2 * WINDOW);
  return (window) => {
    new Int16Array(memory.buffer, samples, WINDOW).set(window);
    exports.kiln_on_samples!(samples, WINDOW);
  };
}

/** Fails loudly when the two builds computed different values. */
function checkSame(what: string, wasm: unknown, native: unknown): void {
  // Native floats were printed with enough digits to round-trip an f32 (%.9g) or an f64 (%.17g).
  const same = (a: unknown, b: unknown): boolean => {
    if (Array.isArray(a) && Array.isArray(b)) {
      return a.length === b.length && a.every((x, i) => same(x, b[i]));
    }
    if (typeof a === "number" && typeof b === "number") return a === b || Math.fround(b) === a;
    return a === b;
  };
  if (!same(wasm, native)) {
    const show = (x: unknown) => JSON.stringify(x).slice(0, 400);
    throw new Error(
      `The Wasm and native builds disagree on ${what}: wasm ${show(wasm)}, native ${show(native)}`,
    );
  }
}

interface NativeRun {
  outputs: Output[][];
  kernel_outputs: unknown[];
  invocation_ns: number[];
  kernel_ns: number[];
}

const NATIVE_SOURCES = {
  fft: ["modules/fft/fft.c", "modules/sdk/spectral_features.c", "modules/sdk/fft_q15.c"],
  anomaly: [
    "modules/anomaly/anomaly.c",
    "modules/anomaly/ae_kernel.c",
    "modules/sdk/spectral_features.c",
    "modules/sdk/fft_q15.c",
  ],
} as const;

async function buildModuleBench(kind: "fft" | "anomaly"): Promise<string> {
  return await compile("gcc", `module_bench_${kind}`, {
    sources: ["bench/native/module_bench.c", "bench/native/kiln_host_stubs.c", ...NATIVE_SOURCES[kind]],
    flags: [
      ...GCC_FLAGS,
      // kiln.h's export_name / import_module attributes are Wasm-only; gcc ignores them.
      "-Wno-attributes",
      kind === "fft" ? "-DKILN_BENCH_FFT" : "-DKILN_BENCH_ANOMALY",
      "-Ibench/native",
      "-Imodules/sdk",
      "-Imodules/anomaly",
    ],
    libs: ["-lm"],
  });
}

const us = (ns: number[]) => ns.map((n) => n / 1000);
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

async function moduleCase(kind: "fft" | "anomaly", windows: Int16Array[], windowsFile: string) {
  const plan = module({
    name: kind,
    wasm: `${ROOT}modules/${kind}/${kind}.wasm`,
    schedule: { mode: "stream", source: "sim:bench", window: WINDOW, hop: WINDOW, priority: 50 },
    budgetUs: BUDGET_US,
    capabilities: kind === "fft" ? ["read:sim:bench", "write:channel:unused"] : ["read:sim:bench"],
    data: kind === "anomaly"
      ? [{ name: "weights", path: `${ROOT}modules/anomaly/weights.bin`, sha256: null }]
      : [],
  });
  const loaded = await loadModule(plan);
  const sink = new RecordingSink();
  const instance = ModuleInstance.create({
    spec: specFor(plan, loaded),
    module: loaded.module,
    sink,
    inputs: new Map(),
  });
  const kernel = wasmKernel(kind, loaded);

  // Verification: the same windows from kiln_init on both sides.
  const wasmOutputs: Output[][] = windows.map((w) => {
    sink.recording = [];
    instance.pushSamples(w);
    const out = sink.recording;
    sink.recording = null;
    return out;
  });
  if (instance.stats.errors > 0) throw new Error(`${kind}: ${instance.stats.lastError}`);
  const wasmKernelOutputs = windows.map((w) => (kernel.prepare(w), kernel.verified(kernel.run())));

  let program: string | null = null;
  let nativeReason: string | null = null;
  try {
    program = await buildModuleBench(kind);
  } catch (err) {
    if (!(err instanceof CompilerMissingError)) throw err;
    nativeReason = err.message;
  }
  const nativeArgs = (iterations: number) => [
    windowsFile,
    "200",
    String(iterations),
    ...Object.entries(PARAMS).flatMap(([k, v]) => ["--param", `${k}=${v}`]),
    ...[...loaded.data].flatMap((
      [name],
    ) => ["--data", `${name}=${plan.data.find((d) => d.name === name)!.path}`]),
  ];
  let verified = false;
  if (program) {
    const first = await runJson<NativeRun>(program, nativeArgs(0));
    checkSame(`${kind} kiln_on_samples outputs`, wasmOutputs, first.outputs);
    checkSame(`${kind} ${kernel.name} results`, wasmKernelOutputs, first.kernel_outputs);
    verified = true;
  }

  const warmStart = performance.now();
  for (let i = 0; i < WARMUP || performance.now() - warmStart < WARMUP_MS; i++) {
    instance.pushSamples(windows[i % windows.length]!);
    kernel.prepare(windows[i % windows.length]!);
    kernel.run();
  }
  const wasm = { invocation: [] as number[], handler: [] as number[], kernel: [] as number[] };
  const native = { invocation: [] as number[], kernel: [] as number[] };
  const roundP50 = { wasm: [] as number[], native: [] as number[] };
  const runWasm = () => {
    const times: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const w = windows[i % windows.length]!;
      const t0 = performance.now();
      instance.pushSamples(w);
      times.push((performance.now() - t0) * 1000);
      wasm.handler.push(instance.stats.lastUs);
    }
    for (let i = 0; i < ITERATIONS; i++) {
      kernel.prepare(windows[i % windows.length]!);
      const t0 = performance.now();
      kernel.run();
      wasm.kernel.push((performance.now() - t0) * 1000);
    }
    wasm.invocation.push(...times);
    roundP50.wasm.push(distribution(times, 2).p50);
  };
  const runNative = async () => {
    if (!program) return;
    const r = await runJson<NativeRun>(program, nativeArgs(ITERATIONS));
    native.invocation.push(...us(r.invocation_ns));
    native.kernel.push(...us(r.kernel_ns));
    roundP50.native.push(distribution(us(r.invocation_ns), 2).p50);
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) (await runNative(), runWasm());
    else (runWasm(), await runNative());
  }
  const raw = await rawSamplesCall(loaded);
  for (let i = 0; i < WARMUP; i++) raw(windows[i % windows.length]!);
  const paced = await pacedCase({
    kiln: (w) => instance.pushSamples(w),
    raw,
    native: program
      ? async (paceUs, calls) =>
        (await runJson<NativeRun>(program!, [...nativeArgs(calls), "--pace-us", String(paceUs)]))
          .invocation_ns
      : null,
    windows,
    rounds: PACED_ROUNDS,
    calls: PACED_CALLS,
  });
  // The same module in a running runtime, through its executor worker, as in the plant.
  for (const [pace, plant] of Object.entries(await executorPaced(kind, PLANT_SECONDS))) {
    const row = paced[pace] as { native_us: { p50: number } | null };
    const p50 = plant.kiln_executor_us.p50;
    Object.assign(row, plant, { executor_ratio: row.native_us ? ratio(p50, row.native_us.p50) : null });
  }
  if (instance.stats.errors > 0 || instance.stats.budgetOverruns > 0) {
    console.warn(
      `${kind}: ${instance.stats.errors} errors, ${instance.stats.budgetOverruns} budget overruns`,
    );
  }
  const wasmUs = distribution(wasm.invocation, 2);
  const nativeUs = program ? distribution(native.invocation, 2) : null;
  const byRound = program ? distribution(roundP50.wasm.map((w, i) => w / roundP50.native[i]!), 3) : null;
  const kernelWasm = distribution(wasm.kernel, 2);
  const kernelNative = program ? distribution(native.kernel, 2) : null;
  return {
    wasm_us: wasmUs,
    native_us: nativeUs,
    /** The median over rounds of each round's wasm p50 / native p50: the two sides ran back to back. */
    ratio: byRound ? byRound.p50 : null,
    /** Each round's wasm p50 / native p50: how steady the comparison was. */
    ratio_by_round: byRound,
    /** wasm_us p50 / native_us p50 over all the rounds' invocations together. */
    pooled_ratio: nativeUs ? ratio(wasmUs.p50, nativeUs.p50) : null,
    native_reason: nativeReason,
    outputs_match: verified,
    verified_windows: windows.length,
    /** The runtime's own measure of the handler call (ModuleInstance stats.lastUs), without the window copy. */
    wasm_handler_us: distribution(wasm.handler, 2),
    round_p50_us: roundP50,
    budget_overruns: instance.stats.budgetOverruns,
    /** Called every 10 and 40 ms (bench/_paced.ts): Kiln, the raw binary in Deno, and native, paced alike. */
    paced,
    kernel: {
      name: kernel.name,
      wasm_us: kernelWasm,
      native_us: kernelNative,
      ratio: kernelNative ? ratio(kernelWasm.p50, kernelNative.p50) : null,
    },
  };
}

// Pinning: run again under taskset on the CPU this started on; the native programs inherit the affinity.
if (PIN && Deno.env.get(PINNED_ENV) === undefined && (await toolVersion("taskset")) !== null) {
  const cpu = String((await currentCpu()) ?? 0);
  const { code } = await new Deno.Command("taskset", {
    args: ["-c", cpu, Deno.execPath(), "run", "-A", new URL(import.meta.url).pathname, ...Deno.args],
    env: { [PINNED_ENV]: cpu },
    stdout: "inherit",
    stderr: "inherit",
    signal: AbortSignal.timeout(3_600_000), // the whole benchmark again, pinned
  }).output();
  Deno.exit(code);
}

const windows = makeWindows();
const windowsFile = await Deno.makeTempFile({ prefix: "kiln-bench-windows-" });
const joined = new Int16Array(windows.length * WINDOW);
windows.forEach((w, i) => joined.set(w, i * WINDOW));
await Deno.writeFile(windowsFile, new Uint8Array(joined.buffer));

const fft = await moduleCase("fft", windows, windowsFile);
const anomaly = await moduleCase("anomaly", windows, windowsFile);
const matmul = await matmulCase({ rounds: ROUNDS, iterations: MATMUL_ITERATIONS });
const report = {
  machine: await machine(),
  compilers: { gcc: await toolVersion("gcc"), clang: await toolVersion("clang-19") },
  method: [
    `${ROUNDS} rounds of ${ITERATIONS} invocations per side, alternating which side goes first, after at least`,
    `${WARMUP} warm-up invocations and ${WARMUP_MS} ms (the native side warms up 200 in its own process each`,
    `round). Wasm: the committed module through loadModule (interrupt checks on, budget_us ${BUDGET_US}) and`,
    `ModuleInstance, timed around pushSamples of one 1024-sample window with performance.now(). Native: the`,
    `module's C sources, gcc ${
      GCC_FLAGS.join(" ")
    }, stub host imports, timed with clock_gettime around the same`,
    `copy and kiln_on_samples. ${
      PIN ? "Both sides pinned (taskset) to one CPU." : "Not pinned."
    } ratio = the`,
    `median over rounds of the round's wasm p50 / native p50. matmul_f32: ${MATMUL_ITERATIONS} multiplications`,
    `per variant per round. paced (bench/_paced.ts): each module's kiln_on_samples called every`,
    `${PACES_MS.join(" and ")} ms, ${PACED_ROUNDS} rounds of ${PACED_CALLS} calls per side (order rotating):`,
    `Kiln (ModuleInstance.pushSamples, sleeping in Atomics.wait as an executor does), raw Deno (the module's`,
    `binary as built, not instrumented, stub imports), native (the same program, nanosleep between calls);`,
    `ratio = Kiln p50 / native p50. kiln_executor_us: the module alone in a runtime in this process, fed by a`,
    `simulated 25.6 kHz sensor (hop 256 or 1024 samples) for ${PLANT_SECONDS} s, each call's duration from its`,
    `executor's per-call traces (the first 25 calls left out); executor_ratio = its p50 / native p50.`,
  ].join(" "),
  fft1024_q15: fft,
  autoencoder_int8: anomaly,
  matmul_f32: matmul,
};
await writeResult("compute", report);
console.log(JSON.stringify(
  report,
  (k, v) => (k === "round_p50_us" ? undefined : v),
  2,
));
