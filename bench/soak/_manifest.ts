/**
 * The soak's deployment: the demo (`examples/demo.yaml`: its sensors, channels and five modules) with its
 * uplink pointed at the external Mosquitto and a small outbox budget, a Modbus device on the libmodbus PLC,
 * an OPC UA endpoint on the node-opcua server, and two small event modules of the soak's own:
 *
 * - `soak_probe` (trigger `api`): on each API event sets a GPIO pin (so the runtime times trigger to
 *   actuator) and publishes the event's payload as telemetry, so the load, the latency and the sequence
 *   numbers all come from the same events;
 * - `soak_crasher` (the same code on another pin): traps (`unreachable`) when an event's payload starts
 *   with `t`, so the soak can crash a module on command and watch the supervisor restart it.
 *
 * @module
 */
import { parse, stringify } from "yaml";
import { ManifestSchema } from "../../runtime/manifest/mod.ts";
import { wat } from "../../tests/fixtures/wasm/wat.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DEMO = `${ROOT}examples/demo.yaml`;

/** The device id of the soak's gateway. */
export const SOAK_DEVICE = "gw-soak";
/** The topic `soak_probe` publishes on. */
export const PROBE_TOPIC = `kiln/${SOAK_DEVICE}/probe`;
/** Connector and module backoffs the soak sets, ms (short, so a day's run sees many recoveries). */
export const SOAK_BACKOFF = { backoff_ms: 250, max_backoff_ms: 5000 } as const;
/** The crasher's restart policy: always restarted, after 200 ms doubling up to 2 s. */
export const CRASHER_RESTART = { policy: "always", backoff_ms: 200, max_backoff_ms: 2000 } as const;
/**
 * The MQTT connector's `max_backoff_ms` when the manifest cannot set it (a build before the shared
 * connection keeper): its built-in ceiling.
 */
export const MQTT_BUILT_IN_MAX_BACKOFF_MS = 30_000;

/** An event module that sets `pin` and publishes its payload on {@linkcode PROBE_TOPIC}, or traps on `t...`. */
export function probeWat(pin: number): string {
  const topic = PROBE_TOPIC;
  return `(module
  (import "kiln" "gpio_write" (func $gpio (param i32 i32) (result i32)))
  (import "kiln" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $events (mut f64) (f64.const 0))
  (data (i32.const 16) "${topic}")
  (data (i32.const 128) "events")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $ptr)) (i32.const 116)))
      (then unreachable))
    (global.set $events (f64.add (global.get $events) (f64.const 1)))
    (drop (call $output (i32.const 128) (i32.const 6) (global.get $events)))
    (drop (call $gpio (i32.const ${pin})
      (i32.and (select (i32.load8_u (local.get $ptr)) (i32.const 0) (local.get $len)) (i32.const 1))))
    (drop (call $publish (i32.const 16) (i32.const ${topic.length}) (local.get $ptr) (local.get $len)))
    (i32.const 0)))`;
}

/** What {@linkcode writeSoakManifest} needs to know. */
export interface SoakManifestOptions {
  /** A folder for the manifest and the two modules. */
  readonly dir: string;
  readonly brokerPort: number;
  readonly plcPort: number;
  readonly opcuaPort: number;
  readonly diskBudgetKib: number;
}

/** The manifest written, and what the soak must know of it. */
export interface SoakManifest {
  readonly path: string;
  /** Each connector's `max_backoff_ms` by name (`mqtt`, `plc`, `ua`). */
  readonly maxBackoffMs: Readonly<Record<string, number>>;
  /** Whether the manifest could set the MQTT backoff (else the connector's built-in one applies). */
  readonly mqttBackoffConfigurable: boolean;
  readonly topics: { readonly alertsPrefix: string; readonly batch: string; readonly status: string };
}

/** Makes a demo path (relative to `examples/`) absolute. */
const fromExamples = (path: string) => new URL(path, `file://${ROOT}examples/`).pathname;

/**
 * Writes the soak's manifest and modules into `options.dir`.
 *
 * @throws {Error} when the manifest does not validate (with either MQTT backoff form).
 */
export async function writeSoakManifest(options: SoakManifestOptions): Promise<SoakManifest> {
  // deno-lint-ignore no-explicit-any
  const doc = parse(await Deno.readTextFile(DEMO)) as any;
  doc.device = { id: SOAK_DEVICE, location: "soak" };
  doc.api = { listen: "127.0.0.1:0" };
  for (const m of Object.values(doc.modules) as { wasm: string; data?: Record<string, string> }[]) {
    m.wasm = fromExamples(m.wasm);
    for (const [k, v] of Object.entries(m.data ?? {})) m.data![k] = fromExamples(v);
  }
  const sim = doc.connectors.sim;
  doc.connectors = {
    sim,
    mqtt: {
      url: `mqtt://127.0.0.1:${options.brokerPort}`,
      client_id: "kiln-soak-gateway",
      // A Mode C batch every 10 s: several per fault, and small enough for a small outbox budget.
      batch_interval_s: 10,
      outbox: { disk_budget_mb: options.diskBudgetKib / 1024, drain_rate_per_s: 200 },
      ...SOAK_BACKOFF,
    },
    modbus: {
      plc: {
        host: "127.0.0.1",
        port: options.plcPort,
        timeout_ms: 1000,
        ...SOAK_BACKOFF,
        points: [
          { id: "counter", table: "hr", address: 0, type: "int16", poll_ms: 500 },
          { id: "flow", table: "ir", address: 2, type: "float32", poll_ms: 500 },
          { id: "pump", table: "co", address: 0, poll_ms: 1000 },
        ],
      },
    },
    opcua: {
      ua: {
        url: `opc.tcp://127.0.0.1:${options.opcuaPort}/UA/Kiln`,
        ...SOAK_BACKOFF,
        nodes: [
          { id: "temperature", node_id: "ns=1;s=Temperature", sampling_ms: 250 },
          { id: "count", node_id: "ns=1;s=Count", sampling_ms: 1000 },
        ],
      },
    },
  };
  const probe = (name: string, pin: number) => ({
    wasm: `${name}.wasm`,
    capabilities: [`write:gpio:pin_${pin}`, `write:mqtt:${PROBE_TOPIC}`, "use:executor:realtime"],
    limits: { max_memory_mb: 1, budget_us: 20_000, outbox_share: 1, publish_per_s: 1000 },
    schedule: { mode: "event", trigger: "api", priority: 80 },
  });
  doc.modules.soak_probe = probe("soak_probe", 9);
  doc.modules.soak_crasher = {
    ...probe("soak_crasher", 10),
    restart: { ...CRASHER_RESTART, max_restarts: 0 },
  };
  doc.policy.allow.push(
    "write:gpio:pin_9",
    "write:gpio:pin_10",
    `write:mqtt:${PROBE_TOPIC}`,
  );
  await Deno.writeFile(`${options.dir}/soak_probe.wasm`, wat(probeWat(9)));
  await Deno.writeFile(`${options.dir}/soak_crasher.wasm`, wat(probeWat(10)));

  // A build before the shared connection keeper has no MQTT backoff keys: fall back to its built-in one.
  let mqttBackoffConfigurable = true;
  if (!ManifestSchema.safeParse(doc).success) {
    delete doc.connectors.mqtt.backoff_ms;
    delete doc.connectors.mqtt.max_backoff_ms;
    mqttBackoffConfigurable = false;
    const again = ManifestSchema.safeParse(doc);
    if (!again.success) {
      throw new Error(
        `The soak's manifest does not validate: ${JSON.stringify(again.error.issues, null, 2)}`,
      );
    }
  }
  const path = `${options.dir}/soak.yaml`;
  await Deno.writeTextFile(path, `# Written by bench/soak/main.ts\n${stringify(doc)}`);
  return {
    path,
    maxBackoffMs: {
      mqtt: mqttBackoffConfigurable ? SOAK_BACKOFF.max_backoff_ms : MQTT_BUILT_IN_MAX_BACKOFF_MS,
      plc: SOAK_BACKOFF.max_backoff_ms,
      ua: SOAK_BACKOFF.max_backoff_ms,
    },
    mqttBackoffConfigurable,
    topics: {
      alertsPrefix: `kiln/${SOAK_DEVICE}/alerts/`,
      batch: `kiln/${SOAK_DEVICE}/batch`,
      status: `kiln/${SOAK_DEVICE}/status`,
    },
  };
}
