/**
 * The replayer's {@linkcode CallTap}: in place of the host, it answers every captured import from the trace
 * (a fed value is written back where the host wrote it, every result is the recorded one), compares what the
 * module asks of the host with what it asked when recorded, and hashes what the module did. Private to
 * `runtime/record/`.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { ModuleFault } from "../executor/protocol.ts";
import {
  type CallTap,
  type HostFn,
  type InvocationRecord,
  MemoryReader,
  type TraceValue,
  wrapWithCodecs,
} from "./tap.ts";
import { encodeFrame, showValue } from "./format.ts";

/** Where a replay first did something else than the recording. */
export interface Divergence {
  /** The invocation's sequence number (0: the start, `kiln_init`). */
  invocation: number;
  entry: string;
  /** Index of the host call within the invocation, or null for the invocation's result. */
  call: number | null;
  /** What differs, e.g. `kiln.output argument 1`. */
  what: string;
  /** As recorded. */
  expected: string;
  /** As replayed. */
  actual: string;
}

/** Thrown out of a host import to stop the module at its first divergence. */
class Diverged extends Error {}

/** True when `a` and `b` are the same value: bit-exact, or floats within `tolerance`. */
function same(a: TraceValue, b: TraceValue, tolerance: number, floats32: boolean): boolean {
  if (typeof a === "number" && typeof b === "number") {
    if (Object.is(a, b)) return true;
    if (Number.isNaN(a) || Number.isNaN(b)) return false;
    return tolerance > 0 && Math.abs(a - b) <= tolerance;
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    if (a.every((x, i) => x === b[i])) return true;
    if (tolerance <= 0 || !floats32 || a.length % 4 !== 0) return false;
    const fa = new Float32Array(a.slice().buffer), fb = new Float32Array(b.slice().buffer);
    return fa.every((x, i) => same(x, fb[i]!, tolerance, false));
  }
  return a === b;
}

/** Replays one trace once; create a new one per run. */
export class ReplayTap implements CallTap {
  divergence: Divergence | null = null;
  readonly #tolerance: number;
  readonly #hash: Hash = createHash("sha256");
  #memory: MemoryReader | null = null;
  #inv: InvocationRecord | null = null;
  #call = 0;

  constructor(tolerance: number) {
    this.#tolerance = tolerance;
  }

  /** The invocation the next `begin` must be. */
  expect(record: InvocationRecord): void {
    this.#inv = record;
    this.#call = 0;
  }

  /** The sha256 of everything the module did (effects with their arguments, results, faults), hex. */
  digest(): string {
    return this.#hash.digest("hex");
  }

  wrap(
    namespace: "kiln" | "wasi",
    imports: Record<string, HostFn>,
    memory: () => WebAssembly.Memory | null,
  ): Record<string, HostFn> {
    this.#memory ??= new MemoryReader(memory);
    const reader = this.#memory;
    // The imports without a codec are pure given the instance spec (params, data, the rest of WASI).
    return wrapWithCodecs(namespace, imports, (full, codec) => (...args: unknown[]): unknown => {
      const inv = this.#inv!;
      const index = this.#call++;
      const actual = codec.args(reader, args);
      const expected = inv.calls[index];
      if (expected === undefined) {
        this.#diverge(index, "host calls", "no more", `${full}(${actual.map(showValue).join(", ")})`);
      } else if (expected.name !== full) {
        this.#diverge(
          index,
          "host call",
          `${expected.name}(${expected.args.map(showValue).join(", ")})`,
          `${full}(${actual.map(showValue).join(", ")})`,
        );
      }
      const rec = expected!;
      const floats = full === "kiln.output_array";
      for (let i = 0; i < Math.max(actual.length, rec.args.length); i++) {
        const a = actual[i] ?? null, e = rec.args[i] ?? null;
        if (!same(e, a, this.#tolerance, floats)) {
          this.#diverge(index, `${full} argument ${i}`, showValue(e), showValue(a));
        }
      }
      if (codec.role === "effect") {
        this.#hash.update(encodeFrame({ n: full, a: actual, r: rec.result }));
      }
      const where = codec.out?.(args) ?? null;
      if (where !== null && rec.out !== null) reader.write(where[0], rec.out);
      return rec.result;
    });
  }

  begin(entry: string, _args: readonly (number | bigint)[]): void {
    const inv = this.#inv!;
    if (entry !== inv.entry) this.#diverge(null, "entry", inv.entry, entry, false);
    this.#hash.update(`#${inv.seq}:${entry}`);
  }

  end(rc: number | bigint | null, fault: ModuleFault | null): void {
    if (this.divergence !== null) return;
    const inv = this.#inv!;
    const kind = fault?.kind ?? null;
    this.#hash.update(encodeFrame({ rc, fault: kind }));
    if (this.#call < inv.calls.length) {
      const next = inv.calls[this.#call]!;
      this.#diverge(
        this.#call,
        "host calls",
        `${next.name}(${next.args.map(showValue).join(", ")})`,
        "none (the handler returned)",
        false,
      );
    } else if (kind !== inv.fault) {
      this.#diverge(null, "fault", String(inv.fault), String(kind), false);
    } else if (!same(inv.rc as TraceValue, rc as TraceValue, 0, false)) {
      this.#diverge(null, "return value", showValue(inv.rc), showValue(rc), false);
    }
  }

  #diverge(call: number | null, what: string, expected: string, actual: string, stop = true): void {
    const inv = this.#inv!;
    this.divergence ??= { invocation: inv.seq, entry: inv.entry, call, what, expected, actual };
    if (stop) throw new Diverged(`replay diverged at invocation ${inv.seq}`);
  }
}
