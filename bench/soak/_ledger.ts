/**
 * The soak's receiver: an MQTT client with a persistent session on the uplink's topics (the broker keeps
 * what arrives for it across its own restarts, with persistence on) that records the `(stream, seq)` of
 * every envelope, alert and Mode C batch, and the presence on the status topic.
 *
 * @module
 */
import { connect, type MqttClient } from "mqtt";
import { decodeBatch } from "../../runtime/uplink/batcher.ts";
import type { OutboxKind } from "../../snapshots/mod.ts";
import { SeqTracker, type StreamLedger } from "./_stats.ts";

/** Topics of the gateway's uplink, as the soak's manifest sets them. */
export interface UplinkTopics {
  /** Alerts start with this prefix: `kiln/<device>/alerts/`. */
  readonly alertsPrefix: string;
  readonly batch: string;
  readonly status: string;
}

/** The receiver: what arrived, by stream. */
export interface Ledger extends AsyncDisposable {
  /** Messages received (every arrival). */
  readonly messages: number;
  /** Messages that were neither an envelope, an alert, a batch nor a presence (counted, not ledgered). */
  readonly unreadable: number;
  /** Each stream's figures, with the kind its topic says. */
  streams(): { stream: string; kind: OutboxKind; ledger: StreamLedger }[];
  /** Each presence payload received on the status topic, in order, with when (ms since the epoch). */
  readonly presence: readonly { payload: string; atMs: number }[];
  /** When the last message arrived (ms since the epoch), 0 before any. */
  readonly lastMessageAtMs: number;
  /** Whether the client is connected to the broker now. */
  readonly connected: boolean;
}

/** Options of {@linkcode startLedger}. */
export interface LedgerOptions {
  readonly url: string;
  /** The persistent session's client id. */
  readonly clientId: string;
  readonly topics: UplinkTopics;
  /** The longest to wait for the first SUBACK. @default 15000 */
  readonly timeoutMs?: number;
}

/**
 * Connects with a persistent session (`clean: false`), subscribes to `#` at QoS 1 and resolves once the
 * broker acknowledged it; reconnects every second while the broker is away.
 *
 * @throws {Error} when the subscription is not acknowledged within `timeoutMs`.
 */
export async function startLedger(options: LedgerOptions): Promise<Ledger> {
  const trackers = new Map<string, { kind: OutboxKind; seqs: SeqTracker }>();
  const presence: { payload: string; atMs: number }[] = [];
  let messages = 0;
  let unreadable = 0;
  let lastMessageAtMs = 0;
  const { alertsPrefix, batch, status } = options.topics;
  const record = (stream: unknown, seq: unknown, kind: OutboxKind) => {
    if (typeof stream !== "string" || typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
      unreadable++;
      return;
    }
    let t = trackers.get(stream);
    if (!t) trackers.set(stream, t = { kind, seqs: new SeqTracker() });
    t.seqs.add(seq);
  };
  const client: MqttClient = connect(options.url, {
    clientId: options.clientId,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
    connectTimeout: 5000,
    keepalive: 10,
  });
  client.on("error", () => {}); // reconnects by itself; the soak reads the gateway's view of the outage
  client.on("message", (topic, payload) => {
    messages++;
    lastMessageAtMs = Date.now();
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
    try {
      if (topic === status) {
        presence.push({ payload: new TextDecoder().decode(bytes), atMs: lastMessageAtMs });
      } else if (topic === batch) {
        const b = decodeBatch(bytes);
        record(b.stream, b.seq, "batch");
      } else {
        const e = JSON.parse(new TextDecoder().decode(bytes)) as { stream?: unknown; seq?: unknown };
        record(e.stream, e.seq, topic.startsWith(alertsPrefix) ? "alert" : "telemetry");
      }
    } catch {
      unreadable++;
    }
  });
  const subscribed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`The soak's MQTT receiver got no SUBACK from ${options.url} in time`)),
      options.timeoutMs ?? 15_000,
    );
    client.once("connect", () => {
      client.subscribe("#", { qos: 1 }, (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  });
  const close = async () => {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.end(true);
        resolve();
      }, 5000);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
  try {
    await subscribed;
  } catch (err) {
    client.end(true);
    throw err;
  }
  return {
    get messages() {
      return messages;
    },
    get unreadable() {
      return unreadable;
    },
    streams: () =>
      [...trackers].map(([stream, t]) => ({ stream, kind: t.kind, ledger: t.seqs.ledger() }))
        .sort((a, b) => a.stream.localeCompare(b.stream)),
    presence,
    get lastMessageAtMs() {
      return lastMessageAtMs;
    },
    get connected() {
      return client.connected;
    },
    [Symbol.asyncDispose]: close,
  };
}
