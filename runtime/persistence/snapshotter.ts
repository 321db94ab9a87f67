/**
 * The main thread's handle on the snapshot writer worker (`snapshot_worker.ts`): saves captured images
 * and loads the newest usable one, off the main thread.
 *
 * @module
 */
import { dirname } from "node:path";
import { KilnError } from "../../errors.ts";
import type { LatestSnapshot, SaveSnapshotOptions, SnapshotInfo, SnapshotKey } from "../../snapshots/mod.ts";
import { imageBuffers } from "../executor/memory_image.ts";
import { span } from "../_startup_marks.ts";

/** A request to the snapshot worker. Private to `runtime/`. */
export type SnapshotRequest =
  | { id: number; op: "open"; path: string }
  | { id: number; op: "save"; module: string; options: SaveSnapshotOptions }
  | { id: number; op: "load"; module: string; key: SnapshotKey }
  | { id: number; op: "close" };

/** The snapshot worker's answer. Private to `runtime/`. */
export type SnapshotResponse =
  | { id: number; ok: true; result: SnapshotInfo | LatestSnapshot | null }
  | { id: number; ok: false; error: string };

/** The snapshot store failed to save or load (a full disk, a locked database). */
export class SnapshotStoreError extends KilnError {
  readonly code = "snapshot_store_failed";
  readonly kind = "unavailable";
  constructor(readonly module: string, message: string) {
    super(`Cannot store or read snapshots of module "${module}": ${message}`);
  }
}

function workerUrl(): URL {
  const ext = import.meta.url.endsWith(".ts") ? "ts" : "js";
  return new URL(`./snapshot_worker.${ext}`, import.meta.url);
}

/** Saves and loads snapshots in a worker of its own. Dispose it. */
export class Snapshotter {
  #worker: Worker;
  #nextId = 1;
  #pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; module: string }>();
  #opened: Promise<unknown>;
  #closed = false;

  /**
   * @param dbPath The store's path; the main thread must have opened (and so migrated) it first.
   */
  constructor(dbPath: string) {
    const dir = dirname(dbPath);
    this.#worker = new Worker(workerUrl(), {
      type: "module",
      name: "kiln-snapshots",
      deno: {
        permissions: {
          read: [dir],
          // The process's own write grant, which is the data directory less what it may not write (the launch
          // cache, cli/_launch_cache.ts): asking for [dir] again would be refused as more than the parent has.
          write: "inherit",
          net: false,
          env: false,
          run: false,
          ffi: false,
          sys: false,
          import: false,
        },
      },
    } as WorkerOptions);
    this.#worker.onmessage = (e: MessageEvent<SnapshotResponse>) => {
      const p = this.#pending.get(e.data.id);
      this.#pending.delete(e.data.id);
      if (!p) return;
      if (e.data.ok) p.resolve(e.data.result);
      else p.reject(new SnapshotStoreError(p.module, e.data.error));
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failAll(`the snapshot worker failed: ${e.message}`);
    };
    const openStart = performance.now();
    this.#opened = this.#request({ id: 0, op: "open", path: dbPath }, "(store)");
    this.#opened.then(() => span("snapshot_worker_open", openStart), () => {});
  }

  /**
   * Saves a snapshot; the image's buffers are transferred to the worker.
   *
   * @throws {SnapshotStoreError} when the write fails.
   */
  async save(module: string, options: SaveSnapshotOptions): Promise<SnapshotInfo> {
    await this.#opened;
    const { image } = options;
    return await this.#request(
      { id: 0, op: "save", module, options },
      module,
      imageBuffers(image),
    ) as SnapshotInfo;
  }

  /**
   * The newest snapshot of `module` that matches `key` and passes its checks, and the newer ones passed over.
   *
   * @throws {SnapshotStoreError} when the read fails.
   */
  async loadLatest(module: string, key: SnapshotKey): Promise<LatestSnapshot> {
    await this.#opened;
    return await this.#request({ id: 0, op: "load", module, key }, module) as LatestSnapshot;
  }

  #request(req: SnapshotRequest, module: string, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#closed) return Promise.reject(new SnapshotStoreError(module, "the snapshot store is closed"));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, module });
      this.#worker.postMessage({ ...req, id }, transfer);
    });
  }

  #failAll(message: string): void {
    for (const p of this.#pending.values()) p.reject(new SnapshotStoreError(p.module, message));
    this.#pending.clear();
  }

  #closing: Promise<void> | null = null;

  /**
   * Ends the worker after the requests before this one: its database connection is closed first, so no lock
   * outlives it (a terminated worker could leave one until the process ends). Requests after it fail.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = this.#request({ id: 0, op: "close" }, "(store)").catch(() => {});
      this.#closed = true;
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      this.#worker.terminate();
      this.#failAll("the snapshot store is closed");
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
