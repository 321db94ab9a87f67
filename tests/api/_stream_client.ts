/**
 * What the stream's tests share: a real server with the stream route, a WebSocket client that records its
 * frames and waits for one, a socket that records what the hub sends it, and checks of the frames.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createStreamRoute, type StreamAuthenticate, StreamHub } from "../../api/stream/mod.ts";

export interface Frame {
  seq: number;
  topic: string;
  at: string;
  // deno-lint-ignore no-explicit-any
  data: any;
}

/** A real server on a free port with the stream route mounted where the API mounts it. */
export function serve(hub: StreamHub, authenticate?: StreamAuthenticate) {
  const app = new Hono();
  app.route("/api/v1/stream", createStreamRoute({ hub, authenticate }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return {
    app,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/api/v1/stream`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A WebSocket client that records every frame and can wait for one. */
export class Client implements AsyncDisposable {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<CloseEvent>;
  #listeners = new Set<() => void>();

  constructor(url: string, headers?: Record<string, string>) {
    this.ws = headers ? new WebSocket(url, { headers }) : new WebSocket(url);
    this.closed = new Promise((resolve) => this.ws.addEventListener("close", resolve));
    this.ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data));
      for (const l of this.#listeners) l();
    });
    this.ws.addEventListener("close", () => {
      for (const l of this.#listeners) l();
    });
  }

  static async open(url: string, headers?: Record<string, string>): Promise<Client> {
    const c = new Client(url, headers);
    await new Promise((resolve, reject) => {
      c.ws.addEventListener("open", resolve);
      c.ws.addEventListener("error", reject);
    });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  of(topic: string): Frame[] {
    return this.frames.filter((f) => f.topic === topic);
  }

  /** Resolves when `check` holds over the frames received, checked after each one. */
  until<T>(what: string, check: (frames: Frame[]) => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#listeners.delete(test);
        clearTimeout(timer);
      };
      const test = () => {
        const v = check(this.frames);
        if (v) {
          done();
          resolve(v as NonNullable<T>);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`The socket closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      this.#listeners.add(test);
      test();
    });
  }

  /** Subscribes and waits for the acknowledgement. */
  async subscribe(...topics: string[]): Promise<void> {
    const acks = this.of("subscriptions").length;
    this.send({ type: "subscribe", topics });
    await this.until(`subscription to ${topics}`, () => this.of("subscriptions").length > acks);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

export function assertSeqFromOne(frames: Frame[]): void {
  assert.deepEqual(
    frames.map((f) => f.seq),
    frames.map((_, i) => i + 1),
    "seq counts frames from 1, gapless",
  );
}

/** The hub's counters for connection `id`. */
export function statsOf(hub: StreamHub, id: number) {
  const s = hub.stats().connections.find((c) => c.id === id);
  assert.ok(s, `connection ${id} is in the stats`);
  return s;
}

/** A socket that records what is sent on it, always writable. */
export class RecordingSocket {
  readonly frames: Frame[] = [];
  readonly readyState = WebSocket.OPEN;
  readonly bufferedAmount = 0;
  #listeners = new Map<string, ((e: unknown) => void)[]>();
  send(text: string): void {
    this.frames.push(JSON.parse(text));
  }
  close(): void {}
  addEventListener(type: string, fn: (e: unknown) => void): void {
    this.#listeners.set(type, [...this.#listeners.get(type) ?? [], fn]);
  }
  /** Delivers a client message and lets the hub handle it. */
  async receive(msg: unknown): Promise<void> {
    for (const fn of this.#listeners.get("message") ?? []) fn({ data: JSON.stringify(msg) });
    await new Promise((r) => setTimeout(r, 0));
  }
  /** Frames after the first `n`, as `[topic, data]`. */
  since(n: number): [string, unknown][] {
    return this.frames.slice(n).map((f) => [f.topic, f.data]);
  }
}
