/**
 * Deploys over the API: a module's manifest entry (YAML or JSON) and its `.wasm` (and data blobs) are
 * checked exactly as `kiln validate` checks a manifest: the running deployment's manifest with this module
 * added or replaced is written to `<data>/deployed/manifest.yaml` and loaded with `loadManifest`, so the
 * device policy (its capabilities and its limits: priority, budgets, memory, the realtime executor's grant,
 * the number of modules), channels, connectors and every cross-check apply, all or nothing. Then
 * {@linkcode Runtime.replaceModule} swaps it in without ever replacing a good version with a bad one.
 *
 * The binary and data blobs are stored content-addressed in the data directory (`blobs/sha256/<hex>`) and
 * the entry points there, pinned to their digests. With a {@linkcode Lifecycle} (what `kiln run` gives it),
 * every accepted deploy and removal is recorded in the store with who made it and becomes a version of the
 * module, so a restart comes back to it (`lifecycle/`); deploys and rollbacks take turns.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { KilnError } from "../errors.ts";
import { ModuleStateError } from "./errors.ts";
import type { Runtime } from "./runtime.ts";
import type { ModuleStatus } from "./status.ts";
import { BlobStore } from "./lifecycle/blobs.ts";
import type { Lifecycle } from "./lifecycle/lifecycle.ts";
import { absolutePaths, loadMerged, modulePlanOf, type Obj, storedEntry } from "./lifecycle/_merge.ts";

/** A deploy request was malformed: no name, no wasm, a data blob not uploaded. */
export class DeployRequestError extends KilnError {
  readonly code = "bad_request";
  readonly kind = "invalid";
}

/** What a deploy uploads. */
export interface DeployRequest {
  /** The module's name, as under `modules:`. */
  name: string;
  /** Its manifest entry, YAML or JSON; `wasm` may be left out (the upload is used). */
  spec: string;
  wasm: Uint8Array;
  /** Data blobs by file name (a `Map`: the names are the client's); the entry's `data:` paths name them. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Who deploys it (the API token's name), for the record. @default "api" */
  by?: string;
  /** Its signature bundle (`kiln sign`'s `.sig`), kept as a blob beside it; none: unsigned. */
  signature?: Uint8Array | null;
}

/** What a deploy did. */
export interface DeployResult {
  status: ModuleStatus;
  /** The sha256 of the version it replaced, or null for a new module. */
  replaced: string | null;
  /** The module's version number in the record, or null without one. */
  versionSeq: number | null;
}

/** Deploys and removes modules of a running runtime. */
export interface Deployer {
  /**
   * @throws {DeployRequestError} for a malformed request.
   * @throws {import("./manifest/mod.ts").ManifestError} when the manifest with this module would be invalid.
   * @throws as {@linkcode Runtime.replaceModule}.
   */
  deploy(request: DeployRequest): Promise<DeployResult>;
  /**
   * Stops and forgets a module; resolves once its instance is gone. `by` names who, for the record.
   *
   * @throws {import("./errors.ts").ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when a channel names it (change the manifest instead).
   */
  remove(name: string, by?: string): Promise<void>;
}

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** Options of {@linkcode createDeployer}. */
export interface DeployerOptions {
  /** The manifest file the runtime was started from (read at the first deploy when there is no `lifecycle`). */
  manifestFile: string;
  dataDir: string;
  runtime: Pick<Runtime, "replaceModule" | "removeModule" | "plan">;
  /** The desired state to record accepted deploys in, and whose merged manifest deploys extend. */
  lifecycle?: Lifecycle;
}

/** Creates the deployer of a runtime started from `manifestFile`. */
export function createDeployer(options: DeployerOptions): Deployer {
  const { lifecycle } = options;
  const blobs = lifecycle?.blobs ?? new BlobStore(options.dataDir);
  let current: Obj | null = null;
  let turn: Promise<unknown> = Promise.resolve();
  // Deploys and removals take turns (with rollbacks, through the lifecycle): each merges into the manifest
  // the one before it left.
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    if (lifecycle) return lifecycle.exclusive(fn);
    const run = turn.then(fn, fn);
    turn = run.catch(() => {});
    return run;
  };

  async function manifest(): Promise<Obj> {
    if (lifecycle) return lifecycle.manifest();
    if (current) return structuredClone(current);
    const file = resolve(options.manifestFile);
    const raw = parseYaml(await Deno.readTextFile(file)) as Obj;
    absolutePaths(raw, dirname(file));
    current = raw;
    return structuredClone(raw);
  }

  return {
    deploy(request) {
      const { name } = request;
      if (!NAME.test(name)) {
        throw new DeployRequestError(`Invalid module name "${name}": lowercase letters, digits, "_" or "-"`);
      }
      if (request.wasm.length === 0) throw new DeployRequestError("The deploy has no wasm file");
      let spec: unknown;
      try {
        spec = parseYaml(request.spec);
      } catch (err) {
        throw new DeployRequestError(
          `The module's manifest entry is not valid YAML: ${(err as Error).message}`,
        );
      }
      if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
        throw new DeployRequestError(
          "The module's manifest entry must be a mapping (the keys under modules.<name>)",
        );
      }
      const stored = storedEntry(spec as Obj);
      const data = (stored.data ?? {}) as Obj;
      if (typeof data !== "object" || data === null) throw new DeployRequestError("data must be a mapping");
      // Checked before anything is stored.
      const uploads = new Map<string, Uint8Array>();
      for (const [key, value] of Object.entries(data)) {
        const path = typeof value === "string" ? value : (value as Obj | null)?.path;
        if (typeof path !== "string") continue; // the schema reports it
        const file = path.split("/").at(-1)!;
        if (file === "" || file === "." || file === "..") {
          throw new DeployRequestError(`Data blob "${key}" names "${path}", which is not a file name`);
        }
        const bytes = request.files.get(file);
        if (!bytes) {
          throw new DeployRequestError(`Data blob "${key}" names "${file}", which was not uploaded`);
        }
        uploads.set(key, bytes);
      }
      return exclusive(async () => {
        const sha = await blobs.put(request.wasm);
        const digests = new Map<string, string>();
        const entry: Obj = { ...structuredClone(stored), wasm: blobs.path(sha), sha256: sha };
        // Without an upload, `signature` is unset: the loader looks for `<blob>.sig`, which no upload makes.
        const sigDigest = request.signature ? await blobs.put(request.signature) : null;
        if (sigDigest !== null) entry.signature = blobs.path(sigDigest);
        const entryData = entry.data as Obj | undefined;
        for (const [key, bytes] of uploads) {
          const digest = await blobs.put(bytes);
          digests.set(key, digest);
          const value = entryData![key];
          const pinned = { path: blobs.path(digest), sha256: digest };
          entryData![key] = value && typeof value === "object" ? { ...value as Obj, ...pinned } : pinned;
        }
        const next = await manifest();
        next.modules = { ...(next.modules as Obj ?? {}), [name]: entry };
        let result: Awaited<ReturnType<Runtime["replaceModule"]>>;
        try {
          const plan = modulePlanOf(await loadMerged(next, options.dataDir), name);
          result = await options.runtime.replaceModule(plan);
        } catch (err) {
          await lifecycle?.collectGarbage(); // the refused version's files, unless a kept version has them
          throw err;
        }
        current = next;
        const version = await lifecycle?.acceptDeploy({
          name,
          entry: stored,
          sha256: sha,
          data: digests,
          by: request.by ?? "api",
          replaced: result.replaced,
          merged: next,
          version: result.status.signature?.version ?? null,
          signature: sigDigest,
        });
        return { ...result, versionSeq: version?.seq ?? null };
      });
    },
    remove(name, by = "api") {
      return exclusive(async () => {
        const plan = options.runtime.plan;
        const channel = plan.channels.find((c) => c.writer === name || c.readers.includes(name));
        if (channel) {
          throw new ModuleStateError(name, `named by channel "${channel.id}"`, "delete");
        }
        const gone = options.runtime.removeModule(name);
        if (current) delete (current.modules as Obj)[name];
        lifecycle?.acceptRemove(name, by);
        await gone;
      });
    },
  };
}
