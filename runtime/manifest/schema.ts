/**
 * The deployment manifest's shape as zod schemas, and the types inferred from them. Keys are snake_case,
 * exactly as a user writes them; defaults are applied here so the rest of Kiln never guesses.
 *
 * Every object is strict: an unknown key is an error, with the allowed keys named. Checks that need the whole
 * manifest (a source naming a sensor that does not exist, a capability outside the policy) live in
 * `check.ts`. The `connectors` section and the references to what it carries are in `_connectors.ts`, the
 * building blocks every part shares in `_zod.ts`.
 *
 * @module
 */
import { z } from "zod";
import { POLICY_SHAPE } from "./policy.ts";
import { ENTITY_ID, id, int, KEY_MESSAGE_SEPARATOR, MODULE_NAME, path, positive, strict } from "./_zod.ts";
import { ActuatorRefSchema, ConnectorsSchema, InputRefSchema, type SimSensorSchema } from "./_connectors.ts";
import { parseImageReference } from "../../registry/reference.ts";
import { fleetNeedsMqtt, FleetSchema } from "./_fleet.ts";
import { ObservabilitySchema } from "./_observability.ts";

export { ENTITY_ID, KEY_MESSAGE_SEPARATOR, MODULE_NAME };
export {
  ACTUATOR_REF,
  ConnectorsSchema,
  INPUT_REF,
  MqttConnectorSchema,
  SimSensorSchema,
  SimTemperatureSchema,
  SimVibrationSchema,
  UPCOMING_CONNECTORS,
} from "./_connectors.ts";

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

const sha256 = z.string()
  .regex(/^[0-9a-fA-F]{64}$/, "a sha256 must be 64 hexadecimal digits (quote it in YAML)")
  .transform((s) => s.toLowerCase());
/** Linux CPU numbers for `sched_setaffinity` (glibc's mask holds 1024), at least one, none twice. */
const CpuList = z.array(int(0, 1023)).min(1, "list at least one CPU")
  .refine((cpus) => new Set(cpus).size === cpus.length, "a CPU is listed twice");

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

/**
 * A new version's probation after a deploy swaps it in (`runtime/_probation.ts`): it is promoted once
 * `seconds` have passed and it made `invocations` handler calls (at the latest after `max_seconds`), and rolled
 * back to the version it replaced, code and memory, when it breaks a condition first.
 */
export const ProbationSchema = strict({
  seconds: z.number().min(0).max(86_400).default(10),
  invocations: int(0).default(50),
  max_seconds: z.number().min(0).max(86_400).default(120),
  /** Crashes allowed while on probation. */
  max_crashes: int(0).default(0),
  /** Handler calls returning non-zero, as a fraction of its calls. */
  max_error_rate: z.number().min(0).max(1).default(0.05),
  /** Handler calls over `budget_us`, as a fraction of its calls. */
  max_overrun_rate: z.number().min(0).max(1).default(0.05),
  /** Its p99 handler time over this many times the replaced version's is a rollback. */
  p99_factor: z.number().min(1).default(3),
  /** Calls needed before a rate or a p99 is judged. */
  min_calls: int(1).default(20),
}).superRefine((p, ctx) => {
  if (p.max_seconds < p.seconds) {
    ctx.addIssue({
      code: "custom",
      path: ["max_seconds"],
      message: `max_seconds (${p.max_seconds}) must not be less than seconds (${p.seconds})`,
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
  /** Path to the `.wasm`, relative to the manifest's directory (exactly one of `wasm` and `image`). */
  wasm: path.optional(),
  /**
   * An OCI image reference, `host[:port]/repo:tag[@sha256:<hex>]`, pulled at the start (`runtime/lifecycle/
   * images.ts`); its signature comes from the registry, so `signature` is refused with it.
   */
  image: z.string().superRefine((text, ctx) => {
    try {
      parseImageReference(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }).optional(),
  /** Its signature bundle (`kiln sign`); default: the `.wasm` path with `.sig` appended, when it exists. */
  signature: path.optional(),
  sha256: sha256.optional(),
  limits: LimitsSchema.prefault({}),
  /** Capability strings, e.g. `read:sim:vibration_1`; each must be covered by `policy.allow`. */
  capabilities: z.array(z.string()).default([]),
  schedule: ScheduleSchema,
  /**
   * Values the module reads with `kiln.input(index)`, in index order: `sim:<sensor id>`, or a point of a
   * point connector, `<kind>:<device>/<point id>` (a Modbus point, an OPC UA node).
   */
  inputs: z.array(InputRefSchema).default([]),
  /**
   * What the module may drive with `kiln.actuate(index, value)`, in index order: a writable point of a point
   * connector, `<kind>:<device>/<point id>` (a Modbus coil or holding register, an OPC UA node marked writable).
   */
  actuators: z.array(ActuatorRefSchema).default([]),
  params: z.record(paramKey, z.number()).default({}),
  data: z.record(
    z.string().regex(/^[a-z][a-z0-9_.-]{0,62}$/, "a data name must be lowercase letters, digits, _ . or -"),
    DataSchema,
  ).default({}),
  persistence: PersistenceSchema.prefault({}),
  restart: RestartSchema.prefault({}),
  probation: ProbationSchema.prefault({}),
  enabled: z.boolean().default(true),
}).superRefine((m, ctx) => {
  const issue = (at: string, message: string) => ctx.addIssue({ code: "custom", path: [at], message });
  // Neither: worded as any missing key (the message tools and tests know); both: which to drop.
  if (m.wasm === undefined && m.image === undefined) issue("wasm", "required key is missing");
  if (m.wasm !== undefined && m.image !== undefined) {
    issue("image", "a module takes either wasm (a file) or image (an OCI reference), not both");
  }
  if (m.image !== undefined && m.signature !== undefined) {
    issue("signature", "an image module's signature comes from the registry: remove signature");
  }
});

/** How to reach one OCI registry named by modules' `image` (`registries.<host[:port]>`). */
export const RegistrySchema = strict({
  username: z.string().min(1).optional(),
  /** A file holding the password (or token), relative to the manifest. */
  password_file: path.optional(),
  /** Extra CA certificates (PEM) for the registry's TLS, relative to the manifest. */
  ca_file: path.optional(),
  /** Speak HTTP instead of HTTPS (a lab registry). */
  plain_http: z.boolean().default(false),
}).superRefine((r, ctx) => {
  if ((r.username === undefined) !== (r.password_file === undefined)) {
    ctx.addIssue({ code: "custom", message: "username and password_file go together" });
  }
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
    /** The gateway's hardware tag: a signed module's catalog must list it (`signatures`). */
    hardware: z.string().regex(
      /^[a-z0-9][a-z0-9._-]{0,62}$/,
      "a hardware tag must be lowercase letters, digits, . _ or -",
    )
      .optional(),
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
  /**
   * Signed modules (`signing/README.md`): `required` refuses a module without a signature that verifies
   * against `trusted_roots`; `optional` runs unsigned modules but refuses one whose signature fails. Either
   * way a signature is checked at every deploy and every start, and every check is audited.
   */
  signatures: strict({
    mode: z.enum(["required", "optional"]).default("optional"),
    /** PEM files of the root CAs this gateway trusts, relative to the manifest. */
    trusted_roots: z.array(path).default([]),
    /** X.509 CRLs of the CAs (PEM or DER files). */
    crls: z.array(path).default([]),
    /** Refuse a chain whose CAs have no CRL here. */
    require_crls: z.boolean().default(false),
    /** Accept a signed version lower than the one running other than by a rollback. */
    allow_downgrade: z.boolean().default(false),
  }).prefault({}).superRefine((s, ctx) => {
    if (s.mode === "required" && s.trusted_roots.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["trusted_roots"],
        message: "signatures required need at least one trusted root (a PEM file of the plant's root CA)",
      });
    }
  }),
  /** What the gateway keeps of its modules' past (`runtime/lifecycle/`). */
  lifecycle: strict({
    /**
     * Versions kept per module (binary, manifest entry, and the snapshot taken when it stopped) for a
     * rollback, 1..100; the one running is always kept besides.
     */
    keep_versions: int(1, 100).default(5),
  }).prefault({}),
  channels: z.record(id("channel id"), ChannelSchema).default({}),
  /** Registries that modules' `image` name, keyed by `host[:port]` as written in the references. */
  registries: z.record(
    z.string().regex(/^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/, "a registry key is host[:port]"),
    RegistrySchema,
  ).default({}),
  fleet: FleetSchema.optional(), // fleet control over MQTT (`_fleet.ts`, docs/fleet.md)
  observability: ObservabilitySchema.prefault({}), // traces and their OTLP export (`_observability.ts`)
  modules: z.record(id("module name"), ModuleSchema),
}).superRefine(fleetNeedsMqtt);

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
