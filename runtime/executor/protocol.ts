/**
 * Messages between the main thread (`runtime/executor.ts`, the runtime's handle on a worker) and executor
 * workers (`worker.ts`), and the instance spec a worker loads a module from. Outside `runtime/`, only
 * benchmarks and tests that drive a worker themselves import it.
 *
 * @module
 */

import type { ThreadScheduling } from "./realtime_thread.ts";
import type { SnapshotImage, SnapshotReason } from "../../snapshots/mod.ts";
import type { AccountLimits, ThrottleCounts } from "./account.ts";
import type { InvocationRecord } from "./_record_types.ts";

/** Upper bounds (inclusive, microseconds) of the handler-duration histogram buckets; one more bucket is +Inf. */
export const LATENCY_BOUNDS_US: readonly number[] = [
  10,
  25,
  50,
  100,
  250,
  500,
  1_000,
  2_500,
  5_000,
  10_000,
  25_000,
  50_000,
  100_000,
  250_000,
  1_000_000,
];

/** Quality of a sensor value, as OPC UA reports it. */
export type Quality = "good" | "uncertain" | "bad";

/** The latest value of an input, as the runtime keeps it for modules (a PLC's input image). */
export interface InputValue {
  value: number;
  quality: Quality;
  /** When it was read, epoch milliseconds from `performance.timeOrigin + performance.now()`. */
  atMs: number;
}

/** What an executor needs to run one module instance. */
export interface InstanceSpec {
  name: string;
  mode: "stream" | "periodic" | "event";
  /** Stream source id, e.g. `"sim:vibration_1"`. */
  source: string | null;
  window: number;
  hop: number;
  periodUs: number;
  /** 0..99, higher first when several ticks are due at once. */
  priority: number;
  budgetUs: number;
  /** The budget of the start function, `_initialize`, `kiln_alloc`, `kiln_init` and the first handler call. */
  initBudgetUs: number;
  /** Instructions per call when metered (`limits.fuel`), else null. */
  fuel: number | null;
  /** The limits of the module's resource account (`account.ts`); left out, the defaults. */
  account?: AccountLimits;
  params: Record<string, number>;
  /** Data blobs by name (a `Map`: the names are the manifest's, and survive `postMessage` as one). */
  data: ReadonlyMap<string, Uint8Array>;
  /** Channels this module writes, in manifest order (`kiln.channel_write(index, ...)`). */
  channelWrites: { id: string; buffer: SharedArrayBuffer; wake: SharedArrayBuffer[] }[];
  /** The channel this module reads (its stream source or event trigger), with its reader index. */
  channelRead: { id: string; buffer: SharedArrayBuffer; reader: number } | null;
  /** The module's actuators in `kiln.actuate(index, ...)` order, with the resource each write needs. */
  actuators: { id: string; type: string; resource: string }[];
  /** Granted capabilities, checked at every gated call. */
  capabilities: string[];
  /** Input ids in `kiln.input(index)` order, e.g. `["sim:temperature_1"]`. */
  inputs: string[];
  /** Names of functions by index (name section, then export names), for naming the function that trapped. */
  functionNames: FunctionNames;
  /** Epoch milliseconds of the runtime's start: `kiln.now_us` counts from here. */
  clockOriginMs: number;
  /** Handler calls after `kiln_init` at which the warm-up snapshot is taken; null for none. */
  warmUpIterations: number | null;
  /**
   * The byte ranges of memory that instantiation writes (active data segments), which a restore must
   * clear; null when that is not known (a non-constant offset, a start function): then all of it.
   */
  instantiationWrites: [start: number, end: number][] | null;
  /**
   * Per-invocation trace events (`trace_collector.ts`): every `traceEvery`-th handler call is traced; 0 or
   * left out, none.
   */
  traceEvery?: number;
}

/** Trap kinds a module's fault is reported as. */
export type TrapKind =
  | "unreachable"
  | "out_of_bounds"
  | "divide_by_zero"
  | "integer_overflow"
  | "invalid_conversion"
  | "stack_overflow"
  | "indirect_call"
  /** `memory.atomic.wait` on an unshared memory (Kiln refuses shared ones): a trap, never a wait. */
  | "atomic_wait"
  /** An atomic access at an address not aligned to its size. */
  | "unaligned_atomic"
  | "init_failed"
  | "restore_failed"
  | "budget_exceeded"
  | "fuel_exhausted"
  | "proc_exit"
  | "host_error"
  /** The module's call held its executor past the watchdog's limit (see `_watchdog.ts`); the executor was terminated. */
  | "executor_stalled"
  | "trap";

/**
 * A module's function bodies as `[start, end, name]` byte ranges of the binary V8 runs, in order: V8's
 * stack frames give a byte offset into the module, which names the function.
 */
export type FunctionNames = readonly (readonly [start: number, end: number, name: string])[];

/** A module's fault, as data. */
export interface ModuleFault {
  kind: TrapKind;
  /** The Wasm function that was running, when known. */
  function: string | null;
  message: string;
}

/** Per-module counters an executor reports. */
export interface InstanceStats {
  invocations: number;
  errors: number;
  lastError: string | null;
  totalUs: number;
  maxUs: number;
  lastUs: number;
  budgetOverruns: number;
  deadlineMisses: number;
  samplesIn: number;
  memoryBytes: number;
  logsDropped: number;
  /** Calls the module's resource account refused (`KILN_ELIMIT`), by kind of limit (`account.ts`). */
  throttled?: ThrottleCounts;
  /** Instructions executed, when metered with fuel: in all calls, and in the last one. */
  instructions: number;
  lastInstructions: number;
  /** Handler call durations by {@linkcode LATENCY_BOUNDS_US} bucket (not cumulative); the last is +Inf. */
  latencyBuckets: number[];
  /** Periodic modules: how late recent ticks started, in microseconds. */
  lateness?: { p50: number; p99: number; max: number } | null;
}

/** A new instance's counters, all zero. */
export function emptyStats(): InstanceStats {
  return {
    invocations: 0,
    errors: 0,
    lastError: null,
    totalUs: 0,
    maxUs: 0,
    lastUs: 0,
    budgetOverruns: 0,
    deadlineMisses: 0,
    samplesIn: 0,
    memoryBytes: 0,
    logsDropped: 0,
    instructions: 0,
    lastInstructions: 0,
    latencyBuckets: new Array(LATENCY_BOUNDS_US.length + 1).fill(0),
  };
}

/** One alert raised by a module. */
export interface AlertEvent {
  module: string;
  severity: "warning" | "critical";
  message: string;
  /** Wall-clock time, milliseconds since the epoch. */
  at: number;
}

/** One log line of a module. */
export interface LogEvent {
  module: string;
  level: "debug" | "info" | "warn" | "error";
  message: string;
  at: number;
}

/** A gated call the module was refused, counted per module, capability and call within one report. */
export interface DenialEvent {
  module: string;
  /** The capability the call would have needed, e.g. `"read:gpio:pin_4"`. */
  capability: string;
  /** The call, e.g. `"gpio_read(4)"`. */
  detail: string;
  count: number;
}

/**
 * An actuator write a module requested; carried out by the runtime after the call returns, except a
 * simulated GPIO pin, which the executor drives at once (`drivenAt`) and reports.
 */
export type ActuatorWrite =
  /** A GPIO pin of the simulated bank, to 0 or 1; `drivenAt` (epoch ms) when the executor drove it. */
  | { module: string; kind: "gpio"; pin: number; value: number; drivenAt?: number }
  /** The module's actuator `index` (its manifest `actuators` entry, e.g. a Modbus coil) to `value`. */
  | { module: string; kind: "actuator"; index: number; value: number };

/** A message a module published, for the runtime's publisher (MQTT when connected). */
export interface OutboundMessage {
  module: string;
  topic: string;
  payload: Uint8Array;
  at: number;
}

/** Main thread → executor. */
export type ToExecutor =
  /** First message: the doorbell the runtime and channel writers ring to wake this executor. */
  | {
    type: "init";
    bell: SharedArrayBuffer;
    /** Events in (the executor reads), actuator writes out (the runtime reads), and the runtime's doorbell. */
    events: SharedArrayBuffer;
    actuators: SharedArrayBuffer;
    mainBell: SharedArrayBuffer;
    /** The simulated GPIO bank's state (`SimGpio.buffer`), which event handlers drive directly. */
    gpio: SharedArrayBuffer | null;
    /** Run this worker's thread at `SCHED_FIFO` with this priority (see `realtime_thread.ts`), or null. */
    fifoPriority: number | null;
    /** Pin this worker's thread to these CPUs (see `realtime_thread.ts`), or null. */
    cpus: number[] | null;
    /**
     * Spin the last moments before a tick's deadline for a precise start (the realtime executor); otherwise
     * sleep until it and start up to a few hundred microseconds late, for no CPU while waiting.
     */
    spinTicks: boolean;
    /** The heartbeat the main thread's watchdog reads (see `_watchdog.ts`). */
    heartbeat: SharedArrayBuffer;
  }
  | {
    type: "load";
    id: number;
    spec: InstanceSpec;
    module: WebAssembly.Module;
    /** Resume from this image instead of running `kiln_init`. */
    restore: SnapshotImage | null;
    /** Only try: instantiate and run `kiln_init`, answer, and drop the instance (a deploy's check). */
    trial?: boolean;
  }
  /** Capture a module's memory image for a snapshot; answered by a `snapshot` message with the same id. */
  | { type: "snapshot"; id: number; name: string; reason: SnapshotReason }
  /**
   * Start (`on`) or stop recording a module's running instance (`runtime/record/`): on start, its memory image
   * is captured between two handler calls and every call from then on is recorded; both go out in the next
   * reports' `recordings`.
   */
  | { type: "record"; name: string; on: boolean }
  /**
   * Attach a shadow candidate to a module's running instance (load `loadId`), or stop shadow `id` when
   * `candidate` is null (`runtime/shadow/`, `_worker_shadow.ts`): the executor instantiates the candidate from
   * the live instance's memory image (or runs its own `kiln_init`: `ShadowCandidateSpec.start`) and, after each
   * live handler call returns, calls it with the same inputs; its counters come in the reports' `shadows`.
   */
  | { type: "shadow"; id: number; name: string; loadId: number; candidate: ShadowCandidateSpec | null }
  /** Drop a module's instance; answered by `unloaded` with the same id. */
  | { type: "unload"; id: number; name: string }
  | { type: "samples"; source: string; seq: number; samples: Int16Array }
  | { type: "inputs"; values: Record<string, InputValue> }
  /**
   * The modules of this executor whose share of the outbox is full (all of them, each time the set changes):
   * their `kiln.publish` returns `KILN_ELIMIT` until a later `outbox` message leaves them out.
   */
  | { type: "outbox"; full: string[] }
  | {
    type: "event";
    module: string;
    kind: number;
    payload: Uint8Array;
    /** When the trigger fired, epoch ms (for trigger-to-actuator latency). */
    triggeredAt: number;
  };

/** Deno permissions a worker can hold, and the state it reports for each at start. */
export type PermissionStates =
  & Record<"read" | "write" | "net" | "env" | "run" | "ffi" | "sys" | "import", Deno.PermissionState>
  & {
    /** The error name of an attempt to read a file (`"NotCapable"`), or `"read succeeded"`. */
    readProbe: string;
  };

/** Executor → main thread. */
export type FromExecutor =
  | { type: "ready"; permissions: PermissionStates }
  | {
    type: "loaded";
    id: number;
    name: string;
    /** Milliseconds the instance took to start: instantiate and restore, or instantiate and `kiln_init`. */
    startMs: number;
    restored: boolean;
  }
  /**
   * A captured image (or why none): the answer to a `snapshot` request, or with id 0 the warm-up snapshot
   * the executor takes on its own.
   */
  | {
    type: "snapshot";
    id: number;
    name: string;
    reason: SnapshotReason;
    image: SnapshotImage | null;
    error: string | null;
  }
  | { type: "load_failed"; id: number; name: string; fault: ModuleFault }
  /** The instance an `unload` named is gone (or was not there). */
  | { type: "unloaded"; id: number }
  /** `id`: the load id of the instance that crashed (the runtime ignores a replaced instance's crash). */
  | { type: "crashed"; name: string; id?: number; fault: ModuleFault; stats: InstanceStats }
  | { type: "consumed"; source: string; seq: number }
  /** Actuator writes, sent as soon as the call that made them returns, ahead of the periodic report. */
  | { type: "writes"; writes: ActuatorWrite[]; triggeredAt: number | null }
  /** The thread's scheduling, after `init` asked for `SCHED_FIFO`. */
  | { type: "scheduling"; scheduling: ThreadScheduling }
  | {
    type: "report";
    /**
     * The load id of the instance whose figures (stats, outputs, series, arrays) the report carries, per
     * module: the runtime takes them only for the instance it started last (not a replaced version's).
     */
    loads?: Record<string, number>;
    stats: Record<string, InstanceStats>;
    outputs: Record<string, Record<string, number>>;
    /**
     * Every scalar output the period's calls set, per module, in order: at most `MAX_OUTPUT_POINTS` a module
     * (`outputs` holds the latest of each key all the same), so that telemetry carries every value.
     */
    outputSeries?: Record<string, OutputPoint[]>;
    arrays: Record<string, Record<string, Float32Array>>;
    alerts: AlertEvent[];
    logs: LogEvent[];
    denials: DenialEvent[];
    /** Uses of each granted capability, by module. */
    uses: Record<string, Record<string, number>>;
    writes: ActuatorWrite[];
    messages: OutboundMessage[];
    /** The traced handler calls of the period, in call order per module (`trace_collector.ts`). */
    traces?: InvocationTrace[];
    /** Trace events the executor could not queue in the period (over its per-report cap). */
    tracesDropped?: number;
    /** What the period recorded of the modules being recorded (a `record` message started them). */
    recordings?: RecordingBatch[];
    /** The counters of each shadow run in this executor (one a module; a stopped one in one last report). */
    shadows?: ShadowReport[];
  };

/** A shadow candidate as a `shadow` message carries it: loaded (instrumented, verified) as for a deploy. */
export interface ShadowCandidateSpec {
  module: WebAssembly.Module;
  /** The candidate's function names (the rest of its spec is the live instance's). */
  functionNames: FunctionNames;
  /** Largest difference accepted between live and candidate floats; 0: bit for bit. */
  tolerance: number;
  /**
   * How the candidate starts: `image`, resumed from the live instance's memory image (it must share the live
   * build's memory layout); `init`, instantiated fresh with the live module's spec and its own `kiln_init`
   * run, every effect of it swallowed and not compared. @default {"image"}
   */
  start?: ShadowStart;
  /** The first N compared invocations are run but counted apart (`ShadowReport.warmup`). @default {0} */
  warmupInvocations?: number;
}

/** How a shadow candidate starts (`ShadowCandidateSpec.start`, `docs/shadow.md`). */
export type ShadowStart = "image" | "init";

/** Where a candidate first did something else than the live instance. */
export interface ShadowDivergence {
  /** The invocation's sequence number in the shadow run (1: the first handler call after attaching). */
  invocation: number;
  entry: string;
  /** The host call's import (`kiln.output`), or null for the handler's result. */
  call: string | null;
  /** What differs, e.g. `kiln.output argument 1`. */
  what: string;
  /** As the live instance did it. */
  live: string;
  /** As the candidate did it. */
  candidate: string;
}

/** A shadow run's counters as the executor reports them (cumulative since it attached; bounded). */
export interface ShadowReport {
  /** The `shadow` message's id. */
  id: number;
  module: string;
  state: "running" | "stopped";
  /** Why it stopped (`candidate_trapped: <kind>`, `module_stopped`, `recording_started`...), or null. */
  reason: string | null;
  /** Invocations compared and counted (`matched + diverged`; the warm-up's are not among them). */
  invocations: number;
  matched: number;
  diverged: number;
  /** Invocations run during the warm-up (`ShadowCandidateSpec.warmupInvocations`), counted apart. */
  warmup: number;
  /** Effects the candidate made that were captured and not carried out. */
  suppressed: number;
  /** The largest difference per output name (at most `MAX_OUTPUT_NAMES`). */
  largest: Map<string, number>;
  first: ShadowDivergence | null;
  /**
   * The candidate's handler call durations (warm-up included) by {@linkcode LATENCY_BOUNDS_US} bucket (the last
   * is +Inf), and in all, µs.
   */
  buckets: number[];
  totalUs: number;
}

/** One report's share of a module's recording. */
export interface RecordingBatch {
  module: string;
  /** The load id of the instance recorded. */
  loadId: number;
  /** The instance's memory image when the recording started: in the first batch only, else null. */
  start: SnapshotImage | null;
  /** The invocations recorded in the period, in call order (the first batch opens with the start, seq 0). */
  records: InvocationRecord[];
  /**
   * True when the recording stopped in the executor: more invocations came in one period than a report
   * carries (`MAX_RECORDS_PER_REPORT`), or the start could not be captured (`error`).
   */
  overflowed: boolean;
  /** Why the recording could not start (the image could not be captured), or null. */
  error: string | null;
}

/** One scalar output as a module's call set it: its key, its value, and when (ms since the epoch). */
export type OutputPoint = [key: string, value: number, at: number];

/** How a traced handler call ended. */
export type TraceOutcome = "ok" | "error" | "trap" | "budget_exceeded";

/** One traced handler call, as the executor saw it (`trace_collector.ts`; the runtime numbers them). */
export interface InvocationTrace {
  module: string;
  /** The instance's call number, from 1 (a sampled trace skips the calls between). */
  invocation: number;
  /** The export called: `kiln_on_samples`, `kiln_on_record`, `kiln_on_tick` or `kiln_on_event`. */
  handler: string;
  /** When the call started on the executor's clock, epoch milliseconds (fractional). */
  startMs: number;
  /** How long it ran, microseconds. */
  durationUs: number;
  /** Instructions executed, when metered with fuel; else null. */
  instructions: number | null;
  /** Bytes the call added to linear memory (`memory.grow`; handlers get no host `kiln_alloc`). */
  allocBytes: number;
  /** Granted capabilities the call used, with how often; null for none. */
  uses: Record<string, number> | null;
  outcome: TraceOutcome;
  /** A non-zero result (`"-3"`) for `error`; the trap kind (`"unreachable"`, `"fuel_exhausted"`) otherwise. */
  code: string | null;
}
