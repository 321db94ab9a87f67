/**
 * `/api/v1/alerts` and `/api/v1/messages`: alerts raised and messages published by modules, oldest first.
 *
 * @module
 */
import { Hono } from "hono";
import { queryCount } from "../_query.ts";
import type { Observability } from "../ports.ts";
import { alertJson, messageJson } from "../_json.ts";

/** Routes under `/api/v1/alerts`. `?after=N` returns only alerts with a sequence number above N. */
export function alertsRoutes(observability: Pick<Observability, "listAlerts">): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ alerts: observability.listAlerts(queryCount(c, "after", 0)).map(alertJson) }));
  return app;
}

/** Routes under `/api/v1/messages`: what modules published, `?after=SEQ`. */
export function messagesRoutes(observability: Pick<Observability, "listMessages">): Hono {
  const app = new Hono();
  app.get(
    "/",
    (c) => c.json({ messages: observability.listMessages(queryCount(c, "after", 0)).map(messageJson) }),
  );
  return app;
}
