/**
 * The cost of load-time instrumentation (runtime/wasm/instrument.ts) on the example modules: per-invocation
 * time of `kiln_on_samples` on a 1024-sample window, and of the exported kernels alone (`fft_q15_1024`,
 * `ae_score`), uninstrumented vs interrupt checks vs interrupt checks plus fuel metering, with a second
 * uninstrumented instance as a control (its difference from the first is the noise floor). Variants run
 * interleaved (round-robin, rotating the order each round) so drift in clock speed or load hits all alike.
 * Also times `instrument` itself on both modules and on a synthetic 500 KB module.
 *
 * Run: `deno run -A bench/instrumentation.ts [--rounds N]`; writes bench/results/instrumentation.json.
 *
 * @module
 */
import { machine } from "./_plan.ts";
import { SimVibrationSensor } from "../hal/sim/mod.ts";
import { instrument, type InstrumentOptions } from "../runtime/wasm/mod.ts";

const ROUNDS = Number(Deno.args[Deno.args.indexOf("--rounds") + 1] || 3000);
const WARMUP_ROUNDS = 300;
const CHECK_INTERVAL = 1000;

const VARIANTS: readonly [name: string, options: InstrumentOptions | null][] = [
  ["plain", null],
  // A second uninstrumented instance: its difference from `plain` is the noise floor of the measurement.
  ["control", null],
  ["instrumented", { checkInterval: CHECK_INTERVAL }],
  ["fuel", { checkInterval: CHECK_INTERVAL, fuel: true }],
];

const readModule = (path: string) => Deno.readFile(new URL(`../modules/${path}`, import.meta.url));
const decoder = new TextDecoder();

/** One instance with the ABI imports stubbed (outputs are dropped) and `kiln.__check` never interrupting. */
interface Subject {
  exports: Record<string, CallableFunction>;
  memory: WebAssembly.Memory;
  alloc(size: number): number;
}

function createSubject(wasm: Uint8Array<ArrayBuffer>, blobs: Record<string, Uint8Array>): Subject {
  let memory: WebAssembly.Memory | null = null;
  const placed = new Map<string, [ptr: number, len: number]>();
  const text = (ptr: number, len: number) => decoder.decode(new Uint8Array(memory!.buffer, ptr, len));
  const params: Record<string, number> = {
    "kiln.sample_rate_hz": 25_600,
    "kiln.full_scale": 16,
    "kiln.window": 1024,
  };
  const kiln = {
    __check: () => CHECK_INTERVAL,
    log: () => 0,
    now_us: () => 0n,
    param_f64: (ptr: number, len: number, fallback: number) => params[text(ptr, len)] ?? fallback,
    data: (ptr: number, len: number, outLen: number) => {
      const blob = placed.get(text(ptr, len));
      if (!blob) return 0;
      new DataView(memory!.buffer).setInt32(outLen, blob[1], true);
      return blob[0];
    },
    input: () => -2,
    output: () => 0,
    output_array: () => 0,
    channel_write: () => 0,
    alert: () => 0,
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), { kiln });
  const exports = instance.exports as unknown as Subject["exports"] & { memory: WebAssembly.Memory };
  memory = exports.memory;
  const alloc = (size: number) => {
    const ptr = exports.kiln_alloc!(size) as number;
    if (ptr === 0) throw new Error(`kiln_alloc(${size}) returned 0`);
    return ptr;
  };
  for (const [name, bytes] of Object.entries(blobs)) {
    const ptr = alloc(bytes.length);
    new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
    placed.set(name, [ptr, bytes.length]);
  }
  if (exports.kiln_init!() !== 0) throw new Error("kiln_init failed");
  return { exports, memory, alloc };
}

/** A timed operation: `prepare` runs untimed before each `run`. */
interface Op {
  prepare(round: number): void;
  run(): void;
}

/** The operations measured on one instance, by name. */
function operations(s: Subject, windows: readonly Int16Array[]): Record<string, Op> {
  const samples = s.alloc(2048);
  const work = s.alloc(2048);
  const features = s.alloc(4096);
  const i16 = (ptr: number) => new Int16Array(s.memory.buffer, ptr, 1024);
  const ops: Record<string, Op> = {
    kiln_on_samples: {
      prepare: (round) => i16(samples).set(windows[round % windows.length]!),
      run: () => s.exports.kiln_on_samples!(samples, 1024),
    },
  };
  if (s.exports.fft_q15_1024) {
    ops.fft_q15_1024 = {
      prepare: (round) => i16(work).set(windows[round % windows.length]!),
      run: () => s.exports.fft_q15_1024!(work),
    };
  }
  if (s.exports.ae_score && s.exports.ae_features) {
    ops.ae_score = {
      prepare: (round) => {
        i16(samples).set(windows[round % windows.length]!);
        s.exports.ae_features!(samples, features);
      },
      run: () => s.exports.ae_score!(features),
    };
  }
  return ops;
}

interface Percentiles {
  p50: number;
  p99: number;
}

function percentiles(us: number[]): Percentiles {
  const sorted = us.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: round(at(0.5)), p99: round(at(0.99)) };
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const overhead = (base: Percentiles, other: Percentiles) => round((other.p50 / base.p50 - 1) * 100, 1);

async function benchModule(path: string, blobs: Record<string, Uint8Array>) {
  const original = await readModule(path);
  const sensor = new SimVibrationSensor({ id: "v", rateHz: 25_600, seed: 21 });
  const windows = Array.from({ length: 16 }, (_, i) => {
    if (i === 8) sensor.fault = "bearing";
    const w = new Int16Array(1024);
    sensor.fill(w);
    return w;
  });
  const variants = VARIANTS.map(([name, options]) => {
    const wasm = options === null ? original : instrument(original, options).bytes;
    return { name, ops: operations(createSubject(wasm, blobs), windows) };
  });
  const opNames = Object.keys(variants[0]!.ops);
  const samples = new Map<string, number[]>(); // "variant/op" -> µs
  for (let r = -WARMUP_ROUNDS; r < ROUNDS; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(k + Math.max(r, 0)) % variants.length]!; // rotate who goes first
      for (const opName of opNames) {
        const op = v.ops[opName]!;
        op.prepare(r + WARMUP_ROUNDS);
        const t0 = performance.now();
        op.run();
        const us = (performance.now() - t0) * 1000;
        if (r >= 0) {
          const key = `${v.name}/${opName}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key)!.push(us);
        }
      }
    }
  }
  const result: Record<string, unknown> = {};
  const kernels: Record<string, unknown> = {};
  for (const opName of opNames) {
    const [plain, control, instrumented, fuel] = VARIANTS.map(([v]) =>
      percentiles(samples.get(`${v}/${opName}`)!)
    );
    const entry = {
      plain_us: plain!,
      control_us: control!,
      noise_percent: overhead(plain!, control!),
      instrumented_us: instrumented!,
      fuel_us: fuel!,
      overhead_percent: overhead(plain!, instrumented!),
      fuel_overhead_percent: overhead(plain!, fuel!),
    };
    if (opName === "kiln_on_samples") Object.assign(result, entry);
    else kernels[opName] = entry;
  }
  result.kernels = kernels;
  const sizes = VARIANTS.map((
    [v, o],
  ) => [v, o === null ? original.length : instrument(original, o).bytes.length]);
  result.size_bytes = Object.fromEntries(sizes);
  return result;
}

/** A synthetic module of about `targetBytes`: many functions of nested loops, calls and arithmetic. */
function syntheticModule(targetBytes: number): Uint8Array<ArrayBuffer> {
  const leb = (n: number) => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      out.push(b);
    } while (n !== 0);
    return out;
  };
  // (param i32) (result i32), one i32 local: block loop (local.get 0, i32.const k, i32.add x40, call prev,
  // drop, local.get 1, i32.const 1, i32.add, local.tee 1, local.get 0, i32.lt_s, br_if 0) end end local.get 1
  const body = (fn: number) => {
    const code = [1, 1, 0x7f, 0x02, 0x40, 0x03, 0x40];
    for (let k = 0; k < 40; k++) code.push(0x20, 0x00, 0x41, k & 0x3f, 0x6a, 0x1a);
    if (fn > 0) code.push(0x20, 0x01, 0x10, ...leb(fn - 1), 0x1a);
    code.push(
      0x20,
      0x01,
      0x41,
      1,
      0x6a,
      0x22,
      0x01,
      0x20,
      0x00,
      0x48,
      0x0d,
      0x00,
      0x0b,
      0x0b,
      0x20,
      0x01,
      0x0b,
    );
    return [...leb(code.length), ...code];
  };
  const bodies: number[] = [];
  let n = 0;
  while (bodies.length < targetBytes) bodies.push(...body(n++));
  const section = (id: number, payload: number[]) => [id, ...leb(payload.length), ...payload];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]),
    ...section(3, [...leb(n), ...Array<number>(n).fill(0)]),
    ...section(10, [...leb(n), ...bodies]),
  ]);
}

/** Median milliseconds of `instrument` over `runs` runs, after as many warm-up runs. */
function instrumentMs(bytes: Uint8Array, options: InstrumentOptions, runs = 200): number {
  for (let i = 0; i < runs; i++) instrument(bytes, options);
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    instrument(bytes, options);
    ms.push(performance.now() - t0);
  }
  return round(ms.toSorted((a, b) => a - b)[runs >> 1]!, 3);
}

// The first call in the process: the instrumenter's code is not optimized yet (a gateway instruments each
// module once, at deploy).
const fftBytes = await readModule("fft/fft.wasm");
const coldStart = performance.now();
instrument(fftBytes, {});
const coldMs = round(performance.now() - coldStart, 3);

const weights = await readModule("anomaly/weights.bin");
const fft = await benchModule("fft/fft.wasm", {});
const anomaly = await benchModule("anomaly/anomaly.wasm", { weights });
const synthetic = syntheticModule(500_000);
const report = {
  machine: await machine(),
  method:
    `${ROUNDS} interleaved rounds after ${WARMUP_ROUNDS} warm-up rounds; each sample is one invocation ` +
    `timed with performance.now(); checkInterval ${CHECK_INTERVAL}; __check never interrupts`,
  cases: { fft, anomaly },
  instrument_ms: {
    fft_first_call: coldMs,
    fft: instrumentMs(fftBytes, {}),
    fft_fuel: instrumentMs(fftBytes, { fuel: true }),
    anomaly: instrumentMs(await readModule("anomaly/anomaly.wasm"), {}),
    [`synthetic_${synthetic.length}_bytes`]: instrumentMs(synthetic, {}, 10),
    [`synthetic_${synthetic.length}_bytes_fuel`]: instrumentMs(synthetic, { fuel: true }, 10),
  },
};
await Deno.mkdir(new URL("results/", import.meta.url), { recursive: true });
await Deno.writeTextFile(
  new URL("results/instrumentation.json", import.meta.url),
  JSON.stringify(report, null, 2) + "\n",
);
console.log(JSON.stringify(report, null, 2));
