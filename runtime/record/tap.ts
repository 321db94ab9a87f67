/**
 * The executor's side of recording: a {@linkcode CallTap} sits at the host-import boundary of one module
 * instance and sees every handler call (its entry, arguments and input bytes) and every host call the
 * module makes during it. {@linkcode Recorder} keeps them as {@linkcode InvocationRecord}s; the replayer
 * (`replay.ts`) is the other tap, which feeds recorded values back in place of the host.
 *
 * What is captured, per import (`IMPORT_CODECS`):
 * - inputs the module cannot compute itself, fed back on replay: `now_us`, `input` (value, quality, age: the
 *   16 bytes written), `gpio_read`, WASI `clock_time_get` (the 8 bytes written) and `random_get` (the bytes);
 * - effects, compared on replay: `output`, `output_array`, `alert`, `log`, `gpio_write`, `actuate`,
 *   `channel_write`, `publish`, each with its decoded arguments (keys, values, payload bytes) and its result;
 * - not captured (pure given the trace's header): `param_f64`, `data`, the instrumentation's `__check`, and the
 *   rest of WASI, which replay runs through the real host.
 *
 * This file runs in the executor: it imports only types from `runtime/executor/`.
 *
 * @module
 */
import type { ModuleFault } from "../executor/protocol.ts";

/** A host import as an instance links it. */
export type HostFn = (...args: never[]) => unknown;
export type { HostCallRecord, InvocationRecord, TraceValue } from "../executor/_record_types.ts";
import type { InvocationRecord, TraceValue } from "../executor/_record_types.ts";

/**
 * What an instance tells a tap (`ModuleInstanceOptions.tap`). `wrap` is called once per namespace when the
 * instance links; `begin` and `end` around every handler call (and the start, as entry `init`).
 */
export interface CallTap {
  wrap(
    namespace: "kiln" | "wasi",
    imports: Record<string, HostFn>,
    memory: () => WebAssembly.Memory | null,
  ): Record<string, HostFn>;
  begin(entry: string, args: readonly (number | bigint)[]): void;
  end(rc: number | bigint | null, fault: ModuleFault | null): void;
}

/** How one import's call is captured: `fed` ones are fed back on replay, `effect` ones compared. */
export interface ImportCodec {
  role: "fed" | "effect";
  /** The arguments as the host reads them (before the call). */
  args(mem: MemoryReader, args: readonly unknown[]): TraceValue[];
  /** Where the host writes its answer: `[ptr, len]`, or null. */
  out?(args: readonly unknown[]): [number, number] | null;
}

/** Bounds-checked reads of an instance's memory. */
export class MemoryReader {
  #memory: () => WebAssembly.Memory | null;
  constructor(memory: () => WebAssembly.Memory | null) {
    this.#memory = memory;
  }
  /** A copy of `[ptr, ptr + len)`, or null when outside memory. */
  bytes(ptr: unknown, len: unknown): Uint8Array | null {
    const p = (ptr as number) >>> 0, n = (len as number) >>> 0;
    const buf = this.#memory()?.buffer;
    if (!buf || p + n > buf.byteLength) return null;
    return new Uint8Array(buf, p, n).slice();
  }
  /** UTF-8 text at `[ptr, ptr + len)` cut at `max` bytes, or null. */
  text(ptr: unknown, len: unknown, max = 1024): string | null {
    const p = (ptr as number) >>> 0, n = Math.min((len as number) >>> 0, max);
    const buf = this.#memory()?.buffer;
    // Decoded from a view: no copy of the bytes first.
    return !buf || p + n > buf.byteLength ? null : decoder.decode(new Uint8Array(buf, p, n));
  }
  /** Writes `bytes` at `ptr` when it fits; false otherwise. */
  write(ptr: number, bytes: Uint8Array): boolean {
    const buf = this.#memory()?.buffer;
    if (!buf || (ptr >>> 0) + bytes.length > buf.byteLength) return false;
    new Uint8Array(buf, ptr >>> 0, bytes.length).set(bytes);
    return true;
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });
const num = (v: unknown): number => v as number;

/** The captured imports, by `<namespace>.<name>`; a null-prototype table (import names are the module's). */
export const IMPORT_CODECS: Readonly<Record<string, ImportCodec>> = Object.assign(
  Object.create(null),
  {
    "kiln.now_us": { role: "fed", args: () => [] },
    "kiln.input": { role: "fed", args: (_m, a) => [num(a[0])], out: (a) => [num(a[1]), 16] },
    "kiln.gpio_read": { role: "fed", args: (_m, a) => [num(a[0])] },
    "wasi.clock_time_get": { role: "fed", args: (_m, a) => [num(a[0])], out: (a) => [num(a[2]), 8] },
    "wasi.random_get": {
      role: "fed",
      args: (_m, a) => [num(a[1]) >>> 0],
      out: (a) => [num(a[0]), num(a[1])],
    },
    "kiln.log": { role: "effect", args: (m, a) => [num(a[0]), m.text(a[1], a[2])] },
    "kiln.output": { role: "effect", args: (m, a) => [m.text(a[0], a[1], 128), num(a[2])] },
    "kiln.output_array": {
      role: "effect",
      args: (m, a) => [m.text(a[0], a[1], 128), m.bytes(a[2], Math.min(num(a[3]) >>> 0, 4096) * 4)],
    },
    "kiln.alert": { role: "effect", args: (m, a) => [num(a[0]), m.text(a[1], a[2])] },
    "kiln.gpio_write": { role: "effect", args: (_m, a) => [num(a[0]), num(a[1])] },
    "kiln.actuate": { role: "effect", args: (_m, a) => [num(a[0]), num(a[1])] },
    "kiln.channel_write": {
      role: "effect",
      args: (m, a) => [num(a[0]), m.bytes(a[1], Math.min(num(a[2]) >>> 0, 1 << 20))],
    },
    "kiln.publish": {
      role: "effect",
      args: (m, a) => [m.text(a[0], a[1], 256), m.bytes(a[2], Math.min(num(a[3]) >>> 0, 65_536))],
    },
  } satisfies Record<string, ImportCodec>,
);

/**
 * The imports of `namespace` with each one that has a codec (`IMPORT_CODECS`) replaced by
 * `wrapOne(full name, codec, the original)`; the others (pure given the instance spec) as they are. The
 * recorder, the replayer and the shadow tap wrap imports this way.
 */
export function wrapWithCodecs(
  namespace: "kiln" | "wasi",
  imports: Record<string, HostFn>,
  wrapOne: (full: string, codec: ImportCodec, fn: (...args: unknown[]) => unknown) => HostFn,
): Record<string, HostFn> {
  const out: Record<string, HostFn> = Object.create(null);
  for (const name of Object.keys(imports)) {
    const full = `${namespace}.${name}`;
    const codec = IMPORT_CODECS[full];
    const fn = imports[name]!;
    out[name] = codec === undefined ? fn : wrapOne(full, codec, fn as (...args: unknown[]) => unknown);
  }
  return out;
}

/** Where each handler's input lies, from its arguments: `[ptr, len]` in bytes, or null. */
export function inputRange(entry: string, args: readonly (number | bigint)[]): [number, number] | null {
  switch (entry) {
    case "kiln_on_samples":
      return [Number(args[0]), Number(args[1]) * 2];
    case "kiln_on_record":
      return [Number(args[0]), Number(args[1])];
    case "kiln_on_event":
      return [Number(args[1]), Number(args[2])];
    default:
      return null;
  }
}

/** The scalar arguments kept for an entry (pointers and lengths are the host's choice, not the module's). */
export function scalarArgs(entry: string, args: readonly (number | bigint)[]): (number | bigint)[] {
  if (entry === "kiln_on_tick") return [args[0]!];
  if (entry === "kiln_on_event") return [args[0]!];
  return [];
}

/** Options of {@linkcode Recorder}. */
export interface RecorderOptions {
  /** Receives each finished invocation (the executor batches them to the main thread). */
  emit(record: InvocationRecord): void;
  /** Whether recording starts at once. @default {true} */
  active?: boolean;
}

/**
 * Records one instance's invocations. Linked in at instantiation; while `active` is false, every wrapped
 * import costs one boolean check and nothing is kept.
 */
export class Recorder implements CallTap {
  /** Whether calls are captured now (the executor turns it on and off between handler calls). */
  active: boolean;
  #emit: (record: InvocationRecord) => void;
  #memory: MemoryReader | null = null;
  #current: InvocationRecord | null = null;
  #seq = 0;

  constructor(options: RecorderOptions) {
    this.#emit = options.emit;
    this.active = options.active ?? true;
  }

  wrap(
    namespace: "kiln" | "wasi",
    imports: Record<string, HostFn>,
    memory: () => WebAssembly.Memory | null,
  ): Record<string, HostFn> {
    this.#memory ??= new MemoryReader(memory);
    const reader = this.#memory;
    return wrapWithCodecs(namespace, imports, (full, codec, fn) => (...args: unknown[]): unknown => {
      const current = this.#current;
      if (!this.active || current === null) return fn(...args);
      const decoded = codec.role === "effect" ? codec.args(reader, args) : null;
      const result = fn(...args) as number | bigint;
      const where = codec.out?.(args) ?? null;
      current.calls.push({
        name: full,
        args: decoded ?? codec.args(reader, args),
        result,
        out: where === null ? null : reader.bytes(where[0], where[1]),
      });
      return result;
    });
  }

  /**
   * Starts recording a running instance between two handler calls: emits the trace's start record (seq 0,
   * entry `init`, no host calls) and captures from the next call on. The caller captures the instance's
   * memory image at the same point (`ModuleInstance.capture()`) for the trace's header (`start`).
   */
  activate(): void {
    this.active = true;
    this.#seq = 0;
    this.#emit({ seq: 0, entry: "init", args: [], input: null, calls: [], rc: 0, fault: null });
  }

  begin(entry: string, args: readonly (number | bigint)[]): void {
    if (!this.active) {
      this.#current = null;
      return;
    }
    const range = inputRange(entry, args);
    this.#current = {
      seq: entry === "init" ? 0 : ++this.#seq,
      entry,
      args: scalarArgs(entry, args),
      input: range === null ? null : this.#memory?.bytes(range[0], range[1]) ?? null,
      calls: [],
      rc: null,
      fault: null,
    };
  }

  end(rc: number | bigint | null, fault: ModuleFault | null): void {
    const current = this.#current;
    this.#current = null;
    if (current === null) return;
    current.rc = rc;
    current.fault = fault?.kind ?? null;
    this.#emit(current);
  }
}

/** A value as text, for a divergence's diff. */
export function showValue(v: TraceValue): string {
  if (v instanceof Uint8Array) {
    const hex = Array.from(v.subarray(0, 32), (b) => b.toString(16).padStart(2, "0")).join("");
    return `<${v.length} bytes ${hex}${v.length > 32 ? "..." : ""}>`;
  }
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" && Object.is(v, -0)) return "-0";
  return String(v);
}
