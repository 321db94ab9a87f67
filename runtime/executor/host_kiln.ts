/**
 * The `kiln` host imports of ABI v1 (`modules/ABI.md`), as one module instance sees them. Every pointer is
 * bounds-checked against the instance's memory, every gated call is checked against its grants (and the
 * denial reported), and a gated import is linked only when a grant covers its class. Runs in the executor.
 *
 * @module
 */
import { HOST_IMPORTS, Status } from "../abi.ts";
import type { GrantSet } from "./grants.ts";
import type { RingWriter } from "./ring.ts";
import { type Doorbell, nowMs } from "./doorbell.ts";
import { CHECK_IMPORT } from "../wasm/constants.ts";
import { ModuleAccount } from "./account.ts";
import type {
  ActuatorWrite,
  AlertEvent,
  InputValue,
  InstanceSpec,
  InstanceStats,
  LogEvent,
  OutboundMessage,
} from "./protocol.ts";

/** Where an instance's results go; the executor batches them to the main thread. */
export interface InstanceSink {
  output(module: string, key: string, value: number): void;
  /**
   * An array output. `values` is the instance's buffer for `key`, overwritten by the key's next output (the
   * latest value is what is kept and reported): copy it to keep an earlier one.
   */
  outputArray(module: string, key: string, values: Float32Array): void;
  alert(event: AlertEvent): void;
  log(event: LogEvent): void;
  /** A gated call was refused: `capability` is what it needed, `detail` the call. */
  denied(module: string, capability: string, detail: string): void;
  /** A gated call was allowed by the grant `capability`. */
  used(module: string, capability: string): void;
  write(write: ActuatorWrite): void;
  /** Queues a message; false when it was not taken: the module's share of the outbox is full. */
  publish(message: OutboundMessage): boolean;
}

/** A channel the instance writes, with the doorbells of its readers' executors. */
export interface ChannelWriter {
  id: string;
  /** The ring, or a trial's writer that keeps nothing (`dry_run.ts`). */
  writer: Pick<RingWriter, "write" | "maxRecordBytes">;
  wake: Doorbell[];
}

/** What the host imports need of their instance. */
export interface KilnHost {
  readonly spec: InstanceSpec;
  readonly stats: InstanceStats;
  readonly sink: InstanceSink;
  /** The executor's input image. */
  readonly inputs: ReadonlyMap<string, InputValue>;
  readonly grants: GrantSet;
  readonly writers: readonly ChannelWriter[];
  /** The bytes at `[ptr, ptr + len)` of linear memory, or null when any of it lies outside. */
  bytes(ptr: number, len: number): Uint8Array | null;
  /** Where a data blob was copied in. */
  dataBlob(name: string): { ptr: number; len: number } | undefined;
  nowUs(): bigint;
  /** `kiln.__check`, the instrumentation's interrupt check. */
  check(): number;
  /** When the running call must stop (epoch ms): a blocking channel write waits no later. */
  deadlineMs(): number;
  /**
   * The instance's resource account (`account.ts`), shared with its WASI imports (stdout and stderr lines
   * are charged with `account.allowLog(bytes)`).
   */
  readonly account: ModuleAccount;
  /** A granted capability the running call used (per-invocation traces, `trace_collector.ts`). */
  used?(capability: string): void;
}

/** Log lines are cut at this length, in bytes. */
export const MAX_LOG_BYTES = 1024;
const MAX_ARRAY = 4096;
const MAX_TOPIC_BYTES = 256;
const MAX_PAYLOAD_BYTES = 65_536;
const MAX_GPIO_PIN = 1023;
const LEVELS = ["debug", "info", "warn", "error"] as const;
const QUALITY_CODES = { good: 0, uncertain: 1, bad: 2 } as const;
const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * The `kiln` imports an instance is linked with: every core import, and a gated one only when a granted
 * capability covers its class (the loader has already refused a module importing anything else).
 */
export function createKilnImports(host: KilnHost): Record<string, (...args: never[]) => unknown> {
  const name = host.spec.name;
  const account = host.account;
  host.stats.throttled = account.throttled; // reported with the instance's counters
  const string = (ptr: number, len: number, max = Number.POSITIVE_INFINITY): string | null => {
    const bytes = host.bytes(ptr, len);
    return bytes === null ? null : decoder.decode(bytes.subarray(0, max));
  };
  const keys = new KeyCache();
  /** Each array key's buffer (see `InstanceSink.outputArray`); as many as the account lets the module hold. */
  const arrays = new Map<string, { values: Float32Array; bytes: Uint8Array }>();
  /** {@linkcode string} for an output key: the same text, decoded once per key (see `KeyCache`). */
  const key = (ptr: number, len: number, max: number): string | null => {
    const bytes = host.bytes(ptr, len);
    return bytes === null ? null : keys.text(ptr >>> 0, bytes.subarray(0, max));
  };
  /** The call-time capability check: true when a grant covers the call; otherwise the denial is reported. */
  const gate = (operation: "read" | "write", type: string, resource: string, detail: string): boolean => {
    const grant = host.grants.find(operation, type, resource);
    if (grant === null) {
      // At most `audit_rows_per_min` distinct denials a minute are reported as themselves; the rest as a count.
      const d = account.denial(`${operation}:${type}:${resource}`, detail);
      host.sink.denied(name, d.capability, d.detail);
      return false;
    }
    host.sink.used(name, grant);
    host.used?.(grant);
    return true;
  };
  const all: Record<string, (...args: never[]) => unknown> = {
    log: (level: number, ptr: number, len: number): number => {
      const text = string(ptr, len, MAX_LOG_BYTES);
      if (text === null) return Status.EFAULT;
      if (!account.allowLog(Math.min(len >>> 0, MAX_LOG_BYTES))) return Status.ELIMIT; // counted as `logs`
      host.sink.log({
        module: name,
        level: LEVELS[Math.min(3, Math.max(0, level | 0))]!,
        message: text,
        at: Date.now(),
      });
      return Status.OK;
    },
    now_us: (): bigint => host.nowUs(),
    __check: host.check,
    param_f64: (ptr: number, len: number, fallback: number): number => {
      const key = string(ptr, len, 256);
      if (key === null) return fallback;
      // `params` came through postMessage as a plain object: only its own keys are parameters.
      const params = host.spec.params;
      return Object.hasOwn(params, key) ? params[key]! : fallback;
    },
    data: (ptr: number, len: number, outLenPtr: number): number => {
      const key = string(ptr, len, 256);
      const out = host.bytes(outLenPtr, 4);
      if (key === null || out === null) return 0;
      const blob = host.dataBlob(key);
      if (!blob) return 0;
      new DataView(out.buffer, out.byteOffset, 4).setInt32(0, blob.len, true);
      return blob.ptr;
    },
    input: (index: number, outPtr: number): number => {
      const out = host.bytes(outPtr, 16);
      if (out === null) return Status.EFAULT;
      const id = host.spec.inputs[index];
      if (id === undefined) return Status.ENOENT;
      const v = host.inputs.get(id);
      const view = new DataView(out.buffer, out.byteOffset, 16);
      view.setFloat64(0, v?.value ?? NaN, true);
      view.setUint32(8, v ? QUALITY_CODES[v.quality] : 2, true);
      view.setUint32(
        12,
        v ? Math.min(0xffffffff, Math.max(0, Math.round(nowMs() - v.atMs))) : 0xffffffff,
        true,
      );
      return Status.OK;
    },
    output: (ptr: number, len: number, value: number): number => {
      const k = key(ptr, len, 128);
      if (k === null) return Status.EFAULT;
      if (!account.allowOutput(k)) return Status.ELIMIT; // a new key past `max_output_keys`
      host.sink.output(name, k, value);
      return Status.OK;
    },
    output_array: (ptr: number, len: number, dataPtr: number, count: number): number => {
      const k = key(ptr, len, 128);
      if ((count >>> 0) > MAX_ARRAY) return Status.ELIMIT;
      const bytes = host.bytes(dataPtr, (count >>> 0) * 4);
      if (k === null || bytes === null) return Status.EFAULT;
      if (!account.allowArray(k, bytes.length)) return Status.ELIMIT; // past `max_array_keys` or `_bytes`
      // Copy: the module's memory may change or grow after the call returns. Into the key's own buffer,
      // made again only when the length changes: allocating a fresh 2 KiB array cost the FFT module about
      // 15 us of each call at the plant's pace (caches cold), a quarter of its host time (bench/compute.ts).
      let held = arrays.get(k);
      if (held === undefined || held.values.length !== (count >>> 0)) {
        const values = new Float32Array(count >>> 0);
        held = { values, bytes: new Uint8Array(values.buffer) };
        arrays.set(k, held);
      }
      held.bytes.set(bytes);
      host.sink.outputArray(name, k, held.values);
      return Status.OK;
    },
    alert: (severity: number, ptr: number, len: number): number => {
      const text = string(ptr, len, MAX_LOG_BYTES);
      if (text === null) return Status.EFAULT;
      if (!account.allowAlert()) return Status.ELIMIT;
      host.sink.alert({
        module: name,
        severity: severity >= 2 ? "critical" : "warning",
        message: text,
        at: Date.now(),
      });
      return Status.OK;
    },
    gpio_read: (pin: number): number => {
      const p = pin | 0;
      if (p < 0 || p > MAX_GPIO_PIN) return Status.EINVAL;
      if (!gate("read", "gpio", `pin_${p}`, `gpio_read(${p})`)) return Status.EDENIED;
      const v = host.inputs.get(`gpio:pin_${p}`);
      return v === undefined ? Status.ENOENT : v.value ? 1 : 0;
    },
    gpio_write: (pin: number, value: number): number => {
      const p = pin | 0;
      if (p < 0 || p > MAX_GPIO_PIN) return Status.EINVAL;
      if (!gate("write", "gpio", `pin_${p}`, `gpio_write(${p}, ${value | 0})`)) return Status.EDENIED;
      host.sink.write({ module: name, kind: "gpio", pin: p, value: value ? 1 : 0 });
      return Status.OK;
    },
    actuate: (index: number, value: number): number => {
      const a = host.spec.actuators[index];
      if (a === undefined) return Status.ENOENT;
      if (!Number.isFinite(value)) return Status.EINVAL;
      if (!gate("write", a.type, a.resource, `actuate("${a.id}", ${value})`)) return Status.EDENIED;
      host.sink.write({ module: name, kind: "actuator", index, value });
      return Status.OK;
    },
    channel_write: (index: number, ptr: number, len: number): number => {
      const ch = host.writers[index];
      if (ch === undefined) return Status.ENOENT;
      const bytes = host.bytes(ptr, len);
      if (bytes === null) return Status.EFAULT;
      if (!gate("write", "channel", ch.id, `channel_write("${ch.id}", ${bytes.length} bytes)`)) {
        return Status.EDENIED;
      }
      if (bytes.length > ch.writer.maxRecordBytes) return Status.EINVAL;
      if (ch.writer.write(bytes, host.deadlineMs()) === "dropped") return Status.ELIMIT;
      for (const bell of ch.wake) bell.ring();
      return Status.OK;
    },
    publish: (topicPtr: number, topicLen: number, payloadPtr: number, payloadLen: number): number => {
      if ((topicLen >>> 0) > MAX_TOPIC_BYTES || (payloadLen >>> 0) > MAX_PAYLOAD_BYTES) {
        return Status.ELIMIT;
      }
      const topic = string(topicPtr, topicLen);
      const payload = host.bytes(payloadPtr, payloadLen);
      if (topic === null || payload === null) return Status.EFAULT;
      // A topic name, not a filter (MQTT 3.1.1 §4.7.3): no wildcards, not empty.
      if (topic.length === 0 || topic.includes("+") || topic.includes("#") || topic.includes("\0")) {
        return Status.EINVAL;
      }
      if (!gate("write", "mqtt", topic, `publish("${topic}", ${payload.length} bytes)`)) {
        return Status.EDENIED;
      }
      // A new topic past `max_publish_topics`, or past `publish_per_s` or `publish_bytes_per_s`.
      if (!account.allowPublish(topic, (topicLen >>> 0) + payload.length)) return Status.ELIMIT;
      if (!host.sink.publish({ module: name, topic, payload: payload.slice(), at: Date.now() })) {
        account.count("outbox"); // its share of the outbox is full until the broker acknowledges some
        return Status.ELIMIT;
      }
      return Status.OK;
    },
  };
  const linked: Record<string, (...args: never[]) => unknown> = {};
  for (const [importName, fn] of Object.entries(all)) {
    const capability = importName === CHECK_IMPORT.name ? null : HOST_IMPORTS[importName]?.capability;
    if (capability === null || (capability !== undefined && host.grants.coversClass(capability))) {
      linked[importName] = fn;
    }
  }
  return linked;
}

/** Keys remembered per instance: a module names a few dozen output keys, each from a constant string. */
const KEY_CACHE_ENTRIES = 64;

/**
 * The output keys an instance named, by the address they were at: a module passes the same constant string
 * call after call, so its bytes are compared with the remembered ones (at most 128) and the remembered text
 * is returned, without a call into the decoder; the same string each time, with its hash computed once, for
 * the account's and the report's lookups. On a module called every 10-40 ms (caches cold between calls),
 * decoding each key cost the FFT module's ten host calls about 20 of its 60 us of host time (bench/compute.ts,
 * paced rows). Any difference in the bytes decodes them again; past {@linkcode KEY_CACHE_ENTRIES} addresses,
 * keys are decoded every time.
 */
class KeyCache {
  readonly #entries = new Map<number, { bytes: Uint8Array; text: string }>();

  /** The UTF-8 text of `bytes`, found at `ptr`. */
  text(ptr: number, bytes: Uint8Array): string {
    const hit = this.#entries.get(ptr);
    if (hit !== undefined && sameBytes(hit.bytes, bytes)) return hit.text;
    const text = decoder.decode(bytes);
    if (hit !== undefined || this.#entries.size < KEY_CACHE_ENTRIES) {
      this.#entries.set(ptr, { bytes: bytes.slice(), text });
    }
    return text;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
