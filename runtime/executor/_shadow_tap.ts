/**
 * The candidate's {@linkcode CallTap} in a shadow run: it answers the candidate's inputs (`now_us`, `input`,
 * `gpio_read`, WASI clock and random) with what the live instance's host calls returned in the same
 * invocation, swallows every effect (output, alert, log, GPIO, actuation, channel write, publish: the host is
 * never called for them) and compares each with the live instance's. Unlike the replayer's tap it never stops
 * the candidate: calls are paired per import name, in order, so one differing output does not shift the
 * others, and each invocation is judged matched or diverged on its own. A candidate started with its own
 * `kiln_init` (`start: "init"`) runs it through this tap too: there its inputs are answered by the real host
 * (the clock, the random source, the executor's input image) and its effects swallowed, uncompared (the live
 * module's init happened long before). It runs in the executor that hosts the live module
 * (`_worker_shadow.ts`); `runtime/shadow/` keeps the main thread's side.
 *
 * @module
 */
import type { ModuleFault, ShadowDivergence } from "./protocol.ts";

export type { ShadowDivergence };
import {
  type CallTap,
  type HostCallRecord,
  type HostFn,
  type InvocationRecord,
  MemoryReader,
  showValue,
  type TraceValue,
  wrapWithCodecs,
} from "../record/tap.ts";

/** The most output names whose largest difference is kept (a module's output keys are bounded anyway). */
export const MAX_OUTPUT_NAMES = 256;

/** True when `a` and `b` are the same value: bit-exact, or floats within `tolerance`. */
function same(a: TraceValue, b: TraceValue, tolerance: number): boolean {
  if (typeof a === "number" && typeof b === "number") {
    if (Object.is(a, b)) return true;
    if (Number.isNaN(a) || Number.isNaN(b)) return false;
    return tolerance > 0 && Math.abs(a - b) <= tolerance;
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return a === b;
}

/** The largest absolute difference between two f32 arrays (Infinity when their lengths or a NaN differ). */
function arrayDiff(a: TraceValue, b: TraceValue): number {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length || a.length % 4) {
    return Infinity;
  }
  const fa = new Float32Array(a.slice().buffer), fb = new Float32Array(b.slice().buffer);
  let max = 0;
  for (let i = 0; i < fa.length; i++) {
    const d = Object.is(fa[i], fb[i]) ? 0 : Math.abs(fa[i]! - fb[i]!);
    max = Number.isNaN(d) ? Infinity : Math.max(max, d);
  }
  return max;
}

/** Compares one candidate instance with the live one, invocation by invocation. */
export class ShadowTap implements CallTap {
  /** The largest difference seen per output name (scalar and vector outputs), bounded by MAX_OUTPUT_NAMES. */
  readonly largest = new Map<string, number>();
  /** The first divergence of the shadow run, or null. */
  first: ShadowDivergence | null = null;
  /** Effects the candidate made and the host never carried out. */
  suppressed = 0;
  readonly #tolerance: number;
  #memory: MemoryReader | null = null;
  #inv: InvocationRecord | null = null;
  #seq = 0;
  /** Per import name, the live calls of the invocation not yet paired. */
  #pending = new Map<string, HostCallRecord[]>();
  #diverged = false;
  /** False during a warm-up invocation: a divergence is noted for it, never kept as first or largest. */
  #counted = true;
  /** True while the candidate starts (`begin("init")` to `end`): inputs from the host, effects swallowed. */
  #starting = false;

  constructor(tolerance: number) {
    this.#tolerance = tolerance;
  }

  /**
   * Sets the live invocation the candidate's next call is compared with; `counted` false for a warm-up
   * invocation (its divergence is not kept as the first, nor its differences as the largest).
   */
  expect(record: InvocationRecord, seq: number, counted = true): void {
    this.#inv = record;
    this.#seq = seq;
    this.#counted = counted;
    this.#diverged = false;
    this.#pending.clear();
    for (const c of record.calls) {
      const list = this.#pending.get(c.name);
      if (list) list.push(c);
      else this.#pending.set(c.name, [c]);
    }
  }

  /** Whether the invocation last expected diverged (read after the candidate's call). */
  get diverged(): boolean {
    return this.#diverged;
  }

  wrap(
    namespace: "kiln" | "wasi",
    imports: Record<string, HostFn>,
    memory: () => WebAssembly.Memory | null,
  ): Record<string, HostFn> {
    this.#memory ??= new MemoryReader(memory);
    const reader = this.#memory;
    // The imports without a codec are pure given the instance spec (params, data, the rest of WASI).
    return wrapWithCodecs(namespace, imports, (full, codec, fn) => (...args: unknown[]): unknown => {
      if (this.#starting) {
        if (codec.role === "fed") return fn(...args);
        this.suppressed++;
        return 0; // KILN_OK: swallowed, never carried out nor compared
      }
      const actual = codec.args(reader, args);
      const live = this.#pending.get(full)?.shift();
      if (codec.role === "effect") this.suppressed++;
      if (live === undefined) {
        this.#diverge(full, "host calls", "no such call", `${full}(${actual.map(showValue).join(", ")})`);
        // Not carried out; an effect reports success, an input reads as zero.
        return full === "wasi.clock_time_get" || full === "wasi.random_get"
          ? 0
          : full === "kiln.now_us"
          ? 0n
          : 0;
      }
      this.#compare(full, live.args, actual);
      const where = codec.out?.(args) ?? null;
      if (where !== null && live.out !== null) reader.write(where[0], live.out);
      return live.result;
    });
  }

  begin(entry: string, _args: readonly (number | bigint)[]): void {
    this.#starting = entry === "init";
  }

  end(rc: number | bigint | null, fault: ModuleFault | null): void {
    if (this.#starting) {
      this.#starting = false;
      return; // the candidate's own start: nothing of the live module to compare it with
    }
    const inv = this.#inv;
    if (inv === null) return;
    for (const [name, left] of this.#pending) {
      if (left.length > 0) {
        this.#diverge(name, "host calls", `${left.length} more ${name}`, "none (the handler returned)");
      }
    }
    const kind = fault?.kind ?? null;
    if (kind !== inv.fault) this.#diverge(null, "fault", String(inv.fault), String(kind));
    else if (!same(inv.rc as TraceValue, rc as TraceValue, 0)) {
      this.#diverge(null, "return value", showValue(inv.rc), showValue(rc));
    }
  }

  #compare(full: string, live: readonly TraceValue[], actual: readonly TraceValue[]): void {
    if (full === "kiln.output" || full === "kiln.output_array") {
      const key = live[0], value = live[1] ?? null, got = actual[1] ?? null;
      if (actual[0] !== key) {
        this.#diverge(full, `${full} argument 0`, showValue(key ?? null), showValue(actual[0] ?? null));
        return;
      }
      const diff = full === "kiln.output"
        ? (typeof value === "number" && typeof got === "number"
          ? (Object.is(value, got) ? 0 : Number.isNaN(value - got) ? Infinity : Math.abs(value - got))
          : Infinity)
        : arrayDiff(value, got);
      const name = String(key);
      if (!this.#counted) {
        if (diff > this.#tolerance) this.#diverged = true;
        return;
      }
      if (this.largest.has(name) || this.largest.size < MAX_OUTPUT_NAMES) {
        this.largest.set(name, Math.max(this.largest.get(name) ?? 0, diff));
      }
      if (diff > this.#tolerance) {
        this.#diverge(full, `${full} argument 1`, showValue(value), showValue(got));
      }
      return;
    }
    for (let i = 0; i < Math.max(live.length, actual.length); i++) {
      const e = live[i] ?? null, a = actual[i] ?? null;
      if (!same(e, a, this.#tolerance)) {
        this.#diverge(full, `${full} argument ${i}`, showValue(e), showValue(a));
        return;
      }
    }
  }

  #diverge(call: string | null, what: string, live: string, candidate: string): void {
    this.#diverged = true;
    if (!this.#counted) return;
    const inv = this.#inv!;
    this.first ??= { invocation: this.#seq, entry: inv.entry, call, what, live, candidate };
  }
}
