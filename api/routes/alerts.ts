/**
 * `/api/v1/alerts` and `/api/v1/messages`: alerts raised and messages published by modules, oldest first.
 *
 * @module
 */
import { Hono } from "hono";
import { BadRequestError } from "../errors.ts";
import type { ApiDeps } from "../deps.ts";

/** Routes under `/api/v1/alerts`. `?after=N` returns only alerts with a sequence number above N. */
export function alertsRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const raw = c.req.query("after") ?? "0";
    const after = Number(raw);
    if (!Number.isInteger(after) || after < 0) {
      throw new BadRequestError(`Query parameter "after" must be a non-negative integer, got "${raw}"`);
    }
    return c.json({ alerts: runtime.listAlerts(after) });
  });
  return app;
}

/** Routes under `/api/v1/messages`: what modules published, `?after=SEQ`. */
export function messagesRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const raw = c.req.query("after") ?? "0";
    const after = Number(raw);
    if (!Number.isInteger(after) || after < 0) {
      throw new BadRequestError(`Query parameter "after" must be a non-negative integer, got "${raw}"`);
    }
    return c.json({ messages: runtime.listMessages(after) });
  });
  return app;
}
