/**
 * The runtime's recent alerts and published messages, numbered for clients that poll with `?after=SEQ`, and
 * the numbering of the log lines it keeps (the lines themselves stay in their module's slot). Private to
 * `runtime/`.
 *
 * @module
 */
import type { AlertEvent, OutboundMessage } from "../executor/protocol.ts";
import type { PublishedMessage } from "../status.ts";

const MAX_ALERTS = 1000;
const MAX_MESSAGES = 500;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The last 1000 alerts and 500 published messages, each with a sequence number from 1. */
export class Journal {
  #alerts: AlertEvent[] = [];
  #alertSeq = 0;
  #messages: PublishedMessage[] = [];
  #messageSeq = 0;
  #logSeq = 0;

  /** Keeps an alert; returns it with its sequence number. */
  addAlert(a: AlertEvent): AlertEvent & { seq: number } {
    this.#alerts.push(a);
    this.#alertSeq++;
    if (this.#alerts.length > MAX_ALERTS) this.#alerts.shift();
    return { seq: this.#alertSeq, ...a };
  }

  /** The sequence number of the next log line the runtime keeps, from 1 across modules. */
  numberLog(): number {
    return ++this.#logSeq;
  }

  /** Alerts since sequence number `after` (exclusive), oldest first, with their sequence numbers. */
  listAlerts(after = 0): (AlertEvent & { seq: number })[] {
    const first = this.#alertSeq - this.#alerts.length + 1;
    return this.#alerts.map((a, i) => ({ seq: first + i, ...a })).filter((a) => a.seq > after);
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
