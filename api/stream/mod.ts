/**
 * Live telemetry over WebSocket, `GET /api/v1/stream`: a {@linkcode StreamHub} that producers publish into
 * and subscribers (sockets) read from through topic filters, a {@linkcode StreamFeed} that subscribes to the
 * runtime's telemetry and publishes each event as it happens (every output a module sets, one frame per
 * handler call), and {@linkcode createStreamRoute}, the upgrade route.
 *
 * A slow subscriber never slows the runtime nor grows the process: `WebSocket.send` in Deno buffers without
 * limit, so the hub sends to a socket only while its `bufferedAmount` is under `maxBufferedBytes` and keeps
 * the rest in that connection's bounded queue, dropping the oldest frames when it is full. Dropped frames are
 * counted for that connection only, and it is sent a `dropped` frame saying how many it missed before the
 * next frame it does receive. Per connection, memory is bounded by `maxBufferedBytes` plus one frame, plus
 * `maxQueuedBytes` (frame texts are shared between connections, so that is an upper bound).
 *
 * Frames (server to client), one JSON text message each:
 * `{ "seq": n, "topic": "outputs/fft", "at": "2025-01-01T00:00:00.000Z", "data": ... }`. `seq` counts the
 * frames sent on that connection from 1 without gaps; `at` is when the event happened (or was published).
 * Control frames use the same shape with the topics `hello`, `subscriptions`, `error` and `dropped`, and
 * are sent whatever the subscriptions.
 *
 * Messages (client to server): `{ "type": "auth", "token": "..." }`,
 * `{ "type": "subscribe", "topics": ["alerts", "outputs/*"] }`, `{ "type": "unsubscribe", "topics": [...] }`.
 * A bad message is answered with an `error` frame `{ "code", "message" }` and the connection goes on; on a
 * connection still waiting for its token, anything but `auth` closes it with 1008.
 *
 * Slots: `maxConnections` (128) bounds the authenticated connections, and only they are refused with 503.
 * A connection that has not been authenticated yet holds no such slot: it has `authTimeoutMs`
 * ({@linkcode DEFAULT_AUTH_TIMEOUT_MS}, 5 s) to send an accepted token, or it is closed with 1008
 * "Authentication timed out", and at most `maxPendingConnections`
 * ({@linkcode DEFAULT_MAX_PENDING_CONNECTIONS}, 32) wait at once: one more closes the oldest waiting one
 * with 1013 (try again later). So sockets that never send a token cannot lock out a client that does; a
 * connection closed for any reason stops counting at once, even while its peer delays the closing handshake.
 *
 * Module text in frames (log lines, alerts) has its control, bidi and line-separator characters `\u`-escaped
 * (`safeJsonStringify` in `log_text.ts`); it parses back to the exact text, which a client still shows as
 * text (the dashboard escapes it visibly).
 *
 * @example
 * ```ts ignore
 * await using hub = new StreamHub();
 * await using feed = new StreamFeed(apiPorts(runtime), hub);
 * feed.start();
 * app.route("/api/v1/stream", createStreamRoute({ hub, authenticate: (t) => auth.verify(t) }));
 * ```
 *
 * @module
 */
export {
  DEFAULT_AUTH_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_CONNECTIONS,
  STREAM_TOPIC_ROOTS,
  type StreamAuthenticate,
  type StreamConnectionStats,
  StreamHub,
  type StreamHubOptions,
  type StreamPrincipal,
  type StreamSocket,
  type StreamStats,
} from "./hub.ts";
export { StreamFeed, type StreamFeedSource } from "./feed.ts";
export { createStreamRoute, type StreamRouteOptions } from "./route.ts";
