/**
 * The desired state over HTTP: `GET /api/v1/deployments` (the record of accepted actions, and how this start
 * resolved the manifest file against it), `GET /api/v1/modules/:name/versions` and
 * `POST /api/v1/modules/:name/rollback`.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { DeploymentRecord, ModuleVersion } from "../../snapshots/mod.ts";
import type { StartReport, VersionView } from "../../runtime/mod.ts";
import type { Principal } from "../auth.ts";
import type { Deployments } from "../ports.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import { queryCount } from "../_query.ts";
import { snapshotJson } from "./snapshots.ts";

/** Who made a request, for the record: its token's name, or `api` on an API without tokens (tests). */
export function actorOf(c: Context): string {
  return (c.get("principal" as never) as Principal | undefined)?.name ?? "api";
}

/** An accepted action as the API (and `kiln history --json`) shows it. */
export function deploymentJson(r: DeploymentRecord): Record<string, unknown> {
  return {
    id: r.id,
    at: r.at,
    action: r.action,
    module: r.module,
    by: r.actor,
    sha256: r.sha256,
    version_seq: r.versionSeq,
    version: r.version,
    signature: r.signature,
    entry: r.entry,
    detail: r.detail,
  };
}

/** How the start resolved the manifest file against the record. */
export function startReportJson(r: StartReport): Record<string, unknown> {
  return {
    at: r.at,
    manifest_file: r.manifestFile,
    manifest_sha256: r.manifestSha256,
    manifest_changed: r.manifestChanged,
    first_start: r.firstStart,
    modules: r.modules.map((d) => ({
      module: d.module,
      source: d.source,
      state: d.state,
      version_seq: d.versionSeq,
      sha256: d.sha256,
      reason: d.reason,
      error: d.error,
    })),
  };
}

/** A kept version. */
export function versionJson(v: ModuleVersion & Partial<Pick<VersionView, "current" | "snapshot">>) {
  return {
    module: v.module,
    version_seq: v.seq,
    sha256: v.sha256,
    source: v.source,
    created_by: v.actor,
    created_at: v.createdAt,
    version: v.version,
    signature: v.signature,
    ...(v.current !== undefined && { current: v.current }),
    entry: v.entry,
    // The data names are the manifest's: a record without a prototype.
    data: Object.assign(Object.create(null) as Record<string, string>, Object.fromEntries(v.data)),
    ...(v.snapshot !== undefined && { snapshot: v.snapshot === null ? null : snapshotJson(v.snapshot) }),
  };
}

function need(deployments: Deployments | undefined): Deployments {
  if (!deployments) {
    throw new NotFoundError("deployments_unavailable", "This runtime keeps no record of its deployments");
  }
  return deployments;
}

/**
 * `GET /api/v1/deployments?module=NAME&after=ID&limit=N`: the record, oldest first (the newest `limit`,
 * default 1000, of the rows after id `after`), and the start's report.
 */
export function deploymentsRoutes(deployments: Deployments | undefined): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const d = need(deployments);
    const module = c.req.query("module");
    const after = queryCount(c, "after", 0);
    const limit = queryCount(c, "limit", 1000);
    if (limit < 1) throw new BadRequestError(`Query parameter "limit" must be at least 1`);
    const rows = d.listDeployments({ ...(module !== undefined && { module }), after, limit });
    return c.json({ start: startReportJson(d.report), deployments: rows.map(deploymentJson) });
  });
  return app;
}

/** Under `/api/v1/modules`: `GET /:name/versions` and `POST /:name/rollback` (`{"version": N}` or empty). */
export function versionsRoutes(deployments: Deployments | undefined): Hono {
  const app = new Hono();
  app.get("/:name/versions", (c) => {
    const name = c.req.param("name");
    const versions = need(deployments).listVersions(name);
    return c.json({ module: name, versions: versions.map(versionJson) });
  });
  app.post("/:name/rollback", async (c) => {
    const d = need(deployments);
    const text = (await c.req.text()).trim();
    let version: number | undefined;
    if (text !== "") {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new BadRequestError(`The body is not JSON: ${(err as Error).message}`);
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new BadRequestError(`Expected {"version": N} or an empty body`);
      }
      const v = (body as Record<string, unknown>).version;
      if (v !== undefined && v !== null) {
        if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
          throw new BadRequestError(`"version" must be a whole number from 1, got ${JSON.stringify(v)}`);
        }
        version = v;
      }
    }
    const result = await d.rollback(c.req.param("name"), {
      ...(version !== undefined && { version }),
      by: actorOf(c),
    });
    return c.json({
      ...result.status,
      version_seq: result.version.seq,
      rolled_back_from: result.from,
      replaced_sha256: result.replaced,
    });
  });
  return app;
}
