/**
 * The stream's hub: producers publish frames into it by topic, and each WebSocket connection gets those its
 * subscriptions match, through a bounded queue (see `mod.ts` for the protocol and the drop rules).
 *
 * @module
 */
import { CONNECTING, Connection, FrameSender, OPEN } from "./_hub_connection.ts";
import { encodeFrameBody, type FrameBody, utf8Length } from "./_hub_frames.ts";
import { Pattern, patternProblem, STREAM_TOPIC_ROOTS } from "./_hub_topics.ts";
import type { StreamAuthenticate, StreamHubOptions, StreamPrincipal, StreamSocket } from "./_hub_types.ts";

export { STREAM_TOPIC_ROOTS } from "./_hub_topics.ts";
export type { StreamAuthenticate, StreamHubOptions, StreamPrincipal, StreamSocket } from "./_hub_types.ts";

/**
 * How long a connection may wait to be authenticated (its `auth` message, or the check of its header token)
 * before it is closed with 1008, ms. Short: such a connection has proved nothing yet.
 */
export const DEFAULT_AUTH_TIMEOUT_MS = 5_000;

/**
 * Connections waiting to be authenticated at once, by default. They are kept apart from the authenticated
 * ones, so sockets that never send a token cannot take a slot from a client that does: when one more
 * arrives, the oldest waiting one is closed (1013) to make room. A client that authenticates as soon as it
 * connects (the dashboard does) needs the slot for one round trip.
 */
export const DEFAULT_MAX_PENDING_CONNECTIONS = 32;

/** One connection's counters, from {@linkcode StreamHub.stats}. */
export interface StreamConnectionStats {
  id: number;
  /** `closing`: refused or shut down, waiting for the socket to close. */
  state: "authenticating" | "open" | "closing";
  /** The principal's role, or null when the hub has no authentication. */
  role: string | null;
  topics: string[];
  /** Frames (and their bytes) waiting in the queue now, and the most there ever were. */
  queued: number;
  queued_bytes: number;
  peak_queued: number;
  peak_queued_bytes: number;
  /** The socket's `bufferedAmount` now, and the most it was right after a send. */
  buffered_bytes: number;
  peak_buffered_bytes: number;
  /** Frames sent (control frames included), and frames dropped because the queue was full. */
  sent: number;
  dropped: number;
}

/** The hub's counters. */
export interface StreamStats {
  /** Events published, whether or not anyone was subscribed. */
  published: number;
  /** Connections authenticated (or, without an `authenticate` hook, open) now. */
  open: number;
  /** Connections waiting to be authenticated now. */
  pending: number;
  /** Waiting connections closed since start: to make room for newer ones, and for taking too long. */
  pending_evicted: number;
  auth_timeouts: number;
  connections: StreamConnectionStats[];
}

const ROUTE_CACHE_SIZE = 1024;
/** Client messages waiting to be handled, per connection. */
const MAX_INBOX = 64;

/**
 * Fans published events out to WebSocket subscribers, each with its own bounded queue.
 *
 * @throws {RangeError} from the constructor when a limit is not a positive integer.
 */
export class StreamHub implements AsyncDisposable {
  readonly limits: Readonly<Required<StreamHubOptions>>;
  #connections = new Set<Connection>();
  /** Connections waiting to be authenticated, oldest first (a `Set` iterates in insertion order). */
  #pending = new Set<Connection>();
  /** Connections authenticated, or open in a hub without authentication. */
  #open = new Set<Connection>();
  #pendingEvicted = 0;
  #authTimeouts = 0;
  #retained = new Map<string, FrameBody>();
  #routes = new Map<string, Connection[]>();
  readonly #sender: FrameSender;
  #published = 0;
  #nextId = 1;
  #disposed = false;

  constructor(options: StreamHubOptions = {}) {
    this.limits = {
      maxConnections: options.maxConnections ?? 128,
      maxPendingConnections: options.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS,
      maxQueuedFrames: options.maxQueuedFrames ?? 1024,
      maxQueuedBytes: options.maxQueuedBytes ?? 512 * 1024,
      maxBufferedBytes: options.maxBufferedBytes ?? 128 * 1024,
      maxSubscriptions: options.maxSubscriptions ?? 32,
      maxMessageBytes: options.maxMessageBytes ?? 8192,
      authTimeoutMs: options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS,
      drainIntervalMs: options.drainIntervalMs ?? 10,
    };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!Number.isInteger(v) || v <= 0) {
        throw new RangeError(`Stream option "${k}" must be a positive integer, got ${v}`);
      }
    }
    this.#sender = new FrameSender(this.limits);
  }

  /** Connections now: open, waiting to be authenticated, and closing (until their sockets close). */
  get size(): number {
    return this.#connections.size;
  }

  /** Connections authenticated (without an `authenticate` hook, open) now; `maxConnections` bounds them. */
  get open(): number {
    return this.#open.size;
  }

  /** Connections waiting to be authenticated now; `maxPendingConnections` bounds them. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Publishes `data` on `topic` to every matching subscriber. A retained topic's latest frame is also kept
   * and sent to each new subscriber (state such as outputs; not events such as alerts).
   *
   * @param options.at when it happened, milliseconds since the epoch. @default Date.now()
   * @returns how many connections it was queued for.
   * @throws {TypeError} when `data` cannot be serialized to JSON.
   */
  publish(topic: string, data: unknown, options: { retain?: boolean; at?: number } = {}): number {
    this.#published++;
    const subscribers = this.#route(topic);
    if (subscribers.length === 0 && !options.retain) return 0;
    const body = encodeFrameBody(topic, new Date(options.at ?? Date.now()).toISOString(), data);
    if (options.retain) this.#retained.set(topic, body);
    for (const c of subscribers) this.#sender.enqueue(c, body);
    return subscribers.length;
  }

  /** Whether any connection subscribes to `topic` now. */
  wants(topic: string): boolean {
    return this.#route(topic).length > 0;
  }

  /** Forgets a retained topic (its module is gone, or it is no longer kept up to date). */
  forget(topic: string): void {
    this.#retained.delete(topic);
  }

  /** Every connection's counters. */
  stats(): StreamStats {
    return {
      published: this.#published,
      open: this.#open.size,
      pending: this.#pending.size,
      pending_evicted: this.#pendingEvicted,
      auth_timeouts: this.#authTimeouts,
      connections: [...this.#connections].map((c) => ({
        id: c.id,
        state: c.state === "closed" ? "closing" : c.state,
        role: c.role,
        topics: c.patterns.map((p) => p.source),
        queued: c.queue.length,
        queued_bytes: c.queue.bytes,
        peak_queued: c.peakQueued,
        peak_queued_bytes: c.peakQueuedBytes,
        buffered_bytes: c.socket.bufferedAmount,
        peak_buffered_bytes: c.peakBuffered,
        sent: c.seq,
        dropped: c.dropped,
      })),
    };
  }

  /**
   * Takes over an upgraded socket. With `authenticate`, the connection is open once `token` (from the
   * `Authorization` header) or its first message `{"type":"auth"}` is accepted; a bad token, another first
   * message, or no token accepted within `authTimeoutMs` closes it with 1008 (policy violation). Until then
   * it counts against `maxPendingConnections`, not `maxConnections`: when it is one too many, the oldest
   * waiting connection is closed with 1013 (try again later). Once accepted, it is closed with 1013 if the
   * hub already has `maxConnections` open.
   *
   * @returns the connection's id, as in {@linkcode StreamHub.stats}.
   */
  attach(
    socket: StreamSocket,
    options: { authenticate?: StreamAuthenticate | undefined; token?: string | null } = {},
  ): number {
    const c = new Connection(this.#nextId++, socket, options.authenticate ?? null);
    if (this.#disposed) {
      this.#close(c, 1001, "Kiln is shutting down");
      return c.id;
    }
    this.#connections.add(c);
    socket.addEventListener("open", () => this.#sender.flush(c));
    socket.addEventListener("message", (e) => {
      // Only an `auth` waits on anything; a client that piles messages up behind it is cut off.
      if (++c.inboxDepth > MAX_INBOX) return this.#close(c, 1008, "Too many messages waiting");
      c.inbox = c.inbox.then(() => this.#receive(c, e.data)).finally(() => c.inboxDepth--);
    });
    // An `error` event is always followed by `close`, which is where the connection ends.
    socket.addEventListener("close", () => this.#remove(c));
    if (c.authenticate === null) {
      this.#welcome(c, null);
      return c.id;
    }
    this.#pending.add(c);
    if (this.#pending.size > this.limits.maxPendingConnections) {
      const oldest = this.#pending.values().next().value!;
      this.#pendingEvicted++;
      this.#close(
        oldest,
        1013,
        `Too many connections are waiting to authenticate (${this.limits.maxPendingConnections}); ` +
          "send the token right after connecting",
      );
    }
    // Also while a header token is checked: a hook that hangs must not keep the connection waiting forever.
    c.authTimer = setTimeout(() => {
      c.authTimer = null;
      this.#authTimeouts++;
      this.#close(c, 1008, `Authentication timed out after ${this.limits.authTimeoutMs}ms`);
    }, this.limits.authTimeoutMs);
    if (options.token !== undefined && options.token !== null) {
      const token = options.token;
      c.inbox = c.inbox.then(() => this.#authenticate(c, token));
    }
    return c.id;
  }

  /** Closes every connection (1001, going away) and stops the drain timer. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    for (const c of [...this.#connections]) {
      this.#close(c, 1001, "Kiln is shutting down");
      this.#remove(c);
    }
    return Promise.resolve();
  }

  #route(topic: string): Connection[] {
    let subscribers = this.#routes.get(topic);
    if (subscribers === undefined) {
      const segments = topic.split("/");
      subscribers = [...this.#connections].filter((c) => c.patterns.some((p) => p.matches(segments)));
      if (this.#routes.size >= ROUTE_CACHE_SIZE) this.#routes.clear();
      this.#routes.set(topic, subscribers);
    }
    return subscribers;
  }

  /** Queues a control frame, outside subscriptions. */
  #control(c: Connection, topic: string, data: unknown): void {
    this.#sender.enqueue(c, encodeFrameBody(topic, new Date().toISOString(), data));
  }

  #error(c: Connection, code: string, message: string): void {
    this.#control(c, "error", { code, message });
  }

  #welcome(c: Connection, role: string | null): void {
    this.#pending.delete(c);
    if (c.authTimer !== null) clearTimeout(c.authTimer);
    c.authTimer = null;
    if (this.#open.size >= this.limits.maxConnections) {
      return this.#close(
        c,
        1013,
        `The stream already has ${this.#open.size} connections, its limit (${this.limits.maxConnections})`,
      );
    }
    c.state = "open";
    c.role = role;
    this.#open.add(c);
    const l = this.limits;
    this.#control(c, "hello", {
      role,
      topics: STREAM_TOPIC_ROOTS,
      limits: {
        max_subscriptions: l.maxSubscriptions,
        max_message_bytes: l.maxMessageBytes,
        max_queued_frames: l.maxQueuedFrames,
        max_queued_bytes: l.maxQueuedBytes,
      },
    });
  }

  /** Checks `token`; the connection's deadline keeps running meanwhile (the hook may hang). */
  async #authenticate(c: Connection, token: string): Promise<void> {
    if (token === "") return this.#close(c, 1008, "Invalid token");
    let who: StreamPrincipal | null;
    try {
      who = await c.authenticate!(token);
    } catch (err) {
      // The token store failed: not the client's fault, and not a reason to let it in.
      console.error("Stream authentication failed:", err);
      this.#close(c, 1011, "Authentication is unavailable");
      return;
    }
    if (c.state === "closed") return;
    if (who === null) this.#close(c, 1008, "Invalid token");
    else this.#welcome(c, who.role);
  }

  async #receive(c: Connection, raw: unknown): Promise<void> {
    if (c.state === "closed") return;
    const pending = c.state === "authenticating";
    if (typeof raw !== "string") {
      if (pending) return this.#close(c, 1008, "Authentication required");
      return this.#error(c, "bad_message", "Messages must be JSON text, not binary");
    }
    const size = utf8Length(raw);
    if (size > this.limits.maxMessageBytes) {
      if (pending) return this.#close(c, 1008, "Authentication required");
      return this.#error(
        c,
        "message_too_large",
        `Message of ${size} bytes is over the limit of ${this.limits.maxMessageBytes} bytes`,
      );
    }
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      if (pending) return this.#close(c, 1008, "Authentication required");
      return this.#error(c, "bad_json", `Message is not valid JSON: ${(err as SyntaxError).message}`);
    }
    const type = isObject(msg) ? msg.type : undefined;
    if (pending && type !== "auth") {
      return this.#close(c, 1008, 'Authentication required: send {"type":"auth","token":...} first');
    }
    if (!isObject(msg) || typeof type !== "string") {
      return this.#error(c, "bad_message", 'A message must be a JSON object with a string "type"');
    }
    switch (type) {
      case "auth": {
        if (!pending) {
          return this.#error(c, "already_authenticated", "This connection is already authenticated");
        }
        const token = msg.token;
        if (typeof token !== "string") return this.#close(c, 1008, "Invalid token");
        return await this.#authenticate(c, token);
      }
      case "subscribe":
      case "unsubscribe":
        return this.#subscribe(c, type, msg.topics);
      default:
        return this.#error(
          c,
          "unknown_type",
          `Unknown message type ${
            JSON.stringify(type).slice(0, 64)
          }; expected auth, subscribe or unsubscribe`,
        );
    }
  }

  #subscribe(c: Connection, type: "subscribe" | "unsubscribe", topics: unknown): void {
    if (!Array.isArray(topics) || topics.length === 0 || !topics.every((t) => typeof t === "string")) {
      return this.#error(c, "bad_message", `"${type}" needs "topics": a non-empty array of strings`);
    }
    if (type === "unsubscribe") {
      c.patterns = c.patterns.filter((p) => !topics.includes(p.source));
    } else {
      const added: Pattern[] = [];
      for (const t of new Set(topics as string[])) {
        if (c.patterns.some((p) => p.source === t)) continue;
        const problem = patternProblem(t);
        if (problem !== null) return this.#error(c, "bad_topic", `Topic "${t.slice(0, 64)}" ${problem}`);
        added.push(new Pattern(t));
      }
      if (c.patterns.length + added.length > this.limits.maxSubscriptions) {
        return this.#error(
          c,
          "too_many_subscriptions",
          `At most ${this.limits.maxSubscriptions} topics per connection, asked for ${
            c.patterns.length + added.length
          }`,
        );
      }
      const before = c.patterns;
      c.patterns = [...before, ...added];
      this.#routes.clear();
      this.#control(c, "subscriptions", { topics: c.patterns.map((p) => p.source) });
      for (const [topic, body] of this.#retained) {
        const segments = topic.split("/");
        if (added.some((p) => p.matches(segments)) && !before.some((p) => p.matches(segments))) {
          this.#sender.enqueue(c, body);
        }
      }
      return;
    }
    this.#routes.clear();
    this.#control(c, "subscriptions", { topics: c.patterns.map((p) => p.source) });
  }

  /**
   * Closes `c` and stops counting it against either bound at once: a peer may never answer the close (Deno
   * keeps such a socket `CLOSING` until the peer or TCP ends it), and must not hold a slot meanwhile.
   */
  #close(c: Connection, code: number, reason: string): void {
    if (c.state === "closed") return;
    c.state = "closed";
    this.#pending.delete(c);
    this.#open.delete(c);
    c.patterns = [];
    this.#routes.clear();
    if (c.authTimer !== null) clearTimeout(c.authTimer);
    c.authTimer = null;
    // A socket cannot be closed before it is open; Deno opens it as soon as the 101 is sent.
    if (c.socket.readyState === CONNECTING) {
      c.socket.addEventListener("open", () => c.socket.close(code, reason));
    } else if (c.socket.readyState === OPEN) c.socket.close(code, reason);
  }

  #remove(c: Connection): void {
    if (!this.#connections.delete(c)) return;
    c.state = "closed";
    this.#pending.delete(c);
    this.#open.delete(c);
    if (c.authTimer !== null) clearTimeout(c.authTimer);
    c.authTimer = null;
    c.queue.clear();
    c.missed = 0;
    this.#routes.clear();
    this.#sender.forget(c);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
