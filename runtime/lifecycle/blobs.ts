/**
 * Module binaries and data blobs, stored content-addressed in the data directory: `blobs/sha256/<hex>`, the
 * file's name its SHA-256. A blob is written to a temporary file, flushed to disk and renamed into place (a
 * rename within a folder is atomic), then the folder is flushed, so a power loss leaves the whole file or
 * none. Every read checks the digest: a file changed on disk is refused, never run.
 *
 * @module
 */
import { join } from "node:path";
import { sha256Hex } from "../loader.ts";
import { BlobCorruptError, BlobMissingError } from "./errors.ts";

const HEX = /^[0-9a-f]{64}$/;

/** The content-addressed blobs of one data directory. */
export class BlobStore {
  /** `<data>/blobs/sha256`. */
  readonly dir: string;

  /** @param dataDir The runtime's data directory. */
  constructor(dataDir: string) {
    this.dir = join(dataDir, "blobs", "sha256");
  }

  /**
   * The path of the blob with digest `sha256`.
   *
   * @throws {RangeError} when `sha256` is not 64 lowercase hexadecimal digits.
   */
  path(sha256: string): string {
    if (!HEX.test(sha256)) throw new RangeError(`Not a sha256 digest: "${sha256}"`);
    return join(this.dir, sha256);
  }

  /**
   * Stores `bytes` (unless a good copy is there already: a changed copy is replaced) and returns their
   * sha256.
   */
  async put(bytes: Uint8Array): Promise<string> {
    const sha256 = await sha256Hex(bytes);
    const path = this.path(sha256);
    try {
      if (await sha256Hex(await Deno.readFile(path)) === sha256) return sha256;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await Deno.mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${sha256}.${crypto.randomUUID()}.tmp`);
    try {
      using file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync(); // the bytes reach the disk before the name does
      await Deno.rename(tmp, path);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {}); // the error below says what failed
      throw err;
    }
    // The rename itself is durable once the folder is flushed (ext4 and xfs need it after a rename).
    using folder = await Deno.open(this.dir, { read: true });
    await folder.sync();
    return sha256;
  }

  /**
   * Reads a blob and checks its digest.
   *
   * @throws {BlobMissingError} when it is not there or cannot be read.
   * @throws {BlobCorruptError} when its content no longer has the digest it is stored under.
   */
  async read(sha256: string): Promise<Uint8Array> {
    const path = this.path(sha256);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (err) {
      const reason = err instanceof Deno.errors.NotFound ? "it does not exist" : (err as Error).message;
      throw new BlobMissingError(path, reason, { cause: err });
    }
    const actual = await sha256Hex(bytes);
    if (actual !== sha256) throw new BlobCorruptError(path, sha256, actual);
    return bytes;
  }

  /**
   * Checks a blob's digest without keeping its bytes.
   *
   * @throws {BlobMissingError | BlobCorruptError} as {@linkcode BlobStore.read}.
   */
  async verify(sha256: string): Promise<void> {
    await this.read(sha256);
  }

  /** Deletes every blob whose digest is not in `keep` (and leftover temporary files); returns how many. */
  async collect(keep: ReadonlySet<string>): Promise<number> {
    let removed = 0;
    try {
      for await (const e of Deno.readDir(this.dir)) {
        if (!e.isFile || keep.has(e.name)) continue;
        if (!HEX.test(e.name) && !e.name.endsWith(".tmp")) continue; // not ours
        await Deno.remove(join(this.dir, e.name));
        removed++;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return removed;
  }
}
