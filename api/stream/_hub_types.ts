/**
 * The types a stream hub's connections share with the hub (`hub.ts`): the socket, the token check and the
 * hub's limits. Apart from `hub.ts` so that `_hub_connection.ts` can name them without importing the hub
 * that imports it; `hub.ts` re-exports them.
 *
 * @module
 */

/** Who a token belongs to; `name` is optional so any principal type with a `role` fits. */
export interface StreamPrincipal {
  role: string;
  name?: string;
}

/** Checks a bearer token: a principal, or null for an unknown or revoked token. May be async. */
export type StreamAuthenticate = (
  token: string,
) => StreamPrincipal | null | Promise<StreamPrincipal | null>;

/** Limits of a `StreamHub` (`hub.ts`). */
export interface StreamHubOptions {
  /**
   * Authenticated connections at once (with no `authenticate` hook, every connection); past it the route
   * answers 503, and a connection authenticated meanwhile is closed with 1013. @default 128
   */
  maxConnections?: number;
  /**
   * Connections waiting to be authenticated at once; one more closes the oldest waiting one with 1013.
   * @default {DEFAULT_MAX_PENDING_CONNECTIONS} (32, `hub.ts`)
   */
  maxPendingConnections?: number;
  /** Frames queued per connection while its socket is busy; then the oldest are dropped. @default 1024 */
  maxQueuedFrames?: number;
  /** Bytes of frames queued per connection (UTF-8 JSON). @default 524288 */
  maxQueuedBytes?: number;
  /** Frames are handed to a socket only while its `bufferedAmount` is below this. @default 131072 */
  maxBufferedBytes?: number;
  /** Topic patterns per connection. @default 32 */
  maxSubscriptions?: number;
  /** Size of a client message, UTF-8 bytes. @default 8192 */
  maxMessageBytes?: number;
  /**
   * How long a connection has to be authenticated (its `auth` message sent, or its header token checked)
   * before it is closed with 1008, ms. @default {DEFAULT_AUTH_TIMEOUT_MS} (5000, `hub.ts`)
   */
  authTimeoutMs?: number;
  /** How often busy sockets are checked for room while frames wait. @default 10 */
  drainIntervalMs?: number;
}

/** The subset of `WebSocket` the hub uses. */
export type StreamSocket = Pick<
  WebSocket,
  "bufferedAmount" | "readyState" | "send" | "close" | "addEventListener"
>;
