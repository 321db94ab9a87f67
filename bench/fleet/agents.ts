/**
 * Simulated fleet devices, one process owning a slice of them: each device is its own MQTT connection (the
 * `mqtt` package) speaking the gateway's fleet protocol (`docs/fleet.md`, `runtime/fleet/protocol.ts`):
 * a last will `offline` (retained) on `kiln/<device>/status` and `online` once connected, subscriptions to its
 * retained desired topic and its group's, a retained reported state (QoS 1) at connect, after every desired
 * document and every `reportEveryS`. A desired document naming another image "converges" without a pull:
 * `convergeMs` (±50%) later the device reports that image `running` and the document's rev applied; `null`
 * removes the module.
 *
 * Run by `bench/fleet.ts`: `deno run -A bench/fleet/agents.ts '<AgentsConfig JSON>'`. Prints JSON lines on
 * stdout: `{"kind":"ready"}` once every device connected and had its first report acknowledged, then
 * `{"kind":"progress", connected, converged, reports, converged_at_ms: [...] }` every 500 ms (the
 * timestamps of the devices that converged since the last line). SIGTERM closes every connection and exits.
 *
 * @module
 */
import mqtt, { type MqttClient } from "mqtt";
import {
  fleetTopics,
  type ModuleFigures,
  parseDesired,
  type ReportedModule,
  type ReportedState,
} from "../../runtime/fleet/protocol.ts";

/** What one agents process simulates. */
export interface AgentsConfig {
  readonly broker: string;
  readonly fleet: string;
  /** Device ids are `<prefix><index, 5 digits>`, indexes `from` .. `from + count - 1`. */
  readonly prefix: string;
  readonly from: number;
  readonly count: number;
  readonly group: string;
  readonly hardware: string;
  /** The module the devices run, and the image they run at start. */
  readonly module: string;
  readonly initialImage: string;
  /** The image whose convergence is counted. */
  readonly targetImage: string;
  readonly reportEveryS: number;
  /** The simulated pull-verify-deploy time, ms (each device draws 50% to 150% of it). */
  readonly convergeMs: number;
  /** Connections opened at once while connecting. */
  readonly connectConcurrency: number;
}

interface Device {
  readonly id: string;
  readonly client: MqttClient;
  readonly topics: ReturnType<typeof fleetTopics>;
  image: string | null;
  sha256: string;
  revApplied: number | null;
  revSeen: number | null;
  invocations: number;
  nextReportMs: number;
  /** The rev of the pass under way, so a newer document supersedes it. */
  pending: number | null;
  converged: boolean;
}

const config = JSON.parse(Deno.args[0] ?? "{}") as AgentsConfig;
const devices: Device[] = [];
let reports = 0;
let convergedCount = 0;
let newlyConverged: number[] = [];
let closing = false;

function hex64(text: string): string {
  let h = 0x811c9dc5;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0").repeat(8);
}

function figures(d: Device): ModuleFigures {
  return {
    invocations: d.invocations,
    errors: 0,
    crashes: 0,
    error_rate: 0,
    p99_us: 500,
    budget_overruns: 0,
  };
}

function reportOf(d: Device): ReportedState {
  const modules: Record<string, ReportedModule> = Object.create(null);
  if (d.image !== null) {
    modules[config.module] = {
      source: "fleet",
      image: d.image,
      sha256: d.sha256,
      version: d.image.replace(/^.*:([^:@]+)@.*$/, "$1"),
      state: "running",
      probation: false,
      figures: figures(d),
    };
  }
  return {
    rev_applied: d.revApplied,
    rev_seen: d.revSeen,
    group_revs: { [config.group]: { applied: null, seen: null } },
    at: new Date().toISOString(),
    runtime_version: "0.18.0-sim",
    hardware: config.hardware,
    report_every_s: config.reportEveryS,
    groups: [config.group],
    modules,
    errors: [],
  };
}

function report(d: Device): Promise<unknown> {
  d.nextReportMs = Date.now() + config.reportEveryS * 1000;
  d.invocations += config.reportEveryS;
  reports++;
  return d.client.publishAsync(d.topics.reported, JSON.stringify(reportOf(d)), { qos: 1, retain: true })
    .catch(() => {}); // Not lost: the next report replaces it (the gateway does the same).
}

function onDesired(d: Device, payload: Uint8Array): void {
  const parsed = parseDesired(payload);
  if (!parsed.ok) return;
  const { rev, modules } = parsed.state;
  d.revSeen = rev;
  const want = Object.hasOwn(modules, config.module) ? modules[config.module]! : undefined;
  if (want === undefined || (want !== null && want.image === d.image)) {
    d.revApplied = rev;
    void report(d);
    return;
  }
  d.pending = rev;
  void report(d); // rev_seen moved
  const delay = config.convergeMs * (0.5 + Math.random());
  setTimeout(() => {
    if (closing || d.pending !== rev) return; // superseded by a newer document
    d.pending = null;
    d.image = want === null ? null : want.image;
    d.sha256 = hex64(d.image ?? "");
    d.invocations = 0;
    d.revApplied = rev;
    const converged = d.image === config.targetImage;
    if (converged && !d.converged) {
      convergedCount++;
      newlyConverged.push(Date.now());
    } else if (!converged && d.converged) convergedCount--;
    d.converged = converged;
    void report(d);
  }, delay);
}

async function connect(index: number): Promise<void> {
  const id = `${config.prefix}${String(index).padStart(5, "0")}`;
  const topics = fleetTopics(config.fleet, id, [config.group]);
  const status = `kiln/${id}/status`;
  const client = mqtt.connect(config.broker, {
    clientId: `${id}-fleet`,
    keepalive: 60,
    connectTimeout: 60_000,
    reconnectPeriod: 1000 + Math.floor(Math.random() * 1000),
    will: { topic: status, payload: "offline", qos: 1, retain: true },
  });
  const d: Device = {
    id,
    client,
    topics,
    image: config.initialImage,
    sha256: hex64(config.initialImage),
    revApplied: null,
    revSeen: null,
    invocations: 0,
    nextReportMs: 0,
    pending: null,
    converged: config.initialImage === config.targetImage,
  };
  devices.push(d);
  client.on("message", (topic, payload) => {
    if (topic === topics.desired) onDesired(d, payload);
  });
  // At every (re)connect, as the gateway: online, subscribed, reported.
  const first = Promise.withResolvers<void>();
  client.on("connect", async () => {
    try {
      await client.publishAsync(status, "online", { qos: 1, retain: true });
      await client.subscribeAsync([topics.desired, ...topics.groups.map((g) => g.topic)], { qos: 1 });
      await report(d);
      // Spread the periodic reports over the interval.
      d.nextReportMs = Date.now() + Math.random() * config.reportEveryS * 1000;
      first.resolve();
    } catch {
      // Disconnected meanwhile: the next connect does it again.
    }
  });
  await first.promise;
}

async function main(): Promise<void> {
  Deno.addSignalListener("SIGTERM", () => void shutdown());
  let next = config.from;
  const end = config.from + config.count;
  await Promise.all(
    Array.from({ length: Math.min(config.connectConcurrency, config.count) }, async () => {
      while (next < end) await connect(next++);
    }),
  );
  console.log(JSON.stringify({ kind: "ready", devices: devices.length }));
  setInterval(() => {
    const now = Date.now();
    for (const d of devices) if (now >= d.nextReportMs && d.client.connected) void report(d);
  }, 100);
  setInterval(() => {
    const connected = devices.filter((d) => d.client.connected).length;
    console.log(JSON.stringify({
      kind: "progress",
      connected,
      converged: convergedCount,
      reports,
      converged_at_ms: newlyConverged,
    }));
    newlyConverged = [];
  }, 500);
}

async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await Promise.all(devices.map((d) => d.client.endAsync(true).catch(() => {})));
  Deno.exit(0);
}

if (import.meta.main) await main();
