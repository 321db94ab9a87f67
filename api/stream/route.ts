/**
 * The stream's route: upgrades `GET /api/v1/stream` to a WebSocket attached to the hub.
 *
 * @module
 */
import { Hono } from "hono";
import type { StreamAuthenticate, StreamHub } from "./hub.ts";

/** Options of {@linkcode createStreamRoute}. */
export interface StreamRouteOptions {
  hub: StreamHub;
  /** Checks tokens; without it the stream is open to anyone who can reach it. */
  authenticate?: StreamAuthenticate | undefined;
}

/**
 * The route to mount at `/api/v1/stream`: upgrades `GET` to a WebSocket served by `hub`. A request that is
 * not an upgrade gets 426; one while the hub has `maxConnections` authenticated connections gets 503
 * (connections still waiting for their token do not count: they have a bound of their own, see
 * {@linkcode StreamHub.attach}). The token comes from `Authorization: Bearer <token>` or the first message
 * `{"type":"auth","token":"..."}`.
 */
export function createStreamRoute({ hub, authenticate }: StreamRouteOptions): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json(
        { error: "upgrade_required", detail: "This is a WebSocket endpoint: connect with ws://" },
        426,
      );
    }
    if (hub.open >= hub.limits.maxConnections) {
      return c.json({
        error: "too_many_connections",
        detail: `The stream already has ${hub.open} connections, its limit`,
      }, 503);
    }
    const header = c.req.header("authorization");
    // A header that is not `Bearer <token>` is a bad token, not an absent one.
    const token = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? "";
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw);
    } catch (err) {
      return c.json({
        error: "bad_request",
        detail: `Cannot upgrade to a WebSocket: ${(err as Error).message}`,
      }, 400);
    }
    hub.attach(upgraded.socket, { authenticate, token });
    return upgraded.response;
  });
  return app;
}
