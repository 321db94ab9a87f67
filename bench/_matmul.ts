/**
 * The FP32 matrix multiplication case of bench/compute.ts: bench/native/matmul_f32.c (512 x 512, i-k-j) built
 * with clang-19 --target=wasm32 -O2 -msimd128 and run in Deno's V8, plain and with Kiln's interrupt-check
 * instrumentation, against the same file built with gcc -O2 (bench/native/matmul_main.c times it). Rounds
 * rotate which variant goes first; the result matrices must hash the same, or it fails.
 *
 * @module
 */
import { DEFAULT_CHECK_INTERVAL, instrument } from "../runtime/wasm/mod.ts";
import { distribution } from "./_plan.ts";
import { CLANG_WASM_FLAGS, compile, CompilerMissingError, GCC_FLAGS, runJson } from "./_native.ts";

const us = (ns: number[]) => ns.map((n) => n / 1000);
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

/**
 * Runs the case: `rounds` rounds of `iterations` multiplications per variant. Returns `{ reason }` when a
 * compiler is not installed.
 *
 * @throws {Error} when the builds' results differ or a build fails.
 */
export async function matmulCase(options: { rounds: number; iterations: number }) {
  const { rounds, iterations } = options;
  let nativeProgram: string;
  let wasmPath: string;
  try {
    nativeProgram = await compile("gcc", "matmul_native", {
      sources: ["bench/native/matmul_main.c", "bench/native/matmul_f32.c"],
      flags: GCC_FLAGS,
    });
    wasmPath = await compile("clang-19", "matmul_f32.wasm", {
      sources: ["bench/native/matmul_f32.c"],
      flags: CLANG_WASM_FLAGS,
    });
  } catch (err) {
    if (!(err instanceof CompilerMissingError)) throw err;
    return { reason: err.message };
  }
  const bytes = await Deno.readFile(wasmPath);
  const instantiate = (b: Uint8Array<ArrayBuffer>) => {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(b), {
      kiln: { __check: () => DEFAULT_CHECK_INTERVAL },
    }).exports as Record<string, CallableFunction>;
    exports.matmul_fill!(7);
    return exports;
  };
  const variants = {
    plain: instantiate(bytes),
    instrumented: instantiate(instrument(bytes, {}).bytes as Uint8Array<ArrayBuffer>),
  };
  const size = variants.plain.matmul_size!() as number;
  const samples = { plain: [] as number[], instrumented: [] as number[], native: [] as number[] };
  const checksums = new Set<number>();
  for (const v of Object.values(variants)) v.matmul_run!();
  const runWasm = (name: keyof typeof variants) => {
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      variants[name].matmul_run!();
      samples[name].push((performance.now() - t0) * 1000);
    }
    checksums.add((variants[name].matmul_checksum!() as number) >>> 0);
  };
  const runNative = async () => {
    const r = await runJson<{ run_ns: number[]; checksum: number }>(nativeProgram, [
      "7",
      "2",
      String(iterations),
    ]);
    samples.native.push(...us(r.run_ns));
    checksums.add(r.checksum);
  };
  for (let round = 0; round < rounds; round++) {
    const order = [() => runNative(), () => runWasm("plain"), () => runWasm("instrumented")];
    for (let k = 0; k < order.length; k++) await order[(round + k) % order.length]!();
  }
  if (checksums.size !== 1) {
    throw new Error(`The Wasm and native matmul_f32 results differ: checksums ${[...checksums].join(", ")}`);
  }
  const plain = distribution(samples.plain, 0);
  const instrumented = distribution(samples.instrumented, 0);
  const native = distribution(samples.native, 0);
  return {
    size: `${size}x${size} times ${size}x${size}`,
    wasm_us: plain,
    wasm_instrumented_us: instrumented,
    native_us: native,
    ratio: ratio(plain.p50, native.p50),
    instrumented_ratio: ratio(instrumented.p50, native.p50),
    outputs_match: true,
  };
}
