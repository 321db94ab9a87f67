/**
 * `/api/v1/alerts` and `/api/v1/messages`: alerts raised and messages published by modules, oldest first.
 *
 * @module
 */
import { Hono } from "hono";
import { queryCount } from "../_query.ts";
import type { ApiDeps } from "../deps.ts";
import { alertJson, messageJson } from "../_json.ts";

/** Routes under `/api/v1/alerts`. `?after=N` returns only alerts with a sequence number above N. */
export function alertsRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ alerts: runtime.listAlerts(queryCount(c, "after", 0)).map(alertJson) }));
  return app;
}

/** Routes under `/api/v1/messages`: what modules published, `?after=SEQ`. */
export function messagesRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ messages: runtime.listMessages(queryCount(c, "after", 0)).map(messageJson) }));
  return app;
}
