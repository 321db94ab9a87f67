/**
 * The deployment manifest's shape as zod schemas, and the types inferred from them. Keys are snake_case,
 * exactly as a user writes them; defaults are applied here so the rest of Kiln never guesses.
 *
 * Every object is strict: an unknown key is an error, with the allowed keys named. Checks that need the whole
 * manifest (a source naming a sensor that does not exist, a capability outside the policy) live in
 * `check.ts`.
 *
 * @module
 */
import { z } from "zod";
import { ModbusDeviceSchema } from "../../hal/modbus/mod.ts";
import { OpcuaEndpointSchema } from "../../hal/opcua/manifest.ts";
import { GpioConnectorSchema } from "../../hal/gpio/mod.ts";
import { parseTopicTemplate } from "../../hal/mqtt/mod.ts";
import { POLICY_SHAPE } from "./policy.ts";
import { backoffFields, checkBackoff } from "../../hal/keeper.ts";

/** Module names: a lowercase letter, then up to 62 lowercase letters, digits, `_` or `-`. */
export const MODULE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** Sim sensor and channel ids follow the module name rule. */
export const ENTITY_ID = MODULE_NAME;
/** Device ids: a lowercase letter or digit, then lowercase letters, digits, `.`, `_` or `-`. */
export const DEVICE_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Parameter keys; keys starting `kiln.` are reserved for the host (ABI v1 `param_f64`). */
export const PARAM_KEY = /^[a-z][a-z0-9_.]{0,62}$/;

/** Default `limits.max_memory_mb`. */
export const DEFAULT_MAX_MEMORY_MB = 16;
/** Default `limits.budget_us`. */
export const DEFAULT_BUDGET_US = 10_000;
/** Default `schedule.window` of a stream module, in samples. */
export const DEFAULT_WINDOW = 1024;
/** Default `schedule.priority`. */
export const DEFAULT_PRIORITY = 50;
/** Default `api.listen`. */
export const DEFAULT_LISTEN = "127.0.0.1:8080";
/** A WebAssembly page is 64 KiB (WebAssembly core spec §2.3.8, memory types). */
export const WASM_PAGE_BYTES = 65_536;

/**
 * Separates the per-key messages zod gets for one `unrecognized_keys` issue (its error callback returns one
 * string for all the keys); `_issues.ts` splits them again. A newline never appears in a message otherwise.
 */
export const KEY_MESSAGE_SEPARATOR = "\n";

/** The zod error callback signature for an object's unknown keys. */
type UnknownKeyMessage = (key: string, allowed: readonly string[]) => string;

const unknownKey: UnknownKeyMessage = (key, allowed) => {
  const near = closest(key, allowed);
  return near === null
    ? `unknown key "${key}" (allowed: ${allowed.join(", ")})`
    : `unknown key "${key}"; did you mean "${near}"?`;
};

/** A strict object whose unknown keys are each reported with the allowed keys or the nearest one. */
function strict<T extends z.core.$ZodLooseShape>(shape: T, message: UnknownKeyMessage = unknownKey) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => message(key, allowed)).join(KEY_MESSAGE_SEPARATOR)
        : undefined,
  });
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);
const positive = () => z.number().positive();
const id = (what: string) =>
  z.string().regex(
    ENTITY_ID,
    `a ${what} must start with a lowercase letter and contain only lowercase letters, digits, "_" or "-" (at most 63)`,
  );
const sha256 = z.string()
  .regex(/^[0-9a-fA-F]{64}$/, "a sha256 must be 64 hexadecimal digits (quote it in YAML)")
  .transform((s) => s.toLowerCase());
const path = z.string().min(1, "a path must not be empty");
/** Linux CPU numbers for `sched_setaffinity` (glibc's mask holds 1024), at least one, none twice. */
const CpuList = z.array(int(0, 1023)).min(1, "list at least one CPU")
  .refine((cpus) => new Set(cpus).size === cpus.length, "a CPU is listed twice");

// ---------------------------------------------------------------------------------------------- connectors

/** A simulated vibration sensor (accelerometer). */
export const SimVibrationSchema = strict({
  kind: z.literal("vibration"),
  /** Samples per second, 1..25600. */
  rate_hz: int(1, 25_600),
  /** Shaft rotation frequency in Hz. */
  shaft_hz: positive().optional(),
  /** Full scale in g: the value Q15 32767 stands for. */
  full_scale_g: positive().optional(),
  /** PRNG seed, for a reproducible signal. */
  seed: int(0, 0xffff_ffff).optional(),
});

/** A simulated temperature sensor. */
export const SimTemperatureSchema = strict({
  kind: z.literal("temperature"),
  /** Ambient temperature in °C the signal starts from. */
  ambient_c: z.number().optional(),
  /** PRNG seed, for a reproducible signal. */
  seed: int(0, 0xffff_ffff).optional(),
});

/** A module input: a simulated sensor, or a Modbus device's point. */
export const INPUT_REF =
  /^(sim:[a-z][a-z0-9_-]{0,62}|(modbus|opcua):[a-z][a-z0-9_-]{0,62}\/[a-z][a-z0-9_-]{0,62})$/;

/** A simulated sensor, told apart by `kind`. */
export const SimSensorSchema = z.discriminatedUnion("kind", [SimVibrationSchema, SimTemperatureSchema], {
  error: (issue) =>
    issue.code === "invalid_union" ? `expected a "kind" of "vibration" or "temperature"` : undefined,
});

/** Connector types that later versions add; naming one is an error that says so. */
export const UPCOMING_CONNECTORS: readonly string[] = ["i2c", "spi"];
/** The connector types this version supports. */
const SUPPORTED_CONNECTORS = "sim, modbus, mqtt, opcua, gpio";

/**
 * The uplink to an MQTT broker (`connectors.mqtt`): module publishes, alerts and Mode C batches go out
 * through the store-and-forward outbox; `mqtt:<filter>` triggers subscribe on it.
 */
export const MqttConnectorSchema = strict({
  /** `mqtt://host:port` or `mqtts://host:port`; with `embedded`, the default is the embedded broker. */
  url: z.string().regex(/^mqtts?:\/\/[^\s/]+$/, `a url must be "mqtt://host:port" or "mqtts://host:port"`)
    .optional(),
  /** Run a broker inside Kiln (for the demo): on 127.0.0.1 at this port. */
  embedded: strict({ port: int(0, 65_535).default(1883) }).optional(),
  /** @default "kiln-<device id>" */
  client_id: z.string().min(1).max(128).optional(),
  username: z.string().optional(),
  /** A file holding the password (its first line), so the manifest holds no secret. */
  password_file: path.optional(),
  tls: strict({ ca_file: path.optional(), cert_file: path.optional(), key_file: path.optional() }).optional(),
  keepalive_s: int(1, 65_535).default(30),
  /** How long one connection attempt may take, TCP and TLS through CONNACK, in milliseconds. */
  connect_timeout_ms: int(1, 600_000).default(10_000),
  /** `backoff_ms` (default 500) and `max_backoff_ms` (default 30000): every connector's reconnect backoff. */
  ...backoffFields,
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  /**
   * `persistent`: the broker keeps Kiln's session (by `client_id`) while Kiln is away and queues the commands
   * for its `mqtt:` triggers (sent at QoS 1 or 2), delivered once it is back and its modules run. `clean`:
   * commands sent while Kiln is offline are lost.
   */
  session: z.enum(["clean", "persistent"]).default("clean"),
  /** Topic templates; placeholders `{device}` and `{module}`. */
  topics: strict({
    alerts: z.string().default("kiln/{device}/alerts/{module}"),
    batch: z.string().default("kiln/{device}/batch"),
    /** Retained "online" on connect; the last will sets "offline". */
    status: z.string().default("kiln/{device}/status"),
  }).prefault({}),
  /** Seconds between Mode C batches of module outputs; 0 for none. */
  batch_interval_s: z.number().min(0).default(60),
  outbox: strict({
    /** The most the waiting messages may take on disk, MiB. */
    disk_budget_mb: positive().default(256),
    /** Messages sent per second at most when the outbox drains after an outage. */
    drain_rate_per_s: positive().default(100),
  }).prefault({}),
}).superRefine((m, ctx) => {
  checkBackoff(m, ctx);
  if (m.session === "persistent" && m.qos === 2) {
    ctx.addIssue({
      code: "custom",
      path: ["qos"],
      message:
        "a persistent session needs qos 0 or 1: Kiln resends from its outbox with new packet ids, and " +
        "a broker holding a QoS 2 packet id from before the outage would take a new message for a duplicate",
    });
  }
  if ((m.url === undefined) === (m.embedded === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["url"],
      message: "give either url (a broker) or embedded, not both",
    });
  }
  for (const [key, template] of Object.entries(m.topics)) {
    try {
      parseTopicTemplate(template, { placeholders: ["device", "module"] });
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["topics", key], message: (err as Error).message });
    }
  }
});

/**
 * `connectors`: the simulated plant, Modbus devices and OPC UA endpoints by name, the MQTT uplink, and the
 * GPIO bank (`gpio`: the simulated one unless it names the `linux-sysfs` backend).
 */
export const ConnectorsSchema = strict(
  {
    sim: z.record(id("sim sensor id"), SimSensorSchema).optional(),
    modbus: z.record(id("modbus device name"), ModbusDeviceSchema).optional(),
    mqtt: MqttConnectorSchema.optional(),
    opcua: z.record(id("opcua endpoint name"), OpcuaEndpointSchema).optional(),
    gpio: GpioConnectorSchema.optional(),
  },
  (key) =>
    UPCOMING_CONNECTORS.includes(key)
      ? `the "${key}" connector is not supported yet (this version supports: ${SUPPORTED_CONNECTORS})`
      : `unknown connector type "${key}" (this version supports: ${SUPPORTED_CONNECTORS})`,
);

// ------------------------------------------------------------------------------------------------ channels

/** What a full channel does with a new message. */
export const OVERFLOW_POLICIES = ["drop-oldest", "drop-newest", "block-writer"] as const;

/** A channel: one writer module, any number of reader modules. */
export const ChannelSchema = strict({
  writer: id("module name"),
  readers: z.array(id("module name")).default([]),
  /** Ring buffer size in bytes. */
  size_bytes: int(64, 64 * 1024 * 1024).default(65_536),
  overflow: z.enum(OVERFLOW_POLICIES).default("drop-oldest"),
  /** How long a writer blocks on a full channel, in microseconds; only with `overflow: block-writer`. */
  block_timeout_us: int(1).optional(),
}).superRefine((channel, ctx) => {
  if (channel.block_timeout_us !== undefined && channel.overflow !== "block-writer") {
    ctx.addIssue({
      code: "custom",
      path: ["block_timeout_us"],
      message:
        `block_timeout_us applies only with overflow: block-writer (this channel uses ${channel.overflow})`,
    });
  }
});

// ------------------------------------------------------------------------------------------------- modules

const priority = int(0, 99).default(DEFAULT_PRIORITY);

/** Stream mode: the module gets `window` samples every `hop` samples from `source`. */
export const StreamScheduleSchema = strict({
  mode: z.literal("stream"),
  /** `sim:<id>` or `channel:<id>`. */
  source: z.string().regex(
    /^(sim|channel):[a-z][a-z0-9_-]{0,62}$/,
    `a source must be "sim:<sensor id>" or "channel:<channel id>"`,
  ),
  /** Samples per call, 16..65536. */
  window: int(16, 65_536).default(DEFAULT_WINDOW),
  /** Samples between calls, 1..window; defaults to `window` (no overlap). */
  hop: int(1, 65_536).optional(),
  priority,
}).superRefine((schedule, ctx) => {
  if (schedule.hop !== undefined && schedule.hop > schedule.window) {
    ctx.addIssue({
      code: "custom",
      path: ["hop"],
      message: `hop (${schedule.hop}) must not be greater than window (${schedule.window})`,
    });
  }
}).transform((schedule) => ({ ...schedule, hop: schedule.hop ?? schedule.window }));

/** Periodic mode: `kiln_on_tick` every `period_us`. */
export const PeriodicScheduleSchema = strict({
  mode: z.literal("periodic"),
  /** Microseconds between ticks, at least 100. */
  period_us: int(100),
  priority,
});

/**
 * Event mode: `kiln_on_event` when `trigger` fires (`api`, `channel:<id>`, `gpio:pin_<n>`, or
 * `mqtt:<topic filter>`, a message on the uplink's broker).
 */
export const EventScheduleSchema = strict({
  mode: z.literal("event"),
  trigger: z.string().min(1, "a trigger must not be empty"),
  priority,
});

/** When a module runs, told apart by `mode`. */
export const ScheduleSchema = z.discriminatedUnion(
  "mode",
  [StreamScheduleSchema, PeriodicScheduleSchema, EventScheduleSchema],
  {
    error: (issue) =>
      issue.code === "invalid_union" ? `expected a "mode" of "stream", "periodic" or "event"` : undefined,
  },
);

/**
 * Resource limits. `max_memory_mb` may be a fraction, but memory comes in whole 64 KiB WebAssembly pages:
 * the cap is rounded up to the next page ({@linkcode memoryPages}), so `0.1` allows 2 pages (128 KiB).
 */
export const LimitsSchema = strict({
  /** Linear memory cap in MiB, > 0 and <= 4096 (the 32-bit address space). */
  max_memory_mb: positive().max(4096).default(DEFAULT_MAX_MEMORY_MB),
  /** Wall-clock budget of one handler call, in microseconds. */
  budget_us: int(1).default(DEFAULT_BUDGET_US),
  /** Instruction budget of one handler call, in fuel units; no fuel metering when left out. */
  fuel: int(1).optional(),
  // The module's resource account (`runtime/executor/account.ts`, ABI.md "Resource limits"): left out, the default
  // there; the maximum here is the host's own bound, which no manifest raises.
  /** Distinct `kiln.output` keys, 1..4096 (default 256). */
  max_output_keys: int(1, 4096).optional(),
  /** Distinct `kiln.output_array` keys, 1..256 (default 32). */
  max_array_keys: int(1, 256).optional(),
  /** Bytes of array outputs held, all keys together, up to 16 MiB (default 256 KiB). */
  max_array_bytes: int(4, 16 * 1024 * 1024).optional(),
  /** `kiln.publish` messages a second, up to 1000 (default 50). */
  publish_per_s: positive().max(1000).optional(),
  /** `kiln.publish` bytes (topic and payload) a second, up to 4 MiB (default 64 KiB). */
  publish_bytes_per_s: int(1, 4 * 1024 * 1024).optional(),
  /** Distinct topics published on, 1..1024 (default 32). */
  max_publish_topics: int(1, 1024).optional(),
  /** The share of the outbox's disk budget the module's unacknowledged messages may take, (0, 1] (default 0.25). */
  outbox_share: positive().max(1).optional(),
  /** Log lines a second (`kiln.log` and WASI stdout/stderr), up to 1000 (default 50). */
  log_lines_per_s: positive().max(1000).optional(),
  /** Log bytes a second, up to 1 MiB (default 16 KiB). */
  log_bytes_per_s: int(1, 1024 * 1024).optional(),
  /** `kiln.alert` calls a second, up to 100 (default 5). */
  alerts_per_s: positive().max(100).optional(),
  /** Audit rows of refused calls a minute, 1..1000 (default 20); the rest are counted in a summary row. */
  audit_rows_per_min: int(1, 1000).optional(),
});

const { max_memory_mb: _memory, budget_us: _budget, fuel: _fuel, ...accountLimits } = LimitsSchema.shape;
/**
 * The resource account's keys of `limits` (all but `max_memory_mb`, `budget_us` and `fuel`, which have keys of
 * their own in `policy`), each optional: `policy.max_limits` bounds what a module may set them to.
 */
export const ACCOUNT_LIMITS_SHAPE = accountLimits;

/**
 * Snapshots of a module's memory, so it resumes warm after a restart instead of running `kiln_init`.
 * With `snapshot: true` one is also taken on a graceful stop and on demand.
 */
export const PersistenceSchema = strict({
  snapshot: z.boolean().default(false),
  /** Handler calls after a cold start at which the warm-up snapshot is taken (once per cold start). */
  warm_up_iterations: int(1).optional(),
  /** Seconds between periodic snapshots, at least 0.1. */
  snapshot_interval_s: positive().min(0.1).optional(),
  /** Snapshots kept, 1..100. */
  keep: int(1, 100).default(3),
}).superRefine((p, ctx) => {
  for (const key of ["warm_up_iterations", "snapshot_interval_s"] as const) {
    if (p[key] !== undefined && !p.snapshot) {
      ctx.addIssue({ code: "custom", path: [key], message: `${key} needs snapshot: true` });
    }
  }
});

/** What happens when a module crashes. */
export const RestartSchema = strict({
  policy: z.enum(["always", "on-failure", "never"]).default("on-failure"),
  max_restarts: int(0).default(5),
  /** First delay before a restart, doubled on each one, in milliseconds. */
  backoff_ms: int(1).default(200),
  /** The longest delay, in milliseconds. */
  max_backoff_ms: int(1).default(30_000),
}).superRefine((restart, ctx) => {
  if (restart.max_backoff_ms < restart.backoff_ms) {
    ctx.addIssue({
      code: "custom",
      path: ["max_backoff_ms"],
      message:
        `max_backoff_ms (${restart.max_backoff_ms}) must not be less than backoff_ms (${restart.backoff_ms})`,
    });
  }
});

/** A data blob: a path, or `{ path, sha256 }`; always the object form after parsing. */
export const DataSchema = z.union([path, strict({ path, sha256: sha256.optional() })], {
  error: (issue) => issue.code === "invalid_union" ? `expected a path or { path, sha256 }` : undefined,
}).transform((data) => typeof data === "string" ? { path: data } : data);

const paramKey = z.string()
  .regex(PARAM_KEY, `a param key must be lowercase letters, digits, "_" or "." starting with a letter`)
  .refine((key) => !key.startsWith("kiln."), {
    message: `param keys starting with "kiln." are reserved for the host`,
  });

/** One module: its binary, what it may touch, when it runs. */
export const ModuleSchema = strict({
  /** Path to the `.wasm`, relative to the manifest's directory. */
  wasm: path,
  sha256: sha256.optional(),
  limits: LimitsSchema.prefault({}),
  /** Capability strings, e.g. `read:sim:vibration_1`; each must be covered by `policy.allow`. */
  capabilities: z.array(z.string()).default([]),
  schedule: ScheduleSchema,
  /**
   * Values the module reads with `kiln.input(index)`, in index order: `sim:<sensor id>`,
   * `modbus:<device>/<point id>` or `opcua:<endpoint>/<node id>`.
   */
  inputs: z.array(
    z.string().regex(
      INPUT_REF,
      `an input must be "sim:<sensor id>", "modbus:<device>/<point id>" or "opcua:<endpoint>/<node id>"`,
    ),
  )
    .default([]),
  /**
   * What the module may drive with `kiln.actuate(index, value)`, in index order: `modbus:<device>/<point>`
   * (a coil or a holding register) or `opcua:<endpoint>/<node>` (a writable node).
   */
  actuators: z.array(
    z.string().regex(
      /^(modbus|opcua):[a-z][a-z0-9_-]{0,62}\/[a-z][a-z0-9_-]{0,62}$/,
      `an actuator must be "modbus:<device>/<point id>" or "opcua:<endpoint>/<node id>"`,
    ),
  ).default([]),
  params: z.record(paramKey, z.number()).default({}),
  data: z.record(
    z.string().regex(/^[a-z][a-z0-9_.-]{0,62}$/, "a data name must be lowercase letters, digits, _ . or -"),
    DataSchema,
  ).default({}),
  persistence: PersistenceSchema.prefault({}),
  restart: RestartSchema.prefault({}),
  enabled: z.boolean().default(true),
});

// ---------------------------------------------------------------------------------------------- manifest

/** The whole deployment manifest, version 1. */
export const ManifestSchema = strict({
  version: z.literal(1),
  device: strict({
    id: z.string().regex(
      DEVICE_ID,
      `a device id must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`,
    ),
    location: z.string().optional(),
  }),
  /** What this gateway may grant, and the limits of what a module may ask for (`policy.ts`). */
  policy: strict({
    ...POLICY_SHAPE,
    /** The most a module may set each resource account limit to (`limits.<key>`); none when left out. */
    max_limits: strict(ACCOUNT_LIMITS_SHAPE).optional(),
  }).prefault({}),
  api: strict({
    listen: z.string().default(DEFAULT_LISTEN),
    /** Serve HTTPS (and WSS) with this certificate and key (PEM files, relative to the manifest). */
    tls: strict({ cert_file: path, key_file: path }).optional(),
    /** Serve `/metrics` without a token (for a Prometheus that has none). */
    metrics_public: z.boolean().default(false),
  }).prefault({}).superRefine((api, ctx) => {
    const reason = listenError(api.listen);
    if (reason !== null) ctx.addIssue({ code: "custom", path: ["listen"], message: reason });
  }),
  connectors: ConnectorsSchema.prefault({}),
  scheduling: strict({
    /**
     * Run the `realtime` executor's thread (event handlers, priority 70 and above) at Linux `SCHED_FIFO`
     * with this priority, so that an event's wake-up preempts other threads. Needs root or `CAP_SYS_NICE`,
     * and gives that worker (and `kiln run`) FFI permission for libc. Absent: the normal policy.
     */
    realtime_fifo_priority: z.number().int().min(1).max(98).optional(),
    /**
     * Pin threads to CPUs (Linux CPU numbers): `runtime` (the API, connectors, and V8's helper threads it
     * starts), and each executor. Putting them all on one CPU makes the realtime executor's wake-up local,
     * for channel records and for events alike (see runtime/ARCHITECTURE.md).
     * Gives the pinned workers (and `kiln run`) FFI permission for libc. Absent: the kernel places threads.
     */
    cpus: strict({
      runtime: CpuList.optional(),
      realtime: CpuList.optional(),
      normal: CpuList.optional(),
    }).optional(),
  }).prefault({}),
  channels: z.record(id("channel id"), ChannelSchema).default({}),
  modules: z.record(id("module name"), ModuleSchema),
});

/** A parsed manifest with every default applied. */
export type Manifest = z.output<typeof ManifestSchema>;
/** A manifest as written, before defaults. */
export type ManifestInput = z.input<typeof ManifestSchema>;
/** One module's spec. */
export type ModuleSpec = z.output<typeof ModuleSchema>;
/** A module's schedule. */
export type Schedule = z.output<typeof ScheduleSchema>;
/** A stream schedule. */
export type StreamSchedule = z.output<typeof StreamScheduleSchema>;
/** A periodic schedule. */
export type PeriodicSchedule = z.output<typeof PeriodicScheduleSchema>;
/** An event schedule. */
export type EventSchedule = z.output<typeof EventScheduleSchema>;
/** A module's limits. */
export type Limits = z.output<typeof LimitsSchema>;
/** A module's persistence settings. */
export type Persistence = z.output<typeof PersistenceSchema>;
/** A module's restart policy. */
export type RestartPolicy = z.output<typeof RestartSchema>;
/** A data blob reference. */
export type DataSpec = z.output<typeof DataSchema>;
/** A channel. */
export type ChannelSpec = z.output<typeof ChannelSchema>;
/** A simulated sensor. */
export type SimSensorSpec = z.output<typeof SimSensorSchema>;
/** The `connectors` section. */
export type Connectors = z.output<typeof ConnectorsSchema>;
/** A channel's overflow policy. */
export type OverflowPolicy = typeof OVERFLOW_POLICIES[number];
/** The `policy` section: the capabilities this gateway may grant and the limits it sets. */
export type Policy = z.output<typeof ManifestSchema>["policy"];

/**
 * The WebAssembly page count for a `max_memory_mb`: fractions round up to the next whole 64 KiB page.
 *
 * @example
 * ```ts
 * import { memoryPages } from "./schema.ts";
 *
 * memoryPages(4); // 64
 * memoryPages(0.1); // 2
 * ```
 */
export function memoryPages(maxMemoryMb: number): number {
  return Math.ceil((maxMemoryMb * 1024 * 1024) / WASM_PAGE_BYTES);
}

/** The parts of an `api.listen` address, as `Deno.serve` takes them (IPv6 without brackets). */
export interface ListenAddress {
  readonly hostname: string;
  readonly port: number;
}

/**
 * Splits `host:port` (`[::1]:8080` for IPv6) into hostname and port.
 *
 * @throws {SyntaxError} when the address is malformed.
 */
export function parseListenAddress(listen: string): ListenAddress {
  const reason = listenError(listen);
  if (reason !== null) throw new SyntaxError(`Invalid listen address "${listen}": ${reason}`);
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon);
  const hostname = host.startsWith("[") ? host.slice(1, -1) : host;
  return { hostname, port: Number(listen.slice(colon + 1)) };
}

function listenError(listen: string): string | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(listen);
  if (!match) return `expected "host:port", e.g. "127.0.0.1:8080" or "[::1]:8080"`;
  const port = Number(match[2]);
  if (port > 65535) return `the port ${port} is past 65535`;
  const host = match[1] ?? "";
  if (host.startsWith("[") && !host.slice(1, -1).includes(":")) return `"${host}" is not an IPv6 address`;
  return null;
}

/** The candidate closest to `word` by edit distance, when it is close enough to be a likely typo. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  // Up to one edit per three characters (at least one): "widow" → "window", "modlues" → "modules".
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
