/**
 * What a gateway runs at a start: the manifest file's modules overlaid with the API's accepted actions
 * recorded since (deployed and replaced modules with their stored entry and binary, removed ones absent,
 * stopped ones stopped), by one rule when the file changed:
 *
 * **The newer decision about a module wins.** The store remembers, for each module the file lists, a
 * fingerprint of its entry and of the bytes of its binary and data blobs, as they were at the last start.
 * A module whose fingerprint changed since (edited, added, removed from the file, or its `.wasm` rebuilt in
 * place) is taken from the file: that edit is the newest decision about it, and it overrides whatever the
 * API did to it before. A module the file did not change keeps what the API did (a newer version, a
 * rollback, its removal, a stop). So editing one module's entry never undoes deploys of the others, and an
 * edit is never silently ignored. Each module's outcome is logged with the source that won and why, and kept
 * for `GET /api/v1/deployments`.
 *
 * A stored binary is checked against its digest first: one that changed on disk is refused (logged, shown as
 * `refused`), its module stays stopped, and the others start. A module the API deployed that the file's
 * policy now refuses (a lowered limit) is refused the same way.
 *
 * Modules named by `image:` are pulled first (`images.ts`) and from then on are the file's modules whose
 * `wasm` and `signature` are blobs; an image that can be neither pulled nor taken from the cache is refused
 * (its record left as it was), and the others start.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { parse as parseYaml } from "yaml";
import {
  createVersion,
  getVersion,
  inTransaction,
  lastManifestRecord,
  listDeployments,
  listVersionedModules,
  type ModuleVersion,
  type NewDeployment,
  pruneVersions,
  recordDeployment,
  referencedDigests,
} from "../../snapshots/mod.ts";
import { type LoadedManifest, ManifestError } from "../manifest/mod.ts";
import { sha256Hex } from "../loader.ts";
import type { BlobStore } from "./blobs.ts";
import { resolveImages } from "./images.ts";
import { describe, foldDeployments, type ModuleDesire } from "./_fold.ts";
import {
  absoluteEntryPaths,
  absolutePaths,
  canonicalJson,
  entryOf,
  loadMerged,
  type Obj,
  sha256Text,
  storedEntry,
} from "./_merge.ts";

/** The actor of what the manifest file decides. */
export const MANIFEST_ACTOR = "manifest";

/** How one module's desired state was decided at this start. */
export interface ModuleDecision {
  module: string;
  /** Which source won: the manifest file, or the API's actions recorded since. */
  source: "manifest" | "api";
  /** What it is meant to be: running, stopped by an operator, removed, or refused (a blob or the policy). */
  state: "running" | "stopped" | "removed" | "refused";
  /** Its version, when it has one. */
  versionSeq: number | null;
  sha256: string | null;
  /** Why this source won, in words. */
  reason: string;
  /** Why it was refused, or null. */
  error: string | null;
}

/** How this start resolved the manifest file against the record (`GET /api/v1/deployments`). */
export interface StartReport {
  /** ISO 8601, UTC. */
  at: string;
  manifestFile: string;
  manifestSha256: string;
  /** The file differs from the one the last start read (always true at the first start). */
  manifestChanged: boolean;
  /** No start was recorded before this one. */
  firstStart: boolean;
  /** Every module the file or the record names, the file's first. */
  modules: ModuleDecision[];
}

/** What {@linkcode resolveDesiredState} returns. */
export interface DesiredState {
  /** The merged manifest, validated: the runtime's modules are its modules. */
  manifest: LoadedManifest;
  /** Its raw document, paths absolute: what later deploys merge into. */
  raw: Obj;
  report: StartReport;
  /** The modules' desired states after this start (for the record kept while running). */
  modules: Map<string, ModuleDesire>;
}

/** Options of {@linkcode resolveDesiredState}. */
export interface ResolveOptions {
  /** The manifest file, loaded and validated. */
  manifest: LoadedManifest;
  db: DatabaseSync;
  blobs: BlobStore;
  dataDir: string;
  /** One line per module: which source won and why. */
  log: (line: string) => void;
  /** The time all image pulls of this start share, ms. @default images.ts's DEFAULT_PULL_BUDGET_MS */
  pullBudgetMs?: number;
}

/** One module of the manifest file: its raw entry and the digests of its files. */
interface FileModule {
  entry: Obj;
  wasm: Uint8Array;
  sha256: string;
  data: Map<string, Uint8Array>;
  digests: Map<string, string>;
  fingerprint: string;
}

/**
 * Resolves the desired state at a start (see the module's documentation for the rule), records what the
 * manifest file changed, stores the file's binaries as versions, and checks the stored binaries it will run.
 *
 * @throws {ManifestError} when the merged manifest is invalid for a reason no stored module explains.
 */
export async function resolveDesiredState(options: ResolveOptions): Promise<DesiredState> {
  const { db, blobs, log } = options;
  // Before anything reads a module's wasm path: image modules get theirs here.
  const images = await resolveImages({
    manifest: options.manifest,
    db,
    blobs,
    log,
    ...(options.pullBudgetMs !== undefined && { budgetMs: options.pullBudgetMs }),
  });
  const manifest = images.manifest;
  const text = await Deno.readFile(manifest.file);
  const fileSha = await sha256Hex(text);
  const fileRaw = parseYaml(new TextDecoder().decode(text)) as Obj;
  pointImages(fileRaw, manifest, images.refused);
  const files = await readFileModules(fileRaw, manifest);
  const last = lastManifestRecord(db);
  const before = fingerprintsOf(last);
  const desires = foldDeployments(listDeployments(db));
  const names = [...new Set([...files.keys(), ...desires.keys(), ...before?.keys() ?? []])]
    .filter((name) => !images.refused.has(name));

  const decisions: ModuleDecision[] = [];
  const chosen = new Map<string, ModuleVersion | "file">();
  // Recorded together at the end, in one transaction: a crash before leaves the last start's record whole.
  const rows: NewDeployment[] = [];
  for (const name of names) {
    const outcome = await decide(name, {
      file: files.get(name),
      desire: desires.get(name),
      before,
      db,
      blobs,
    });
    if (outcome === null) continue;
    decisions.push(outcome.decision);
    if (outcome.pick !== null) chosen.set(name, outcome.pick);
    if (outcome.row !== null) rows.push(outcome.row);
  }
  for (const [name, why] of images.refused) {
    decisions.push({
      ...decision(
        name,
        "manifest",
        "refused",
        null,
        null,
        "its image could not be pulled or taken from the cache",
      ),
      error: why,
    });
  }
  const changedFile = last?.sha256 !== fileSha;
  if (rows.length > 0 || changedFile) {
    rows.push({
      action: "manifest",
      module: null,
      actor: MANIFEST_ACTOR,
      sha256: fileSha,
      entry: {
        file: manifest.file,
        // A refused image keeps the fingerprint it had: its record is left as it was.
        modules: Object.fromEntries([
          ...[...images.refused.keys()].flatMap((n) => before?.has(n) ? [[n, before.get(n)!]] : []),
          ...[...files].map(([n, f]) => [n, f.fingerprint]),
        ]),
      },
      detail: last === null ? "the first start" : "the manifest file changed since the last start",
    });
  }
  inTransaction(db, () => {
    for (const row of rows) recordDeployment(db, row);
  });
  const merged = await mergeValid(fileRaw, manifest, chosen, decisions, options);
  const modules = foldDeployments(listDeployments(db));
  await pruneAll(db, blobs, modules, manifest.lifecycle.keep_versions);
  for (const d of decisions) {
    log(
      `desired state: module ${d.module}: ${d.state}, from the ${
        d.source === "api" ? "API" : "manifest file"
      }` +
        (d.versionSeq === null ? "" : ` (version ${d.versionSeq})`) + `: ${d.reason}` +
        (d.error ? `; refused: ${d.error}; it stays stopped` : ""),
    );
  }
  return {
    ...merged,
    report: {
      at: new Date().toISOString(),
      manifestFile: manifest.file,
      manifestSha256: fileSha,
      manifestChanged: changedFile,
      firstStart: last === null,
      modules: decisions,
    },
    modules,
  };
}

/** What the start decided for one module: the decision, what runs (or null), and what to record. */
interface Outcome {
  decision: ModuleDecision;
  pick: ModuleVersion | "file" | null;
  row: NewDeployment | null;
}

/** Applies the rule (see the module's documentation) to one module; null when there is nothing to decide. */
async function decide(
  name: string,
  ctx: {
    file: FileModule | undefined;
    desire: ModuleDesire | undefined;
    before: Map<string, string> | null;
    db: DatabaseSync;
    blobs: BlobStore;
  },
): Promise<Outcome | null> {
  const { file, desire, before } = ctx;
  const changed = before === null ? file !== undefined : before.get(name) !== file?.fingerprint;
  if (changed || (file && !desire)) {
    // The file's edit is the newest decision about this module.
    const why = (before === null
      ? "the first start: taken from the manifest file"
      : !before.has(name)
      ? "the manifest file added it since the last start"
      : file
      ? "the manifest file changed its entry or files since the last start"
      : "the manifest file no longer lists it") +
      (desire?.source === "api" && desire.present
        ? `, a newer decision than what was ${describe(desire.decidedBy)}`
        : "");
    const row: NewDeployment = { action: "manifest", module: name, actor: MANIFEST_ACTOR, detail: why };
    if (!file) {
      return { decision: decision(name, "manifest", "removed", null, null, why), pick: null, row };
    }
    const version = await manifestVersion(ctx.db, ctx.blobs, name, file, desire);
    const state = file.entry.enabled === false ? "stopped" : "running";
    return {
      decision: decision(name, "manifest", state, version.seq, file.sha256, why),
      pick: "file",
      row: { ...row, sha256: file.sha256, versionSeq: version.seq, entry: file.entry },
    };
  }
  if (!desire) return null; // named by neither the file nor the record
  if (!desire.present) {
    const why = `${describe(desire.decidedBy)}; the manifest file did not change it since`;
    return { decision: decision(name, desire.source, "removed", null, null, why), pick: null, row: null };
  }
  // The file did not change it: the record's latest decision stands (a stop included).
  const stopped = !desire.enabled;
  const control = stopped && desire.control ? `; ${describe(desire.control)}` : "";
  if (desire.source === "manifest" && file) {
    const why = `as in the manifest file, unchanged since the last start${control}`;
    const state = stopped || file.entry.enabled === false ? "stopped" : "running";
    return {
      decision: decision(name, "manifest", state, desire.versionSeq, file.sha256, why),
      pick: "file",
      row: null,
    };
  }
  const why = `${describe(desire.decidedBy)}; the manifest file did not change it since${control}`;
  const d = decision(
    name,
    desire.source,
    stopped ? "stopped" : "running",
    desire.versionSeq,
    desire.sha256,
    why,
  );
  const version = desire.versionSeq === null ? null : getVersion(ctx.db, name, desire.versionSeq);
  const refused = version === null
    ? `its version ${desire.versionSeq} is no longer kept`
    : await blobProblem(ctx.blobs, version);
  if (refused !== null) {
    return { decision: { ...d, state: "refused", error: refused }, pick: null, row: null };
  }
  return { decision: d, pick: version, row: null };
}

function decision(
  module: string,
  source: ModuleDecision["source"],
  state: ModuleDecision["state"],
  versionSeq: number | null,
  sha256: string | null,
  reason: string,
): ModuleDecision {
  return { module, source, state, versionSeq, sha256, reason, error: null };
}

/** The file's modules with their files read and fingerprinted, in the file's order. */
async function readFileModules(fileRaw: Obj, manifest: LoadedManifest): Promise<Map<string, FileModule>> {
  const out = new Map<string, FileModule>();
  const rawModules = (fileRaw.modules ?? {}) as Record<string, Obj>;
  for (const [name, spec] of Object.entries(manifest.modules)) {
    const wasm = await Deno.readFile(spec.wasm.resolved);
    const sha256 = await sha256Hex(wasm);
    const data = new Map<string, Uint8Array>();
    const digests = new Map<string, string>();
    for (const [key, d] of Object.entries(spec.data)) {
      const bytes = await Deno.readFile(d.resolved);
      data.set(key, bytes);
      digests.set(key, await sha256Hex(bytes));
    }
    const entry = structuredClone(rawModules[name] ?? {});
    const fingerprint = sha256Text(canonicalJson({ entry, wasm: sha256, data: [...digests].sort() }));
    out.set(name, { entry, wasm, sha256, data, digests, fingerprint });
  }
  return out;
}

/**
 * Rewrites the raw file's image modules as the file modules they now are (`wasm`, `sha256` and `signature`
 * naming blobs) and drops the refused ones, so the merged manifest loads them like any other.
 */
function pointImages(fileRaw: Obj, manifest: LoadedManifest, refused: ReadonlyMap<string, string>): void {
  const rawModules = (fileRaw.modules ?? {}) as Record<string, Obj>;
  for (const name of refused.keys()) delete rawModules[name];
  for (const [name, spec] of Object.entries(manifest.modules)) {
    const entry = Object.hasOwn(rawModules, name) ? rawModules[name] : undefined;
    if (spec.image === undefined || !entry || typeof entry !== "object") continue;
    delete entry.image;
    entry.wasm = spec.wasm.resolved;
    if (spec.sha256 !== undefined) entry.sha256 = spec.sha256;
    if (spec.signature !== undefined) entry.signature = spec.signature;
  }
}

/** The per-module fingerprints the last start recorded, or null before the first. */
function fingerprintsOf(last: ReturnType<typeof lastManifestRecord>): Map<string, string> | null {
  if (last === null) return null;
  const modules = (last.entry as { modules?: Record<string, string> } | null)?.modules ?? {};
  return new Map(Object.entries(modules));
}

/**
 * The version of a module the file decides: the one it runs when nothing differs, else a new one (its
 * binary and data blobs stored first).
 */
async function manifestVersion(
  db: DatabaseSync,
  blobs: BlobStore,
  name: string,
  file: FileModule,
  desire: ModuleDesire | undefined,
): Promise<ModuleVersion> {
  const entry = storedEntry(file.entry);
  const current = desire?.versionSeq != null ? getVersion(db, name, desire.versionSeq) : null;
  if (current && sameVersion(current, file.sha256, entry, file.digests)) return current;
  await blobs.put(file.wasm);
  for (const bytes of file.data.values()) await blobs.put(bytes);
  return inTransaction(db, () =>
    createVersion(db, {
      module: name,
      sha256: file.sha256,
      entry,
      data: file.digests,
      source: "manifest",
      actor: MANIFEST_ACTOR,
    }));
}

/** Whether a kept version has this binary, entry and data. */
export function sameVersion(
  v: ModuleVersion,
  sha256: string,
  entry: Obj,
  digests: ReadonlyMap<string, string>,
): boolean {
  return v.sha256 === sha256 && canonicalJson(v.entry) === canonicalJson(entry) &&
    canonicalJson([...v.data].sort()) === canonicalJson([...digests].sort());
}

/** Why a kept version's stored files cannot be run (one changed or vanished), or null. */
async function blobProblem(blobs: BlobStore, version: ModuleVersion): Promise<string | null> {
  try {
    await blobs.verify(version.sha256);
    for (const d of version.data.values()) await blobs.verify(d);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Builds the merged manifest of the chosen modules and validates it. A module from the record that the file's
 * policy now refuses is dropped and marked refused; then, if it is still invalid, every module from the
 * record is (the file alone was valid).
 */
async function mergeValid(
  fileRaw: Obj,
  manifest: LoadedManifest,
  chosen: Map<string, ModuleVersion | "file">,
  decisions: ModuleDecision[],
  options: ResolveOptions,
): Promise<{ manifest: LoadedManifest; raw: Obj }> {
  const stopped = new Set(decisions.filter((d) => d.state === "stopped").map((d) => d.module));
  const build = () => {
    const raw = structuredClone(fileRaw);
    absolutePaths(raw, manifest.dir);
    const fileModules = (raw.modules ?? {}) as Record<string, Obj>;
    const modules = Object.create(null) as Record<string, Obj>;
    for (const [name, pick] of chosen) {
      if (pick === "file") {
        const entry = fileModules[name]!;
        modules[name] = stopped.has(name) ? { ...entry, enabled: false } : entry;
      } else {
        modules[name] = entryOf(pick, options.blobs, !stopped.has(name));
        absoluteEntryPaths(modules[name]!, manifest.dir);
      }
    }
    raw.modules = modules;
    return raw;
  };
  const refuse = (name: string, why: string) => {
    chosen.delete(name);
    const d = decisions.find((x) => x.module === name)!;
    d.state = "refused";
    d.error = why;
  };
  for (let attempt = 0;; attempt++) {
    const raw = build();
    try {
      return { manifest: await loadMerged(raw, options.dataDir), raw };
    } catch (err) {
      if (!(err instanceof ManifestError) || attempt > 1) throw err;
      const stored = [...chosen].filter(([, pick]) => pick !== "file").map(([name]) => name);
      if (stored.length === 0) throw err;
      const mine = (name: string) => err.issues.filter((i) => i.path.startsWith(`modules.${name}.`));
      const blamed = stored.filter((name) => mine(name).length > 0);
      const targets = blamed.length > 0 ? blamed : stored;
      for (const name of targets) {
        const issues = blamed.length > 0 ? mine(name) : err.issues;
        refuse(
          name,
          `the manifest file's policy refuses it now: ${
            issues.map((i) => `${i.path}: ${i.message}`).join("; ")
          }`,
        );
      }
    }
  }
}

/**
 * Drops versions past `keep` of every module (never the one each runs), then the blobs no kept version
 * names.
 */
async function pruneAll(
  db: DatabaseSync,
  blobs: BlobStore,
  modules: ReadonlyMap<string, ModuleDesire>,
  keep: number,
): Promise<void> {
  let gone = 0;
  for (const module of listVersionedModules(db)) {
    const seq = modules.get(module)?.versionSeq;
    gone += pruneVersions(db, module, { keep, pinned: seq == null ? [] : [seq] }).length;
  }
  if (gone > 0) await blobs.collect(referencedDigests(db));
}
