/**
 * A small test-only host for the example modules: links the ABI v1 `kiln` imports (modules/ABI.md), copies
 * data blobs in through `kiln_alloc`, and records what the module outputs, alerts, logs, writes to channels and
 * GPIO pins, and publishes. The real host is `runtime/`; this one has no workers, budgets, capabilities, rings
 * or rate limits, so module tests stay about the modules.
 *
 * @module
 */

/** A value of an input as `kiln.input` hands it over. */
export interface MiniInput {
  value: number;
  /** 0 good, 1 uncertain, 2 bad. */
  quality: 0 | 1 | 2;
  ageMs?: number;
}

/** Options of {@linkcode createMiniHost}. */
export interface MiniHostOptions {
  /** `params.<key>` values, reserved `kiln.*` keys included. */
  params?: Record<string, number>;
  /** Data blobs by name, copied in before `kiln_init`. */
  data?: Record<string, Uint8Array>;
  /** Stream window in samples; allocates the sample buffer when set. */
  window?: number;
  /** Skips `kiln_init` (for tests that call it themselves). */
  skipInit?: boolean;
  /** How many channels the module writes: `channel_write` to a higher index returns -2. @default 0 */
  channels?: number;
  /** Largest channel record the module reads; allocates the record buffer (as the host does) when set. */
  recordBytes?: number;
  /** Allocates the 4 KiB event buffer (as the host does for an event module). */
  events?: boolean;
}

/** One recorded alert. */
export interface MiniAlert {
  severity: number;
  message: string;
}

/** One recorded log line. */
export interface MiniLog {
  level: number;
  message: string;
}

/** One record a module wrote with `channel_write`. */
export interface MiniRecord {
  index: number;
  bytes: Uint8Array;
}

/** One `gpio_write`. */
export interface MiniGpioWrite {
  pin: number;
  value: number;
}

/** One `publish`. */
export interface MiniMessage {
  topic: string;
  payload: Uint8Array;
}

/** The event buffer the real host allocates for an event module, in bytes. */
export const MINI_EVENT_BYTES = 4096;

/** A module instance under test, with everything it published. */
export interface MiniHost {
  readonly exports: Record<string, unknown>;
  readonly memory: WebAssembly.Memory;
  /** The latest value of every scalar output. */
  readonly outputs: Map<string, number>;
  /** The latest value of every array output. */
  readonly arrays: Map<string, Float32Array>;
  readonly alerts: MiniAlert[];
  readonly logs: MiniLog[];
  /** The inputs `kiln.input(index)` returns; tests change them between ticks. */
  readonly inputs: MiniInput[];
  /** The clock `kiln.now_us` returns; tests advance it. */
  nowUs: bigint;
  /** Records accepted by `channel_write`, in order. */
  readonly records: MiniRecord[];
  /** What `channel_write` returns for a valid index; not 0 simulates a refusal (nothing is recorded). */
  channelStatus: number;
  /** Every `gpio_write`, in order. */
  readonly gpioWrites: MiniGpioWrite[];
  /** What `gpio_write` returns; not 0 simulates a denial (nothing is recorded). */
  gpioStatus: number;
  /** Messages accepted by `publish`, in order. */
  readonly messages: MiniMessage[];
  /** What `publish` returns; not 0 simulates a failure (nothing is recorded). */
  publishStatus: number;
  /** Calls `kiln_init` and returns its result. */
  init(): number;
  /** Copies one window into the sample buffer and calls `kiln_on_samples`; returns its result. */
  pushWindow(samples: Int16Array): number;
  /** Sets `nowUs` and calls `kiln_on_tick`; returns its result. */
  tick(nowUs: bigint): number;
  /** Copies a channel record into the record buffer and calls `kiln_on_record`; returns its result. */
  pushRecord(bytes: Uint8Array): number;
  /** Copies a payload into the event buffer and calls `kiln_on_event(kind, ptr, len)`; returns its result. */
  event(kind: number, payload: Uint8Array): number;
  /** Calls any exported function. */
  call(name: string, ...args: (number | bigint)[]): number;
  /** Allocates `size` bytes through `kiln_alloc`. */
  alloc(size: number): number;
}

const decoder = new TextDecoder();

/**
 * Instantiates `wasm` with the ABI v1 imports, copies the data blobs in, allocates the sample buffer and calls
 * `kiln_init` (unless `skipInit`).
 *
 * @throws {Error} when `kiln_alloc` fails or `kiln_init` returns non-zero.
 */
export async function createMiniHost(
  wasm: Uint8Array<ArrayBuffer>,
  options: MiniHostOptions = {},
): Promise<MiniHost> {
  const params = options.params ?? {};
  const outputs = new Map<string, number>();
  const arrays = new Map<string, Float32Array>();
  const alerts: MiniAlert[] = [];
  const logs: MiniLog[] = [];
  const inputs: MiniInput[] = [];
  const blobs = new Map<string, { ptr: number; len: number }>();
  let memory: WebAssembly.Memory | null = null;
  const mem = () => memory!;
  const text = (ptr: number, len: number) =>
    decoder.decode(new Uint8Array(mem().buffer, ptr >>> 0, len >>> 0));
  // A copy: the module reuses its memory after the call.
  const bytes = (ptr: number, len: number) =>
    new Uint8Array(mem().buffer.slice(ptr >>> 0, (ptr >>> 0) + (len >>> 0)));

  const kiln = {
    log: (level: number, ptr: number, len: number) => {
      logs.push({ level, message: text(ptr, len) });
      return 0;
    },
    now_us: () => host.nowUs,
    param_f64: (ptr: number, len: number, fallback: number) => params[text(ptr, len)] ?? fallback,
    data: (ptr: number, len: number, outLenPtr: number) => {
      const blob = blobs.get(text(ptr, len));
      if (!blob) return 0;
      new DataView(mem().buffer).setInt32(outLenPtr >>> 0, blob.len, true);
      return blob.ptr;
    },
    input: (index: number, outPtr: number) => {
      const v = inputs[index];
      if (!v) return -2;
      const view = new DataView(mem().buffer, outPtr >>> 0, 16);
      view.setFloat64(0, v.value, true);
      view.setUint32(8, v.quality, true);
      view.setUint32(12, v.ageMs ?? 0, true);
      return 0;
    },
    output: (ptr: number, len: number, value: number) => {
      outputs.set(text(ptr, len), value);
      return 0;
    },
    output_array: (ptr: number, len: number, dataPtr: number, count: number) => {
      arrays.set(
        text(ptr, len),
        new Float32Array(mem().buffer.slice(dataPtr >>> 0, (dataPtr >>> 0) + count * 4)),
      );
      return 0;
    },
    alert: (severity: number, ptr: number, len: number) => {
      alerts.push({ severity, message: text(ptr, len) });
      return 0;
    },
    channel_write: (index: number, ptr: number, len: number) => {
      if (index < 0 || index >= (options.channels ?? 0)) return -2;
      if (host.channelStatus !== 0) return host.channelStatus;
      host.records.push({ index, bytes: bytes(ptr, len) });
      return 0;
    },
    gpio_write: (pin: number, value: number) => {
      if (host.gpioStatus !== 0) return host.gpioStatus;
      host.gpioWrites.push({ pin, value: value ? 1 : 0 });
      return 0;
    },
    publish: (topicPtr: number, topicLen: number, payloadPtr: number, payloadLen: number) => {
      if (host.publishStatus !== 0) return host.publishStatus;
      host.messages.push({ topic: text(topicPtr, topicLen), payload: bytes(payloadPtr, payloadLen) });
      return 0;
    },
  };

  const instance = await WebAssembly.instantiate(await WebAssembly.compile(wasm), { kiln });
  const exports = instance.exports as Record<string, unknown>;
  memory = exports.memory as WebAssembly.Memory;
  const call = (name: string, ...args: (number | bigint)[]): number => {
    const fn = exports[name];
    if (typeof fn !== "function") throw new Error(`Module does not export "${name}"`);
    return Number(fn(...args));
  };
  const alloc = (size: number): number => {
    const ptr = call("kiln_alloc", size) >>> 0;
    if (ptr === 0) throw new Error(`kiln_alloc(${size}) returned 0`);
    return ptr;
  };
  for (const [name, bytes] of Object.entries(options.data ?? {})) {
    const ptr = alloc(bytes.length);
    new Uint8Array(mem().buffer, ptr, bytes.length).set(bytes);
    blobs.set(name, { ptr, len: bytes.length });
  }
  const sampleBuf = options.window ? alloc(options.window * 2) : 0;
  const recordBuf = options.recordBytes ? alloc(options.recordBytes) : 0;
  const eventBuf = options.events ? alloc(MINI_EVENT_BYTES) : 0;

  const host: MiniHost = {
    exports,
    memory: mem(),
    outputs,
    arrays,
    alerts,
    logs,
    inputs,
    nowUs: 0n,
    records: [],
    channelStatus: 0,
    gpioWrites: [],
    gpioStatus: 0,
    messages: [],
    publishStatus: 0,
    init: () => call("kiln_init"),
    pushWindow: (samples) => {
      if (!options.window || samples.length !== options.window) {
        throw new RangeError(`Expected a window of ${options.window} samples, got ${samples.length}`);
      }
      new Int16Array(mem().buffer, sampleBuf, samples.length).set(samples);
      return call("kiln_on_samples", sampleBuf, samples.length);
    },
    tick: (nowUs) => {
      host.nowUs = nowUs;
      return call("kiln_on_tick", nowUs);
    },
    pushRecord: (record) => {
      if (!options.recordBytes || record.length > options.recordBytes) {
        throw new RangeError(
          `Expected a record of at most ${options.recordBytes} bytes, got ${record.length}`,
        );
      }
      new Uint8Array(mem().buffer, recordBuf, record.length).set(record);
      return call("kiln_on_record", recordBuf, record.length);
    },
    event: (kind, payload) => {
      if (!options.events || payload.length > MINI_EVENT_BYTES) {
        throw new RangeError(`Expected an event module and at most ${MINI_EVENT_BYTES} bytes`);
      }
      new Uint8Array(mem().buffer, eventBuf, payload.length).set(payload);
      return call("kiln_on_event", kind, eventBuf, payload.length);
    },
    call,
    alloc,
  };
  if (!options.skipInit) {
    const rc = host.init();
    if (rc !== 0) throw new Error(`kiln_init returned ${rc}`);
  }
  return host;
}
