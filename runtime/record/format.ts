/**
 * The trace file, version 1 (`docs/record_replay.md`): 8 bytes of magic `KILNTRC\n`, one byte of format
 * version, then a gzip stream (one or more members, RFC 1952 §2.2) of frames. A frame is
 * `u32le jsonLength, json, u32le blobLength, blob`: the JSON holds the frame's fields, and every byte string
 * in it is `{"u": [offset, length]}` into the frame's blob; an i64 is `{"b": "<decimal>"}`, a float that JSON
 * cannot carry exactly (NaN, infinities, -0) `{"f": "<16 hex digits of its IEEE 754 bits>"}`. The first frame
 * is the header, then one frame per invocation in order, and last an `end` frame with the count and why the
 * recording stopped: a file without it is truncated and refused.
 *
 * Main thread (the writer compresses with `node:zlib`).
 *
 * @module
 */
import { gunzipSync, gzipSync } from "node:zlib";
import type { SchedulePlan } from "../plan.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";
import type { AccountLimits } from "../executor/account.ts";
import type { InvocationRecord } from "./tap.ts";
export { showValue } from "./tap.ts";
import { TraceBudgetError, TraceFormatError } from "./errors.ts";
import type { z } from "zod";
import { EndFrame, HeaderFrame, InvocationFrame } from "./_schema.ts";

/** The first bytes of every trace file. */
export const TRACE_MAGIC: Uint8Array = new TextEncoder().encode("KILNTRC\n");
/** The format version this Kiln writes and reads. */
export const TRACE_VERSION = 1;
/** Raw bytes gathered before a gzip member is cut (larger members compress better, smaller lose less). */
const SEGMENT_BYTES = 256 * 1024;
/** Room kept for the end frame, compressed in a gzip member of its own (18 bytes of framing). */
const END_FRAME_BYTES = 128;

/** The module a trace was recorded from, and everything replay needs besides the trace's frames. */
export interface TraceHeader {
  module: string;
  /** sha256 of the `.wasm` as deployed, hex. */
  sha256: string;
  abiVersion: number;
  /** Absolute path of the `.wasm` when recorded (replay's default module). */
  wasm: string;
  /** Epoch ms when the recording started. */
  recordedAtMs: number;
  /** The plan fields that decide how the binary is loaded and instrumented, and the instance's limits. */
  plan: {
    maxMemoryMb: number;
    budgetUs: number;
    fuel: number | null;
    account?: AccountLimits;
    capabilities: string[];
    schedule: SchedulePlan;
    inputs: string[];
  };
  /** `param_f64` values as the instance saw them (the manifest's, and the runtime's `kiln.*`). */
  params: Record<string, number>;
  /** The instance's buffers depend on its channels' sizes: the ring's data bytes. */
  channels: { writes: { id: string; sizeBytes: number }[]; read: { id: string; sizeBytes: number } | null };
  /** The actuators in `kiln.actuate` order, as in the instance spec. */
  actuators: { id: string; type: string; resource: string }[];
  /** Data blobs by name with their sha256 and bytes (a trace replays without the gateway's files). */
  data: { name: string; sha256: string; bytes: Uint8Array }[];
  /**
   * The instance's memory image when the recording started on a running instance (replay resumes from it,
   * as from a snapshot); null when it started with the instance (replay runs `kiln_init`).
   */
  start: TraceStart | null;
  /** The bound the recording was started with. */
  bound: { maxBytes: number; invocations: number | null; durationMs: number | null };
}

/** A memory image (`SnapshotImage`) as a trace carries it: the page index as u32le, the pages end to end. */
export interface TraceStart {
  memoryBytes: number;
  index: Uint8Array;
  pages: Uint8Array;
  state: Uint8Array;
}

/**
 * Why a recording ended; `overflow`: a live recording's module made more calls in one report period than the
 * executor carries (`MAX_RECORDS_PER_REPORT`), or its start could not be captured.
 */
export type TraceStop = "invocations" | "duration" | "budget" | "stopped" | "module_stopped" | "overflow";

/** A trace read back. */
export interface Trace {
  header: TraceHeader;
  invocations: InvocationRecord[];
  stop: TraceStop;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Turns a frame's values into JSON, byte strings into blob references. */
function pack(value: unknown, blobs: Uint8Array[], offset: { n: number }): unknown {
  if (value instanceof Uint8Array) {
    blobs.push(value);
    const ref = { u: [offset.n, value.length] };
    offset.n += value.length;
    return ref;
  }
  if (typeof value === "bigint") return { b: value.toString() };
  if (typeof value === "number") {
    if (Number.isFinite(value) && !Object.is(value, -0)) return value;
    const v = new DataView(new ArrayBuffer(8));
    v.setFloat64(0, value);
    return { f: v.getBigUint64(0).toString(16).padStart(16, "0") };
  }
  if (Array.isArray(value)) return value.map((v) => pack(v, blobs, offset));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = pack(v, blobs, offset);
    return out;
  }
  return value;
}

function unpack(value: unknown, blob: Uint8Array): unknown {
  if (Array.isArray(value)) return value.map((v) => unpack(v, blob));
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o.u) && Object.keys(o).length === 1) {
      const [at, n] = o.u as [number, number];
      if (!Number.isSafeInteger(at) || !Number.isSafeInteger(n) || at < 0 || n < 0 || at + n > blob.length) {
        throw new SyntaxError(`a byte string [${at}, ${n}] lies outside its frame's ${blob.length} bytes`);
      }
      return blob.slice(at, at + n);
    }
    if (typeof o.b === "string" && Object.keys(o).length === 1) return BigInt(o.b);
    if (typeof o.f === "string" && Object.keys(o).length === 1) {
      const v = new DataView(new ArrayBuffer(8));
      v.setBigUint64(0, BigInt(`0x${o.f}`));
      return v.getFloat64(0);
    }
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of Object.entries(o)) out[k] = unpack(v, blob);
    return out;
  }
  return value;
}

/** One frame's bytes. */
export function encodeFrame(fields: Record<string, unknown>): Uint8Array {
  const blobs: Uint8Array[] = [];
  const json = encoder.encode(JSON.stringify(pack(fields, blobs, { n: 0 })));
  const blobBytes = blobs.reduce((n, b) => n + b.length, 0);
  const out = new Uint8Array(8 + json.length + blobBytes);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(json, 4);
  view.setUint32(4 + json.length, blobBytes, true);
  let at = 8 + json.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Writes a trace in memory, a gzip member every 256 KiB of frames, within a budget of compressed bytes
 * (counting frames not yet compressed at their full size, so the budget is never overshot).
 */
export class TraceWriter {
  readonly header: TraceHeader;
  #members: Uint8Array[] = [];
  #compressedBytes = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #count = 0;
  #stop: TraceStop | null = null;

  constructor(header: TraceHeader) {
    this.header = header;
    this.#push(encodeFrame({ type: "header", ...header }));
  }

  /** Invocations written so far. */
  get invocations(): number {
    return this.#count;
  }

  /** Bytes the file would have if finished now (an upper bound until finished). */
  get sizeBytes(): number {
    return TRACE_MAGIC.length + 1 + this.#compressedBytes + this.#pendingBytes;
  }

  /** Why it stopped, once it did. */
  get stop(): TraceStop | null {
    return this.#stop;
  }

  /**
   * Appends one invocation.
   *
   * @throws {TraceBudgetError} when it would take the trace past `header.bound.maxBytes`; the trace then
   * ends before it, with stop reason `budget`.
   */
  append(record: InvocationRecord): void {
    if (this.#stop !== null) return;
    const frame = encodeFrame({ type: "invocation", ...record });
    // Room for the end frame too. Frames not yet compressed count at their full size: near the budget,
    // compress them first to know.
    const over = () => this.sizeBytes + frame.length + END_FRAME_BYTES > this.header.bound.maxBytes;
    if (over() && this.#pendingBytes > 0) this.#cut();
    if (over()) {
      this.#stop = "budget";
      throw new TraceBudgetError(this.header.module, this.header.bound.maxBytes);
    }
    this.#push(frame);
    this.#count++;
  }

  /** Ends the trace and returns the file's bytes. */
  finish(stop: TraceStop = "stopped"): Uint8Array {
    this.#stop ??= stop;
    this.#pending.push(encodeFrame({ type: "end", invocations: this.#count, stop: this.#stop }));
    this.#cut();
    const out = new Uint8Array(TRACE_MAGIC.length + 1 + this.#compressedBytes);
    out.set(TRACE_MAGIC, 0);
    out[TRACE_MAGIC.length] = TRACE_VERSION;
    let at = TRACE_MAGIC.length + 1;
    for (const m of this.#members) {
      out.set(m, at);
      at += m.length;
    }
    return out;
  }

  #push(frame: Uint8Array): void {
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    if (this.#pendingBytes >= SEGMENT_BYTES) this.#cut();
  }

  #cut(): void {
    if (this.#pending.length === 0) return;
    const raw = new Uint8Array(this.#pending.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of this.#pending) {
      raw.set(f, at);
      at += f.length;
    }
    const member = gzipSync(raw);
    this.#members.push(member);
    this.#compressedBytes += member.length;
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}

/**
 * Reads a trace file's bytes.
 *
 * @throws {TraceFormatError} when it is not a trace, of another version, truncated or corrupt.
 */
export function readTrace(bytes: Uint8Array, path: string | null = null): Trace {
  const fail = (reason: string, cause?: unknown): never => {
    throw new TraceFormatError(path, reason, cause === undefined ? undefined : { cause });
  };
  if (bytes.length < TRACE_MAGIC.length + 1 || TRACE_MAGIC.some((b, i) => bytes[i] !== b)) {
    fail("not a Kiln trace (no KILNTRC header)");
  }
  const version = bytes[TRACE_MAGIC.length]!;
  if (version !== TRACE_VERSION) fail(`format version ${version}, this Kiln reads version ${TRACE_VERSION}`);
  let raw: Uint8Array;
  try {
    raw = gunzipSync(bytes.subarray(TRACE_MAGIC.length + 1));
  } catch (err) {
    return fail(`the compressed body is truncated or corrupt (${(err as Error).message})`, err);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const frames: Record<string, unknown>[] = [];
  let at = 0;
  try {
    while (at < raw.length) {
      if (at + 4 > raw.length) throw new SyntaxError(`frame at byte ${at} is cut short`);
      const jsonLen = view.getUint32(at, true);
      if (at + 8 + jsonLen > raw.length) throw new SyntaxError(`frame at byte ${at} is cut short`);
      const json = JSON.parse(decoder.decode(raw.subarray(at + 4, at + 4 + jsonLen)));
      const blobLen = view.getUint32(at + 4 + jsonLen, true);
      const start = at + 8 + jsonLen;
      if (start + blobLen > raw.length) throw new SyntaxError(`frame at byte ${at} is cut short`);
      frames.push(unpack(json, raw.subarray(start, start + blobLen)) as Record<string, unknown>);
      at = start + blobLen;
    }
  } catch (err) {
    return fail(`frame ${frames.length} is corrupt (${(err as Error).message})`, err);
  }
  const first = frames[0], last = frames[frames.length - 1];
  if (first?.type !== "header") return fail("the first frame is not its header");
  if (last?.type !== "end" || frames.length < 2) return fail("it has no end frame: the file is truncated");
  const checked = (schema: z.ZodType, frame: unknown, i: number) => {
    const r = schema.safeParse(frame);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      fail(`frame ${i} is malformed: ${issue.path.join(".") || "(frame)"}: ${issue.message}`);
    }
  };
  checked(HeaderFrame, first, 0);
  checked(EndFrame, last, frames.length - 1);
  const invocations = frames.slice(1, -1);
  invocations.forEach((f, i) => checked(InvocationFrame, f, i + 1));
  if (last.invocations !== invocations.length) {
    return fail(`its end frame counts ${last.invocations} invocations, the file holds ${invocations.length}`);
  }
  const { type: _h, ...header } = first;
  return {
    header: header as unknown as TraceHeader,
    invocations: invocations.map(({ type: _t, ...r }) => r as unknown as InvocationRecord),
    stop: last.stop as TraceStop,
  };
}

/** A snapshot image as a trace's `start`. */
export function traceStartOf(image: SnapshotImage): TraceStart {
  const index = new Uint8Array(image.index.length * 4);
  const view = new DataView(index.buffer);
  image.index.forEach((p, i) => view.setUint32(i * 4, p, true));
  const pages = new Uint8Array(image.pages.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of image.pages) {
    pages.set(p, at);
    at += p.length;
  }
  return { memoryBytes: image.memoryBytes, index, pages, state: image.state.slice() };
}

/**
 * The snapshot image a trace's `start` holds.
 *
 * @throws {TraceFormatError} when its pages do not match its index.
 */
export function imageOf(start: TraceStart): SnapshotImage {
  const count = start.index.length / 4;
  const pageBytes = count === 0 ? 0 : start.pages.length / count;
  if (!Number.isInteger(count) || !Number.isInteger(pageBytes)) {
    throw new TraceFormatError(null, "its start image's pages do not match its page index");
  }
  const view = new DataView(start.index.buffer, start.index.byteOffset, start.index.byteLength);
  return {
    memoryBytes: start.memoryBytes,
    index: Uint32Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true)),
    pages: Array.from({ length: count }, (_, i) => start.pages.subarray(i * pageBytes, (i + 1) * pageBytes)),
    state: start.state,
  };
}
