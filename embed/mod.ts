/**
 * Files that Kiln reads at run time, carried inside a bundle: the schema migrations, and the demo manifest
 * with its modules and data for a `kiln run` without a manifest. From the source tree nothing is embedded
 * and every reader falls back to the file beside the source. `deno task bundle` (`scripts/bundle.ts`) bundles
 * `main.ts` with `embed/files.ts` imported first, which fills this registry before anything else runs, so a
 * `dist/` copied anywhere reads nothing from beside itself.
 *
 * Paths are relative to the repository root, with `/` separators (`snapshots/migrations/001_audit.sql`).
 *
 * @example
 * ```ts
 * import { embedFiles, getEmbedded } from "./mod.ts";
 *
 * embedFiles([["examples/demo.yaml", new TextEncoder().encode("version: 1\n")]]);
 * getEmbedded("examples/demo.yaml")?.length; // 11
 * getEmbedded("examples/plant.yaml"); // null
 * ```
 *
 * @module
 */

/** Embedded files by repository path; a `Map`, since the paths are data. */
const files = new Map<string, Uint8Array>();

/**
 * Registers embedded files by repository path (a later registration of the same path replaces it). Called
 * once, by the bundle's entry, before anything reads them.
 *
 * @throws {TypeError} when a path is absolute, uses `\`, or has an empty, `.` or `..` segment.
 */
export function embedFiles(entries: Iterable<readonly [string, Uint8Array]>): void {
  for (const [path, bytes] of entries) {
    if (
      path.startsWith("/") || path.includes("\\") ||
      path.split("/").some((s) => s === "" || s === "." || s === "..")
    ) {
      throw new TypeError(`Cannot embed "${path}": expected a relative path inside the repository`);
    }
    files.set(path, bytes);
  }
}

/** The embedded bytes at a repository path, or null when that file is not embedded (the source tree). */
export function getEmbedded(path: string): Uint8Array | null {
  return files.get(path) ?? null;
}

/** The embedded repository paths that start with `prefix`, sorted. */
export function listEmbedded(prefix: string = ""): string[] {
  return [...files.keys()].filter((p) => p.startsWith(prefix)).sort();
}
