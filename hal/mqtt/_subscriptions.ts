/**
 * The MQTT connector's own subscription list: what it sends again after every connect (a clean session
 * forgets subscriptions, MQTT 3.1.1 §3.1.2.4), at which QoS, and which handlers a message goes to.
 *
 * @module
 */
import type { MessageHandler, Qos } from "./options.ts";
import { topicMatches } from "./topics.ts";

/** One `subscribe` call; several may share a filter. */
export interface Subscription {
  readonly filter: string;
  readonly qos: Qos;
  readonly handler: MessageHandler;
}

/** The subscriptions, in the order they were made. */
export class SubscriptionList {
  readonly #subs: Subscription[] = [];

  /** Adds one subscription. */
  add(sub: Subscription): void {
    this.#subs.push(sub);
  }

  /** Removes `sub`; `false` when it was not in the list (already removed). */
  remove(sub: Subscription): boolean {
    const i = this.#subs.indexOf(sub);
    if (i === -1) return false;
    this.#subs.splice(i, 1);
    return true;
  }

  /** True while some subscription uses `filter`. */
  has(filter: string): boolean {
    return this.#subs.some((s) => s.filter === filter);
  }

  /** Each subscribed filter once. */
  filters(): string[] {
    return [...new Set(this.#subs.map((s) => s.filter))];
  }

  /**
   * `filters` grouped by the QoS to subscribe them at: the highest any of a filter's handlers asked for.
   * Lists, not mqtt.js's `{ [filter]: { qos } }` map: a filter is any string (`__proto__`, `constructor`),
   * and that map reads its `resubscribe` key as an option.
   */
  request(filters: string[]): Map<Qos, string[]> {
    const request = new Map<Qos, string[]>();
    for (const filter of filters) {
      const qos = Math.max(...this.#subs.filter((s) => s.filter === filter).map((s) => s.qos)) as Qos;
      const list = request.get(qos);
      if (list) list.push(filter);
      else request.set(qos, [filter]);
    }
    return request;
  }

  /**
   * The subscriptions whose filter matches `topic`, taken now: a handler that subscribes or unsubscribes
   * while a message is delivered does not change who receives that message.
   */
  matching(topic: string): Subscription[] {
    return this.#subs.filter((s) => topicMatches(s.filter, topic));
  }
}
