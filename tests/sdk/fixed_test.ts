/**
 * The fixed-point helpers of the three SDKs (C `kiln_fixed.h` + `fft_q15.c`, Rust `kiln::fixed`,
 * AssemblyScript `fixed.ts`) give bit-identical results on the same inputs, and those results are the exact
 * ones the rules in docs/fixed_point.md define (computed here independently, so a bug all three share fails).
 */
import assert from "node:assert/strict";
import { SimVibrationSensor } from "../../hal/sim/mod.ts";
import {
  buildHarnesses,
  type Harness,
  prng,
  readI16,
  readU32,
  writeI16,
  writeU32,
} from "./_fixed_harness.ts";

const N = 1024;
// Scratch layout (32 KiB in each harness): samples, the complex FFT block, the power spectrum.
const SAMPLES_AT = 0;
const DATA_AT = 8192;
const POWER_AT = 8192 + 4 * N;

let built: Promise<Harness[]> | null = null;
/** The three harnesses, built once for the whole file. */
function harnesses(): Promise<Harness[]> {
  return built ??= buildHarnesses();
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const clampBig = (v: bigint, lo: bigint, hi: bigint) => (v < lo ? lo : v > hi ? hi : v);
const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;

/** Calls `f` in every harness and asserts they agree; returns the common result. */
function same<T>(hs: Harness[], what: string, f: (h: Harness) => T): T {
  const [first, ...rest] = hs.map((h) => ({ lang: h.lang, value: f(h) }));
  for (const other of rest) {
    assert.deepEqual(other.value, first!.value, `${what}: ${other.lang} differs from ${first!.lang}`);
  }
  return first!.value;
}

function randomQ15(next: () => number): number {
  return Math.floor(next() * 65536) - 32768;
}

function randomQ31(next: () => number): number {
  return (Math.floor(next() * 4294967296) | 0);
}

Deno.test("Q15 and Q31 multiplication rounds half up and saturates identically in C, Rust and AssemblyScript", async () => {
  const hs = await harnesses();
  const next = prng(21);
  const q15Pairs: [number, number][] = [
    [-32768, -32768], // the one product that saturates
    [-32768, 32767],
    [32767, 32767],
    [1, 16384], // 0.5 LSB: a tie rounds up to 1
    [-1, 16384], // -0.5 LSB: a tie rounds up to 0
    [3, 16384], // 1.5 LSB -> 2
    [-3, 16384], // -1.5 LSB -> -1
    [0, -32768],
  ];
  for (let i = 0; i < 5000; i++) q15Pairs.push([randomQ15(next), randomQ15(next)]);
  for (const [a, b] of q15Pairs) {
    const got = same(hs, `q15_mul(${a}, ${b})`, (h) => h.fns.q15_mul(a, b));
    assert.equal(got, clamp(Math.floor((a * b + 16384) / 32768), -32768, 32767), `q15_mul(${a}, ${b})`);
  }
  assert.equal(hs[0]!.fns.q15_mul(-32768, -32768), 32767);
  assert.equal(hs[0]!.fns.q15_mul(-1, 16384), 0);

  const q31Pairs: [number, number][] = [
    [-2147483648, -2147483648],
    [-2147483648, 2147483647],
    [2147483647, 2147483647],
    [1, 1073741824], // a tie: 0.5 -> 1
    [-1, 1073741824], // -0.5 -> 0
  ];
  for (let i = 0; i < 5000; i++) q31Pairs.push([randomQ31(next), randomQ31(next)]);
  for (const [a, b] of q31Pairs) {
    const got = same(hs, `q31_mul(${a}, ${b})`, (h) => h.fns.q31_mul(a, b));
    const exact = clampBig((BigInt(a) * BigInt(b) + 2n ** 30n) >> 31n, I32_MIN, I32_MAX);
    assert.equal(BigInt(got), exact, `q31_mul(${a}, ${b})`);
  }
  assert.equal(hs[0]!.fns.q31_mul(-2147483648, -2147483648), 2147483647);
});

Deno.test("saturating add and subtract, abs and Q15/Q31 conversions agree and match their definitions", async () => {
  const hs = await harnesses();
  const next = prng(7);
  const q15: number[] = [-32768, -32767, -1, 0, 1, 32766, 32767];
  for (let i = 0; i < 500; i++) q15.push(randomQ15(next));
  for (const a of q15) {
    for (const b of q15.slice(0, 40)) {
      assert.equal(same(hs, "q15_add", (h) => h.fns.q15_add(a, b)), clamp(a + b, -32768, 32767));
      assert.equal(same(hs, "q15_sub", (h) => h.fns.q15_sub(a, b)), clamp(a - b, -32768, 32767));
    }
    assert.equal(same(hs, "q15_abs", (h) => h.fns.q15_abs(a)), Math.abs(a));
    assert.equal(same(hs, "q31_from_q15", (h) => h.fns.q31_from_q15(a)), a * 65536);
    assert.equal(same(hs, "q15_to_f64", (h) => h.fns.q15_to_f64(a)), a / 32768);
  }
  const q31: number[] = [-2147483648, -2147483647, -32769, -32768, 32767, 32768, 98304, 2147483647, 0];
  for (let i = 0; i < 500; i++) q31.push(randomQ31(next));
  for (const a of q31) {
    for (const b of q31.slice(0, 40)) {
      const sum = clampBig(BigInt(a) + BigInt(b), I32_MIN, I32_MAX);
      const diff = clampBig(BigInt(a) - BigInt(b), I32_MIN, I32_MAX);
      assert.equal(BigInt(same(hs, "q31_add", (h) => h.fns.q31_add(a, b))), sum);
      assert.equal(BigInt(same(hs, "q31_sub", (h) => h.fns.q31_sub(a, b))), diff);
    }
    const narrowed = clampBig((BigInt(a) + 32768n) >> 16n, -32768n, 32767n);
    assert.equal(
      BigInt(same(hs, "q15_from_q31", (h) => h.fns.q15_from_q31(a))),
      narrowed,
      `q15_from_q31(${a})`,
    );
    assert.equal(same(hs, "q31_to_f64", (h) => h.fns.q31_to_f64(a)), a / 2147483648);
  }
  assert.equal(hs[1]!.fns.q15_abs(-32768), 32768);
  assert.equal(hs[2]!.fns.q15_from_q31(32768), 1); // 0.5 LSB rounds up
  assert.equal(hs[2]!.fns.q15_from_q31(-32768), 0); // -0.5 LSB rounds up
});

Deno.test("float to Q15 and Q31 rounds half away from zero and saturates in every language", async () => {
  const hs = await harnesses();
  const q15Cases: [number, number][] = [
    [0.5, 16384],
    [1 / 65536, 1], // 0.5 LSB
    [-1 / 65536, -1],
    [3 / 65536, 2],
    [-3 / 65536, -2],
    [0.49999 / 32768, 0],
    [1, 32767],
    [32767 / 32768, 32767],
    [-1, -32768],
    [-2, -32768],
    [1e300, 32767],
    [Infinity, 32767],
    [-Infinity, -32768],
    [NaN, 0],
    [-0, 0],
  ];
  for (const [x, want] of q15Cases) {
    assert.equal(same(hs, `q15_from_f64(${x})`, (h) => h.fns.q15_from_f64(x)), want, `q15_from_f64(${x})`);
  }
  const q31Cases: [number, number][] = [
    [0.5, 1073741824],
    [1 / 2 ** 32, 1],
    [-1 / 2 ** 32, -1],
    [3 / 2 ** 32, 2],
    [1, 2147483647],
    [-1, -2147483648],
    [NaN, 0],
    [-Infinity, -2147483648],
  ];
  for (const [x, want] of q31Cases) {
    assert.equal(same(hs, `q31_from_f64(${x})`, (h) => h.fns.q31_from_f64(x)), want, `q31_from_f64(${x})`);
  }
  const next = prng(99);
  for (let i = 0; i < 2000; i++) {
    const x = (next() - 0.5) * 2.2;
    same(hs, `q15_from_f64(${x})`, (h) => h.fns.q15_from_f64(x));
    same(hs, `q31_from_f64(${x})`, (h) => h.fns.q31_from_f64(x));
  }
});

/** Integer square root by BigInt bisection, independent of the implementations. */
function isqrtBig(x: bigint): bigint {
  let lo = 0n;
  let hi = 1n << 32n;
  while (hi - lo > 1n) {
    const mid = (lo + hi) >> 1n;
    if (mid * mid <= x) lo = mid;
    else hi = mid;
  }
  return lo;
}

Deno.test("the integer square root is the exact floor for edge and random 64-bit values", async () => {
  const hs = await harnesses();
  const next = prng(3);
  const values: bigint[] = [
    0n,
    1n,
    2n,
    3n,
    4n,
    15n,
    16n,
    17n,
    (2n ** 32n - 1n) ** 2n,
    (2n ** 32n - 1n) ** 2n - 1n,
  ];
  values.push(2n ** 64n - 1n, 2n ** 62n, 2n ** 62n - 1n, 2n ** 63n);
  for (let i = 0; i < 500; i++) {
    values.push((BigInt(Math.floor(next() * 2 ** 32)) << 32n) | BigInt(Math.floor(next() * 2 ** 32)));
  }
  for (const x of values) {
    const got = same(hs, `isqrt_u64(${x})`, (h) => h.fns.isqrt_u64(BigInt.asIntN(64, x)) >>> 0);
    assert.equal(BigInt(got), isqrtBig(x), `isqrt_u64(${x})`);
  }
});

/** `floor(sqrt(S / n) + 1/2)` checked by its defining inequality `(2r - 1)^2 n <= 4S < (2r + 1)^2 n`. */
function assertRms(r: number, samples: ArrayLike<number>): void {
  let s = 0n;
  for (let i = 0; i < samples.length; i++) s += BigInt(samples[i]!) ** 2n;
  const n = BigInt(samples.length);
  const two = 2n * BigInt(r);
  assert.ok((two - 1n) ** 2n * n <= 4n * s || r === 0, `rms ${r} is too large for sum ${s} over ${n}`);
  assert.ok(4n * s < (two + 1n) ** 2n * n, `rms ${r} is too small for sum ${s} over ${n}`);
}

/** Mean rounded half away from zero, by magnitude, with BigInt. */
function expectedMean(samples: ArrayLike<number>): number {
  let s = 0n;
  for (let i = 0; i < samples.length; i++) s += BigInt(samples[i]!);
  const n = BigInt(samples.length);
  const mag = (2n * (s < 0n ? -s : s) + n) / (2n * n);
  return Number(s < 0n ? -mag : mag);
}

/** The first index of the largest |x|. */
function expectedPeak(samples: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < samples.length; i++) {
    if (best < 0 || Math.abs(samples[i]!) > Math.abs(samples[best]!)) best = i;
  }
  return best;
}

Deno.test("mean, RMS and peak of Q15 vectors are exact and identical, ties and full scale included", async () => {
  const hs = await harnesses();
  const next = prng(2026);
  const vectors: number[][] = [
    [1, 0, 0, 0], // RMS sqrt(1/4) = 0.5: a tie, rounds up to 1
    [3, 4],
    [-32768, -32768, -32768],
    new Array(N).fill(-32768),
    new Array(N).fill(32767),
    [1, -2], // mean -0.5: half away from zero gives -1
    [1, 2], // mean 1.5 -> 2
    [5, -5, 5, -5], // equal magnitudes: the first is the peak
    [0, -32768, 32767, -32768],
    [7],
  ];
  for (let v = 0; v < 40; v++) {
    const length = 1 + Math.floor(next() * 4000);
    const scale = [1, 16, 3000, 32768][v % 4]!;
    vectors.push(Array.from({ length }, () => clamp(Math.round((next() - 0.5) * 2 * scale), -32768, 32767)));
  }
  for (const vector of vectors) {
    const label = `vector of ${vector.length} starting ${vector.slice(0, 4).join(", ")}`;
    const mean = same(
      hs,
      `q15_mean, ${label}`,
      (h) => h.fns.q15_mean(writeI16(h, SAMPLES_AT, vector), vector.length),
    );
    assert.equal(mean, expectedMean(vector), `q15_mean, ${label}`);
    const rms = same(
      hs,
      `q15_rms, ${label}`,
      (h) => h.fns.q15_rms(writeI16(h, SAMPLES_AT, vector), vector.length),
    );
    assertRms(rms, vector);
    const peak = same(
      hs,
      `q15_peak, ${label}`,
      (h) => h.fns.q15_peak(writeI16(h, SAMPLES_AT, vector), vector.length),
    );
    assert.equal(peak, expectedPeak(vector), `q15_peak, ${label}`);
  }
  const c = hs[0]!;
  assert.equal(c.fns.q15_rms(writeI16(c, SAMPLES_AT, [1, 0, 0, 0]), 4), 1);
  assert.equal(c.fns.q15_rms(writeI16(c, SAMPLES_AT, new Array(N).fill(-32768)), N), 32768);
  assert.equal(c.fns.q15_mean(writeI16(c, SAMPLES_AT, [1, -2]), 2), -1);
  for (const h of hs) {
    assert.equal(h.fns.q15_rms(h.fns.buffer(), 0), 0, `${h.lang}: RMS of nothing`);
    assert.equal(h.fns.q15_peak(h.fns.buffer(), 0), -1, `${h.lang}: peak of nothing`);
  }
});

Deno.test("the spectrum peak is the first largest bin at or after the first bin asked for", async () => {
  const hs = await harnesses();
  const next = prng(11);
  const cases: [number[], number, number][] = [
    [[9, 1, 5, 5, 2], 1, 2], // DC skipped, the first of two equal maxima
    [[9, 1, 5, 5, 2], 0, 0],
    [[0, 0, 0], 1, 1], // all zero: the first bin asked for
    [[4294967295, 3, 4294967295], 1, 2], // the largest u32 compares unsigned
    [[1, 2], 2, -1], // nothing at or after bin 2
  ];
  for (let i = 0; i < 20; i++) {
    const power = Array.from({ length: N / 2 }, () => Math.floor(next() * 2 ** 31));
    let best = 1;
    for (let k = 2; k < power.length; k++) if (power[k]! > power[best]!) best = k;
    cases.push([power, 1, best]);
  }
  for (const [power, first, want] of cases) {
    const got = same(
      hs,
      "spectrum_peak_bin",
      (h) => h.fns.spectrum_peak_bin(writeU32(h, 0, power), power.length, first),
    );
    assert.equal(got, want, `spectrum_peak_bin of ${power.slice(0, 5).join(", ")} from ${first}`);
  }
});

Deno.test("the Hann window and twiddle tables are the same in every language and within 1 LSB of exact", async () => {
  const hs = await harnesses();
  const twiddles = same(hs, "twiddle table", (h) => Array.from({ length: N }, (_, i) => h.fns.twiddle(i)));
  const window = same(hs, "Hann table", (h) => Array.from({ length: N }, (_, i) => h.fns.hann(i)));
  for (let k = 0; k < N / 2; k++) {
    const a = (2 * Math.PI * k) / N;
    assert.ok(Math.abs(twiddles[2 * k]! - 32767 * Math.cos(a)) <= 0.5 + 1e-6, `cos twiddle ${k}`);
    assert.ok(Math.abs(twiddles[2 * k + 1]! + 32767 * Math.sin(a)) <= 0.5 + 1e-6, `sin twiddle ${k}`);
  }
  for (let n = 0; n < N; n++) {
    const w = 32767 * (0.5 - 0.5 * Math.cos((2 * Math.PI * n) / N));
    assert.ok(Math.abs(window[n]! - w) <= 0.5 + 1e-6, `Hann coefficient ${n}: ${window[n]} for ${w}`);
  }
});

/** The DFT of `data` (interleaved complex) in doubles. */
function dft(data: Int16Array): Float64Array {
  const out = new Float64Array(2 * N);
  for (let k = 0; k < N; k++) {
    let re = 0;
    let im = 0;
    for (let n = 0; n < N; n++) {
      const a = (-2 * Math.PI * ((k * n) % N)) / N;
      const c = Math.cos(a);
      const s = Math.sin(a);
      re += data[2 * n]! * c - data[2 * n + 1]! * s;
      im += data[2 * n]! * s + data[2 * n + 1]! * c;
    }
    out[2 * k] = re;
    out[2 * k + 1] = im;
  }
  return out;
}

/** 1024-sample test signals: the simulated vibration sensor (healthy, bearing fault), tones, edges, noise. */
function signals(): { name: string; samples: Int16Array }[] {
  const list: { name: string; samples: Int16Array }[] = [];
  const sensor = new SimVibrationSensor({ id: "vibration_1", rateHz: 25_600, seed: 1 });
  const healthy = new Int16Array(N);
  sensor.fill(healthy);
  list.push({ name: "vibration, healthy", samples: healthy });
  sensor.fault = "bearing";
  const faulty = new Int16Array(N);
  for (let i = 0; i < 4; i++) sensor.fill(faulty); // the impacts ring up after the first windows
  list.push({ name: "vibration, bearing fault", samples: faulty });
  list.push({
    name: "tone in bin 37",
    samples: Int16Array.from(
      { length: N },
      (_, n) => Math.round(20000 * Math.sin((2 * Math.PI * 37 * n) / N)),
    ),
  });
  list.push({
    name: "full-scale square",
    samples: Int16Array.from({ length: N }, (_, n) => (n & 64 ? 32767 : -32768)),
  });
  list.push({
    name: "alternating full scale",
    samples: Int16Array.from({ length: N }, (_, n) => (n & 1 ? 32767 : -32768)),
  });
  list.push({ name: "impulse", samples: Int16Array.from({ length: N }, (_, n) => (n === 512 ? -32768 : 0)) });
  list.push({ name: "zeros", samples: new Int16Array(N) });
  list.push({ name: "small", samples: Int16Array.from({ length: N }, (_, n) => (n % 3) - 1) });
  for (const seed of [1, 2, 3]) {
    const next = prng(seed);
    list.push({ name: `noise ${seed}`, samples: Int16Array.from({ length: N }, () => randomQ15(next)) });
  }
  return list;
}

Deno.test("the 1024-point Q15 FFT with its block exponent and power spectrum is bit-identical across languages and close to the exact DFT", async () => {
  const hs = await harnesses();
  const window = Array.from({ length: N }, (_, i) => hs[0]!.fns.hann(i));
  for (const { name, samples } of signals()) {
    const dc = expectedMean(samples);
    const windowed = same(hs, `${name}: window`, (h) => {
      h.fns.fft_window(writeI16(h, SAMPLES_AT, samples), dc, h.fns.buffer() + DATA_AT);
      return readI16(h, h.fns.buffer() + DATA_AT, 2 * N);
    });
    for (let n = 0; n < N; n++) {
      const v = clamp(Math.floor(((samples[n]! - dc) * window[n]! + 16384) / 32768), -32767, 32767);
      assert.equal(windowed[2 * n], v, `${name}: windowed sample ${n}`);
      assert.equal(windowed[2 * n + 1], 0);
    }
    const { exponent, spectrum } = same(hs, `${name}: FFT`, (h) => {
      const data = h.fns.buffer() + DATA_AT;
      const exponent = h.fns.fft(data);
      return { exponent, spectrum: readI16(h, data, 2 * N) };
    });
    const power = same(hs, `${name}: power`, (h) => {
      h.fns.fft_power(h.fns.buffer() + DATA_AT, h.fns.buffer() + POWER_AT);
      return readU32(h, h.fns.buffer() + POWER_AT, N / 2);
    });
    for (let k = 0; k < N / 2; k++) {
      assert.equal(power[k], spectrum[2 * k]! ** 2 + spectrum[2 * k + 1]! ** 2, `${name}: power of bin ${k}`);
    }
    assert.ok(exponent >= 0 && exponent <= 20, `${name}: exponent ${exponent}`);
    // The block scaled by 2^e approximates the exact DFT of the windowed samples. The rounding of 10 stages
    // (half up, so biased) leaves errors of a few blocks' LSBs, up to 106 for a lone full-scale impulse; a
    // wrong twiddle, stage or shift errs by the size of the spectrum's peak (2^e * 2^13 and more).
    const exact = dft(windowed);
    let peak = 0;
    for (const v of exact) peak = Math.max(peak, Math.abs(v));
    let worst = 0;
    for (let i = 0; i < 2 * N; i++) {
      worst = Math.max(worst, Math.abs(spectrum[i]! * 2 ** exponent - exact[i]!));
    }
    assert.ok(
      worst <= 2 ** exponent * 128,
      `${name}: FFT error ${worst} with exponent ${exponent}, peak ${peak}`,
    );
    if (name.startsWith("tone")) {
      assert.equal(
        same(hs, `${name}: peak bin`, (h) => h.fns.spectrum_peak_bin(h.fns.buffer() + POWER_AT, N / 2, 1)),
        37,
      );
    }
  }
});
