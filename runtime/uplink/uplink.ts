/**
 * The uplink: everything Kiln sends to the cloud goes through the store-and-forward outbox to an MQTT broker,
 * and `mqtt:<filter>` triggers come back from it.
 *
 * - Module publishes (`kiln.publish`) become telemetry, alerts become alerts, and module outputs are
 *   gathered into a Mode C batch every `batch_interval_s`: each is written to the outbox first (durable once
 *   written), then drained in order by the forwarder, rate-limited, and deleted only when the broker
 *   acknowledges it (QoS 1 or 2). Delivery is at least once; a receiver drops duplicates by `(stream, seq)`.
 * - Every message carries its stream (its topic) and its sequence number in that stream, so a receiver sees
 *   gaps: telemetry and alerts as a JSON envelope, batches inside their own format (`kiln.batch.v1`).
 * - Presence on the status topic, retained: `online` at every connect; `offline` on every stop, published
 *   before the clean disconnect (which makes the broker discard the will), and as the last will for a crash
 *   or a lost link. A stop while the broker is unreachable cannot publish; the broker then has published the
 *   will already, when it lost the connection.
 * - A module's telemetry and alerts are charged to it in the outbox: what it has waiting (not yet
 *   acknowledged) may take at most its share of the disk budget (`limits.outbox_share`); past it, its
 *   messages are refused (`"over_share"`) until the broker acknowledges some, so one module cannot crowd out
 *   the others' telemetry nor, with alerts the budget never drops, grow the outbox without bound.
 *
 * @module
 */
import {
  createMqttConnector,
  generateEmbeddedCredentials,
  loadBroker,
  type MqttConnector,
  parseTopicTemplate,
  startEmbeddedBroker,
} from "../../hal/mqtt/mod.ts";
import type { EmbeddedBroker } from "../../hal/mqtt/mod.ts";
import type { ConnectorStatus } from "../../hal/mod.ts";
import type { Outbox, OutboxStats } from "../../snapshots/mod.ts";
import { OutboxShareExceededError } from "../../snapshots/mod.ts";
import { createForwarder, type Forwarder, type ForwarderStats } from "./forwarder.ts";
import { type Batcher, createBatcher } from "./batcher.ts";
import type { MqttPlan } from "../plan.ts";
import type { AlertEvent, OutboundMessage } from "../executor/protocol.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Options of {@linkcode createUplink}. */
export interface UplinkOptions {
  plan: MqttPlan;
  device: string;
  outbox: Outbox;
  /** Where the uplink reports what it does (connects, refusals). */
  log: (line: string) => void;
}

/** What became of a message given to the uplink. */
export type UplinkResult =
  /** Written to the outbox. */
  | "queued"
  /** Refused: its module's share of the outbox is full. */
  | "over_share"
  /** Refused by the outbox (too large, a failed write), counted in {@linkcode Uplink.refused}. */
  | "refused";

/** Options of {@linkcode Uplink.publishMessage} and {@linkcode Uplink.publishAlert}. */
export interface UplinkPublishOptions {
  /**
   * The share of the outbox's disk budget (0..1] the module's messages not yet acknowledged may take, this
   * one included. @default no limit
   */
  readonly outboxShare?: number;
}

/** The running uplink. */
export interface Uplink extends AsyncDisposable {
  /** Queues a module's published message as telemetry on its topic, charged to the module. */
  publishMessage(m: OutboundMessage, options?: UplinkPublishOptions): UplinkResult;
  /** Queues an alert on the alerts topic, charged to its module. */
  publishAlert(a: AlertEvent, options?: UplinkPublishOptions): UplinkResult;
  /** What `module` has waiting in the outbox, in budget bytes. */
  outboxBytes(module: string): number;
  /** The bytes a share (0..1] of the outbox's disk budget comes to. */
  shareBytes(share: number): number;
  /** Adds module outputs to the next Mode C batch. */
  addOutputs(module: string, outputs: Record<string, number>, atMs: number): void;
  /**
   * Starts the embedded broker when the plan asks for one, then the MQTT connector (which connects and
   * reconnects on its own) and the forwarder. Once; later calls wait for the first.
   *
   * @throws {import("../../hal/mqtt/mod.ts").EmbeddedBrokerError} when the embedded broker cannot listen.
   * @throws {import("../../hal/mqtt/mod.ts").EmbeddedCredentialsError} when its credentials file is unusable.
   */
  connect(): Promise<void>;
  /** Calls `handler` for each message on topics matching `filter`, from now on (and after reconnects); connects first. */
  subscribe(filter: string, handler: (topic: string, payload: Uint8Array) => void): Promise<void>;
  status(): ConnectorStatus;
  outboxStats(): OutboxStats;
  forwarderStats(): ForwarderStats;
  /** Messages refused by the outbox (too large, a failed write), since start. */
  readonly refused: number;
  close(): Promise<void>;
}

/**
 * Makes the uplink: the outbox side (publishes, alerts and the batcher write to the outbox) at once, the link
 * (the embedded broker when asked for, the MQTT connector and the forwarder that drains the outbox into it)
 * at {@linkcode Uplink.connect}. Until then, what modules send waits in the outbox like during an outage: the
 * runtime connects while its modules start, so that loading and starting the MQTT stack (~50 ms of the main
 * thread here) overlaps the executors' boot instead of delaying the modules' first windows.
 */
export function createUplink(options: UplinkOptions): Uplink {
  const { plan, device, outbox, log } = options;
  // The broker's package loads now, while the modules start; its failure is the connect's to report.
  if (plan.embeddedPort !== null) loadBroker().catch(() => {});
  const statusTopic = parseTopicTemplate(plan.topics.status, { placeholders: ["device"] }).expand({ device });
  const alertsTopic = parseTopicTemplate(plan.topics.alerts, { placeholders: ["device", "module"] });
  const batcher: Batcher | null = plan.batchIntervalS > 0
    ? createBatcher(outbox, {
      topic: parseTopicTemplate(plan.topics.batch, { placeholders: ["device"] }).expand({ device }),
      intervalMs: plan.batchIntervalS * 1000,
      qos: plan.qos,
      device,
    })
    : null;
  let link: Link | null = null;
  let connecting: Promise<Link> | null = null;
  const connect = (): Promise<Link> => {
    if (connecting === null && closing !== null) return Promise.reject(new Error("the uplink is closed"));
    return connecting ??= openLink(plan, { statusTopic, outbox, log }).then((l) => {
      link = l;
      return l;
    });
  };
  let refused = 0;
  const budgetBytes = outbox.stats().diskBudgetBytes;
  const shareBytes = (share: number) => Math.floor(Math.min(1, Math.max(0, share)) * budgetBytes);
  const owned = (module: string, options: UplinkPublishOptions | undefined) => ({
    owner: module,
    ...(options?.outboxShare !== undefined && { ownerMaxBytes: shareBytes(options.outboxShare) }),
  });
  const enqueue = (entry: Parameters<Outbox["enqueue"]>[0]): UplinkResult => {
    try {
      outbox.enqueue(entry);
      return "queued";
    } catch (err) {
      if (err instanceof OutboxShareExceededError) return "over_share"; // the module's to count
      refused++;
      if (refused <= 10 || refused % 1000 === 0) {
        log(`outbox: ${(err as Error).message} (${refused} refused)`);
      }
      return "refused";
    }
  };
  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      batcher?.close(); // flushes the last batch into the outbox
      // A link still being made is closed once it is (a broker that could not start has nothing to close).
      const l = link ?? await connecting?.catch(() => null) ?? null;
      if (l === null) return;
      const { connector, forwarder, broker } = l;
      await forwarder.close();
      if (connector.connected) {
        // Waits for the broker's PUBACK, at most OFFLINE_TIMEOUT_MS: a stop is never held up by a slow broker.
        const offline = connector.publish(statusTopic, encoder.encode("offline"), { qos: 1, retain: true });
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<void>((resolve) => timer = setTimeout(resolve, OFFLINE_TIMEOUT_MS));
        await Promise.race([
          offline.catch((err) => log(`mqtt: cannot publish "offline" (${err.message})`)),
          late,
        ]);
        clearTimeout(timer);
      }
      await connector.close();
      await broker?.close();
    })();
  return {
    publishMessage(m, options) {
      return enqueue({
        stream: m.topic,
        kind: "telemetry",
        topic: m.topic,
        qos: plan.qos,
        ...owned(m.module, options),
        payload: (seq) => envelope({ device, module: m.module, stream: m.topic, seq, at: m.at }, m.payload),
      });
    },
    publishAlert(a, options) {
      const topic = alertsTopic.expand({ device, module: a.module });
      return enqueue({
        stream: topic,
        kind: "alert",
        topic,
        qos: plan.qos === 0 ? 1 : plan.qos,
        ...owned(a.module, options),
        payload: (seq) =>
          encoder.encode(JSON.stringify({
            device,
            module: a.module,
            stream: topic,
            seq,
            at: new Date(a.at).toISOString(),
            severity: a.severity,
            message: a.message,
          })),
      });
    },
    outboxBytes: (module) => outbox.ownerBytes(module),
    shareBytes,
    addOutputs(module, outputs, atMs) {
      if (!batcher) return;
      for (const [name, value] of Object.entries(outputs)) batcher.add({ module, name, value, atMs });
    },
    async subscribe(filter, handler) {
      const { connector } = await connect();
      await connector.subscribe(filter, (topic, payload) => handler(topic, payload), { qos: 1 });
    },
    async connect() {
      await connect();
    },
    status: () =>
      link?.connector.status() ?? (closing ? { ...NOT_CONNECTED, state: "closed" } : NOT_CONNECTED),
    outboxStats: () => outbox.stats(),
    forwarderStats: () =>
      link?.forwarder.stats() ?? (closing ? { ...NOT_FORWARDING, state: "closed" } : NOT_FORWARDING),
    get refused() {
      return refused;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The uplink's connection: the embedded broker (or none), the connector, and the outbox's forwarder. */
interface Link {
  broker: EmbeddedBroker | null;
  connector: MqttConnector;
  forwarder: Forwarder;
}

/** The connector's status before {@linkcode Uplink.connect} (and, state `closed`, when closed before it). */
const NOT_CONNECTED: ConnectorStatus = {
  name: "mqtt",
  kind: "mqtt",
  state: "connecting",
  lastError: null,
  errors: 0,
  reconnects: 0,
};

/** The forwarder's figures before {@linkcode Uplink.connect} (and, state `closed`, when closed before it). */
const NOT_FORWARDING: ForwarderStats = {
  state: "disconnected",
  inFlight: 0,
  sent: 0,
  acked: 0,
  failed: 0,
  lastError: null,
};

async function openLink(
  plan: MqttPlan,
  { statusTopic, outbox, log }: { statusTopic: string; outbox: Outbox; log: (line: string) => void },
): Promise<Link> {
  let broker: EmbeddedBroker | null = null;
  if (plan.embeddedPort !== null) {
    // Loopback is every user's on the machine: the broker takes only Kiln's generated credentials.
    broker = await startEmbeddedBroker({
      port: plan.embeddedPort,
      ...(plan.embeddedCredentialsFile !== null
        ? { credentialsFile: plan.embeddedCredentialsFile }
        : { credentials: generateEmbeddedCredentials() }),
    });
    log(
      `mqtt: embedded broker listening at ${broker.url}` +
        (broker.credentialsFile === null ? "" : ` (user name and password in ${broker.credentialsFile})`),
    );
  }
  const url = broker?.url ?? plan.url!;
  const password = broker?.credentials
    ? broker.credentials.password
    : plan.passwordFile === null
    ? undefined
    : (await Deno.readTextFile(plan.passwordFile)).split("\n")[0]!;
  const username = broker?.credentials ? broker.credentials.username : plan.username;
  const connector: MqttConnector = createMqttConnector("mqtt", {
    url,
    clientId: plan.clientId,
    keepaliveS: plan.keepaliveS,
    connectTimeoutMs: plan.connectTimeoutMs,
    reconnect: { initialMs: plan.backoffMs, maxMs: plan.maxBackoffMs },
    persistentSession: plan.persistentSession,
    ...(username !== null && { username }),
    ...(password !== undefined && { password }),
    ...(plan.tls && {
      tls: {
        ...(plan.tls.caFile && { caFile: plan.tls.caFile }),
        ...(plan.tls.certFile && { certFile: plan.tls.certFile }),
        ...(plan.tls.keyFile && { keyFile: plan.tls.keyFile }),
      },
    }),
    will: { topic: statusTopic, payload: "offline", qos: 1, retain: true },
  });
  connector.onConnectionChange((up) => {
    log(`mqtt: ${up ? "connected to" : "lost"} ${url}`);
    if (up) {
      connector.publish(statusTopic, encoder.encode("online"), { qos: 1, retain: true }).catch(() => {});
    }
  });
  const forwarder = createForwarder(outbox, connector, { rateMsgsPerS: plan.outbox.drainRatePerS });
  return { broker, connector, forwarder };
}

/** How long a stop waits for the broker to acknowledge the retained `offline`, in milliseconds. */
const OFFLINE_TIMEOUT_MS = 2000;

/**
 * A module's message in its envelope: `{ device, module, stream, seq, at, payload }`, where `payload` is the
 * module's JSON when it is JSON, else its text, else `payload_base64`.
 */
function envelope(
  head: { device: string; module: string; stream: string; seq: number; at: number },
  payload: Uint8Array,
): Uint8Array {
  const body: Record<string, unknown> = { ...head, at: new Date(head.at).toISOString() };
  let text: string | null = null;
  try {
    text = decoder.decode(payload);
  } catch { /* not UTF-8 */ }
  if (text === null) body.payload_base64 = btoa(String.fromCharCode(...payload));
  else {
    try {
      body.payload = JSON.parse(text);
    } catch {
      body.payload = text;
    }
  }
  return encoder.encode(JSON.stringify(body));
}
