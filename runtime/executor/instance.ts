/**
 * One module instance inside an executor: links the `kiln` host imports, copies data blobs in, calls
 * `kiln_init`, and runs the handlers, turning every trap into a {@linkcode ModuleFault}.
 *
 * @module
 */
import { ABI_VERSION } from "../abi.ts";
import { GrantSet } from "./grants.ts";
import type { ChannelWriter, InstanceSink, KilnHost } from "./host_kiln.ts";
import { dryRunWriter } from "./dry_run.ts";
import { RingReader, RingWriter } from "./ring.ts";
import { Doorbell, nowMs } from "./doorbell.ts";
import { WASI_NAMESPACE } from "./host_wasi.ts";
import { attributeInterrupt, classifyTrap, ModuleTrap } from "./traps.ts";
import { linkKilnImports, linkWasiImports } from "./_instance_imports.ts";
import { EventKind, MAX_EVENT_BYTES, replayArgs } from "./_replay_call.ts";
import { CallBudget } from "./budget.ts";
import { ModuleAccount } from "./account.ts";
import {
  emptyStats,
  type InputValue,
  type InstanceSpec,
  type InstanceStats,
  LATENCY_BOUNDS_US,
  type ModuleFault,
} from "./protocol.ts";
import { captureImage, type HostPointers, ImageError, restoreImage } from "./memory_image.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";
// Type only: the worker loads no file outside runtime/executor/ (tests/runtime/worker_imports_test.ts).
import type { CallTap } from "../record/tap.ts";
import { type CallStart, CallTracer, type TraceQueue } from "./trace_collector.ts";

export { EventKind, MAX_EVENT_BYTES };
/** A handler is interrupted at this multiple of its `budget_us`; above 1x it is counted as an overrun. */
export const HARD_BUDGET_FACTOR = 1.5;

export { nowMs };

/** Options of {@linkcode ModuleInstance.create}. */
export interface ModuleInstanceOptions {
  spec: InstanceSpec;
  module: WebAssembly.Module;
  sink: InstanceSink;
  /** The executor's input image, shared by its instances and updated by the runtime. */
  inputs: ReadonlyMap<string, InputValue>;
  /** A snapshot to resume from instead of running `kiln_init`. */
  restore?: SnapshotImage | null;
  /** A deploy's trial start: channel writes are kept nowhere (pair it with a `DryRunSink`; `dry_run.ts`). */
  dryRun?: boolean;
  /**
   * Sees every handler call and host call at the import boundary (`runtime/record/`: a recorder, or the
   * replayer feeding a trace back). Left out, the imports are linked as they are: no cost.
   */
  tap?: CallTap | null;
  /** Where traced handler calls go (every `spec.traceEvery`-th call); left out, none is traced. */
  traces?: TraceQueue | null;
}

/** A running module instance. Not re-entrant: the executor calls one handler at a time. */
export class ModuleInstance {
  readonly spec: InstanceSpec;
  readonly stats: InstanceStats = emptyStats();
  #memory: WebAssembly.Memory | null = null;
  #exports: Record<string, unknown> = {};
  #sink: InstanceSink;
  #inputs: ReadonlyMap<string, InputValue>;
  #data = new Map<string, { ptr: number; len: number }>();
  #grants: GrantSet;
  /** What the module may make the host hold or do (`account.ts`), for `kiln` and WASI imports alike. */
  #account: ModuleAccount;
  #sampleBuf = 0;
  #eventBuf = 0;
  #recordBuf = 0;
  #writers: ChannelWriter[];
  #reader: RingReader | null;
  /** The running call's deadline, fuel and interrupt (`kiln.__check` and the host imports' gate). */
  #budget: CallBudget;
  /** The first handler call of an instance also pays for V8's lazy compilation: it gets the init budget. */
  #warm = false;
  /** True when this instance resumed from a snapshot instead of running `kiln_init`. */
  restored = false;
  /** Whether the warm-up snapshot was taken (or is not wanted: a restored instance is warm). */
  #warmUpTaken = false;
  /** Samples waiting for a full window (stream mode). */
  #pending: Int16Array;
  #pendingCount = 0;
  #tap: CallTap | null;
  /** Per-invocation trace events (`trace_collector.ts`), or null when this instance is not traced. */
  #tracer: CallTracer | null;

  private constructor(options: ModuleInstanceOptions) {
    this.spec = options.spec;
    this.#sink = options.sink;
    this.#inputs = options.inputs;
    this.#grants = new GrantSet(options.spec.capabilities);
    this.#writers = options.spec.channelWrites.map((c) => {
      const writer = new RingWriter(c.buffer);
      return options.dryRun
        ? { id: c.id, writer: dryRunWriter(writer.maxRecordBytes), wake: [] }
        : { id: c.id, writer, wake: c.wake.map((b) => new Doorbell(b)) };
    });
    const read = options.spec.channelRead;
    this.#reader = read ? new RingReader(read.buffer, read.reader) : null;
    this.#pending = new Int16Array(options.spec.mode === "stream" ? options.spec.window : 0);
    this.#budget = new CallBudget(options.spec.fuel);
    this.#account = new ModuleAccount(options.spec.account);
    this.#tap = options.tap ?? null;
    const every = options.spec.traceEvery ?? 0;
    this.#tracer = options.traces && every > 0
      ? new CallTracer(options.traces, options.spec.name, every)
      : null;
  }

  /**
   * Instantiates the module, copies its data blobs in, and runs `kiln_init`.
   *
   * @throws {ModuleTrap} when the start function traps, an allocation fails, or `kiln_init` fails.
   */
  static create(options: ModuleInstanceOptions): ModuleInstance {
    const self = new ModuleInstance(options);
    const tap = self.#tap;
    if (tap === null) {
      self.#start(options.module, options.restore ?? null);
      return self;
    }
    tap.begin("init", []);
    try {
      self.#start(options.module, options.restore ?? null);
    } catch (err) {
      tap.end(null, err instanceof ModuleTrap ? err.fault : null);
      throw err;
    }
    tap.end(0, null);
    return self;
  }

  #start(module: WebAssembly.Module, restore: SnapshotImage | null): void {
    let instance: WebAssembly.Instance;
    this.#budget.arm(this.spec.initBudgetUs);
    try {
      // Without a prototype: V8 reads `imports[namespace]` with inherited members, and the namespace is
      // the module's choice (the loader refuses unknown ones first).
      const imports: WebAssembly.Imports = Object.create(null);
      const memory = () => this.#memory;
      imports.kiln = linkKilnImports(this.#kilnHost(), { budget: this.#budget, tap: this.#tap, memory });
      imports[WASI_NAMESPACE] = linkWasiImports({
        name: this.spec.name,
        stats: this.stats,
        sink: this.#sink,
        account: this.#account,
        budget: this.#budget,
        tap: this.#tap,
        memory,
      });
      instance = new WebAssembly.Instance(module, imports);
    } catch (err) {
      throw new ModuleTrap(this.#faultOf(err, "start function"));
    }
    this.#budget.disarm();
    if (this.#budget.interrupt) {
      throw new ModuleTrap(attributeInterrupt(this.#budget.interrupt, null, "start function"));
    }
    this.#exports = instance.exports as Record<string, unknown>;
    this.#budget.bind(instance.exports);
    const memory = this.#exports.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new ModuleTrap({
        kind: "init_failed",
        function: null,
        message: "module does not export its memory",
      });
    }
    this.#memory = memory;
    if (restore) {
      this.#resume(restore);
      return;
    }
    // A WASI reactor initialises its C runtime (constructors, stdio) here, before anything else is called.
    if (typeof this.#exports._initialize === "function") {
      this.#call("_initialize", [], this.spec.initBudgetUs);
    }
    const version = this.#call("kiln_abi_version", [], this.spec.initBudgetUs);
    if (version !== ABI_VERSION) {
      throw new ModuleTrap({
        kind: "init_failed",
        function: "kiln_abi_version",
        message: `kiln_abi_version returned ${version}, this host implements ABI ${ABI_VERSION}`,
      });
    }
    for (const [name, bytes] of this.spec.data) {
      const ptr = this.#alloc(bytes.length, `data blob "${name}"`);
      new Uint8Array(this.#memory.buffer, ptr, bytes.length).set(bytes);
      this.#data.set(name, { ptr, len: bytes.length });
    }
    if (this.#reader) this.#recordBuf = this.#alloc(this.#reader.maxRecordBytes, "the channel record buffer");
    else if (this.spec.mode === "stream") {
      this.#sampleBuf = this.#alloc(this.spec.window * 2, "the sample buffer");
    }
    // Every event module can also get API events (an operator's reset), whatever its trigger.
    if (this.spec.mode === "event") this.#eventBuf = this.#alloc(MAX_EVENT_BYTES, "the event buffer");
    if (typeof this.#exports.kiln_init === "function") {
      const rc = this.#call("kiln_init", [], this.spec.initBudgetUs);
      if (rc !== 0) {
        throw new ModuleTrap({
          kind: "init_failed",
          function: "kiln_init",
          message: `kiln_init returned ${rc}`,
        });
      }
    }
    this.stats.memoryBytes = this.#memory.buffer.byteLength;
  }

  /** Resumes from a snapshot: its memory, globals and the host's buffers, in place of the init sequence. */
  #resume(image: SnapshotImage): void {
    const version = this.#call("kiln_abi_version", [], this.spec.initBudgetUs);
    if (version !== ABI_VERSION) {
      throw new ModuleTrap({
        kind: "init_failed",
        function: "kiln_abi_version",
        message: `kiln_abi_version returned ${version}, this host implements ABI ${ABI_VERSION}`,
      });
    }
    let host: HostPointers;
    try {
      host = restoreImage(this.#memory!, this.#exports, image, this.spec.instantiationWrites);
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      throw new ModuleTrap({ kind: "restore_failed", function: null, message: err.message });
    }
    for (const [name, ptr, len] of host.data) this.#data.set(name, { ptr, len });
    this.#sampleBuf = host.sampleBuf;
    this.#eventBuf = host.eventBuf;
    this.#recordBuf = host.recordBuf;
    this.restored = true;
    this.#warmUpTaken = true;
    this.stats.memoryBytes = this.#memory!.buffer.byteLength;
  }

  /**
   * Copies the instance's memory image for a snapshot (call it between handler calls).
   *
   * @throws {ImageError} when a mutable global cannot be saved.
   */
  capture(): SnapshotImage {
    return captureImage(this.#memory!, this.#exports, {
      data: [...this.#data].map(([name, d]) => [name, d.ptr, d.len]),
      sampleBuf: this.#sampleBuf,
      eventBuf: this.#eventBuf,
      recordBuf: this.#recordBuf,
    });
  }

  /** True once, when the instance has made `warmUpIterations` handler calls since `kiln_init`. */
  takeWarmUpDue(): boolean {
    const n = this.spec.warmUpIterations;
    if (this.#warmUpTaken || n === null || this.stats.invocations < n) return false;
    this.#warmUpTaken = true;
    return true;
  }

  #alloc(size: number, what: string): number {
    const ptr = this.#call("kiln_alloc", [size], this.spec.initBudgetUs) as number;
    const end = (ptr >>> 0) + size;
    if (ptr === 0 || end > this.#memory!.buffer.byteLength) {
      throw new ModuleTrap({
        kind: "init_failed",
        function: "kiln_alloc",
        message: `kiln_alloc(${size}) for ${what} returned ${ptr >>> 0}, not a usable buffer`,
      });
    }
    return ptr >>> 0;
  }

  /**
   * Calls an export within a budget (`budgetUs` of wall time, and the module's fuel when metered); traps,
   * interrupts and exits become {@linkcode ModuleTrap}.
   */
  #call(name: string, args: (number | bigint)[], budgetUs: number): number | bigint {
    const fn = this.#exports[name];
    if (typeof fn !== "function") {
      throw new ModuleTrap({
        kind: "init_failed",
        function: name,
        message: `module does not export ${name}`,
      });
    }
    this.#budget.arm(budgetUs);
    let result: number | bigint;
    try {
      result = fn(...args);
    } catch (err) {
      throw new ModuleTrap(this.#faultOf(err, name));
    } finally {
      this.#budget.disarm();
    }
    // Interrupted, but it returned (a host call refused past the deadline, an exception caught): the call
    // still ends in its fault.
    const interrupt = this.#budget.interrupt;
    if (interrupt) throw new ModuleTrap(attributeInterrupt(interrupt, null, name));
    return result;
  }

  /** The fault a call that threw `err` ends in: the interrupt's, when it was interrupted. */
  #faultOf(err: unknown, entry: string): ModuleFault {
    const names = this.spec.functionNames;
    const interrupt = this.#budget.interrupt;
    return interrupt ? attributeInterrupt(interrupt, err, entry, names) : classifyTrap(err, entry, names);
  }

  /**
   * Calls a handler with accounting: duration, budget overruns, instructions when metered, non-zero results.
   * The call is interrupted at {@linkcode HARD_BUDGET_FACTOR} times `budget_us` (its first call, which also
   * pays for V8's lazy compilation of the module's functions, at the init budget).
   */
  #invoke(name: string, args: (number | bigint)[]): void {
    const t0 = performance.now();
    let rc: number | bigint;
    const budget = this.#warm ? this.spec.budgetUs * HARD_BUDGET_FACTOR : this.spec.initBudgetUs;
    this.#warm = true;
    const tap = this.#tap;
    if (tap !== null) tap.begin(name, args);
    const traced = this.#tracer?.begin(this.stats.invocations + 1, this.#memory!.buffer.byteLength) ?? null;
    try {
      rc = this.#call(name, args, budget);
    } catch (err) {
      if (tap !== null) tap.end(null, err instanceof ModuleTrap ? err.fault : null);
      if (traced !== null) this.#traceEnd(name, traced, 0, err);
      throw err;
    } finally {
      const used = this.#budget.fuelUsed;
      if (used !== null) {
        this.stats.lastInstructions = used;
        this.stats.instructions += used;
      }
      const us = (performance.now() - t0) * 1000;
      const s = this.stats;
      s.invocations++;
      s.lastUs = us;
      s.totalUs += us;
      if (us > s.maxUs) s.maxUs = us;
      if (us > this.spec.budgetUs) s.budgetOverruns++;
      let b = 0;
      while (b < LATENCY_BOUNDS_US.length && us > LATENCY_BOUNDS_US[b]!) b++;
      s.latencyBuckets[b]!++;
      s.memoryBytes = this.#memory!.buffer.byteLength;
    }
    if (tap !== null) tap.end(rc, null);
    if (traced !== null) this.#traceEnd(name, traced, rc, null);
    if (rc !== 0) {
      this.stats.errors++;
      this.stats.lastError = `${name} returned ${rc}`;
    }
  }

  #traceEnd(name: string, start: CallStart, rc: number | bigint, thrown: unknown): void {
    const figures = { instructions: this.#budget.fuelUsed, memoryBytes: this.#memory!.buffer.byteLength };
    this.#tracer!.end(name, start, { rc, thrown, ...figures });
  }

  /**
   * Feeds stream samples; calls `kiln_on_samples` for every full window, keeping `window - hop` samples of
   * overlap. Returns the number of invocations.
   *
   * @throws {ModuleTrap} when the module traps.
   */
  pushSamples(samples: Int16Array): number {
    const { window, hop } = this.spec;
    const pending = this.#pending;
    let calls = 0;
    let offset = 0;
    this.stats.samplesIn += samples.length;
    while (offset < samples.length) {
      const n = Math.min(window - this.#pendingCount, samples.length - offset);
      pending.set(samples.subarray(offset, offset + n), this.#pendingCount);
      this.#pendingCount += n;
      offset += n;
      if (this.#pendingCount === window) {
        new Int16Array(this.#memory!.buffer, this.#sampleBuf, window).set(pending);
        this.#invoke("kiln_on_samples", [this.#sampleBuf, window]);
        calls++;
        pending.copyWithin(0, hop, window);
        this.#pendingCount = window - hop;
      }
    }
    return calls;
  }

  /**
   * Runs `kiln_on_event` for one event; its payload is copied into the module's event buffer (at most
   * {@linkcode MAX_EVENT_BYTES}).
   *
   * @throws {RangeError} when the payload is larger.
   * @throws {ModuleTrap} when the module traps.
   */
  event(kind: number, payload: Uint8Array): void {
    if (payload.length > MAX_EVENT_BYTES) {
      throw new RangeError(
        `Event payload of ${payload.length} bytes is over the ${MAX_EVENT_BYTES}-byte limit`,
      );
    }
    new Uint8Array(this.#memory!.buffer, this.#eventBuf, payload.length).set(payload);
    this.#invoke("kiln_on_event", [kind, this.#eventBuf, payload.length]);
  }

  /** True when this instance reads a channel and a record waits for it. */
  get hasRecord(): boolean {
    return this.#reader !== null && this.#reader.peekLength() >= 0;
  }

  /**
   * Delivers up to `max` waiting channel records (stopping after `maxMs`, once one is delivered), each copied once from the ring into the module's record
   * buffer: `kiln_on_record(ptr, len)` for a stream module, `kiln_on_event(3, ptr, len)` for an event module.
   * Returns the number delivered.
   *
   * @throws {ModuleTrap} when the module traps.
   */
  pollChannel(max = 64, maxMs = Number.POSITIVE_INFINITY): number {
    const reader = this.#reader;
    if (!reader) return 0;
    let n = 0;
    const until = performance.now() + maxMs;
    while (n < max && (n === 0 || performance.now() < until)) {
      const len = reader.readInto(new Uint8Array(this.#memory!.buffer), this.#recordBuf);
      if (len < 0) break;
      n++;
      if (this.spec.mode === "event") {
        this.#invoke("kiln_on_event", [EventKind.CHANNEL, this.#recordBuf, len]);
      } else this.#invoke("kiln_on_record", [this.#recordBuf, len]);
    }
    return n;
  }

  /**
   * Runs one periodic tick.
   *
   * @throws {ModuleTrap} when the module traps.
   */
  tick(nowUs: bigint): void {
    this.#invoke("kiln_on_tick", [nowUs]);
  }

  /**
   * Replays one recorded handler call (`runtime/record/replay.ts`): copies `input` into the buffer the host
   * uses for `entry` and calls it with this instance's own pointers. `arg` is the tick's `now_us` or the
   * event's kind.
   *
   * @throws {RangeError} when `entry` is not a handler or the input does not fit its buffer.
   * @throws {ModuleTrap} when the module traps.
   */
  replayCall(entry: string, input: Uint8Array | null, arg: number | bigint | undefined): void {
    const args = replayArgs(entry, input, arg, {
      memory: this.#memory!,
      sampleBuf: this.#sampleBuf,
      sampleBytes: this.spec.window * 2,
      recordBuf: this.#recordBuf,
      recordBytes: this.#reader?.maxRecordBytes ?? null,
      eventBuf: this.#eventBuf,
    });
    this.#invoke(entry, args);
  }

  /** Microseconds on the runtime's clock. */
  nowUs(): bigint {
    return BigInt(Math.round((nowMs() - this.spec.clockOriginMs) * 1000));
  }

  // ---- host imports (namespace "kiln"); every pointer is bounds-checked --------------------------------

  /** The bytes at `[ptr, ptr + len)` of linear memory, or null when any of it lies outside. */
  #bytes(ptr: number, len: number): Uint8Array | null {
    const p = ptr >>> 0, n = len >>> 0;
    const buf = this.#memory?.buffer;
    if (!buf || p + n > buf.byteLength) return null;
    return new Uint8Array(buf, p, n);
  }

  /** What the `kiln` imports see of this instance (`host_kiln.ts`). */
  #kilnHost(): KilnHost {
    return {
      spec: this.spec,
      stats: this.stats,
      sink: this.#sink,
      inputs: this.#inputs,
      grants: this.#grants,
      writers: this.#writers,
      bytes: (ptr, len) => this.#bytes(ptr, len),
      dataBlob: (key) => this.#data.get(key),
      nowUs: () => this.nowUs(),
      check: this.#budget.check,
      deadlineMs: () => this.#budget.deadlineMs,
      account: this.#account,
      used: (capability) => this.#tracer?.use(capability),
    };
  }
}
