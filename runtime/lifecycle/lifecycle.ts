/**
 * The desired state of a running gateway: what the record says each module should be, kept in step with
 * every accepted action (a deploy, a removal, an operator's stop or start, a rollback), and the versions
 * each module keeps. Deploys (`../deployer.ts`) and rollbacks take turns through {@linkcode Lifecycle.exclusive},
 * so two of them never merge into the same manifest at once.
 *
 * A rollback returns a module to a kept version through {@linkcode Runtime.replaceModule} with that
 * version's stored entry and binary, so its code and its memory come back together: the snapshot it resumes
 * from is the newest one of that build and configuration, which the snapshot retention keeps for every
 * version kept (`../../snapshots/snapshot.ts`).
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import {
  createVersion,
  type DeploymentQuery,
  type DeploymentRecord,
  getVersion,
  inTransaction,
  listDeployments,
  listSnapshots,
  listVersions,
  type ModuleVersion,
  pruneVersions,
  recordDeployment,
  referencedDigests,
  type SnapshotInfo,
} from "../../snapshots/mod.ts";
import { ModuleUnknownError } from "../errors.ts";
import type { Runtime } from "../runtime.ts";
import type { ModuleStatus } from "../status.ts";
import type { BlobStore } from "./blobs.ts";
import type { DesiredState, StartReport } from "./desired_state.ts";
import { sameVersion } from "./desired_state.ts";
import { AlreadyCurrentError, NoPreviousVersionError, VersionUnknownError } from "./errors.ts";
import { applyDeployment, type ModuleDesire } from "./_fold.ts";
import { entryOf, loadMerged, modulePlanOf, type Obj } from "./_merge.ts";

/** The actor of an automatic rollback (a version that broke its probation). */
export const PROBATION_ACTOR = "probation";

/** One kept version, as `GET /api/v1/modules/:name/versions` shows it. */
export interface VersionView extends ModuleVersion {
  /** The version the module runs now. */
  current: boolean;
  /** The newest snapshot of this build (the one a rollback resumes from when its configuration matches). */
  snapshot: SnapshotInfo | null;
}

/** What a rollback did. */
export interface RollbackResult {
  status: ModuleStatus;
  /** The version it returned to. */
  version: ModuleVersion;
  /** The version it left, or null (the module was removed, refused or never recorded). */
  from: number | null;
  /** The sha256 of the binary it replaced, or null. */
  replaced: string | null;
}

/** Options of {@linkcode Lifecycle}. */
export interface LifecycleOptions {
  db: DatabaseSync;
  dataDir: string;
  blobs: BlobStore;
  /** What the start resolved. */
  desired: DesiredState;
  /** Versions kept per module (`lifecycle.keep_versions`). */
  keepVersions: number;
  runtime: Pick<Runtime, "replaceModule" | "getModule">;
  log: (line: string) => void;
}

/** A deploy accepted by the runtime, to record. */
export interface AcceptedDeploy {
  name: string;
  /** Its manifest entry as stored: `wasm` and the `sha256` pin left out, data paths as uploaded. */
  entry: Obj;
  sha256: string;
  /** Data blobs' digests by data name. */
  data: ReadonlyMap<string, string>;
  /** Who deployed it (the API token's name). */
  by: string;
  /** The sha256 it replaced, or null for a new module. */
  replaced: string | null;
  /** The merged manifest with it, paths absolute: what the next deploy merges into. */
  merged: Obj;
  /** Its signed version (the attestation's), when it is signed. */
  version?: string | null;
  /** Its signature bundle's digest or signer, when it is signed. */
  signature?: string | null;
}

/** The desired state of a running gateway; see the module's documentation. */
export class Lifecycle {
  readonly blobs: BlobStore;
  readonly keepVersions: number;
  readonly #db: DatabaseSync;
  readonly #dataDir: string;
  readonly #runtime: LifecycleOptions["runtime"];
  readonly #log: (line: string) => void;
  readonly #report: StartReport;
  readonly #modules: Map<string, ModuleDesire>;
  #raw: Obj;
  #turn: Promise<unknown> = Promise.resolve();

  constructor(options: LifecycleOptions) {
    this.blobs = options.blobs;
    this.keepVersions = options.keepVersions;
    this.#db = options.db;
    this.#dataDir = options.dataDir;
    this.#runtime = options.runtime;
    this.#log = options.log;
    this.#report = options.desired.report;
    this.#modules = options.desired.modules;
    this.#raw = options.desired.raw;
  }

  /** Runs `fn` once every change started before it has finished (deploys, removals, rollbacks). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(fn, fn);
    this.#turn = run.catch(() => {}); // the caller gets the error; the next turn runs regardless
    return run;
  }

  /** A copy of the running deployment's merged manifest (paths absolute). */
  manifest(): Obj {
    return structuredClone(this.#raw);
  }

  /** How this start resolved the manifest file against the record. */
  get report(): StartReport {
    return this.#report;
  }

  /** Accepted actions, oldest first. */
  listDeployments(query: DeploymentQuery = {}): DeploymentRecord[] {
    return listDeployments(this.#db, query);
  }

  /**
   * Records a deploy the runtime accepted: a new version (unless it is the one running, unchanged) and the
   * action, in one transaction; then drops versions past {@linkcode Lifecycle.keepVersions} and their blobs.
   */
  async acceptDeploy(d: AcceptedDeploy): Promise<ModuleVersion> {
    const desire = this.#modules.get(d.name);
    const current = desire?.present && desire.versionSeq !== null
      ? getVersion(this.#db, d.name, desire.versionSeq)
      : null;
    const row = inTransaction(this.#db, () => {
      const version = current && sameVersion(current, d.sha256, d.entry, d.data) ? current : createVersion(
        this.#db,
        {
          module: d.name,
          sha256: d.sha256,
          entry: d.entry,
          data: d.data,
          source: "api",
          actor: d.by,
          version: d.version ?? null,
          signature: d.signature ?? null,
        },
      );
      return recordDeployment(this.#db, {
        action: d.replaced === null ? "deploy" : "replace",
        module: d.name,
        actor: d.by,
        sha256: d.sha256,
        versionSeq: version.seq,
        version: version.version,
        signature: version.signature,
        entry: d.entry,
        detail: d.replaced === null ? null : `replaced ${d.replaced}`,
      });
    });
    this.#raw = structuredClone(d.merged);
    applyDeployment(this.#modules, row);
    await this.#prune(d.name);
    return getVersion(this.#db, d.name, row.versionSeq!)!;
  }

  /** Records a module removed over the API (its versions stay, for a rollback). */
  acceptRemove(name: string, by: string): void {
    const desire = this.#modules.get(name);
    const row = recordDeployment(this.#db, {
      action: "remove",
      module: name,
      actor: by,
      sha256: desire?.sha256 ?? null,
      versionSeq: desire?.versionSeq ?? null,
    });
    const modules = this.#raw.modules as Obj | undefined;
    if (modules) delete modules[name];
    applyDeployment(this.#modules, row);
  }

  /** Records an operator's start or stop over the API: a stopped module stays stopped across restarts. */
  recordControl(action: "start" | "stop", name: string, by: string): void {
    const desire = this.#modules.get(name);
    const row = recordDeployment(this.#db, {
      action,
      module: name,
      actor: by,
      sha256: desire?.sha256 ?? null,
      versionSeq: desire?.versionSeq ?? null,
    });
    applyDeployment(this.#modules, row);
    const modules = this.#raw.modules as Record<string, Obj> | undefined;
    if (modules && Object.hasOwn(modules, name)) modules[name]!.enabled = action === "start";
  }

  /**
   * Records an automatic rollback of a version on probation to the version it replaced (`toSha256`; null
   * when it was a new module, which is then gone).
   */
  recordAutomaticRollback(name: string, options: { toSha256: string | null; reason: string }): void {
    if (options.toSha256 === null) {
      this.acceptRemove(name, PROBATION_ACTOR);
      return;
    }
    const version = listVersions(this.#db, name).find((v) => v.sha256 === options.toSha256) ?? null;
    const row = recordDeployment(this.#db, {
      action: "rollback",
      module: name,
      actor: PROBATION_ACTOR,
      sha256: options.toSha256,
      versionSeq: version?.seq ?? null,
      entry: version?.entry ?? null,
      detail: options.reason,
    });
    applyDeployment(this.#modules, row);
    if (version) {
      const modules = this.#raw.modules as Obj | undefined;
      if (modules) modules[name] = entryOf(version, this.blobs);
    }
  }

  /**
   * The kept versions of a module, newest first, each with its newest snapshot.
   *
   * @throws {ModuleUnknownError} when the module keeps no version and the runtime has no such module.
   */
  listVersions(name: string): VersionView[] {
    const versions = listVersions(this.#db, name);
    if (versions.length === 0 && this.#runtime.getModule(name) === null) throw new ModuleUnknownError(name);
    const desire = this.#modules.get(name);
    const current = desire?.present ? desire.versionSeq : null;
    const snapshots = listSnapshots(this.#db, name);
    return versions.map((v) => ({
      ...v,
      current: v.seq === current,
      snapshot: snapshots.find((s) => s.moduleSha256 === v.sha256) ?? null,
    }));
  }

  /**
   * Returns a module to a kept version, code and memory (see the module's documentation): `version`, or the
   * newest kept version older than the one it runs.
   *
   * @throws {ModuleUnknownError} when the module keeps no version and the runtime has no such module.
   * @throws {VersionUnknownError} when it keeps no such version.
   * @throws {NoPreviousVersionError} without `version`, when it keeps none older than the one it runs.
   * @throws {AlreadyCurrentError} when it runs that version already.
   * @throws {import("./errors.ts").BlobCorruptError | import("./errors.ts").BlobMissingError} when the
   *   version's stored files changed or vanished.
   * @throws as {@linkcode Runtime.replaceModule} (nothing changed, or the previous version runs again).
   */
  rollback(name: string, options: { version?: number; by: string }): Promise<RollbackResult> {
    return this.exclusive(async () => {
      const versions = listVersions(this.#db, name);
      const status = this.#runtime.getModule(name);
      if (versions.length === 0 && status === null) throw new ModuleUnknownError(name);
      const desire = this.#modules.get(name);
      const current = desire?.present && status !== null ? desire.versionSeq : null;
      let target: ModuleVersion | undefined;
      if (options.version !== undefined) {
        target = versions.find((v) => v.seq === options.version);
        if (!target) throw new VersionUnknownError(name, options.version, versions.map((v) => v.seq));
        if (target.seq === current && status?.state === "running") {
          throw new AlreadyCurrentError(name, target.seq);
        }
      } else {
        target = current === null ? versions[0] : versions.find((v) => v.seq < current);
        if (!target) throw new NoPreviousVersionError(name, current);
      }
      await this.blobs.verify(target.sha256);
      for (const digest of target.data.values()) await this.blobs.verify(digest);
      const next = this.manifest();
      next.modules = { ...(next.modules as Obj ?? {}), [name]: entryOf(target, this.blobs) };
      const plan = modulePlanOf(await loadMerged(next, this.#dataDir), name);
      // A rollback may go to a lower signed version than the one running (not a downgrade attack).
      const result = await this.#runtime.replaceModule(plan, { rollback: true });
      const row = recordDeployment(this.#db, {
        action: "rollback",
        module: name,
        actor: options.by,
        sha256: target.sha256,
        versionSeq: target.seq,
        version: target.version,
        signature: target.signature,
        entry: target.entry,
        detail: current === null ? null : `from version ${current}`,
      });
      this.#raw = next;
      applyDeployment(this.#modules, row);
      this.#log(
        `module ${name}: rolled back to version ${target.seq} (${target.sha256.slice(0, 12)})` +
          (current === null ? "" : ` from version ${current}`) + ` by "${options.by}"`,
      );
      return { status: result.status, version: target, from: current, replaced: result.replaced };
    });
  }

  /** Deletes the stored files no kept version names (those of a refused deploy); returns how many. */
  collectGarbage(): Promise<number> {
    return this.blobs.collect(referencedDigests(this.#db));
  }

  /** Drops a module's versions past the newest `keepVersions` (never the one it runs), then unused blobs. */
  async #prune(name: string): Promise<void> {
    const desire = this.#modules.get(name);
    const pinned = desire?.versionSeq == null ? [] : [desire.versionSeq];
    const gone = pruneVersions(this.#db, name, { keep: this.keepVersions, pinned });
    if (gone.length === 0) return;
    const blobs = await this.blobs.collect(referencedDigests(this.#db));
    this.#log(
      `module ${name}: dropped version${gone.length > 1 ? "s" : ""} ${gone.map((v) => v.seq).join(", ")} ` +
        `(lifecycle.keep_versions: ${this.keepVersions}); ${blobs} stored file${
          blobs === 1 ? "" : "s"
        } deleted`,
    );
  }
}
