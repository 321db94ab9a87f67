/**
 * The executor's side of the watchdog (`../_watchdog.ts`): the heartbeat an executor worker shares with the
 * main thread, bumped every turn of its loop, and around every call into a module instance the record of
 * which instance is running, in which entry, and how long that call may take (its allowance). The main
 * thread judges it; nothing here needs the main thread.
 *
 * @module
 */
import { HARD_BUDGET_FACTOR } from "./instance.ts";
import type { InstanceSpec } from "./protocol.ts";
import { nowMs } from "./doorbell.ts";

/**
 * The rate at which a call that copies a module's memory (a snapshot's capture, a restore) is assumed to
 * copy at worst, bytes per ms (100 MB/s, a loaded edge CPU's memcpy with page faults); its allowance grows
 * with the memory's size at this rate.
 */
export const COPY_BYTES_PER_MS = 100_000;

/** What an executor is doing in a module instance while its heartbeat is held, by the code the worker writes. */
export const CALL_ENTRIES = [
  "none",
  "start", // instantiation, the start function, _initialize, kiln_alloc, kiln_init or a restore
  "kiln_on_tick",
  "kiln_on_event",
  "kiln_on_samples",
  "kiln_on_record",
  "snapshot capture",
] as const;

/** A call's entry, as {@linkcode CALL_ENTRIES} names it. */
export type CallEntry = typeof CALL_ENTRIES[number];

/** The heartbeat's words as read at one moment. */
export interface HeartbeatWords {
  /**
   * Bumped on every turn of the worker's loop and at the start and end of every call; 0 until the worker
   * runs. An int32 that wraps: only whether it moved matters.
   */
  beat: number;
  /** False when the worker wrote while the words were read: they may be torn, and the beat moved anyway. */
  stable: boolean;
  /** The load id of the instance whose call is running (the main thread maps it to a module), or 0. */
  slot: number;
  entry: CallEntry;
  /** When the running call started and when it must be over (allowance), epoch ms on the worker's clock. */
  startedAt: number;
  deadlineAt: number;
}

// Layout of the shared words: Int32 [0] beat, [1] slot, [2] entry; Float64 [2] startedAt, [3] deadlineAt.
const BEAT = 0;
const SLOT = 1;
const ENTRY = 2;
const STARTED = 2;
const DEADLINE = 3;
const HEARTBEAT_BYTES = 32;

/**
 * The heartbeat an executor worker shares with the main thread. The worker writes (`beat`, `begin`, `end`);
 * the main thread reads (`read`). The times are written before the beat is bumped and read between two reads
 * of the beat, so a torn read is never used: when the beat moved meanwhile, the executor is not stalled.
 */
export class Heartbeat {
  readonly buffer: SharedArrayBuffer;
  #ints: Int32Array;
  #times: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(HEARTBEAT_BYTES)) {
    this.buffer = buffer;
    this.#ints = new Int32Array(buffer, 0, 4);
    this.#times = new Float64Array(buffer, 0, 4);
  }

  /** One turn of the worker's loop (or of its event loop): the executor is alive. */
  beat(): void {
    Atomics.add(this.#ints, BEAT, 1);
  }

  /**
   * A call into instance `slot` starts, in `entry`, and may take `allowedMs` (its hard deadline(s); see
   * {@linkcode handlerAllowedMs}).
   */
  begin(slot: number, entry: CallEntry, allowedMs: number): void {
    const now = nowMs();
    this.#times[STARTED] = now;
    this.#times[DEADLINE] = now + allowedMs;
    Atomics.store(this.#ints, ENTRY, CALL_ENTRIES.indexOf(entry));
    Atomics.store(this.#ints, SLOT, slot);
    Atomics.add(this.#ints, BEAT, 1);
  }

  /** The call is over. */
  end(): void {
    Atomics.store(this.#ints, SLOT, 0);
    Atomics.store(this.#ints, ENTRY, 0);
    Atomics.add(this.#ints, BEAT, 1);
  }

  /** The words now; `stable` is false when the worker wrote meanwhile. */
  read(): HeartbeatWords {
    const beat = Atomics.load(this.#ints, BEAT);
    const slot = Atomics.load(this.#ints, SLOT);
    const entry = CALL_ENTRIES[Atomics.load(this.#ints, ENTRY)] ?? "none";
    const startedAt = this.#times[STARTED]!;
    const deadlineAt = this.#times[DEADLINE]!;
    const stable = Atomics.load(this.#ints, BEAT) === beat;
    return { beat, stable, slot, entry, startedAt, deadlineAt };
  }
}

/**
 * How long a call from the worker that makes up to `calls` handler calls in a row may take, ms: each is
 * interrupted at {@linkcode HARD_BUDGET_FACTOR} times `budget_us`, except an instance's first handler call
 * (`warm` false: it has made none yet), which gets the init budget.
 */
export function handlerAllowedMs(spec: InstanceSpec, calls: number, warm: boolean): number {
  const hardMs = spec.budgetUs * HARD_BUDGET_FACTOR / 1000;
  const firstMs = warm ? hardMs : Math.max(hardMs, spec.initBudgetUs / 1000);
  return firstMs + Math.max(0, calls - 1) * hardMs;
}

/**
 * How long starting an instance may take, ms. Each step is interrupted at the init budget: the start function,
 * `_initialize`, `kiln_abi_version`, one `kiln_alloc` per data blob and up to two for the host's buffers,
 * `kiln_init`; a restore copies the image's memory instead of the last ones.
 */
export function loadAllowedMs(spec: InstanceSpec, restoreBytes: number): number {
  const steps = 6 + spec.data.size;
  return steps * spec.initBudgetUs / 1000 + copyAllowedMs(restoreBytes);
}

/** How long copying a memory of `bytes` may take, ms: a base of 100 ms plus {@linkcode COPY_BYTES_PER_MS}. */
export function copyAllowedMs(bytes: number): number {
  return 100 + bytes / COPY_BYTES_PER_MS;
}
