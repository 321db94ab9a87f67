/**
 * Following a running gateway's live stream (`GET /api/v1/stream`, a WebSocket) for the CLI's `-f` options:
 * the token as the first message, the subscriptions, each frame handed on in order, a bounded number of
 * reconnects, and a clean stop on SIGINT or SIGTERM (Ctrl-C).
 *
 * @module
 */
import { ApiRequestError, apiUrl } from "./_api_client.ts";

/** A frame of the stream: `{ seq, topic, at, data }` (`api/stream/mod.ts`). */
export interface StreamFrame {
  seq: number;
  topic: string;
  at: string;
  data: unknown;
}

/** Options of {@linkcode followStream}. */
export interface FollowOptions {
  token: string | null;
  /** The subscriptions, e.g. `["logs/fft"]`. */
  topics: string[];
  /**
   * Called once the subscriptions are in place, on the first connection and after each reconnect, before any
   * frame of that connection is handed on: the place to print what the REST API has (history, or what was
   * missed while the stream was down).
   */
  onConnected: () => Promise<void>;
  /** Each subscribed frame, in order. */
  onFrame: (frame: StreamFrame) => void;
  /** Reconnects in a row (without a frame between them) before giving up. @default 5 */
  maxReconnects?: number;
  /** The wait before reconnect n is n times this, ms. @default 1000 */
  reconnectDelayMs?: number;
  /** Stops following, as SIGINT does. */
  signal?: AbortSignal;
}

/**
 * Follows `topics` of the gateway at `base` until SIGINT, SIGTERM or `signal` stops it (then it resolves).
 *
 * @throws {ApiRequestError} when the gateway refuses the token (close code 1008) or a subscription, or when
 *   it cannot be reached `maxReconnects` times in a row (status null: exit code 3).
 */
export async function followStream(base: string, options: FollowOptions): Promise<void> {
  const url = apiUrl(base, "/api/v1/stream");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  options.signal?.addEventListener("abort", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const max = options.maxReconnects ?? 5;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      const outcome = await connectOnce(url, options, stop.signal);
      if (outcome.kind === "stopped") return;
      if (outcome.kind === "refused") throw outcome.error;
      failures = outcome.framed ? 1 : failures + 1;
      if (failures > max) {
        throw new ApiRequestError(
          `Cannot follow the stream at ${url.origin}: lost ${max + 1} times in a row (${outcome.why})`,
          null,
          null,
        );
      }
      await delay(failures * (options.reconnectDelayMs ?? 1000), stop.signal);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    options.signal?.removeEventListener("abort", onSignal);
  }
}

type Outcome =
  | { kind: "stopped" }
  | { kind: "refused"; error: ApiRequestError }
  | { kind: "lost"; framed: boolean; why: string };

/** One connection: resolves when it closes, or when `signal` stops it (closing it). */
function connectOnce(url: URL, options: FollowOptions, signal: AbortSignal): Promise<Outcome> {
  const { promise, resolve } = Promise.withResolvers<Outcome>();
  let ws: WebSocket;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    return Promise.resolve({ kind: "lost", framed: false, why: (err as Error).message });
  }
  let framed = false;
  let ready = false;
  let refused: ApiRequestError | null = null;
  const held: StreamFrame[] = [];
  const onAbort = () => ws.close(1000, "stopped");
  signal.addEventListener("abort", onAbort, { once: true });
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "auth", token: options.token ?? "" }));
    ws.send(JSON.stringify({ type: "subscribe", topics: options.topics }));
  };
  ws.onmessage = (e) => {
    let frame: StreamFrame;
    try {
      frame = JSON.parse(String(e.data)) as StreamFrame;
    } catch {
      return; // not a frame: the gateway sends only frames
    }
    if (frame.topic === "hello" || frame.topic === "dropped") return;
    if (frame.topic === "error") {
      const d = frame.data as { code?: string; message?: string };
      refused = new ApiRequestError(
        `The stream refused the subscription: ${d.message} (${d.code})`,
        400,
        d.code ?? null,
      );
      ws.close(1000, "refused");
      return;
    }
    if (frame.topic === "subscriptions") {
      if (ready) return;
      // The REST API's part first, then what the stream held meanwhile.
      options.onConnected().then(() => {
        ready = true;
        for (const f of held.splice(0)) options.onFrame(f);
      }, (err) => {
        refused = err instanceof ApiRequestError ? err : new ApiRequestError(String(err), 0, null);
        ws.close(1000, "refused");
      });
      return;
    }
    framed = true;
    if (ready) options.onFrame(frame);
    else held.push(frame);
  };
  ws.onclose = (e) => {
    signal.removeEventListener("abort", onAbort);
    if (refused) return resolve({ kind: "refused", error: refused });
    if (signal.aborted) return resolve({ kind: "stopped" });
    if (e.code === 1008) {
      return resolve({
        kind: "refused",
        error: new ApiRequestError(
          `The stream at ${url.origin} refused the token: ${e.reason || "unauthorized"}`,
          401,
          "unauthorized",
        ),
      });
    }
    resolve({ kind: "lost", framed, why: e.reason || `closed with code ${e.code}` });
  };
  ws.onerror = () => {/* onclose follows and says what happened */};
  return promise;
}

/** Waits `ms`, or less when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
