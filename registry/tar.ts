/**
 * A layout as one tar file (POSIX ustar, as `tar -cf` writes and skopeo's `oci-archive:` transport reads),
 * written and read with `tar-stream`. Reading takes regular files only: links, devices and paths that are
 * absolute or climb out (`..`) are refused, and the total is bounded, so an archive cannot write outside
 * the bundle or fill the memory.
 *
 * `tar-stream` loads at the first archive read or written, not with the gateway (whose fleet agent and image
 * pulls reach this module): about 12 ms of every start that never touches a tar file.
 *
 * @module
 */
// @ts-types="@types/tar-stream"
import type TarStream from "tar-stream"; // its types only: the package loads on first use
import { BundleError, type LayoutFiles, MAX_BUNDLE_BYTES } from "./layout.ts";

/** Writes `files` as a tar archive at `path` (through a temporary file and a rename). */
export async function writeLayoutTar(path: string, files: LayoutFiles): Promise<void> {
  const tar = await tarStream();
  const pack = tar.pack();
  const mtime = new Date(0); // reproducible: the same bundle gives the same bytes
  // Blobs first, index.json last (as in a directory): a streaming reader meets the index after its blobs.
  const names = [...files.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const dirs = ["blobs/", "blobs/sha256/"];
  for (const d of dirs) pack.entry({ name: d, type: "directory", mode: 0o755, mtime });
  for (const name of names) {
    const bytes = files.get(name)!;
    // tar-stream takes a Buffer or a string; a Uint8Array view over the same memory is what it writes.
    pack.entry({ name, size: bytes.length, mode: 0o644, mtime }, bytes as unknown as Buffer);
  }
  pack.finalize();
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    for await (const chunk of pack) {
      const c = chunk as Uint8Array;
      let written = 0;
      while (written < c.length) written += await file.write(c.subarray(written));
    }
    await file.sync();
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {}); // the error below says what failed
    throw err;
  }
}

async function tarStream(): Promise<typeof TarStream> {
  const { default: tar } = await import("tar-stream") as { default: typeof TarStream };
  return tar;
}

function rank(path: string): number {
  return path === "index.json" ? 2 : path === "oci-layout" ? 1 : 0;
}

/**
 * Reads a tar archive's regular files into memory, by their path with any leading `./` removed.
 *
 * @throws {BundleError} on a link, a device, an unsafe path, a duplicate, or more than
 *   {@linkcode MAX_BUNDLE_BYTES} in all
 */
export async function readLayoutTar(path: string): Promise<LayoutFiles> {
  const files: LayoutFiles = new Map();
  const { size: archiveBytes } = await Deno.stat(path);
  // The headers and padding add at most a few percent: the entries' own total is checked below.
  if (archiveBytes > MAX_BUNDLE_BYTES * 1.1) {
    throw new BundleError(
      `"${path}"`,
      `it is ${archiveBytes} bytes, over the ${MAX_BUNDLE_BYTES}-byte limit`,
    );
  }
  const tar = await tarStream();
  const extract = tar.extract();
  extract.end(await Deno.readFile(path) as unknown as Buffer);
  let total = 0;
  try {
    for await (const entry of extract) {
      const { name: raw, type, size } = entry.header;
      const name = raw.replace(/^(\.\/)+/, "");
      if (type === "directory") {
        entry.resume();
        continue;
      }
      if (type !== "file") throw new BundleError(`"${path}"`, `entry "${raw}" is a ${type}, not a file`);
      if (name.startsWith("/") || name.split("/").some((p) => p === ".." || p === "")) {
        throw new BundleError(`"${path}"`, `entry "${raw}" has an unsafe path`);
      }
      if (files.has(name)) throw new BundleError(`"${path}"`, `entry "${name}" appears twice`);
      total += size ?? 0;
      if (total > MAX_BUNDLE_BYTES) {
        throw new BundleError(`"${path}"`, `it is over ${MAX_BUNDLE_BYTES} bytes`);
      }
      const parts: Uint8Array[] = [];
      let length = 0;
      for await (const part of entry) {
        parts.push(part);
        length += part.length;
      }
      const bytes = new Uint8Array(length);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      files.set(name, bytes);
    }
  } catch (err) {
    extract.destroy();
    if (err instanceof BundleError) throw err;
    throw new BundleError(`"${path}"`, `not a readable tar archive: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return files;
}
