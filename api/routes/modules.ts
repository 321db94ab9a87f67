/**
 * `/api/v1/modules`: list, inspect and control modules.
 *
 * @module
 */
import { Hono } from "hono";
import { ModuleUnknownError } from "../../runtime/mod.ts";
import type { ApiDeps } from "../deps.ts";
import { snapshotJson } from "./snapshots.ts";

/** Routes under `/api/v1/modules`. */
export function modulesRoutes({ runtime }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/", (c) => c.json({ modules: runtime.listModules() }));

  app.get("/:name", (c) => {
    const name = c.req.param("name");
    const m = runtime.getModule(name);
    if (!m) throw new ModuleUnknownError(name);
    return c.json(m);
  });

  app.get("/:name/outputs", (c) => {
    const name = c.req.param("name");
    const m = runtime.getModule(name);
    const arrays = runtime.getModuleArrays(name);
    if (!m || !arrays) throw new ModuleUnknownError(name);
    return c.json({ name, outputs: m.outputs, arrays });
  });

  app.get("/:name/logs", (c) => {
    const name = c.req.param("name");
    const logs = runtime.getModuleLogs(name);
    if (!logs) throw new ModuleUnknownError(name);
    return c.json({ name, logs });
  });

  // An API event for an event module triggered by "api": the request body (up to 4 KiB) is its payload.
  app.post("/:name/events", async (c) => {
    const payload = new Uint8Array(await c.req.arrayBuffer());
    return c.json(runtime.triggerEvent(c.req.param("name"), payload));
  });
  app.post("/:name/start", async (c) => c.json(await runtime.startModule(c.req.param("name"))));
  app.post("/:name/stop", async (c) => c.json(await runtime.stopModule(c.req.param("name"))));
  app.post("/:name/snapshot", async (c) => {
    const info = await runtime.takeSnapshot(c.req.param("name"), "demand");
    return c.json(snapshotJson(info), 201);
  });
  app.post("/:name/restart", async (c) => c.json(await runtime.restartModule(c.req.param("name"))));

  return app;
}
