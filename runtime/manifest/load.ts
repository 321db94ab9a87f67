/**
 * Loading a manifest file: read, validate, resolve the `wasm` and `data` paths against the manifest's
 * directory, and check those files exist. The files are not read or hashed here: the module host does that
 * when it loads a module.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { PathSegment, RawIssue } from "./_document.ts";
import { ManifestError, ManifestNotFoundError, ManifestReadError } from "./errors.ts";
import { toIssues, validateManifest } from "./parse.ts";
import type { Manifest, ModuleSpec } from "./schema.ts";

/** A file the manifest references: as written, and resolved. */
export interface ResolvedFile {
  /** The path as written in the manifest, relative to the manifest's directory (or absolute). */
  readonly path: string;
  /** The absolute path. */
  readonly resolved: string;
  /** The pinned sha256 (lowercase hex), when the manifest gives one. */
  readonly sha256?: string | undefined;
}

/**
 * A module spec whose `wasm` and `data` paths are resolved. An `image` module's `wasm` is
 * `{ path: "", resolved: "" }` until `resolveImages` (`runtime/lifecycle/images.ts`) points it at the pulled
 * blob.
 */
export type LoadedModuleSpec = Omit<ModuleSpec, "wasm" | "data"> & {
  readonly wasm: ResolvedFile;
  readonly data: Readonly<Record<string, ResolvedFile>>;
};

/** A manifest loaded from a file, with its modules' files resolved. */
export type LoadedManifest = Omit<Manifest, "modules"> & {
  /** The manifest file's absolute path. */
  readonly file: string;
  /** The directory relative paths were resolved against. */
  readonly dir: string;
  readonly modules: Readonly<Record<string, LoadedModuleSpec>>;
};

/**
 * Reads, validates and resolves a manifest file (YAML or JSON).
 *
 * @example
 * ```ts ignore
 * import { loadManifest } from "./load.ts";
 *
 * const manifest = await loadManifest("examples/demo.yaml");
 * manifest.modules.fft?.wasm.resolved; // "/…/modules/fft/fft.wasm"
 * ```
 *
 * @throws {ManifestNotFoundError} when the file does not exist.
 * @throws {ManifestReadError} when it cannot be read (a directory, no permission, not UTF-8).
 * @throws {ManifestError} listing every problem, including `wasm` and `data` files that do not exist.
 */
export async function loadManifest(path: string): Promise<LoadedManifest> {
  const text = await readManifestText(path);
  const file = resolve(path);
  const dir = dirname(file);
  const { doc, issues, manifest } = validateManifest(text);
  const all = doc.hasSyntaxErrors ? issues : [...issues, ...await checkFiles(doc.data, dir)];
  if (all.length > 0 || manifest === undefined) throw new ManifestError(toIssues(doc, all), path);
  // Records without a prototype: their keys are the manifest's names.
  const modules = Object.create(null) as Record<string, LoadedModuleSpec>;
  for (const [name, spec] of Object.entries(manifest.modules)) {
    const data = Object.create(null) as Record<string, ResolvedFile>;
    for (const [key, blob] of Object.entries(spec.data)) {
      data[key] = { ...blob, resolved: resolve(dir, blob.path) };
    }
    // An image module has no file yet: resolveImages fills its wasm in at the start.
    const wasm = spec.wasm === undefined
      ? { path: "", resolved: "" }
      : { path: spec.wasm, resolved: resolve(dir, spec.wasm) };
    modules[name] = { ...spec, wasm, data };
  }
  return { ...manifest, file, dir, modules };
}

async function readManifestText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new ManifestNotFoundError(path, { cause: err });
    throw new ManifestReadError(path, readFailure(err), { cause: err });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new ManifestReadError(path, "it is not UTF-8 text", { cause: err });
  }
}

/** Checks that every `wasm` and `data` file named in the raw document exists; tolerant of schema errors. */
async function checkFiles(raw: unknown, dir: string): Promise<RawIssue[]> {
  const issues: RawIssue[] = [];
  const check = async (path: unknown, at: PathSegment[]) => {
    if (typeof path !== "string" || path === "") return; // the schema reports it
    const problem = await fileProblem(resolve(dir, path));
    if (problem !== null) issues.push({ path: at, message: `file "${path}" ${problem}` });
  };
  for (const [name, spec] of Object.entries(asObj(asObj(raw)?.modules) ?? {})) {
    const module = asObj(spec);
    await check(module?.wasm, ["modules", name, "wasm"]);
    for (const [key, blob] of Object.entries(asObj(module?.data) ?? {})) {
      if (typeof blob === "string") await check(blob, ["modules", name, "data", key]);
      else await check(asObj(blob)?.path, ["modules", name, "data", key, "path"]);
    }
  }
  return issues;
}

/** Why the file at `resolved` cannot be used, or null when it is a readable regular file. */
async function fileProblem(resolved: string): Promise<string | null> {
  try {
    const info = await Deno.stat(resolved);
    return info.isFile ? null : `is not a regular file (${resolved})`;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return `does not exist (looked for ${resolved})`;
    return `cannot be read: ${readFailure(err)} (${resolved})`;
  }
}

function readFailure(err: unknown): string {
  if (err instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.NotCapable) {
    return "Kiln was not given read permission for it (--allow-read)";
  }
  return err instanceof Error ? err.message : String(err);
}

function asObj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}
