/**
 * One connection of the hub and the way out to its socket: each connection's bounded queue of frames, and
 * the backpressure that hands them to the socket only while its `bufferedAmount` is under
 * `maxBufferedBytes` (a timer retries the busy ones). A full queue drops its oldest frames, and the
 * connection is told how many it missed in a `dropped` frame before the next one it receives (see `mod.ts`).
 *
 * @module
 */
import type { StreamAuthenticate, StreamHubOptions, StreamSocket } from "./_hub_types.ts";
import { encodeFrameBody, type FrameBody, frameText } from "./_hub_frames.ts";
import type { Pattern } from "./_hub_topics.ts";

/** `WebSocket.readyState` of a socket not open yet. */
export const CONNECTING = 0;
/** `WebSocket.readyState` of an open socket. */
export const OPEN = 1;

/** One subscriber. */
export class Connection {
  /** Where it is: waiting for its token, open, or refused or shut down (`closed`). */
  state: "authenticating" | "open" | "closed" = "authenticating";
  /** The principal's role, or null when the hub has no authentication (or before it is authenticated). */
  role: string | null = null;
  /** Its subscriptions. */
  patterns: Pattern[] = [];
  /** Frames waiting for room in the socket. */
  queue = new FrameQueue();
  /** Frames sent, which is also the last `seq`. */
  seq = 0;
  /** Frames dropped because the queue was full, in all. */
  dropped = 0;
  /** Dropped since the last `dropped` frame. */
  missed = 0;
  /** The most frames, and bytes of frames, ever queued. */
  peakQueued = 0;
  peakQueuedBytes = 0;
  /** The most `bufferedAmount` was right after a send. */
  peakBuffered = 0;
  /** Ends a wait for the `auth` message. */
  authTimer: ReturnType<typeof setTimeout> | null = null;
  /** Messages are handled one after another (an `auth` may be awaited while a `subscribe` follows it). */
  inbox: Promise<void> = Promise.resolve();
  /** Messages received and not yet handled. */
  inboxDepth = 0;
  constructor(
    readonly id: number,
    readonly socket: StreamSocket,
    readonly authenticate: StreamAuthenticate | null,
  ) {}

  /** Counts `n` frames dropped, for the total and the next `dropped` frame. */
  drop(n: number): void {
    this.dropped += n;
    this.missed += n;
  }
}

/** A FIFO of frame bodies that counts its bytes; shifting is O(1). */
class FrameQueue {
  #items: (FrameBody | undefined)[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(body: FrameBody): void {
    this.#items.push(body);
    this.bytes += body.bytes;
  }

  shift(): FrameBody | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const body = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    this.bytes -= body!.bytes;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return body;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.bytes = 0;
  }
}

/**
 * Queues frames per connection and sends them as their sockets have room; keeps the connections with frames
 * left over (the backlogged) and the drain timer that retries them every `drainIntervalMs`.
 */
export class FrameSender {
  readonly #limits: Readonly<Required<StreamHubOptions>>;
  #backlogged = new Set<Connection>();
  #drainTimer: ReturnType<typeof setInterval> | null = null;

  constructor(limits: Readonly<Required<StreamHubOptions>>) {
    this.#limits = limits;
  }

  /**
   * Queues `body` for `c`, first dropping its oldest frames while the queue is over `maxQueuedFrames` or
   * `maxQueuedBytes` with it (a body larger than `maxQueuedBytes` alone is dropped itself); then sends.
   */
  enqueue(c: Connection, body: FrameBody): void {
    const { maxQueuedFrames, maxQueuedBytes } = this.#limits;
    if (body.bytes > maxQueuedBytes) {
      c.drop(1);
    } else {
      while (c.queue.length >= maxQueuedFrames || c.queue.bytes + body.bytes > maxQueuedBytes) {
        c.queue.shift();
        c.drop(1);
      }
      c.queue.push(body);
      c.peakQueued = Math.max(c.peakQueued, c.queue.length);
      c.peakQueuedBytes = Math.max(c.peakQueuedBytes, c.queue.bytes);
    }
    this.flush(c);
  }

  /** Sends what fits under `maxBufferedBytes`; what is left waits for the drain timer. */
  flush(c: Connection): void {
    const s = c.socket;
    while (
      (c.queue.length > 0 || c.missed > 0) && s.readyState === OPEN &&
      s.bufferedAmount < this.#limits.maxBufferedBytes
    ) {
      if (c.missed > 0) {
        const { text } = encodeFrameBody("dropped", new Date().toISOString(), {
          missed: c.missed,
          dropped_total: c.dropped,
        });
        c.missed = 0;
        s.send(frameText(++c.seq, text));
      } else {
        s.send(frameText(++c.seq, c.queue.shift()!.text));
      }
      c.peakBuffered = Math.max(c.peakBuffered, s.bufferedAmount);
    }
    if ((c.queue.length > 0 || c.missed > 0) && c.state !== "closed") {
      this.#backlogged.add(c);
      this.#drainTimer ??= setInterval(() => this.#drain(), this.#limits.drainIntervalMs);
    } else {
      this.#backlogged.delete(c);
    }
  }

  /** Stops sending to a connection that is gone; the drain timer stops when no connection is left waiting. */
  forget(c: Connection): void {
    this.#backlogged.delete(c);
    if (this.#backlogged.size === 0) this.#stopDrain();
  }

  #drain(): void {
    for (const c of [...this.#backlogged]) this.flush(c);
    if (this.#backlogged.size === 0) this.#stopDrain();
  }

  #stopDrain(): void {
    if (this.#drainTimer !== null) clearInterval(this.#drainTimer);
    this.#drainTimer = null;
  }
}
