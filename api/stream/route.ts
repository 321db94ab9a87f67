/**
 * The stream's route: upgrades `GET /api/v1/stream` to a WebSocket attached to the hub.
 *
 * @module
 */
import { Hono } from "hono";
import { BadRequestError, handleError, TooManyConnectionsError, UpgradeRequiredError } from "../errors.ts";
import type { StreamAuthenticate, StreamHub } from "./hub.ts";

/** Options of {@linkcode createStreamRoute}. */
export interface StreamRouteOptions {
  hub: StreamHub;
  /** Checks tokens; without it the stream is open to anyone who can reach it. */
  authenticate?: StreamAuthenticate | undefined;
}

/**
 * The route to mount at `/api/v1/stream`: upgrades `GET` to a WebSocket served by `hub`. A request that is
 * not an upgrade gets 426 `upgrade_required`; one while the hub has `maxConnections` authenticated
 * connections gets 503 `too_many_connections` (both with the API's error body, wherever it is mounted)
 * (connections still waiting for their token do not count: they have a bound of their own, see
 * {@linkcode StreamHub.attach}). The token comes from `Authorization: Bearer <token>` or the first message
 * `{"type":"auth","token":"..."}`.
 */
export function createStreamRoute({ hub, authenticate }: StreamRouteOptions): Hono {
  const app = new Hono();
  app.onError(handleError); // its own, so that its refusals have the API's body in any app
  app.get("/", (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new UpgradeRequiredError("This is a WebSocket endpoint: connect with ws:// (or wss://)");
    }
    if (hub.open >= hub.limits.maxConnections) throw new TooManyConnectionsError(hub.open);
    const header = c.req.header("authorization");
    // A header that is not `Bearer <token>` is a bad token, not an absent one.
    const token = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? "";
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw);
    } catch (err) {
      throw new BadRequestError(`Cannot upgrade to a WebSocket: ${(err as Error).message}`, { cause: err });
    }
    hub.attach(upgraded.socket, { authenticate, token });
    return upgraded.response;
  });
  return app;
}
