/**
 * Recording in the executor (`runtime/record/`, `docs/record_replay.md`): every non-trial instance is linked
 * with an inactive {@linkcode Recorder}, which costs a boolean check per captured host call until a `record`
 * message turns it on. An {@linkcode InstanceRecording} keeps what the recorder emits until the next report,
 * within a cap per report: a recording never makes the executor (or the main thread) keep unbounded state;
 * over the cap it stops and says so (`overflowed`).
 *
 * @module
 */
import { Recorder } from "../record/tap.ts";
import type { InvocationRecord } from "./_record_types.ts";
import type { RecordingBatch } from "./protocol.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";

/** Invocations one report carries per recorded module at most (10 reports a second). */
export const MAX_RECORDS_PER_REPORT = 4096;
/** Bytes of recorded inputs and effects one report carries per recorded module at most. */
export const MAX_RECORD_BYTES_PER_REPORT = 16 * 1024 * 1024;

/** About how many bytes a record holds (its byte strings, its texts, a fixed share per call). */
function sizeOf(r: InvocationRecord): number {
  let n = 64 + (r.input?.length ?? 0);
  for (const c of r.calls) {
    n += 32 + (c.out?.length ?? 0);
    for (const a of c.args) {
      if (a instanceof Uint8Array || typeof a === "string") n += a.length;
      else n += 8;
    }
  }
  return n;
}

/** One instance's recorder and what it recorded since the last report. */
export class InstanceRecording {
  /** The tap to link the instance with (`ModuleInstanceOptions.tap`). */
  readonly recorder: Recorder;
  #on = false;
  #records: InvocationRecord[] = [];
  #bytes = 0;
  #start: SnapshotImage | null = null;
  #overflowed = false;
  #error: string | null = null;
  /** A start, an overflow or an error waits to be reported. */
  #news = false;
  /** Takes every record instead of the reports while a shadow follows the instance (`follow`). */
  #listener: ((r: InvocationRecord) => void) | null = null;

  constructor() {
    this.recorder = new Recorder({ active: false, emit: (r) => this.#take(r) });
  }

  /** Whether calls are being recorded for a recording (not for a shadow). */
  get on(): boolean {
    return this.#on;
  }

  /** Whether a shadow follows the instance's calls. */
  get followed(): boolean {
    return this.#listener !== null;
  }

  /**
   * Hands every handler call from the next on to `listener` (a shadow, `_worker_shadow.ts`), the start
   * record first, keeping nothing for the reports; `null` stops it. Refused (false) while a recording is on.
   */
  follow(listener: ((r: InvocationRecord) => void) | null): boolean {
    if (this.#on) return false;
    this.#listener = listener;
    if (listener === null) this.recorder.active = false;
    else this.recorder.activate();
    return true;
  }

  /**
   * Starts recording from the next handler call, with `image` the instance's memory now (captured by the
   * caller between two handler calls), or reports `error` when it could not be captured.
   */
  start(image: SnapshotImage | null, error: string | null): void {
    if (this.#on) return;
    this.follow(null); // a recording takes the recorder from a shadow (the worker stops it first)
    this.#records = [];
    this.#bytes = 0;
    this.#overflowed = false;
    this.#news = true;
    if (image === null) {
      this.#error = error ?? "the instance's memory could not be captured";
      this.#overflowed = true;
      return;
    }
    this.#error = null;
    this.#start = image;
    this.#on = true;
    this.recorder.activate(); // emits the start record, seq 0
  }

  /** Stops recording; what was recorded still goes out in the next report. */
  stop(): void {
    this.#on = false;
    if (this.#listener === null) this.recorder.active = false; // a shadow following keeps it on
  }

  #take(record: InvocationRecord): void {
    if (this.#listener !== null) {
      this.#listener(record);
      return;
    }
    if (!this.#on) return;
    const size = sizeOf(record);
    if (
      this.#records.length >= MAX_RECORDS_PER_REPORT || this.#bytes + size > MAX_RECORD_BYTES_PER_REPORT
    ) {
      this.#overflowed = true;
      this.#news = true;
      this.stop();
      return;
    }
    this.#records.push(record);
    this.#bytes += size;
  }

  /** What to send in the report for `module` as load `loadId`, or null when there is nothing. */
  take(module: string, loadId: number): RecordingBatch | null {
    if (!this.#news && this.#records.length === 0) return null;
    const batch: RecordingBatch = {
      module,
      loadId,
      start: this.#start,
      records: this.#records,
      overflowed: this.#overflowed,
      error: this.#error,
    };
    this.#start = null;
    this.#records = [];
    this.#bytes = 0;
    this.#news = false;
    this.#overflowed = false;
    this.#error = null;
    return batch;
  }
}
