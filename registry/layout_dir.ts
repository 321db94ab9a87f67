/**
 * A layout as a directory (image-spec `image-layout.md`), as `oras`, `skopeo` (`oci:`) and containerd read
 * it: written blobs first and `index.json` last, read back with a bound on the total.
 *
 * @module
 */
import { BundleError, type LayoutFiles, MAX_BUNDLE_BYTES } from "./layout.ts";

/**
 * Writes a layout's files into `dir` (created; it must not exist or be empty).
 *
 * @throws {BundleError} when `dir` holds files already
 */
export async function writeLayoutDir(dir: string, files: LayoutFiles): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  for await (const e of Deno.readDir(dir)) {
    if (e.name !== "blobs") throw new BundleError(`"${dir}"`, "the directory is not empty");
  }
  // Blobs first and index.json last: a reader of a half-written layout finds no index.
  const order = [...files.keys()].sort((a, b) => rank(a) - rank(b));
  for (const path of order) await Deno.writeFile(`${dir}/${path}`, files.get(path)!);
}

function rank(path: string): number {
  return path === "index.json" ? 2 : path === "oci-layout" ? 1 : 0;
}

/**
 * Reads a layout directory's files (`oci-layout`, `index.json`, `blobs/sha256/*`).
 *
 * @throws {BundleError} when it is over {@linkcode MAX_BUNDLE_BYTES} or holds something that is not a file
 */
export async function readLayoutDir(dir: string): Promise<LayoutFiles> {
  const files: LayoutFiles = new Map();
  let total = 0;
  const add = async (path: string) => {
    const bytes = await Deno.readFile(`${dir}/${path}`);
    total += bytes.length;
    if (total > MAX_BUNDLE_BYTES) throw new BundleError(`"${dir}"`, `it is over ${MAX_BUNDLE_BYTES} bytes`);
    files.set(path, bytes);
  };
  for (const path of ["oci-layout", "index.json"]) {
    try {
      await add(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      throw new BundleError(`"${dir}"`, `it has no ${path}: not an OCI image layout`);
    }
  }
  try {
    for await (const e of Deno.readDir(`${dir}/blobs/sha256`)) {
      if (!e.isFile) throw new BundleError(`"${dir}"`, `blobs/sha256/${e.name} is not a file`);
      await add(`blobs/sha256/${e.name}`);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return files;
}
