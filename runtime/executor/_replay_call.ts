/**
 * How a recorded handler call is made again (`ModuleInstance.replayCall`, `runtime/record/replay.ts`): the
 * recorded input is copied into the buffer the host uses for that handler, and the call's arguments are
 * this instance's own pointers with the recorded scalars. Private to `runtime/executor/`.
 *
 * @module
 */

/** The largest event payload, in bytes; an event module's buffer is this big. */
export const MAX_EVENT_BYTES = 4096;
/** Event kinds passed to `kiln_on_event` (ABI v1). */
export const EventKind = { API: 1, GPIO: 2, CHANNEL: 3, MQTT: 4 } as const;

/** An instance's handler buffers: byte offsets in its memory, and their sizes. */
export interface HandlerBuffers {
  memory: WebAssembly.Memory;
  sampleBuf: number;
  /** The sample window's size in bytes. */
  sampleBytes: number;
  recordBuf: number;
  /** The channel record buffer's size in bytes; null when the instance reads no channel. */
  recordBytes: number | null;
  eventBuf: number;
}

/**
 * Copies `input` into the buffer `entry` reads and returns the handler's arguments; `arg` is the tick's
 * `now_us` or the event's kind.
 *
 * @throws {RangeError} when `entry` is not a handler or the input does not fit its buffer.
 */
export function replayArgs(
  entry: string,
  input: Uint8Array | null,
  arg: number | bigint | undefined,
  b: HandlerBuffers,
): (number | bigint)[] {
  const bytes = input ?? new Uint8Array(0);
  const place = (ptr: number, max: number): number => {
    if (bytes.length > max) {
      throw new RangeError(`Recorded input of ${bytes.length} bytes is over ${entry}'s ${max}-byte buffer`);
    }
    new Uint8Array(b.memory.buffer, ptr, bytes.length).set(bytes);
    return ptr;
  };
  switch (entry) {
    case "kiln_on_samples":
      return [place(b.sampleBuf, b.sampleBytes), bytes.length >> 1];
    case "kiln_on_record":
      return [place(b.recordBuf, b.recordBytes ?? 0), bytes.length];
    case "kiln_on_event": {
      const kind = Number(arg);
      const ptr = kind === EventKind.CHANNEL && b.recordBytes !== null
        ? place(b.recordBuf, b.recordBytes)
        : place(b.eventBuf, MAX_EVENT_BYTES);
      return [kind, ptr, bytes.length];
    }
    case "kiln_on_tick":
      return [BigInt(arg ?? 0)];
    default:
      throw new RangeError(`Cannot replay "${entry}": not a handler`);
  }
}
