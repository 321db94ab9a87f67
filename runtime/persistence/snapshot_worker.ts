/**
 * Snapshot writer worker entry: compresses, checks and writes snapshots, and reads them back, on its own
 * SQLite connection, so that a 64 MiB memory never stalls the main thread (which carries out actuator
 * writes) or an executor. Started by {@linkcode Snapshotter} with read and write access to the data
 * directory only.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";
import { loadLatestSnapshot, saveSnapshot } from "../../snapshots/mod.ts";
import type { SnapshotRequest, SnapshotResponse } from "./snapshotter.ts";
import { imageBuffers } from "../executor/memory_image.ts";

let db: DatabaseSync | null = null;

self.onmessage = (e: MessageEvent<SnapshotRequest>) => {
  const req = e.data;
  try {
    switch (req.op) {
      case "open":
        // The main thread opened the store first and migrated it; this connection only reads and writes.
        db = new DatabaseSync(req.path);
        db.exec("PRAGMA busy_timeout = 5000");
        db.exec("PRAGMA synchronous = NORMAL");
        reply({ id: req.id, ok: true, result: null });
        return;
      case "save": {
        const info = saveSnapshot(open(), req.module, req.options);
        reply({ id: req.id, ok: true, result: info });
        return;
      }
      case "close":
        db?.close();
        db = null;
        reply({ id: req.id, ok: true, result: null });
        return;
      case "load": {
        const latest = loadLatestSnapshot(open(), req.module, req.key);
        const img = latest.found?.image;
        self.postMessage(
          { id: req.id, ok: true, result: latest } satisfies SnapshotResponse,
          img ? imageBuffers(img) : [],
        );
        return;
      }
    }
  } catch (err) {
    reply({ id: req.id, ok: false, error: (err as Error).message });
  }
};

function open(): DatabaseSync {
  if (!db) throw new Error("the snapshot store is not open");
  return db;
}

function reply(r: SnapshotResponse): void {
  self.postMessage(r);
}
