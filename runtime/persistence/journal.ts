/**
 * The runtime's recent alerts and published messages, numbered for clients that poll with `?after=SEQ`.
 * Private to `runtime/`.
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

  addAlert(a: AlertEvent): void {
    this.#alerts.push(a);
    this.#alertSeq++;
    if (this.#alerts.length > MAX_ALERTS) this.#alerts.shift();
  }

  /** Alerts since sequence number `after` (exclusive), oldest first, with their sequence numbers. */
  listAlerts(after = 0): (AlertEvent & { seq: number })[] {
    const first = this.#alertSeq - this.#alerts.length + 1;
    return this.#alerts.map((a, i) => ({ seq: first + i, ...a })).filter((a) => a.seq > after);
  }

  /** Keeps a published message; its payload as UTF-8 text when it decodes, else base64. */
  addMessage(m: OutboundMessage): void {
    let payload: string;
    let encoding: PublishedMessage["encoding"] = "utf-8";
    try {
      payload = utf8.decode(m.payload);
    } catch {
      payload = btoa(String.fromCharCode(...m.payload));
      encoding = "base64";
    }
    this.#messages.push({
      seq: ++this.#messageSeq,
      module: m.module,
      topic: m.topic,
      payload,
      encoding,
      at: m.at,
    });
    if (this.#messages.length > MAX_MESSAGES) this.#messages.shift();
  }

  /** Messages since sequence number `after` (exclusive), oldest first. */
  listMessages(after = 0): PublishedMessage[] {
    return this.#messages.filter((m) => m.seq > after);
  }
}
