/**
 * The control plane: Kiln's HTTP API on Hono. `createApp` builds the app from its dependencies; serving it
 * (`Deno.serve`) is the caller's job, so tests call `app.request()` in process.
 *
 * @example
 * ```ts ignore
 * const app = createApp(apiPorts(runtime));
 * const res = await app.request("/api/v1/modules");
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MAX_MODULE_BYTES } from "../runtime/mod.ts";
import { errorResponse, handleError, NotFoundError, PayloadTooLargeError } from "./errors.ts";
import { connectorJson, executorJson, policyLimitsJson, uplinkJson } from "./_json.ts";
import { authMiddleware } from "./auth.ts";
import { metricsRoute, type MetricsSource } from "./metrics.ts";
import { createStreamRoute } from "./stream/mod.ts";
import { openApiDocument } from "./openapi.ts";
import { createUiRoutes } from "./ui/mod.ts";
import type { ApiDeps } from "./ports.ts";
import { alertsRoutes, messagesRoutes } from "./routes/alerts.ts";
import { auditRoutes } from "./routes/audit.ts";
import { deploymentsRoutes, versionsRoutes } from "./routes/deployments.ts";
import { moduleList, modulesRoutes } from "./routes/modules.ts";
import { simRoutes } from "./routes/sim.ts";
import { snapshotsRoutes } from "./routes/snapshots.ts";
import { type TraceReader, tracesRoutes } from "./routes/traces.ts";
import { recordRoutes } from "./routes/record.ts";
import { shadowRoutes } from "./routes/shadow.ts";
import { historyRoutes } from "./routes/history.ts";
import { gatewayRoutes, processFigures } from "./routes/gateway.ts";

export {
  type ApiDeps,
  type ApiPorts,
  apiPorts,
  type AuditReader,
  type Deployments,
  type ForwarderFigures,
  type ModuleControl,
  type Observability,
  type SimulatedPlant,
  type TelemetrySource,
  type UplinkReader,
} from "./ports.ts";
export { type Authenticator, authMiddleware, type Principal, roleFor } from "./auth.ts";
export { snapshotJson } from "./routes/snapshots.ts";
export { traceJson, type TraceReader } from "./routes/traces.ts";
export { historyJson, type HistoryReader } from "./routes/history.ts";
export { canJson, gatewayJson, type GatewaySource, needsJson } from "./routes/gateway.ts";
export { deploymentJson, startReportJson, versionJson } from "./routes/deployments.ts";
export { openApiDocument, OPERATIONS } from "./openapi.ts";
export { METRICS_CONTENT_TYPE, type MetricsSource, renderMetrics } from "./metrics.ts";
export {
  createStreamRoute,
  STREAM_TOPIC_ROOTS,
  StreamFeed,
  type StreamFeedSource,
  StreamHub,
  type StreamHubOptions,
  type StreamStats,
} from "./stream/mod.ts";

/** The largest request body but a deploy's, bytes. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Builds the HTTP API. */
export function createApp(deps: ApiDeps & { traces?: TraceReader | null }): Hono {
  const app = new Hono();
  app.onError(handleError);
  // Shared by concurrent readers; anything but a read may change it, so it is computed afresh after one.
  const modules = moduleList(deps.modules);
  app.use("*", async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return await next();
    modules.invalidate();
    try {
      await next();
    } finally {
      modules.invalidate();
    }
  });
  if (deps.auth) app.use("*", authMiddleware(deps.auth, { metricsPublic: deps.metricsPublic ?? false }));
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tooLarge = (limit: number) =>
    bodyLimit({
      maxSize: limit,
      onError: (c) => errorResponse(c, new PayloadTooLargeError(limit)),
    });
  // A deploy, and a shadow candidate's upload (`routes/shadow.ts`), may be as large as a module.
  const uploads = (path: string) =>
    path === "/api/v1/modules" || /^\/api\/v1\/modules\/[^/]+\/shadow$/.test(path);
  app.post("/api/v1/modules", tooLarge(MAX_MODULE_BYTES + 8 * 1024 * 1024));
  app.post("/api/v1/modules/:name/shadow", tooLarge(MAX_MODULE_BYTES + 8 * 1024 * 1024));
  // Made once, not per request: every request passes here.
  const bodyLimited = tooLarge(maxBody);
  app.use("*", async (c, next) => {
    if (c.req.method === "POST" && uploads(c.req.path)) return await next();
    return await bodyLimited(c, next);
  });
  app.notFound((c) =>
    errorResponse(c, new NotFoundError("not_found", `No route for ${c.req.method} ${c.req.path}`))
  );

  // The dashboard for browsers (Accept: text/html); other clients fall through to the JSON index below.
  app.route("/", createUiRoutes());
  app.get("/", (c) =>
    c.json({
      name: "kiln",
      endpoints: [
        "/health",
        "/openapi.json",
        "/metrics",
        "/api/v1/modules",
        "/api/v1/gateway",
        "/api/v1/me",
        "/api/v1/deployments",
        "/api/v1/alerts",
        "/api/v1/messages",
        "/api/v1/audit",
        "/api/v1/audit/uses",
        "/api/v1/channels",
        "/api/v1/connectors",
        "/api/v1/uplink",
        "/api/v1/stream (WebSocket)",
        "/api/v1/snapshots",
        "/api/v1/executors",
        "/api/v1/sandbox",
        "/api/v1/sim/sensors",
        "/api/v1/sim/gpio",
      ],
    }));
  const obs = deps.observability;
  app.get("/health", (c) => c.json(obs.health()));
  app.get("/openapi.json", (c) => c.json(openApiDocument(obs.health().version)));
  const metrics: MetricsSource = {
    listModules: () => deps.modules.listModules(),
    listChannels: () => obs.listChannels(),
    listConnectors: () => obs.listConnectors(),
    health: () => obs.health(),
    outboxStats: () => obs.uplink?.outboxStats() ?? null,
    listExecutorCounters: () => obs.listExecutorCounters(),
    processMemory: () => processFigures(obs),
  };
  app.route("/metrics", metricsRoute(metrics));
  if (deps.stream) {
    const auth = deps.auth;
    app.route(
      "/api/v1/stream",
      createStreamRoute({
        hub: deps.stream,
        ...(auth && { authenticate: (token: string) => auth.verify(token) }),
      }),
    );
  }
  app.route("/api/v1/modules", modulesRoutes(deps.modules, modules, deps.deployer, deps.deployments));
  app.route("/api/v1/modules", versionsRoutes(deps.deployments));
  const traces = deps.traces ?? obs.traces ?? null;
  app.route("/api/v1/modules", tracesRoutes(deps.modules, traces));
  app.route("/api/v1/modules", recordRoutes(obs.recordings ?? null));
  app.route("/api/v1/modules", shadowRoutes(obs.shadows ?? null, deps.deployer));
  app.route("/api/v1/modules", historyRoutes(deps.modules, obs.history ?? null));
  app.route("/api/v1", gatewayRoutes(obs));
  app.route("/api/v1/deployments", deploymentsRoutes(deps.deployments));
  app.route("/api/v1/alerts", alertsRoutes(obs));
  app.route("/api/v1/messages", messagesRoutes(obs));
  app.route("/api/v1/audit", auditRoutes(obs));
  app.route("/api/v1/snapshots", snapshotsRoutes(deps.listSnapshots));
  app.get("/api/v1/channels", (c) => c.json({ channels: obs.listChannels() }));
  app.get("/api/v1/uplink", (c) => {
    const uplink = obs.uplink;
    if (uplink === null) {
      throw new NotFoundError("uplink_unavailable", "This runtime has no MQTT uplink (connectors.mqtt)");
    }
    return c.json(uplinkJson(uplink, obs.mqttEventsRefused));
  });
  app.get("/api/v1/connectors", (c) => c.json({ connectors: obs.listConnectors().map(connectorJson) }));
  app.get(
    "/api/v1/executors",
    async (c) => c.json({ executors: (await obs.listExecutors()).map(executorJson) }),
  );
  app.get(
    "/api/v1/sandbox",
    async (c) =>
      c.json({
        process: deps.sandbox?.() ?? null,
        executors: (await obs.listExecutors()).map(executorJson),
        policy: { allow: obs.plan.policy, limits: policyLimitsJson(obs.plan.policyLimits) },
      }),
  );
  app.route("/api/v1/sim", simRoutes(deps.plant));
  return app;
}
