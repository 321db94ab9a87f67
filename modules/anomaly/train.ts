/**
 * Trains the anomaly module's int8 autoencoder on healthy spectra of the simulated plant and writes
 * `modules/anomaly/weights.bin` (format: `ae_kernel.h`, `modules/README.md`). Seeded: two runs write the
 * same bytes.
 *
 * Features come from the built `anomaly.wasm` itself (its `ae_features` export), so training sees exactly
 * what the module computes, and the suggested threshold is measured with the module's own int8 `ae_score`
 * on held-out healthy data. A linear autoencoder's optimum is the principal subspace, so "training" is PCA:
 * the top 32 eigenvectors of the standardized features' covariance by subspace iteration.
 *
 *   deno task build:modules
 *   deno run --allow-read --allow-write modules/anomaly/train.ts [--out=PATH]
 *
 * @module
 */
import { SimVibrationSensor } from "../../hal/sim/mod.ts";

const N_IN = 256;
const N_HIDDEN = 32;
const WINDOW = 1024;
const RATE_HZ = 25_600;
/** Normalized features are quantized to ±127 steps covering ±8 healthy standard deviations. */
const X_RANGE_SD = 8;
/** A feature's standard deviation is floored, so near-constant features (strong lines) are not amplified. */
const MIN_STD = 0.05;
/** The suggested threshold: this factor above the highest held-out healthy score. */
const THRESHOLD_MARGIN = 1.5;
const HEADER_BYTES = 32;

const here = new URL(".", import.meta.url);

/** The anomaly module's kernel exports, run with stub imports: training needs no host. */
interface Kernel {
  /** The module's `ae_features` of one window. */
  features(samples: Int16Array): Float32Array;
  /** The module's int8 `ae_score` of features, with the weights loaded through `kiln_init`. */
  score(features: Float32Array): number;
}

/** Instantiates `anomaly.wasm`; with `weights`, copies them in as data blob "weights" and runs `kiln_init`. */
async function loadKernel(weights: Uint8Array | null): Promise<Kernel> {
  const bytes = await Deno.readFile(new URL("anomaly.wasm", here));
  let memory: WebAssembly.Memory | null = null;
  let blob = { ptr: 0, len: 0 };
  const kiln = {
    log: () => 0,
    now_us: () => 0n,
    param_f64: (_p: number, _l: number, fallback: number) => fallback,
    data: (_p: number, _l: number, outLen: number) => {
      if (blob.ptr === 0) return 0;
      new DataView(memory!.buffer).setInt32(outLen, blob.len, true);
      return blob.ptr;
    },
    input: () => -2,
    output: () => 0,
    output_array: () => 0,
    alert: () => 0,
  };
  const { instance } = await WebAssembly.instantiate(bytes, { kiln });
  const ex = instance.exports as Record<string, CallableFunction>;
  memory = instance.exports.memory as WebAssembly.Memory;
  const mem = memory;
  const samplesPtr = ex.kiln_alloc!(WINDOW * 2) as number;
  const featuresPtr = ex.kiln_alloc!(N_IN * 4) as number;
  if (weights) {
    blob = { ptr: ex.kiln_alloc!(weights.length) as number, len: weights.length };
    new Uint8Array(mem.buffer, blob.ptr, weights.length).set(weights);
    const rc = ex.kiln_init!() as number;
    if (rc !== 0) throw new Error(`kiln_init returned ${rc} for the trained weights`);
  }
  return {
    features(samples) {
      new Int16Array(mem.buffer, samplesPtr, WINDOW).set(samples);
      ex.ae_features!(samplesPtr, featuresPtr);
      return new Float32Array(mem.buffer.slice(featuresPtr, featuresPtr + N_IN * 4));
    },
    score(features) {
      new Float32Array(mem.buffer, featuresPtr, N_IN).set(features);
      return ex.ae_score!(featuresPtr) as number;
    },
  };
}

/** Feature vectors of `windows` consecutive windows of one simulated sensor. */
function collect(
  kernel: Kernel,
  opts: { seed: number; shaftHz: number; windows: number; bearing?: boolean },
) {
  const sensor = new SimVibrationSensor({
    id: "train",
    rateHz: RATE_HZ,
    seed: opts.seed,
    shaftHz: opts.shaftHz,
  });
  if (opts.bearing) sensor.fault = "bearing";
  const window = new Int16Array(WINDOW);
  const out: Float32Array[] = [];
  for (let i = 0; i < opts.windows; i++) {
    sensor.fill(window);
    out.push(kernel.features(window));
  }
  return out;
}

/** Top-k eigenvectors (columns of an n x k row-major matrix) of a symmetric n x n matrix, by subspace iteration. */
function topEigenvectors(
  c: Float64Array,
  n: number,
  k: number,
  iterations: number,
  seed: number,
): Float64Array {
  let state = seed >>> 0;
  const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296) - 0.5;
  let q = Float64Array.from({ length: n * k }, rand);
  orthonormalize(q, n, k);
  for (let it = 0; it < iterations; it++) {
    const next = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      for (let l = 0; l < n; l++) {
        const cil = c[i * n + l]!;
        if (cil === 0) continue;
        for (let j = 0; j < k; j++) next[i * k + j]! += cil * q[l * k + j]!;
      }
    }
    orthonormalize(next, n, k);
    q = next;
  }
  return q;
}

/** Modified Gram-Schmidt on the columns of an n x k row-major matrix; fixes each column's sign. */
function orthonormalize(q: Float64Array, n: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[i * k + j]! * q[i * k + p]!;
      for (let i = 0; i < n; i++) q[i * k + j]! -= dot * q[i * k + p]!;
    }
    let norm = 0, sum = 0;
    for (let i = 0; i < n; i++) {
      norm += q[i * k + j]! ** 2;
      sum += q[i * k + j]!;
    }
    const s = (sum < 0 ? -1 : 1) / Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * k + j]! *= s;
  }
}

const q8 = (v: number) => Math.max(-127, Math.min(127, v < 0 ? -Math.round(-v) : Math.round(v)));

/** Serializes the model in the KAE1 format. */
function encodeWeights(m: {
  xScale: number;
  w1Scale: number;
  hScale: number;
  w2Scale: number;
  threshold: number;
  mean: Float32Array;
  invStd: Float32Array;
  w1: Int8Array;
  w2: Int8Array;
}): Uint8Array {
  const size = HEADER_BYTES + 8 * N_IN + 2 * N_HIDDEN * N_IN + 4 * N_HIDDEN + 4 * N_IN;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode("KAE1"), 0);
  view.setUint16(4, 1, true);
  view.setUint16(6, N_IN, true);
  view.setUint16(8, N_HIDDEN, true);
  view.setUint16(10, 0, true);
  [m.xScale, m.w1Scale, m.hScale, m.w2Scale, m.threshold].forEach((v, i) =>
    view.setFloat32(12 + 4 * i, v, true)
  );
  let off = HEADER_BYTES;
  for (const arr of [m.mean, m.invStd]) {
    for (const v of arr) view.setFloat32(off, v, true), off += 4;
  }
  bytes.set(new Uint8Array(m.w1.buffer), off);
  off += m.w1.length;
  bytes.set(new Uint8Array(m.w2.buffer), off);
  off += m.w2.length;
  // b1 and b2 stay zero: the features are centred by `mean`, so PCA needs no bias.
  return bytes;
}

function stats(xs: number[]): { mean: number; max: number; min: number } {
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, max: Math.max(...xs), min: Math.min(...xs) };
}

async function main(args: string[]): Promise<void> {
  const outArg = args.find((a) => a.startsWith("--out="));
  const outPath = outArg ? outArg.slice("--out=".length) : new URL("weights.bin", here);
  const kernel = await loadKernel(null);
  const train: Float32Array[] = [];
  for (const [i, shaftHz] of [29.2, 29.5, 29.8].entries()) {
    for (const seed of [1, 2]) {
      train.push(...collect(kernel, { seed: 1000 * i + seed, shaftHz, windows: 400 }));
    }
  }
  const heldOut: Float32Array[] = [];
  for (const [i, shaftHz] of [29.35, 29.5, 29.65].entries()) {
    heldOut.push(...collect(kernel, { seed: 5000 + i, shaftHz, windows: 300 }));
  }
  const faulty = collect(kernel, { seed: 9000, shaftHz: 29.5, windows: 200, bearing: true });

  const mean = new Float32Array(N_IN), invStd = new Float32Array(N_IN);
  for (let i = 0; i < N_IN; i++) {
    let s = 0, s2 = 0;
    for (const f of train) s += f[i]!;
    const mu = s / train.length;
    for (const f of train) s2 += (f[i]! - mu) ** 2;
    mean[i] = mu;
    invStd[i] = 1 / Math.max(MIN_STD, Math.sqrt(s2 / train.length));
  }
  const z = train.map((f) => Float64Array.from(f, (v, i) => (v - mean[i]!) * invStd[i]!));
  const cov = new Float64Array(N_IN * N_IN);
  for (const x of z) {
    for (let i = 0; i < N_IN; i++) {
      const xi = x[i]!;
      for (let j = i; j < N_IN; j++) cov[i * N_IN + j]! += xi * x[j]!;
    }
  }
  for (let i = 0; i < N_IN; i++) {
    for (let j = i; j < N_IN; j++) cov[j * N_IN + i] = cov[i * N_IN + j]! /= z.length;
  }
  const v = topEigenvectors(cov, N_IN, N_HIDDEN, 150, 42);

  let maxV = 0;
  for (const x of v) maxV = Math.max(maxV, Math.abs(x));
  const w1Scale = maxV / 127;
  let maxH = 0;
  for (const x of z) {
    for (let j = 0; j < N_HIDDEN; j++) {
      let h = 0;
      for (let i = 0; i < N_IN; i++) h += v[i * N_HIDDEN + j]! * x[i]!;
      maxH = Math.max(maxH, Math.abs(h));
    }
  }
  const w1 = new Int8Array(N_HIDDEN * N_IN), w2 = new Int8Array(N_IN * N_HIDDEN);
  for (let i = 0; i < N_IN; i++) {
    for (let j = 0; j < N_HIDDEN; j++) {
      const q = q8(v[i * N_HIDDEN + j]! / w1Scale);
      w1[j * N_IN + i] = q;
      w2[i * N_HIDDEN + j] = q;
    }
  }
  const model = {
    xScale: X_RANGE_SD / 127,
    w1Scale,
    hScale: (1.25 * maxH) / 127,
    w2Scale: w1Scale,
    threshold: 1,
    mean,
    invStd,
    w1,
    w2,
  };

  const trained = await loadKernel(encodeWeights(model));
  const score = (f: Float32Array) => trained.score(f);
  const healthyScores = heldOut.map(score);
  const faultScores = faulty.map(score);
  const trainScores = train.map(score);
  model.threshold = Math.fround(Math.max(...healthyScores) * THRESHOLD_MARGIN);
  const weights = encodeWeights(model);
  await Deno.writeFile(outPath, weights);

  const fmt = (s: { mean: number; max: number; min: number }) =>
    `mean ${s.mean.toFixed(3)}, min ${s.min.toFixed(3)}, max ${s.max.toFixed(3)}`;
  console.log(
    `Trained on ${train.length} healthy windows, held out ${heldOut.length}, ${faulty.length} faulty`,
  );
  console.log(`  training scores:          ${fmt(stats(trainScores))}`);
  console.log(`  held-out healthy scores:  ${fmt(stats(healthyScores))}`);
  console.log(`  bearing-fault scores:     ${fmt(stats(faultScores))}`);
  console.log(
    `  suggested threshold:      ${model.threshold.toFixed(3)} (${THRESHOLD_MARGIN}x held-out max)`,
  );
  console.log(`Wrote ${outArg ? outPath : "modules/anomaly/weights.bin"} (${weights.length} bytes)`);
}

if (import.meta.main) await main(Deno.args);
