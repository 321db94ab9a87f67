// deno-fmt-ignore-file
// deno-lint-ignore-file
// AssemblyScript, not TypeScript: Deno's formatter would drop its decorators (`@external`, `@inline`).
/**
 * AssemblyScript bindings of the Kiln module ABI, version 1 (`modules/ABI.md` is the contract).
 *
 * - Safe wrappers over every `kiln` import, taking strings and typed arrays: `log`, `output`, `alert`,
 *   `channelWrite`... Each returns the host's status (`Status.OK`, or a negative `Status.*`); the raw imports
 *   are the `kiln_*` declarations below. An import a module never calls is not imported by its `.wasm` (asc
 *   compiles only what is used), so a gated one needs its capability only when called.
 * - The exports every module needs, as `kiln_rt.c` gives C: `kiln_abi_version` and `kiln_alloc`. asc exports
 *   only what the entry file exports, so a module re-exports them:
 *   `export { kiln_abi_version, kiln_alloc } from "./kiln/index";`
 * - `kiln_abort`, which `asc --use abort=<path>/kiln_abort` makes the handler of every `abort` (a failed
 *   `assert`, an index out of range...): it logs the message at error level and traps, so the module
 *   imports no `env.abort`, which the gateway refuses.
 * - The fixed-point helpers (`./fixed`), re-exported.
 *
 * Runtime: asc's default `incremental` garbage collector (what `modules/sdk/toolchains.ts` builds with), so
 * handlers may build strings and arrays on every call: with `--runtime stub` nothing is ever freed and a
 * handler that allocates per call runs out of memory. The wrappers themselves allocate nothing (strings are
 * encoded into a static scratch buffer). `kiln_alloc` takes raw blocks (`heap.alloc`) the collector never
 * touches, which the host keeps for the instance's life. Avoid `Math.random`, `Date` and `trace`: they
 * import `env` functions the gateway refuses.
 *
 * A stream module:
 *
 * ```ts
 * import { output, sampleAt, Status } from "./kiln/index";
 * export { kiln_abi_version, kiln_alloc } from "./kiln/index";
 *
 * export function kiln_on_samples(ptr: usize, count: i32): i32 {
 *   let peak: i32 = 0;
 *   for (let i = 0; i < count; i++) peak = max(peak, abs<i32>(sampleAt(ptr, i)));
 *   return output("peak", <f64>peak / 32768.0);
 * }
 * ```
 */

export * from "./fixed";

/** The ABI version these bindings implement; `kiln_abi_version` returns it. */
export const ABI_VERSION: i32 = 1;

/** At most this many values per `outputArray` call. */
export const MAX_ARRAY: i32 = 4096;

/** The largest event payload the host hands over (its event buffer), in bytes. */
export const MAX_EVENT_BYTES: i32 = 4096;

/** Status codes the host returns (`modules/ABI.md`, "Error codes"). */
export enum Status {
  OK = 0,
  /** Bad pointer or length. */
  EFAULT = -1,
  /** Unknown name or index. */
  ENOENT = -2,
  /** Capability not granted (the call is audited). */
  EDENIED = -3,
  /** Rate or size limit. */
  ELIMIT = -4,
  /** Invalid argument. */
  EINVAL = -5,
}

/** Log levels of `log`. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** Alert severities of `alert`. */
export enum Severity {
  Warning = 1,
  Critical = 2,
}

/** Input qualities in `Input.quality`. */
export enum Quality {
  Good = 0,
  Uncertain = 1,
  Bad = 2,
}

/** Event kinds of `kiln_on_event`. */
export enum EventKind {
  /** The body of `POST /api/v1/modules/<name>/events`. */
  Api = 1,
  /** 8 bytes: `u32 pin`, `u32 level` (read them with `gpioEventPin`, `gpioEventLevel`). */
  Gpio = 2,
  /** One channel record. */
  Channel = 3,
  /** An MQTT message's payload. */
  Mqtt = 4,
}

// ---- Raw imports (namespace "kiln"), exactly as ABI v1 declares them ------------------------------------

@external("kiln", "log")
export declare function kiln_log(level: i32, ptr: usize, len: i32): i32;
@external("kiln", "now_us")
export declare function kiln_now_us(): i64;
@external("kiln", "param_f64")
export declare function kiln_param_f64(key: usize, keyLen: i32, fallback: f64): f64;
@external("kiln", "data")
export declare function kiln_data(name: usize, nameLen: i32, outLen: usize): usize;
@external("kiln", "input")
export declare function kiln_input(index: i32, out: usize): i32;
@external("kiln", "output")
export declare function kiln_output(key: usize, keyLen: i32, value: f64): i32;
@external("kiln", "output_array")
export declare function kiln_output_array(key: usize, keyLen: i32, data: usize, count: i32): i32;
@external("kiln", "alert")
export declare function kiln_alert(severity: i32, ptr: usize, len: i32): i32;
@external("kiln", "gpio_read")
export declare function kiln_gpio_read(pin: i32): i32;
@external("kiln", "gpio_write")
export declare function kiln_gpio_write(pin: i32, value: i32): i32;
@external("kiln", "publish")
export declare function kiln_publish(topic: usize, topicLen: i32, payload: usize, payloadLen: i32): i32;
@external("kiln", "channel_write")
export declare function kiln_channel_write(index: i32, ptr: usize, len: i32): i32;
@external("kiln", "actuate")
export declare function kiln_actuate(index: i32, value: f64): i32;

// ---- Exports every module re-exports --------------------------------------------------------------------

/** Returns `ABI_VERSION`; the host calls it first. */
export function kiln_abi_version(): i32 {
  return ABI_VERSION;
}

/**
 * `size` bytes the module never reuses (a raw heap block the collector does not manage), 16-byte aligned;
 * `0` for a negative `size`. The host calls it for data blobs and its buffers. When memory cannot grow
 * (past `limits.max_memory_mb`) the allocator aborts, so the module traps and the start fails, as a `0`
 * would make it.
 */
export function kiln_alloc(size: i32): usize {
  if (size < 0) return 0;
  return heap.alloc(<usize> size);
}

/** The handler of `abort` (`asc --use abort=.../kiln_abort`): logs the message and its place, then traps. */
export function kiln_abort(
  message: string | null = null,
  file: string | null = null,
  line: u32 = 0,
  column: u32 = 0,
): void {
  let text = "abort";
  if (message !== null) text += ": " + message;
  if (file !== null) text += " at " + file + ":" + line.toString() + ":" + column.toString();
  log(Level.Error, text);
  unreachable();
}

// ---- Safe wrappers --------------------------------------------------------------------------------------

/** UTF-16 code units encoded per call at most (3 bytes each in UTF-8); longer strings are cut. */
const MAX_CHARS: i32 = 1024;
const SCRATCH: usize = memory.data(3 * MAX_CHARS, 16);
const INPUT_SCRATCH: usize = memory.data(16, 8);
const LEN_SCRATCH: usize = memory.data(4, 4);

/** Encodes `s` as UTF-8 into the scratch buffer; returns the byte length (no allocation). */
function encode(s: string): i32 {
  const n = min(s.length, MAX_CHARS);
  return <i32> String.UTF8.encodeUnsafe(changetype<usize>(s), n, SCRATCH, false);
}

/** Logs `message` (cut at 1024 bytes). `Status.ELIMIT` when the log limits dropped it. */
export function log(level: Level, message: string): i32 {
  const n = encode(message);
  return kiln_log(level, SCRATCH, n);
}

/** Microseconds on the runtime's monotonic clock (not wall time). */
export function nowUs(): i64 {
  return kiln_now_us();
}

/**
 * The manifest's `params.<key>`, or `fallback`. Reserved keys: `kiln.sample_rate_hz`, `kiln.full_scale`,
 * `kiln.window`, `kiln.hop`, `kiln.period_us`.
 */
export function param(key: string, fallback: f64): f64 {
  const n = encode(key);
  return kiln_param_f64(SCRATCH, n, fallback);
}

/** A data blob in the module's memory (copied in before `kiln_init`, kept for the instance's life). */
export class Blob {
  constructor(public readonly ptr: usize, public readonly length: i32) {}

  /** The byte at `offset` (traps past the end). */
  byteAt(offset: i32): u8 {
    assert(offset >= 0 && offset < this.length, "data blob offset out of range");
    return load<u8>(this.ptr + <usize> offset);
  }

  /** A copy of the blob's bytes. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    memory.copy(out.dataStart, this.ptr, <usize> this.length);
    return out;
  }
}

/** The manifest's data blob `name`, or null when there is none. */
export function data(name: string): Blob | null {
  const n = encode(name);
  const ptr = kiln_data(SCRATCH, n, LEN_SCRATCH);
  if (ptr === 0) return null;
  return new Blob(ptr, load<i32>(LEN_SCRATCH));
}

/** The latest value of one of the module's `inputs`. */
export class Input {
  /** In engineering units; NaN when never read. */
  value: f64 = NaN;
  quality: Quality = Quality.Bad;
  /** Milliseconds since it was read (`u32.MAX_VALUE` when never). */
  ageMs: u32 = u32.MAX_VALUE;
}

/**
 * Reads the module's `inputs[index]` into `out`. Imports `input`: needs a `read:*:*` capability.
 * `Status.ENOENT` for an index the manifest does not declare (`out` unchanged).
 */
export function input(index: i32, out: Input): i32 {
  const status = kiln_input(index, INPUT_SCRATCH);
  if (status !== Status.OK) return status;
  out.value = load<f64>(INPUT_SCRATCH);
  out.quality = <Quality> load<u32>(INPUT_SCRATCH, 8);
  out.ageMs = load<u32>(INPUT_SCRATCH, 12);
  return status;
}

/** Publishes a named scalar result. `Status.ELIMIT` for a new key past `limits.max_output_keys`. */
export function output(key: string, value: f64): i32 {
  const n = encode(key);
  return kiln_output(SCRATCH, n, value);
}

/** Publishes a named vector (at most `MAX_ARRAY` values). `Status.ELIMIT` past the array limits. */
export function outputArray(key: string, values: Float32Array): i32 {
  const n = encode(key);
  return kiln_output_array(SCRATCH, n, values.dataStart, values.length);
}

/** Raises an alert. `Status.ELIMIT` past `limits.alerts_per_s`. */
export function alert(severity: Severity, message: string): i32 {
  const n = encode(message);
  return kiln_alert(severity, SCRATCH, n);
}

/** `0` or `1`, the level of GPIO `pin`, or a negative status. Imports `gpio_read`: `read:gpio:pin_<pin>`. */
export function gpioRead(pin: i32): i32 {
  return kiln_gpio_read(pin);
}

/** Sets GPIO `pin`, carried out after the call. Imports `gpio_write`: needs `write:gpio:pin_<pin>`. */
export function gpioWrite(pin: i32, high: bool): i32 {
  return kiln_gpio_write(pin, high ? 1 : 0);
}

/**
 * Queues an MQTT message. Imports `publish`: needs a `write:mqtt:<filter>` grant matching `topic`.
 * `Status.EINVAL` for a topic with `+`, `#` or NUL; `Status.ELIMIT` past the publish limits.
 */
export function publish(topic: string, payload: Uint8Array): i32 {
  const n = encode(topic);
  return kiln_publish(SCRATCH, n, payload.dataStart, payload.length);
}

/**
 * Writes one record to the module's `index`-th channel (counting the channels it writes, in manifest order).
 * Imports `channel_write`: needs `write:channel:<id>`. `Status.ENOENT` without such a channel,
 * `Status.ELIMIT` when its overflow policy dropped the record, `Status.EINVAL` when it is too large.
 */
export function channelWrite(index: i32, record: Uint8Array): i32 {
  return kiln_channel_write(index, record.dataStart, record.length);
}

/**
 * Drives the module's `index`-th actuator to `value`, carried out after the call. Imports `actuate`: needs
 * the point's write capability. `Status.EINVAL` for NaN or an infinite value.
 */
export function actuate(index: i32, value: f64): i32 {
  return kiln_actuate(index, value);
}

// ---- Reading handler arguments ----------------------------------------------------------------------------

/** Sample `i` of a `kiln_on_samples(ptr, count)` batch (little-endian Q15). */
@inline
export function sampleAt(ptr: usize, i: i32): i16 {
  return load<i16>(ptr + (<usize> i << 1));
}

/** Byte `i` of a record or event payload at `ptr`. */
@inline
export function byteAt(ptr: usize, i: i32): u8 {
  return load<u8>(ptr + <usize> i);
}

/** A copy of `len` bytes at `ptr` (a record or an event payload). */
export function bytesAt(ptr: usize, len: i32): Uint8Array {
  const out = new Uint8Array(len);
  memory.copy(out.dataStart, ptr, <usize> len);
  return out;
}

/** The pin of a `EventKind.Gpio` payload. */
export function gpioEventPin(ptr: usize): u32 {
  return load<u32>(ptr);
}

/** The level (0 or 1) of a `EventKind.Gpio` payload. */
export function gpioEventLevel(ptr: usize): u32 {
  return load<u32>(ptr, 4);
}
