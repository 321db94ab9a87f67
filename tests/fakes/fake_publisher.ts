/**
 * A FAKE transport for tests and benchmarks: a {@linkcode Publisher} with no network behind it, which
 * acknowledges, fails, disconnects and reconnects when told to. Not an MQTT client; the outbox and the
 * forwarder are tested against it until the real MQTT connector (`hal/mqtt/`) lands.
 *
 * @example
 * ```ts ignore
 * const fake = new FakePublisher({ autoAck: false });
 * const p = fake.publish("t", new Uint8Array([1]));
 * fake.ackNext(); // p resolves, as on a PUBACK
 * fake.disconnect(); // pending publishes reject, listeners hear `false`
 * ```
 *
 * @module
 */
import type { Publisher, PublishOptions } from "../../hal/mod.ts";

/** The fake's rejection: the link is down, or a failure was injected. */
export class FakeLinkError extends Error {
  override name = "FakeLinkError";
}

/** One publish the fake accepted. */
export interface FakePublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly options: PublishOptions | undefined;
}

/** Options of {@linkcode FakePublisher}. */
export interface FakePublisherOptions {
  /** Acknowledge each publish on its own, in a microtask (as a fast broker would). @default true */
  readonly autoAck?: boolean;
  /** @default true */
  readonly connected?: boolean;
}

interface Pending extends FakePublish {
  resolve(): void;
  reject(err: Error): void;
}

/** A fake {@linkcode Publisher}; see the module doc. */
export class FakePublisher implements Publisher {
  /** Every publish accepted while connected, in call order (including those later failed). */
  readonly published: FakePublish[] = [];
  /** Every publish acknowledged, in acknowledgement order. */
  readonly delivered: FakePublish[] = [];
  /** Publishes rejected (link down or injected failure). */
  rejected = 0;
  autoAck: boolean;
  #connected: boolean;
  #pending: Pending[] = [];
  #failNext = 0;
  #listeners = new Set<(connected: boolean) => void>();

  constructor(options: FakePublisherOptions = {}) {
    this.autoAck = options.autoAck ?? true;
    this.#connected = options.connected ?? true;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Publishes waiting for {@linkcode FakePublisher.ackNext} or a failure. */
  get pending(): number {
    return this.#pending.length;
  }

  publish(topic: string, payload: Uint8Array, options?: PublishOptions): Promise<void> {
    if (!this.#connected) {
      this.rejected++;
      return Promise.reject(new FakeLinkError(`Fake link is down; cannot publish to "${topic}"`));
    }
    const msg: FakePublish = { topic, payload, options };
    this.published.push(msg);
    if (this.#failNext > 0) {
      this.#failNext--;
      this.rejected++;
      return Promise.reject(new FakeLinkError(`Injected failure publishing to "${topic}"`));
    }
    return new Promise<void>((resolve, reject) => {
      const pending = { ...msg, resolve, reject };
      if (this.autoAck) {
        queueMicrotask(() => this.#settle(pending, null));
      } else {
        this.#pending.push(pending);
      }
    });
  }

  onConnectionChange(listener: (connected: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Acknowledges the `n` oldest pending publishes; returns how many there were. */
  ackNext(n = 1): number {
    const batch = this.#pending.splice(0, n);
    for (const p of batch) this.#settle(p, null);
    return batch.length;
  }

  /** Acknowledges every pending publish. */
  ackAll(): number {
    return this.ackNext(this.#pending.length);
  }

  /** Rejects the `n` oldest pending publishes, with the link still up. */
  failPending(n = 1): number {
    const batch = this.#pending.splice(0, n);
    for (const p of batch) this.#settle(p, new FakeLinkError(`Injected failure publishing to "${p.topic}"`));
    return batch.length;
  }

  /** Makes the next `n` publishes reject at once, with the link still up. */
  failNextPublishes(n: number): void {
    this.#failNext += n;
  }

  /** Drops the link: every pending publish rejects and listeners hear `false`. */
  disconnect(): void {
    if (!this.#connected) return;
    this.#connected = false;
    const batch = this.#pending.splice(0);
    for (const p of batch) this.#settle(p, new FakeLinkError("Fake link went down"));
    for (const l of this.#listeners) l(false);
  }

  /** Restores the link; listeners hear `true`. */
  reconnect(): void {
    if (this.#connected) return;
    this.#connected = true;
    for (const l of this.#listeners) l(true);
  }

  #settle(p: Pending, err: Error | null): void {
    if (err) {
      this.rejected++;
      p.reject(err);
    } else {
      this.delivered.push({ topic: p.topic, payload: p.payload, options: p.options });
      p.resolve();
    }
  }
}
