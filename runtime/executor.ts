/**
 * The main thread's handle on one executor worker. Executors are few (one per priority class), each
 * hosting many module instances: a Deno worker costs several MiB and ~10 ms to start, an instance KiBs.
 *
 * @module
 */
import { NORMAL_THREAD, type ThreadScheduling } from "./executor/realtime_thread.ts";
import { ExecutorError } from "./errors.ts";
import { Doorbell } from "./executor/doorbell.ts";
import { decodeWrites, encodeEvent } from "./executor/fastpath.ts";
import { createRing, RingReader, RingWriter } from "./executor/ring.ts";
import type {
  FromExecutor,
  InputValue,
  InstanceSpec,
  ModuleFault,
  PermissionStates,
  ToExecutor,
} from "./executor/protocol.ts";
import type { SnapshotImage, SnapshotReason } from "../snapshots/mod.ts";
import { imageBuffers } from "./executor/memory_image.ts";
import { mark } from "./_startup_marks.ts";
import {
  ExecutorStalledError,
  Heartbeat,
  type Stall,
  type StallCulprit,
  stallFault,
  type Watchdog,
} from "./_watchdog.ts";

/** Bytes of each event fast-path ring. */
const FAST_RING_BYTES = 64 * 1024;

/** A module's start failed inside the executor (a trap in its start function or `kiln_init`). */
export class StartFailed extends Error {
  constructor(readonly fault: ModuleFault) {
    super(fault.message);
    this.name = "StartFailed";
  }
}

/** Callbacks through which an executor reports to the runtime. */
export interface ExecutorEvents {
  onReport(report: Extract<FromExecutor, { type: "report" }>): void;
  onCrash(crash: Extract<FromExecutor, { type: "crashed" }>): void;
  /** Actuator writes to carry out now. */
  onWrites(writes: Extract<FromExecutor, { type: "writes" }>): void;
  /** The worker itself failed; every module it hosted is gone. */
  onFailure(error: ExecutorError): void;
  /** A snapshot image the executor captured on its own (the warm-up snapshot). */
  onSnapshot?(snapshot: Extract<FromExecutor, { type: "snapshot" }>): void;
  /** The worker's thread scheduling, once it applied (or failed to apply) `SCHED_FIFO`. */
  onScheduling?(scheduling: ThreadScheduling): void;
}

/** How a module instance started. */
export interface LoadResult {
  /** The instance's load id: its executor's reports name it (see the `report` message's `loads`). */
  id: number;
  /** Milliseconds to instantiate and restore, or to instantiate and run `kiln_init`. */
  startMs: number;
  /** Whether it resumed from the snapshot it was given. */
  restored: boolean;
}

/** A snapshot could not be captured: the module is not running, or has state a snapshot cannot hold. */
export class CaptureFailed extends Error {
  constructor(readonly module: string, message: string) {
    super(message);
    this.name = "CaptureFailed";
  }
}

/** Options of {@linkcode Executor}. */
export interface ExecutorOptions {
  /**
   * Sample batches per source that may wait in the worker before new ones are dropped (and counted).
   * @default 8
   */
  maxInFlight?: number;
  /** The simulated GPIO bank's state, driven by the worker's `gpio_write` at once (see `SimGpio.attach`). */
  gpio?: SharedArrayBuffer;
  /**
   * Run the worker's thread at `SCHED_FIFO` with this priority (1-98). Its Deno permissions are then FFI,
   * as the process has it (for libc), and nothing else. See `executor/realtime_thread.ts`.
   */
  fifoPriority?: number;
  /** Pin the worker's thread to these CPUs. Its Deno permissions are then FFI too, as for `fifoPriority`. */
  cpus?: number[];
  /** Spin just before each tick's deadline for a precise start (costs CPU per tick). @default false */
  spinTicks?: boolean;
  /**
   * The watchdog that terminates this worker when its heartbeat stops (see `_watchdog.ts`); the executor is
   * not watched without one.
   */
  watchdog?: Watchdog;
  /**
   * The doorbell of the executor of this name that this one replaces (after the watchdog terminated it):
   * channel writers in other executors hold it in their specs, so the new worker sleeps on it too. Its count
   * of announced messages starts again from 0, as the new worker's count of received ones does.
   */
  bell?: SharedArrayBuffer;
}

/**
 * An executor worker's Deno permissions: none, or FFI (as the process has it: libc) and nothing else when its
 * thread is made real-time or pinned (`fifoPriority`, `cpus`; see executor/realtime_thread.ts).
 */
export type WorkerAccess = "none" | "ffi";

/** The permissions of an executor with these options' worker. */
export function workerAccess(options: Pick<ExecutorOptions, "fifoPriority" | "cpus">): WorkerAccess {
  return options.fifoPriority === undefined && options.cpus === undefined ? "none" : "ffi";
}

function spawnWorker(name: string, access: WorkerAccess): Worker {
  return new Worker(workerUrl(), {
    type: "module",
    name,
    // Modules and their host glue never need the file system, network or environment: if a host
    // function had a bug, Deno itself would still refuse.
    deno: {
      permissions: access === "none" ? "none" : {
        read: false,
        write: false,
        net: false,
        env: false,
        run: false,
        sys: false,
        import: false,
        ffi: "inherit",
      },
    },
  } as WorkerOptions);
}

/** A worker started before its executor ({@linkcode prewarmExecutors}), and what it said meanwhile. */
interface Spare {
  readonly access: WorkerAccess;
  readonly worker: Worker;
  readonly said: FromExecutor[];
  failed: string | null;
}

const spares: Spare[] = [];

/**
 * Starts executor workers now, before the runtime asks for executors: a worker takes 40-60 ms to load its
 * module graph (on its own thread), which then passes while the caller loads the rest of the gateway. The
 * first executor with the same permissions takes each one; {@linkcode dropSpareExecutors} ends those none
 * took. Nothing but the worker's module graph runs in a spare: it gets its rings, doorbell and modules from
 * the executor that takes it.
 */
export function prewarmExecutors(accesses: readonly WorkerAccess[]): void {
  for (const access of accesses) {
    const spare: Spare = { access, worker: spawnWorker("kiln-executor", access), said: [], failed: null };
    spare.worker.onmessage = (e: MessageEvent<FromExecutor>) => spare.said.push(e.data);
    spare.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      spare.failed ??= e.message;
    };
    spares.push(spare);
  }
}

/** How many spare workers wait for an executor. */
export function spareExecutors(): number {
  return spares.length;
}

/** Ends the spare workers no executor took. */
export function dropSpareExecutors(): void {
  for (const spare of spares.splice(0)) spare.worker.terminate();
}

function takeSpare(access: WorkerAccess): Spare | null {
  const i = spares.findIndex((s) => s.access === access);
  return i < 0 ? null : spares.splice(i, 1)[0]!;
}

/**
 * Where the worker entry is: `executor/worker.ts` from source, or `executor_worker.js` beside the bundle
 * (`deno task bundle`).
 */
export function workerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("./executor/worker.ts", import.meta.url)
    : new URL("./executor_worker.js", import.meta.url);
}

/** One executor worker running with Deno permissions `"none"`. */
export class Executor {
  readonly name: string;
  /** What the worker writes for the watchdog: its beat, and the call running (see `_watchdog.ts`). */
  readonly heartbeat: Heartbeat = new Heartbeat();
  #worker: Worker;
  #events: ExecutorEvents;
  #nextId = 1;
  #pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  #captures = new Map<number, { resolve: (image: SnapshotImage) => void; reject: (e: Error) => void }>();
  #unloads = new Map<number, () => void>();
  /** The module of each load id the worker may name in its heartbeat: its current instances and trials. */
  #loads = new Map<number, StallCulprit>();
  #unwatch: (() => void) | null = null;
  /** The length of each sample batch in flight per source, oldest first (the worker takes them in order). */
  #inFlight = new Map<string, number[]>();
  #maxInFlight: number;
  #seq = 0;
  #closed = false;
  #ready = Promise.withResolvers<PermissionStates>();
  #scheduling: ThreadScheduling = NORMAL_THREAD;
  /** Wakes the worker when it sleeps towards its next tick, so control messages are handled at once. */
  #bell: Doorbell;
  /** The event fast path: events to the worker, actuator writes back, and the word the worker notifies. */
  #eventRing = createRing({ sizeBytes: FAST_RING_BYTES, readers: 1, overflow: "drop-newest" });
  #actuatorRing = createRing({ sizeBytes: FAST_RING_BYTES, readers: 1, overflow: "drop-newest" });
  #mainBell = new SharedArrayBuffer(8);
  #eventWriter = new RingWriter(this.#eventRing);
  #actuatorReader = new RingReader(this.#actuatorRing, 0);

  constructor(name: string, events: ExecutorEvents, options: ExecutorOptions = {}) {
    this.name = name;
    this.#events = events;
    this.#maxInFlight = options.maxInFlight ?? 8;
    if (options.bell) Atomics.store(new Int32Array(options.bell), 2, 0); // `Doorbell`'s announced count
    this.#bell = new Doorbell(options.bell);
    const access = workerAccess(options);
    const spare = takeSpare(access);
    this.#worker = spare?.worker ?? spawnWorker(`kiln-executor-${name}`, access);
    this.#ready.promise.catch(() => {}); // a failure is reported through onFailure
    this.#worker.onmessage = (e: MessageEvent<FromExecutor>) => this.#receive(e.data);
    // What a spare said before this executor took it ("ready"), as if it had just arrived.
    for (const msg of spare?.said ?? []) this.#receive(msg);
    this.#send({
      type: "init",
      bell: this.#bell.buffer,
      events: this.#eventRing,
      actuators: this.#actuatorRing,
      mainBell: this.#mainBell,
      gpio: options.gpio ?? null,
      fifoPriority: options.fifoPriority ?? null,
      cpus: options.cpus ?? null,
      spinTicks: options.spinTicks ?? false,
      heartbeat: this.heartbeat.buffer,
    });
    void this.#watchActuators();
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(new ExecutorError(this.name, `worker failed: ${e.message}`));
    };
    this.#unwatch = options.watchdog?.watch(this) ?? null;
    const failed = spare?.failed ?? null;
    if (failed !== null) {
      queueMicrotask(() => this.#fail(new ExecutorError(this.name, `worker failed: ${failed}`)));
    }
  }

  #receive(msg: FromExecutor): void {
    switch (msg.type) {
      case "scheduling":
        this.#scheduling = msg.scheduling;
        this.#events.onScheduling?.(msg.scheduling);
        return;
      case "ready":
        mark(`executor_ready:${this.name}`, { once: true });
        this.#ready.resolve(msg.permissions);
        return;
      case "loaded":
        if (this.#loads.get(msg.id)?.trial) this.#loads.delete(msg.id);
        this.#pending.get(msg.id)?.resolve({ id: msg.id, startMs: msg.startMs, restored: msg.restored });
        this.#pending.delete(msg.id);
        return;
      case "load_failed":
        this.#loads.delete(msg.id);
        this.#pending.get(msg.id)?.reject(new StartFailed(msg.fault));
        this.#pending.delete(msg.id);
        return;
      case "unloaded":
        this.#unloads.get(msg.id)?.();
        this.#unloads.delete(msg.id);
        return;
      case "consumed":
        this.#inFlight.get(msg.source)?.shift();
        return;
      case "report":
        this.#events.onReport(msg);
        return;
      case "crashed":
        this.#events.onCrash(msg);
        return;
      case "writes":
        this.#events.onWrites(msg);
        return;
      case "snapshot": {
        if (msg.id === 0) {
          this.#events.onSnapshot?.(msg);
          return;
        }
        const c = this.#captures.get(msg.id);
        this.#captures.delete(msg.id);
        if (msg.image) c?.resolve(msg.image);
        else c?.reject(new CaptureFailed(msg.name, msg.error ?? "no image"));
        return;
      }
    }
  }

  #fail(error: ExecutorError, culprit = 0): void {
    if (this.#closed) return;
    this.#end(error, culprit);
    this.#ready.reject(error);
    this.#events.onFailure(error);
  }

  /**
   * Terminates the worker and settles everything waiting on it: loads and captures reject with `error` (the
   * load whose start stalled the worker, `culprit`, with its fault as a {@linkcode StartFailed}), unloads
   * resolve (the instance is gone).
   */
  #end(error: ExecutorError, culprit = 0): void {
    this.#closed = true;
    this.#unwatch?.();
    Atomics.notify(new Int32Array(this.#mainBell), 0); // ends #watchActuators
    this.#worker.terminate();
    const fault = error instanceof ExecutorStalledError ? new StartFailed(stallFault(error)) : error;
    for (const [id, p] of this.#pending) p.reject(id === culprit ? fault : error);
    for (const p of this.#captures.values()) p.reject(error);
    for (const done of this.#unloads.values()) done();
    this.#pending.clear();
    this.#captures.clear();
    this.#unloads.clear();
  }

  /**
   * The watchdog found this executor's heartbeat held past its limit: the worker is terminated and the
   * failure reported ({@linkcode ExecutorEvents.onFailure}) as an {@linkcode ExecutorStalledError} naming
   * the module whose call held it, when one did.
   */
  stalled(stall: Stall): void {
    const culprit = stall.slot === 0 ? null : this.#loads.get(stall.slot) ?? null;
    this.#fail(new ExecutorStalledError(this.name, culprit, stall), stall.slot);
  }

  #send(msg: ToExecutor, transfer: Transferable[] = []): void {
    if (this.#closed) throw new ExecutorError(this.name, "the worker is closed");
    this.#worker.postMessage(msg, transfer);
    // A worker sleeping towards its next tick handles messages only when it wakes and yields: tell it.
    this.#bell.announce();
  }

  /**
   * Starts a module instance in this executor.
   *
   * @param restore A snapshot image to resume from instead of running `kiln_init`; its buffers are
   *   transferred to the worker.
   * @param options With `trial`, the instance is only started (instantiated, `kiln_init` run) and dropped.
   * @throws {StartFailed} when the start function or `kiln_init` traps or fails, or the image does not fit.
   * @throws {ExecutorError} when the worker fails meanwhile.
   */
  load(
    spec: InstanceSpec,
    module: WebAssembly.Module,
    restore: SnapshotImage | null = null,
    options: { trial?: boolean } = {},
  ): Promise<LoadResult> {
    const id = this.#nextId++;
    if (!options.trial) {
      // The worker replaces the instance of that name: its older load id can no longer be named.
      for (const [old, l] of this.#loads) if (l.module === spec.name && !l.trial) this.#loads.delete(old);
    }
    this.#loads.set(id, { module: spec.name, trial: options.trial ?? false });
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#send(
          { type: "load", id, spec, module, restore, ...(options.trial && { trial: true }) },
          restore ? imageBuffers(restore) : [],
        );
      } catch (err) {
        this.#pending.delete(id);
        reject(err);
      }
    });
  }

  /**
   * Captures a module's memory image between two of its handler calls.
   *
   * @throws {CaptureFailed} when it is not running here or its state cannot be captured.
   * @throws {ExecutorError} when the worker fails meanwhile.
   */
  capture(name: string, reason: SnapshotReason): Promise<SnapshotImage> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#captures.set(id, { resolve, reject });
      try {
        this.#send({ type: "snapshot", id, name, reason });
      } catch (err) {
        this.#captures.delete(id);
        reject(err);
      }
    });
  }

  /**
   * Starts (`on`) or stops recording a module's running instance (`runtime/record/`): on start the worker
   * captures its memory image between two handler calls and records every call from then on; what it
   * records comes in the reports' `recordings`. Nothing happens when the executor is closed.
   */
  record(name: string, on: boolean): void {
    if (this.#closed) return;
    this.#send({ type: "record", name, on });
  }

  /**
   * Attaches a shadow candidate to a module's running instance, or stops shadow `id` (`candidate` null): the
   * worker runs the candidate after each live call (`executor/_worker_shadow.ts`) and reports its counters in
   * the reports' `shadows`. Nothing happens when the executor is closed.
   */
  shadow(msg: Omit<Extract<ToExecutor, { type: "shadow" }>, "type">): void {
    if (this.#closed) return;
    this.#send({ type: "shadow", ...msg });
  }

  /**
   * Stops a module instance; its state is discarded. Resolves once the worker has dropped it, or is gone
   * (closed, failed, or terminated by the watchdog when it is held): never rejects.
   */
  unload(name: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const id = this.#nextId++;
    const done = Promise.withResolvers<void>();
    this.#unloads.set(id, done.resolve);
    this.#send({ type: "unload", id, name });
    return done.promise;
  }

  /**
   * Hands a batch of samples to the worker. Returns false, sending nothing, when the worker is already
   * `maxInFlight` batches behind on this source: the caller counts those samples as dropped.
   */
  pushSamples(source: string, samples: Int16Array, transfer = false): boolean {
    if (this.#closed) return false;
    let lengths = this.#inFlight.get(source);
    if (!lengths) this.#inFlight.set(source, lengths = []);
    if (lengths.length >= this.#maxInFlight) return false;
    lengths.push(samples.length);
    this.#send(
      { type: "samples", source, seq: this.#seq++, samples },
      transfer ? [samples.buffer as ArrayBuffer] : [],
    );
    return true;
  }

  /** The doorbell that wakes this executor: channel writers in other executors ring it. */
  get bell(): SharedArrayBuffer {
    return this.#bell.buffer;
  }

  /** Delivers an event to an event-mode module; the worker is woken at once. */
  sendEvent(module: string, kind: number, payload: Uint8Array, triggeredAt: number): void {
    if (this.#closed) return;
    const record = encodeEvent({ module, kind, payload, triggeredAt });
    if (record.length <= this.#eventWriter.maxRecordBytes && this.#eventWriter.write(record) === "ok") {
      this.#bell.ring();
    } else {
      // The ring is full (the executor is far behind): the message path never drops.
      this.#send({ type: "event", module, kind, payload, triggeredAt });
    }
  }

  /** Carries out actuator writes as soon as the worker notifies, without waiting for a message. */
  async #watchActuators(): Promise<void> {
    const word = new Int32Array(this.#mainBell);
    while (!this.#closed) {
      const seen = Atomics.load(word, 0);
      for (let r = this.#actuatorReader.read(); r !== null; r = this.#actuatorReader.read()) {
        this.#events.onWrites({ type: "writes", ...decodeWrites(r) });
      }
      const wait = Atomics.waitAsync(word, 0, seen, 1000);
      if (wait.async) await wait.value;
    }
  }

  /** Tells the worker which of its modules have their share of the outbox full (`kiln.publish` refuses). */
  setOutboxFull(full: string[]): void {
    if (!this.#closed) this.#send({ type: "outbox", full });
  }

  /** Updates the worker's input image. */
  pushInputs(values: Record<string, InputValue>): void {
    if (!this.#closed) this.#send({ type: "inputs", values });
  }

  /** The worker thread's scheduling policy, as it last reported it. */
  get scheduling(): ThreadScheduling {
    return this.#scheduling;
  }

  /** The Deno permission states the worker reported at start: none granted, and a file read refused. */
  permissions(): Promise<PermissionStates> {
    return this.#ready.promise;
  }

  /** Samples handed to the worker for `source` that it has not taken yet. */
  samplesInFlight(source: string): number {
    return (this.#inFlight.get(source) ?? []).reduce((a, n) => a + n, 0);
  }

  /** Batches waiting in the worker for `source`. */
  inFlight(source: string): number {
    return this.#inFlight.get(source)?.length ?? 0;
  }

  /** Terminates the worker. */
  close(): void {
    if (this.#closed) return;
    this.#end(new ExecutorError(this.name, "closed"));
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
