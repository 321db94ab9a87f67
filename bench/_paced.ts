/**
 * Compute at the plant's pace (issue 20): a module in the plant is called 25-100 times a second, and its
 * caches, branch predictors and the host's JIT state are cold between calls, unlike in a hot loop. Each side
 * here sleeps between two timed calls, the way it would wait for its next window:
 *
 * - native: bench/native/module_bench.c with `--pace-us` (`nanosleep`);
 * - raw Deno: the module's own binary (not instrumented) instantiated in V8 with stub host imports, each call
 *   timed around the window's copy into linear memory and `kiln_on_samples`;
 * - Kiln: the module as the executor runs it (`ModuleInstance.pushSamples`: instrumented, budget-checked,
 *   its host imports real), sleeping with `Atomics.wait` as an executor sleeps on its doorbell;
 * - Kiln in the plant ({@linkcode executorPaced}): a runtime in this process with one simulated 25.6 kHz
 *   vibration sensor and the module alone on it, its samples sent to its executor worker in batches of about
 *   20 ms, each call's duration from the executor's own per-call traces (`observability.traces.every: 1`).
 *
 * @module
 */
import { createRuntime } from "../runtime/mod.ts";
import { distribution, module, plan, ROOT } from "./_plan.ts";

/** The paces measured, ms between calls: 100 and 25 calls a second. */
export const PACES_MS: readonly number[] = [10, 40];

/** One side of a paced comparison: a call on the i-th window. */
export type PacedCall = (window: Int16Array) => void;

/** The native side: runs the program paced and returns its `invocation_ns`. */
export type PacedNative = (paceUs: number, iterations: number) => Promise<number[]>;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Sleeps `ms` on this thread, as an executor's loop does on its doorbell (`Atomics.wait`). */
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Times `calls` paced calls of `f`, us each. */
function pacedRun(f: PacedCall, windows: readonly Int16Array[], paceMs: number, calls: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < calls; i++) {
    const w = windows[i % windows.length]!;
    sleepMs(paceMs);
    const t0 = performance.now();
    f(w);
    times.push((performance.now() - t0) * 1000);
  }
  return times;
}

/**
 * Kiln, raw Deno and native (when built) at each pace of {@linkcode PACES_MS}: `rounds` rounds of `calls`
 * calls per side, the order of the sides rotating each round. The ratios are of p50s over all rounds' calls.
 */
export async function pacedCase(options: {
  kiln: PacedCall;
  raw: PacedCall;
  native: PacedNative | null;
  windows: readonly Int16Array[];
  rounds: number;
  calls: number;
}) {
  const { kiln, raw, native, windows, rounds, calls } = options;
  const out: Record<string, unknown> = {};
  for (const paceMs of PACES_MS) {
    const times = { kiln: [] as number[], raw: [] as number[], native: [] as number[] };
    const sides: (keyof typeof times)[] = ["native", "raw", "kiln"];
    for (let round = 0; round < rounds; round++) {
      for (let s = 0; s < sides.length; s++) {
        const side = sides[(s + round) % sides.length]!;
        if (side === "native") {
          if (native) times.native.push(...(await native(paceMs * 1000, calls)).map((ns) => ns / 1000));
        } else times[side].push(...pacedRun(side === "kiln" ? kiln : raw, windows, paceMs, calls));
      }
    }
    const kilnUs = distribution(times.kiln, 2);
    const rawUs = distribution(times.raw, 2);
    const nativeUs = native ? distribution(times.native, 2) : null;
    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    out[`every_${paceMs}_ms`] = {
      kiln_us: kilnUs,
      raw_deno_us: rawUs,
      native_us: nativeUs,
      /** Kiln p50 / native p50 (the target: <= 1.5x). */
      ratio: nativeUs ? ratio(kilnUs.p50, nativeUs.p50) : null,
      raw_deno_ratio: nativeUs ? ratio(rawUs.p50, nativeUs.p50) : null,
      kiln_to_raw_deno: ratio(kilnUs.p50, rawUs.p50),
    };
  }
  return out;
}

/** Calls of the plant run left out at the start: the module's first calls compile lazily (Liftoff). */
const PLANT_SKIPPED_CALLS = 25;

/**
 * The module `kind` in a running runtime fed by a simulated 25.6 kHz vibration sensor for `seconds`, at each
 * pace of {@linkcode PACES_MS} (its hop: 256 samples is 10 ms, 1024 is 40 ms; the runtime sends samples in
 * batches of about 20 ms, so at 10 ms two calls follow each other in one batch): each call's duration as the
 * executor traced it, after the first {@linkcode PLANT_SKIPPED_CALLS}.
 */
export async function executorPaced(
  kind: "fft" | "anomaly",
  seconds: number,
): Promise<Record<string, { kiln_executor_us: ReturnType<typeof distribution>; hop: number }>> {
  const out: Record<string, { kiln_executor_us: ReturnType<typeof distribution>; hop: number }> = {};
  for (const paceMs of PACES_MS) {
    const hop = (paceMs * 25_600) / 1000;
    const m = module({
      name: kind,
      wasm: `${ROOT}modules/${kind}/${kind}.wasm`,
      schedule: { mode: "stream", source: "sim:v", window: 1024, hop, priority: 50 },
      budgetUs: 100_000,
      capabilities: kind === "fft" ? ["read:sim:v", "write:channel:unused"] : ["read:sim:v"],
      data: kind === "anomaly"
        ? [{ name: "weights", path: `${ROOT}modules/anomaly/weights.bin`, sha256: null }]
        : [],
    });
    const rt = await createRuntime({
      plan: plan([{ id: "v", kind: "vibration", rateHz: 25_600, seed: 21 }], [m]),
      version: "bench",
      log: () => {},
    });
    rt.traces.configure({ every: 1, ringSize: 100 });
    const durations: number[] = [];
    using _ = rt.traces.subscribe((e) => {
      if (e.module === kind && e.invocation > PLANT_SKIPPED_CALLS) durations.push(e.durationUs);
    });
    try {
      await rt.start();
      await new Promise((r) => setTimeout(r, seconds * 1000));
    } finally {
      await rt[Symbol.asyncDispose]();
    }
    out[`every_${paceMs}_ms`] = { kiln_executor_us: distribution(durations, 2), hop };
  }
  return out;
}
