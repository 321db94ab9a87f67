/**
 * The main thread's side of a recording: the trace's header from the module as loaded and the instance spec
 * the executor got, and a {@linkcode RecordingSession} that takes the invocations the executor's recorder
 * sends, stops at its bound (a number of invocations, a duration, a disk budget) and writes the trace file.
 *
 * @module
 */
import { ABI_VERSION } from "../abi.ts";
import { type LoadedModule, sha256Hex } from "../loader.ts";
import { ringStats } from "../executor/ring.ts";
import type { InstanceSpec } from "../executor/protocol.ts";
import type { InvocationRecord } from "./tap.ts";
import { type TraceHeader, traceStartOf, type TraceStop, TraceWriter } from "./format.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";
import { TraceBudgetError } from "./errors.ts";

/** The disk budget of a trace when none is given, in bytes. */
export const DEFAULT_TRACE_MAX_BYTES = 64 * 1024 * 1024;

/** What a recording is bounded by; it stops at whichever comes first. */
export interface RecordingBound {
  /** Handler calls to record (the start not counted). */
  invocations?: number | null;
  /** How long to record, in milliseconds. */
  durationMs?: number | null;
  /** The trace's disk budget, in bytes. @default {DEFAULT_TRACE_MAX_BYTES} */
  maxBytes?: number;
}

/**
 * The header of a trace of the instance `spec` of `loaded`; `start` is the instance's memory image when the
 * recording starts on a running instance (`Recorder.activate`), null when it starts with the instance.
 */
export async function createTraceHeader(
  loaded: LoadedModule,
  spec: InstanceSpec,
  bound: RecordingBound = {},
  start: SnapshotImage | null = null,
): Promise<TraceHeader> {
  const plan = loaded.plan;
  const data: TraceHeader["data"] = [];
  for (const [name, bytes] of spec.data) data.push({ name, sha256: await sha256Hex(bytes), bytes });
  return {
    module: spec.name,
    sha256: loaded.sha256,
    abiVersion: ABI_VERSION,
    wasm: plan.wasm,
    recordedAtMs: Date.now(),
    plan: {
      maxMemoryMb: plan.maxMemoryMb,
      budgetUs: plan.budgetUs,
      fuel: plan.fuel,
      ...(plan.account && { account: plan.account }),
      capabilities: [...plan.capabilities],
      schedule: plan.schedule,
      inputs: [...plan.inputs],
    },
    params: Object.assign(Object.create(null), spec.params),
    channels: {
      writes: spec.channelWrites.map((c) => ({ id: c.id, sizeBytes: ringStats(c.buffer).capacityBytes })),
      read: spec.channelRead &&
        { id: spec.channelRead.id, sizeBytes: ringStats(spec.channelRead.buffer).capacityBytes },
    },
    actuators: spec.actuators.map((a) => ({ ...a })),
    data,
    start: start === null ? null : traceStartOf(start),
    bound: {
      maxBytes: bound.maxBytes ?? DEFAULT_TRACE_MAX_BYTES,
      invocations: bound.invocations ?? null,
      durationMs: bound.durationMs ?? null,
    },
  };
}

/** Where a recording stands, as the API shows it. */
export interface RecordingStatus {
  module: string;
  state: "recording" | "done";
  invocations: number;
  sizeBytes: number;
  /** Why it stopped, once it did. */
  stop: TraceStop | null;
  startedAtMs: number;
}

/**
 * One recording on the main thread: feed it the executor's invocation records with `add`; it finishes on its
 * own at its bound. `finish()` returns the file's bytes.
 */
export class RecordingSession {
  readonly #writer: TraceWriter;
  readonly #startedAtMs: number;
  readonly #now: () => number;
  #bytes: Uint8Array | null = null;

  /** @param now the clock the duration is measured on, epoch ms (tests pass their own). */
  constructor(header: TraceHeader, now: () => number = Date.now) {
    this.#writer = new TraceWriter(header);
    this.#now = now;
    this.#startedAtMs = now();
  }

  /** True once the bound is reached (or `finish` was called): further records are ignored. */
  get done(): boolean {
    return this.#bytes !== null;
  }

  /** Adds one invocation; returns false once the recording is done. */
  add(record: InvocationRecord): boolean {
    if (this.#bytes !== null) return false;
    const { bound } = this.#writer.header;
    if (bound.durationMs !== null && this.#now() - this.#startedAtMs >= bound.durationMs) {
      this.finish("duration");
      return false;
    }
    try {
      this.#writer.append(record);
    } catch (err) {
      if (!(err instanceof TraceBudgetError)) throw err;
      this.finish("budget");
      return false;
    }
    if (bound.invocations !== null && record.seq >= bound.invocations) {
      this.finish("invocations");
      return false;
    }
    return true;
  }

  /** Ends the recording (if not ended yet) and returns the trace file's bytes. */
  finish(stop: TraceStop = "stopped"): Uint8Array {
    this.#bytes ??= this.#writer.finish(stop);
    return this.#bytes;
  }

  /** Where it stands. */
  status(): RecordingStatus {
    return {
      module: this.#writer.header.module,
      state: this.#bytes === null ? "recording" : "done",
      invocations: this.#writer.invocations,
      sizeBytes: this.#bytes?.length ?? this.#writer.sizeBytes,
      stop: this.#writer.stop,
      startedAtMs: this.#startedAtMs,
    };
  }
}
