/**
 * The gateway itself, for the dashboard: `GET /api/v1/gateway`, its own figures (version, uptime, memory, CPU
 * share, load average, modules, outbox, connectors; the stream's `gateway` topic carries the same object),
 * and `GET /api/v1/me`, who the caller's token is and what it may do, computed from the roles of the real
 * routes (`api/auth.ts`), so a client never guesses which controls to offer.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { type Role, roleAllows } from "../../snapshots/mod.ts";
import type { ProcessFigures } from "../../runtime/history/mod.ts";
import { type Principal, roleFor } from "../auth.ts";
import type { Json } from "../_json.ts";
import type { Observability } from "../ports.ts";

/** What {@linkcode gatewayJson} reads. */
export type GatewaySource = Pick<Observability, "health" | "listConnectors" | "uplink" | "processFigures">;

/**
 * The gateway's figures as JSON: `version`, `uptime_s`, `rss_bytes`, `heap_used_bytes`, `cpu_percent` (this
 * process, every thread, over the last ~5 s, percent of one core; null until known), `load_avg` ([1, 5, 15]
 * minutes; null where the process may not read it: `kiln run`'s sandbox does not grant `--allow-sys=loadavg`),
 * `modules` (`running`, `total`), `outbox` (`depth`, `bytes`, `oldest_age_s`, null while empty; the whole
 * object null without an MQTT uplink) and `connectors` (`ok`: connected, `total`).
 */
export function gatewayJson(source: GatewaySource): Json {
  const health = source.health();
  const p = processFigures(source);
  const outbox = source.uplink?.outboxStats() ?? null;
  const connectors = source.listConnectors();
  return {
    version: health.version,
    uptime_s: health.uptime_s,
    rss_bytes: p.rssBytes,
    heap_used_bytes: p.heapUsedBytes,
    cpu_percent: p.cpuPercent,
    load_avg: p.loadAvg,
    modules: {
      running: health.modules.running,
      total: Object.values(health.modules).reduce((a, b) => a + b, 0),
    },
    outbox: outbox === null ? null : {
      depth: outbox.depth,
      bytes: outbox.sizeBytes,
      oldest_age_s: outbox.oldestAgeMs === null ? null : Math.round(outbox.oldestAgeMs / 100) / 10,
    },
    connectors: {
      ok: connectors.filter((c) => c.state === "connected").length,
      total: connectors.length,
    },
  };
}

/** The runtime's process figures, or the memory alone when the port has none (`/metrics` reads them too). */
export function processFigures(source: Pick<Observability, "processFigures">): ProcessFigures {
  if (source.processFigures) return source.processFigures();
  const memory = Deno.memoryUsage();
  return { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, cpuPercent: null, loadAvg: null };
}

/**
 * The actions `GET /api/v1/me` answers for, each as one real request whose role `roleFor` decides: `control`
 * (start or stop a module), `deploy` (`POST /api/v1/modules`), `ack` (acknowledge an alert), `gpio` (set a
 * simulated pin), `shadow` (promote a shadow candidate).
 */
export const ME_ACTIONS: Readonly<Record<string, readonly [method: string, path: string]>> = {
  control: ["POST", "/api/v1/modules/m/start"],
  deploy: ["POST", "/api/v1/modules"],
  ack: ["POST", "/api/v1/alerts/1/ack"],
  gpio: ["POST", "/api/v1/sim/gpio/0"],
  shadow: ["POST", "/api/v1/modules/m/shadow/promote"],
};

/** The role each of {@linkcode ME_ACTIONS} needs, by `roleFor` (null: none). */
export function needsJson(): Record<string, Role | null> {
  const needs: Record<string, Role | null> = {};
  for (const [action, [method, path]] of Object.entries(ME_ACTIONS)) needs[action] = roleFor(method, path);
  return needs;
}

/** What `role` may do of {@linkcode ME_ACTIONS}, by the roles the routes need. */
export function canJson(role: Role): Record<string, boolean> {
  const can: Record<string, boolean> = {};
  for (const [action, needed] of Object.entries(needsJson())) {
    can[action] = needed === null || roleAllows(role, needed);
  }
  return can;
}

/**
 * `GET /api/v1/gateway` (viewer) and `GET /api/v1/me` (any valid token): `{ name, role, can, needs }`, `can`
 * per action whether the token's role may, `needs` the role it takes (for a disabled control's tooltip).
 * Without authentication (an API served open, in-process tests) every request may do everything: `/me`
 * answers the name `api` (as actions are recorded then) with the role `admin`.
 */
export function gatewayRoutes(source: GatewaySource): Hono {
  const app = new Hono();
  app.get("/gateway", (c) => c.json(gatewayJson(source)));
  app.get("/me", (c: Context) => {
    const who = c.get("principal" as never) as Principal | undefined;
    const name = who?.name ?? "api";
    const role: Role = who?.role ?? "admin";
    return c.json({ name, role, can: canJson(role), needs: needsJson() });
  });
  return app;
}
