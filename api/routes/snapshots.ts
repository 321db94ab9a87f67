/**
 * `/api/v1/snapshots`: the snapshots in the store, newest first per module.
 *
 * @module
 */
import { Hono } from "hono";
import type { SnapshotInfo } from "../../snapshots/mod.ts";
import type { ApiDeps } from "../ports.ts";
import { NotFoundError } from "../errors.ts";

/** A snapshot as the API (and `kiln snapshot --list --json`) shows it. */
export function snapshotJson(s: SnapshotInfo): Record<string, unknown> {
  return {
    module: s.module,
    seq: s.seq,
    reason: s.reason,
    taken_at: new Date(s.takenAtMs).toISOString(),
    module_sha256: s.moduleSha256,
    abi_version: s.abiVersion,
    memory_bytes: s.memoryBytes,
    pages_stored: s.pagesStored,
    stored_bytes: s.storedBytes,
  };
}

/** Routes under `/api/v1/snapshots`. */
export function snapshotsRoutes(listSnapshots: ApiDeps["listSnapshots"]): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    if (!listSnapshots) {
      throw new NotFoundError("snapshots_unavailable", "This runtime has no snapshot store");
    }
    const module = c.req.query("module");
    return c.json({ snapshots: listSnapshots(module).map(snapshotJson) });
  });
  return app;
}
