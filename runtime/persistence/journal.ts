/**
 * The runtime's recent alerts and published messages, numbered for clients that poll with `?after=SEQ`, and
 * the numbering of the log lines it keeps (the lines themselves stay in their module's slot). Private to
 * `runtime/`.
 *
 * @module
 */
import type { AlertEvent, OutboundMessage } from "../executor/protocol.ts";
import type { AlertLog, AlertQuery, AlertSource, KeptAlert } from "../../snapshots/mod.ts";
import type { PublishedMessage } from "../status.ts";

const MAX_ALERTS = 1000;
const MAX_MESSAGES = 500;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The last 500 published messages and the alerts, each with a sequence number from 1. With an
 * {@linkcode AlertLog} the alerts are kept in the store (numbering continued across restarts, acknowledgements
 * audited); without one, the last 1000 in memory (tests, benchmarks).
 */
export class Journal {
  readonly #store: AlertLog | null;
  #alerts: KeptAlert[] = [];
  #alertSeq = 0;
  #messages: PublishedMessage[] = [];
  #messageSeq = 0;
  #logSeq = 0;

  constructor(alerts: AlertLog | null = null) {
    this.#store = alerts;
  }

  /** Keeps an alert (`source`: who raised it, @default "module"); returns it with its sequence number. */
  addAlert(a: AlertEvent, source: AlertSource = "module"): KeptAlert {
    if (this.#store) return this.#store.add(a, source);
    const kept: KeptAlert = { seq: ++this.#alertSeq, ...a, source, ackedAtMs: null, ackedBy: null };
    this.#alerts.push(kept);
    if (this.#alerts.length > MAX_ALERTS) this.#alerts.shift();
    return kept;
  }

  /**
   * Acknowledges alert `seq` as `by` (idempotent: the first acknowledgement stays); audited when kept in the
   * store. Returns the alert, or null when there is no alert `seq`.
   *
   * @throws {Error} what the store throws.
   */
  ackAlert(seq: number, by: string, atMs = Date.now()): KeptAlert | null {
    if (this.#store) return this.#store.ack(seq, by, atMs);
    const a = this.#alerts.find((x) => x.seq === seq);
    if (!a) return null;
    if (a.ackedAtMs === null) Object.assign(a, { ackedAtMs: atMs, ackedBy: by });
    return { ...a };
  }

  /** The sequence number of the next log line the runtime keeps, from 1 across modules. */
  numberLog(): number {
    return ++this.#logSeq;
  }

  /** Alerts since sequence number `after` (exclusive), oldest first, with their sequence numbers. */
  listAlerts(after = 0): KeptAlert[] {
    return this.queryAlerts({ after });
  }

  /** The alerts `query` selects, oldest first. */
  queryAlerts(query: AlertQuery): KeptAlert[] {
    if (this.#store) return this.#store.list(query);
    return this.#alerts.filter((a) =>
      a.seq > (query.after ?? 0) && (query.module === undefined || a.module === query.module) &&
      (query.severity === undefined || a.severity === query.severity) &&
      (query.acked === undefined || (a.ackedAtMs !== null) === query.acked)
    ).map((a) => ({ ...a }));
  }

  /** Keeps a published message, its payload as UTF-8 text when it decodes, else base64; returns it as kept. */
  addMessage(m: OutboundMessage): PublishedMessage {
    let payload: string;
    let encoding: PublishedMessage["encoding"] = "utf-8";
    try {
      payload = utf8.decode(m.payload);
    } catch {
      payload = btoa(String.fromCharCode(...m.payload));
      encoding = "base64";
    }
    const kept: PublishedMessage = {
      seq: ++this.#messageSeq,
      module: m.module,
      topic: m.topic,
      payload,
      encoding,
      at: m.at,
    };
    this.#messages.push(kept);
    if (this.#messages.length > MAX_MESSAGES) this.#messages.shift();
    return kept;
  }

  /** Messages since sequence number `after` (exclusive), oldest first. */
  listMessages(after = 0): PublishedMessage[] {
    return this.#messages.filter((m) => m.seq > after);
  }
}
