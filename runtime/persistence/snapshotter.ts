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

/**
 * Saves and loads snapshots in a worker of its own, started at the first save or load: a gateway whose
 * modules never snapshot never pays for it (a worker is about 13 MiB resident and 13 ms of the main thread
 * to start, `bench/footprint.ts`). Dispose it.
 */
export class Snapshotter {
  readonly #dbPath: string;
  #worker: Worker | null = null;
  #nextId = 1;
  #pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void; module: string }>();
  #opened: Promise<unknown> | null = null;
  #closed = false;

  /**
   * @param dbPath The store's path; the main thread must have opened (and so migrated) it first.
   */
  constructor(dbPath: string) {
    this.#dbPath = dbPath;
  }

  /** Whether the worker has started (by {@linkcode start}, or at the first save or load). */
  get started(): boolean {
    return this.#worker !== null;
  }

  /**
   * Starts the worker now, for a caller that knows snapshots will be read soon (modules that resume): it
   * boots while the caller goes on. A failure to open the store is reported to the first save or load.
   */
  start(): void {
    this.#open("(store)").catch(() => {});
  }

  /** Starts the worker and opens the store in it, once; resolves when it is open. */
  #open(module: string): Promise<unknown> {
    if (this.#closed) return Promise.reject(new SnapshotStoreError(module, "the snapshot store is closed"));
    if (this.#opened !== null) return this.#opened;
    const worker = new Worker(workerUrl(), {
      type: "module",
      name: "kiln-snapshots",
      deno: {
        permissions: {
          read: [dirname(this.#dbPath)],
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
    worker.onmessage = (e: MessageEvent<SnapshotResponse>) => {
      const p = this.#pending.get(e.data.id);
      this.#pending.delete(e.data.id);
      if (!p) return;
      if (e.data.ok) p.resolve(e.data.result);
      else p.reject(new SnapshotStoreError(p.module, e.data.error));
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#failAll(`the snapshot worker failed: ${e.message}`);
    };
    this.#worker = worker;
    const openStart = performance.now();
    this.#opened = this.#request({ id: 0, op: "open", path: this.#dbPath }, "(store)");
    this.#opened.then(() => span("snapshot_worker_open", openStart), () => {});
    return this.#opened;
  }

  /**
   * Saves a snapshot; the image's buffers are transferred to the worker.
   *
   * @throws {SnapshotStoreError} when the write fails.
   */
  async save(module: string, options: SaveSnapshotOptions): Promise<SnapshotInfo> {
    await this.#open(module);
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
    await this.#open(module);
    return await this.#request({ id: 0, op: "load", module, key }, module) as LatestSnapshot;
  }

  #request(req: SnapshotRequest, module: string, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const worker = this.#worker;
    if (this.#closed || worker === null) {
      return Promise.reject(new SnapshotStoreError(module, "the snapshot store is closed"));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, module });
      worker.postMessage({ ...req, id }, transfer);
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
      const worker = this.#worker;
      if (worker === null) {
        this.#closed = true; // never started: nothing to end
        return;
      }
      const closed = this.#request({ id: 0, op: "close" }, "(store)").catch(() => {});
      this.#closed = true;
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      worker.terminate();
      this.#failAll("the snapshot store is closed");
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
