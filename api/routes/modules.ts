/**
 * `/api/v1/modules`: list, inspect and control modules.
 *
 * @module
 */
import { multipartForm } from "../_multipart.ts";
import { Hono } from "hono";
import { ManifestError } from "../../runtime/manifest/mod.ts";
import { ModuleUnknownError } from "../../runtime/mod.ts";
import type { Deployer } from "../../runtime/mod.ts";
import type { Deployments, ModuleControl } from "../ports.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { logJson } from "../_json.ts";
import { locateInSpec } from "../_spec_lines.ts";
import { snapshotJson } from "./snapshots.ts";
import { actorOf } from "./deployments.ts";
import type { ModuleStatus } from "../../runtime/mod.ts";
import { SharedDocument } from "../_shared_document.ts";

/**
 * A status as it is serialised: its `outputs` (a null-prototype record, keyed by the module's own output
 * names) copied into an object with own data properties only (`Object.fromEntries` defines them, so a key
 * like `__proto__` stays an own property). Only `JSON.stringify` reads the copy: V8's fast serialiser takes
 * objects with the ordinary prototype and falls back to its slow path (about 3x slower for the demo's module
 * list) for a whole document holding one null-prototype object.
 */
function serializable(status: ModuleStatus): ModuleStatus {
  return { ...status, outputs: Object.fromEntries(Object.entries(status.outputs)) };
}

/** How long one computed module list answers `GET /api/v1/modules`, ms (`SharedDocument` says why). */
export const MODULE_LIST_REUSE_MS = 5;

/** The document `GET /api/v1/modules` answers, shared by the requests of {@linkcode MODULE_LIST_REUSE_MS}. */
export function moduleList(modules: ModuleControl): SharedDocument {
  return new SharedDocument(
    () => ({ modules: modules.listModules().map(serializable) }),
    MODULE_LIST_REUSE_MS,
  );
}

/**
 * Routes under `/api/v1/modules`: `list` answers the list (see {@linkcode moduleList}), `modules` the rest,
 * `deployer` deploys and deletes (404 without one), and `deployments` records an operator's start and stop
 * (none without one).
 */
export function modulesRoutes(
  modules: ModuleControl,
  list: SharedDocument,
  deployer: Deployer | undefined,
  deployments?: Deployments,
): Hono {
  const app = new Hono();

  app.get("/", (c) => c.body(list.bytes(), 200, { "Content-Type": "application/json" }));

  // Deploy (admin): multipart with `name`, `spec` (the module's manifest entry, YAML or JSON), `wasm` (the
  // binary) and any data blobs its entry names, each as a file part with that file name. An entry the device's
  // manifest refuses (a capability or a limit of its policy: priority, budgets, memory, the realtime grant,
  // the module count) is a 422 `manifest_invalid` listing every issue under `error.issues` (path, line in the
  // uploaded spec, message), and nothing changes.
  app.post("/", async (c) => {
    if (!deployer) {
      throw new NotFoundError("deploy_unavailable", "This runtime does not take deploys over the API");
    }
    const form = await multipartForm(c);
    const field = form.field;
    const name = field("name");
    const spec = field("spec");
    const wasm = field("wasm");
    const signature = field("signature");
    if (typeof name !== "string") throw new BadRequestError(`The deploy needs a "name" field`);
    if (spec === undefined) {
      throw new BadRequestError(`The deploy needs a "spec" field (the module's manifest entry)`);
    }
    if (!(wasm instanceof File)) throw new BadRequestError(`The deploy needs a "wasm" file part`);
    // A Map: the file names are the client's ("constructor", "__proto__" included).
    const files = new Map<string, Uint8Array>();
    for (const v of Object.values(form.all).flat()) {
      if (v instanceof File && v !== wasm && v !== signature) {
        files.set(v.name, new Uint8Array(await v.arrayBuffer()));
      }
    }
    const specText = typeof spec === "string" ? spec : await spec.text();
    const result = await deployer.deploy({
      name,
      spec: specText,
      wasm: new Uint8Array(await wasm.arrayBuffer()),
      files,
      by: actorOf(c),
      signature: signature === undefined ? null : new Uint8Array(
        typeof signature === "string" ? new TextEncoder().encode(signature) : await signature.arrayBuffer(),
      ),
    }).catch((err) => {
      if (!(err instanceof ManifestError)) throw err;
      throw new ManifestError(locateInSpec(err.issues, name, specText), null, { cause: err });
    });
    return c.json(
      {
        ...result.status,
        replaced_sha256: result.replaced,
        ...(result.versionSeq !== null && { version_seq: result.versionSeq }),
      },
      result.replaced ? 200 : 201,
    );
  });

  app.delete("/:name", async (c) => {
    if (!deployer) {
      throw new NotFoundError("deploy_unavailable", "This runtime does not take deploys over the API");
    }
    const name = c.req.param("name");
    await deployer.remove(name, actorOf(c)); // answers once the instance is gone, not merely asked to go
    return c.json({ deleted: name });
  });

  app.get("/:name", (c) => {
    const name = c.req.param("name");
    const m = modules.getModule(name);
    if (!m) throw new ModuleUnknownError(name);
    return c.json(serializable(m));
  });

  app.get("/:name/outputs", (c) => {
    const name = c.req.param("name");
    const m = modules.getModule(name);
    const arrays = modules.getModuleArrays(name);
    if (!m || !arrays) throw new ModuleUnknownError(name);
    return c.json({ name, outputs: m.outputs, arrays });
  });

  app.get("/:name/logs", (c) => {
    const name = c.req.param("name");
    const logs = modules.getModuleLogs(name);
    if (!logs) throw new ModuleUnknownError(name);
    return c.json({ name, logs: logs.map(logJson) });
  });

  // An API event for an event module triggered by "api": the request body (up to 4 KiB) is its payload.
  app.post("/:name/events", async (c) => {
    const payload = new Uint8Array(await c.req.arrayBuffer());
    return c.json(modules.triggerEvent(c.req.param("name"), payload));
  });
  // An operator's start and stop are recorded: a stopped module stays stopped across restarts.
  app.post("/:name/start", async (c) => {
    const status = await modules.startModule(c.req.param("name"));
    deployments?.recordControl("start", status.name, actorOf(c));
    return c.json(status);
  });
  app.post("/:name/stop", async (c) => {
    const status = await modules.stopModule(c.req.param("name"));
    deployments?.recordControl("stop", status.name, actorOf(c));
    return c.json(status);
  });
  app.post("/:name/snapshot", async (c) => {
    const info = await modules.takeSnapshot(c.req.param("name"), "demand");
    return c.json(snapshotJson(info), 201);
  });
  app.post("/:name/restart", async (c) => {
    const status = await modules.restartModule(c.req.param("name"));
    deployments?.recordControl("start", status.name, actorOf(c)); // it runs again, if it was stopped
    return c.json(status);
  });

  return app;
}
