/**
 * The running deployment as a manifest: the manifest file's raw document (paths made absolute) with the
 * modules of the desired state merged in, checked by {@linkcode loadManifest} exactly as `kiln validate`
 * checks a file. Shared by the start, deploys and rollbacks. Private to `runtime/lifecycle/` and
 * `runtime/deployer.ts`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { isAbsolute, join, resolve } from "node:path";
import { stringify } from "yaml";
import type { ModuleVersion } from "../../snapshots/mod.ts";
import { type LoadedManifest, loadManifest, ManifestError } from "../manifest/mod.ts";
import { type ModulePlan, planDeployment } from "../plan.ts";
import type { BlobStore } from "./blobs.ts";

/** A raw manifest document or entry, as YAML parses it. */
export type Obj = Record<string, unknown>;

/** Rewrites a raw manifest's relative file paths (modules' wasm and data, MQTT's files) against `base`. */
export function absolutePaths(raw: Obj, base: string): void {
  for (const m of Object.values((raw.modules ?? {}) as Record<string, Obj>)) {
    if (m && typeof m === "object") absoluteEntryPaths(m, base);
  }
  const abs = (p: unknown) => typeof p === "string" && !isAbsolute(p) ? resolve(base, p) : p;
  const signatures = raw.signatures as Obj | undefined;
  if (signatures && typeof signatures === "object") {
    for (const k of ["trusted_roots", "crls"]) {
      if (Array.isArray(signatures[k])) signatures[k] = (signatures[k] as unknown[]).map(abs);
    }
  }
  const mqtt = (raw.connectors as Obj | undefined)?.mqtt as Obj | undefined;
  if (mqtt) {
    if ("password_file" in mqtt) mqtt.password_file = abs(mqtt.password_file);
    const tls = mqtt.tls as Obj | undefined;
    if (tls) { for (const k of ["ca_file", "cert_file", "key_file"]) if (k in tls) tls[k] = abs(tls[k]); }
  }
}

/** Rewrites one module entry's `wasm` and `data` paths against `base`. */
export function absoluteEntryPaths(m: Obj, base: string): void {
  const abs = (p: unknown) => typeof p === "string" && !isAbsolute(p) ? resolve(base, p) : p;
  m.wasm = abs(m.wasm);
  if ("signature" in m) m.signature = abs(m.signature);
  const data = m.data;
  if (!data || typeof data !== "object") return;
  for (const [k, d] of Object.entries(data as Obj)) {
    (data as Obj)[k] = typeof d === "string"
      ? abs(d)
      : d && typeof d === "object"
      ? { ...d as Obj, path: abs((d as Obj).path) }
      : d;
  }
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return v;
    // Null-prototype: the keys are the manifest's ("__proto__" included).
    const sorted = Object.create(null) as Obj;
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Obj)[k];
    return sorted;
  });
}

/** Hex SHA-256 of a string. */
export function sha256Text(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * A manifest entry without its `wasm` path, `sha256` pin and `signature` path: what a version stores (a
 * deploy's signature is an upload, kept as a blob: {@linkcode entryOf} puts its path back).
 */
export function storedEntry(entry: Obj): Obj {
  const { wasm: _wasm, sha256: _sha, signature: _sig, ...rest } = entry;
  return structuredClone(rest);
}

/**
 * A kept version's manifest entry, runnable: its `wasm` and data blobs point into the blob store, each
 * pinned to its digest, so the loader refuses a blob changed on disk.
 */
export function entryOf(version: ModuleVersion, blobs: BlobStore, enabled = true): Obj {
  const entry: Obj = {
    ...structuredClone(version.entry),
    wasm: blobs.path(version.sha256),
    sha256: version.sha256,
  };
  // A signed version's bundle is a blob too; its digest is the version's `signature`.
  if (version.signature !== null && /^[0-9a-f]{64}$/.test(version.signature)) {
    entry.signature = blobs.path(version.signature);
  }
  const data = entry.data;
  if (data && typeof data === "object") {
    for (const [key, value] of Object.entries(data as Obj)) {
      const digest = version.data.get(key);
      if (digest === undefined) continue; // the schema reports it
      const pinned = { path: blobs.path(digest), sha256: digest };
      (data as Obj)[key] = value && typeof value === "object" ? { ...value as Obj, ...pinned } : pinned;
    }
  }
  entry.enabled = enabled;
  return entry;
}

/**
 * Writes `raw` to `<data>/deployed/manifest.yaml` and loads it: every check of the device's manifest applies
 * (its policy and limits, the module count, channels), all or nothing.
 *
 * @throws {ManifestError} listing every issue, without line numbers (they are the merged file's, not the
 *   user's); a policy limit's issue keeps its limit, the value asked for and the value allowed.
 */
export async function loadMerged(raw: Obj, dataDir: string): Promise<LoadedManifest> {
  const dir = resolve(dataDir, "deployed");
  await Deno.mkdir(dir, { recursive: true });
  const file = join(dir, "manifest.yaml");
  await Deno.writeTextFile(file, stringify(raw));
  try {
    return await loadManifest(file);
  } catch (err) {
    if (err instanceof ManifestError) {
      throw new ManifestError(err.issues.map(({ line: _, column: __, ...issue }) => issue), null);
    }
    throw err;
  }
}

/** The plan of module `name` in a loaded merged manifest. */
export function modulePlanOf(manifest: LoadedManifest, name: string): ModulePlan {
  const plan = planDeployment(manifest).modules.find((m) => m.name === name);
  if (!plan) throw new TypeError(`The merged manifest has no module "${name}"`); // a bug: it was merged in
  return plan;
}
