/**
 * The manifest's `connectors` section and the references to what they carry: the simulated plant, the point
 * connectors of every driver in the registry (`hal/drivers.ts`: `connectors.<kind>.<name>`, and a module's
 * inputs and actuators `<kind>:<device>/<point id>`), the MQTT uplink and the GPIO bank.
 *
 * @module
 */
import { z } from "zod";
import { POINT_DRIVERS, type PointDeviceSchemas } from "../../hal/drivers.ts";
import { GpioConnectorSchema } from "../../hal/gpio/mod.ts";
import { parseTopicTemplate } from "../../hal/mqtt/topics.ts";
import { backoffFields, checkBackoff } from "../../hal/keeper.ts";
import { id, int, path, positive, strict } from "./_zod.ts";

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

/** A simulated sensor, told apart by `kind`. */
export const SimSensorSchema = z.discriminatedUnion("kind", [SimVibrationSchema, SimTemperatureSchema], {
  error: (issue) =>
    issue.code === "invalid_union" ? `expected a "kind" of "vibration" or "temperature"` : undefined,
});

// ------------------------------------------------------------------------------------- point references

/** A name in a reference: a sensor, a device, a point (the module name rule). */
const NAME = "[a-z][a-z0-9_-]{0,62}";
/** The drivers' kinds, as a regular expression's alternatives (lowercase letters only). */
const KINDS = POINT_DRIVERS.map((d) => d.kind).join("|");
/** The shape of each driver's point reference, for messages: `"<kind>:<device>/<point id>"`. */
const POINT_REF_SHAPES = POINT_DRIVERS.map((d) => `"${d.kind}:<${d.deviceNoun}>/<${d.pointNoun} id>"`);

/** A module input: a simulated sensor `sim:<id>`, or a point connector's point `<kind>:<device>/<point>`. */
export const INPUT_REF = new RegExp(`^(sim:${NAME}|(${KINDS}):${NAME}\\/${NAME})$`);
/** What a module may drive: a point connector's point `<kind>:<device>/<point>`. */
export const ACTUATOR_REF = new RegExp(`^(${KINDS}):${NAME}\\/${NAME}$`);

/** One of a module's `inputs`. */
export const InputRefSchema = z.string().regex(
  INPUT_REF,
  `an input must be ${anyOf([`"sim:<sensor id>"`, ...POINT_REF_SHAPES])}`,
);
/** One of a module's `actuators`. */
export const ActuatorRefSchema = z.string().regex(
  ACTUATOR_REF,
  `an actuator must be ${anyOf(POINT_REF_SHAPES)}`,
);

/** `"a"`, `"a or b"`, `"a, b or c"`. */
function anyOf(items: readonly string[]): string {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

// ------------------------------------------------------------------------------------------- the uplink

/**
 * The uplink to an MQTT broker (`connectors.mqtt`): module publishes, alerts and Mode C batches go out
 * through the store-and-forward outbox; `mqtt:<filter>` triggers subscribe on it.
 */
export const MqttConnectorSchema = strict({
  /** `mqtt://host:port` or `mqtts://host:port`; with `embedded`, the default is the embedded broker. */
  url: z.string().regex(
    /^mqtts?:\/\/[^\s/@]+$/,
    `a url must be "mqtt://host:port" or "mqtts://host:port" (a user name and password go in username and password_file)`,
  )
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

// --------------------------------------------------------------------------------------- the section

/** Connector types that later versions add; naming one is an error that says so. */
export const UPCOMING_CONNECTORS: readonly string[] = ["i2c", "spi"];

/** `connectors.<kind>` of each point driver: its devices by name. */
type PointConnectorsShape = {
  [K in keyof PointDeviceSchemas]: z.ZodOptional<z.ZodRecord<z.ZodString, PointDeviceSchemas[K]>>;
};

const pointConnectors = Object.fromEntries(
  POINT_DRIVERS.map((d) => [d.kind, z.record(id(`${d.kind} ${d.deviceNoun} name`), d.schema).optional()]),
) as PointConnectorsShape;

/**
 * The section's keys: the simulated plant first, the network connectors (the point drivers' and the
 * uplink) by name, the GPIO bank last; unknown keys are reported with this list in this order.
 */
const CONNECTORS_SHAPE = {
  sim: z.record(id("sim sensor id"), SimSensorSchema).optional(),
  ...byKey({ ...pointConnectors, mqtt: MqttConnectorSchema.optional() }),
  gpio: GpioConnectorSchema.optional(),
};

/** The connector types this version supports, for messages. */
const SUPPORTED_CONNECTORS = Object.keys(CONNECTORS_SHAPE).join(", ");

/**
 * `connectors`: the simulated plant, each point driver's devices by name (`connectors.<kind>`), the MQTT
 * uplink, and the GPIO bank (`gpio`: the simulated one unless it names the `linux-sysfs` backend).
 */
export const ConnectorsSchema = strict(
  CONNECTORS_SHAPE,
  (key) =>
    UPCOMING_CONNECTORS.includes(key)
      ? `the "${key}" connector is not supported yet (this version supports: ${SUPPORTED_CONNECTORS})`
      : `unknown connector type "${key}" (this version supports: ${SUPPORTED_CONNECTORS})`,
);

/** `shape` with its keys in code point order (its type is unchanged: only the order is). */
function byKey<T extends Record<string, unknown>>(shape: T): T {
  return Object.fromEntries(Object.entries(shape).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) as T;
}
