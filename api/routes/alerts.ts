/**
 * `/api/v1/alerts` and `/api/v1/messages`: alerts raised by modules and by the runtime (a crash, a failure, a
 * rollback), kept in the store across restarts and acknowledged by operators, and messages published by
 * modules, oldest first.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { AlertQuery } from "../../snapshots/mod.ts";
import { queryCount } from "../_query.ts";
import type { ListedAlert, Observability } from "../ports.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { isoTime, type Json, messageJson } from "../_json.ts";
import { actorOf } from "./deployments.ts";

export type { ListedAlert };

/**
 * What the alert routes read and do. `ackAlert` is the runtime's (`Runtime.ackAlert`): without it (a port
 * that only lists), `POST /:seq/ack` answers 404 `alert_ack_unavailable`.
 */
export interface AlertsPort {
  listAlerts(after?: number): ListedAlert[];
  /** The alerts `query` selects, oldest first (in SQL with a store); without it, `listAlerts` is filtered here. */
  queryAlerts?(query: AlertQuery): ListedAlert[];
  /** Acknowledges alert `seq` as `by` (idempotent); the alert, or null when there is none. */
  ackAlert?(seq: number, by: string): ListedAlert | null;
}

/**
 * An alert on the wire (`GET /api/v1/alerts`, the stream's `alerts`): `at` and `acked_at` as RFC 3339 UTC,
 * `at_ms` since the epoch, `source` `module` or `runtime`, `acked_at`/`acked_by` null while unacknowledged.
 */
export function keptAlertJson(a: ListedAlert): Json {
  const ackedAtMs = a.ackedAtMs ?? null;
  return {
    seq: a.seq,
    module: a.module,
    severity: a.severity,
    message: a.message,
    at: isoTime(a.at),
    at_ms: a.at,
    source: a.source ?? "module",
    acked_at: ackedAtMs === null ? null : isoTime(ackedAtMs),
    acked_by: a.ackedBy ?? null,
  };
}

const SEVERITIES: readonly string[] = ["warning", "critical"];

/**
 * Routes under `/api/v1/alerts`: `GET /` with `?after=N` (only alerts numbered above N), `module`, `severity`
 * (`warning`, `critical`) and `acked` (`true`, `false`); `POST /:seq/ack` acknowledges one (operator or
 * admin, by `api/auth.ts`), idempotently: audited once, pushed to every stream client as an `alert_ack`.
 *
 * @throws {BadRequestError} for a bad query parameter or sequence number.
 * @throws {NotFoundError} `alert_not_found` for an unknown sequence number.
 */
export function alertsRoutes(port: AlertsPort): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const after = queryCount(c, "after", 0);
    const module = c.req.query("module");
    const severity = c.req.query("severity");
    if (severity !== undefined && !SEVERITIES.includes(severity)) {
      throw new BadRequestError(`Query parameter "severity" must be warning or critical, got "${severity}"`);
    }
    const acked = booleanQuery(c, "acked");
    const query: AlertQuery = {
      after,
      ...(module !== undefined && { module }),
      ...(severity !== undefined && { severity: severity as "warning" | "critical" }),
      ...(acked !== undefined && { acked }),
    };
    const alerts = port.queryAlerts
      ? port.queryAlerts(query)
      : port.listAlerts(after).filter((a) =>
        (module === undefined || a.module === module) &&
        (severity === undefined || a.severity === severity) &&
        (acked === undefined || (a.ackedAtMs != null) === acked)
      );
    return c.json({ alerts: alerts.map(keptAlertJson) });
  });
  app.post("/:seq/ack", (c) => {
    const raw = c.req.param("seq");
    const seq = Number(raw);
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(seq) || seq < 1) {
      throw new BadRequestError(`The alert's sequence number must be a positive integer, got "${raw}"`);
    }
    if (!port.ackAlert) {
      throw new NotFoundError("alert_ack_unavailable", "This runtime does not acknowledge alerts");
    }
    const alert = port.ackAlert(seq, actorOf(c));
    if (alert === null) {
      throw new NotFoundError(
        "alert_not_found",
        `No alert #${seq}: it was never raised, or is past the kept ones`,
      );
    }
    return c.json({ alert: keptAlertJson(alert) });
  });
  return app;
}

/** Query parameter `name` as a boolean (`true`/`false`), undefined when absent. */
function booleanQuery(c: Context, name: string): boolean | undefined {
  const raw = c.req.query(name);
  if (raw === undefined) return undefined;
  if (raw === "true" || raw === "false") return raw === "true";
  throw new BadRequestError(`Query parameter "${name}" must be true or false, got "${raw}"`);
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
