/**
 * The demo a `kiln run` without a manifest runs, when this Kiln is a bundle that carries it (`embed/`): its
 * manifest, modules and data are written under `<data>/demo/` with their repository layout, so the
 * manifest's relative paths (`../modules/fft/fft.wasm`) resolve there and the loader, the signature checks
 * and the sandbox's read grants treat them like any other files. Writing them out is a smaller change than
 * teaching every reader (manifest, loader, desired state, grants) to take bytes, and the data directory is
 * already readable and writable by the narrowed process.
 *
 * Each file is checked by sha256 against the embedded copy on every start and rewritten (through a
 * temporary file and a rename) when it differs or is missing, so an edited or damaged copy never runs.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { KilnError } from "../errors.ts";
import { getEmbedded, listEmbedded } from "../embed/mod.ts";
import { sha256Hex } from "../runtime/loader.ts";

/** The embedded demo manifest's repository path. */
const DEMO_PATH = "examples/demo.yaml";

/** The folder under the data directory that holds the unpacked demo. */
export const DEMO_DIR = "demo";

/** The embedded demo could not be written into the data directory. */
export class DemoUnpackError extends KilnError {
  readonly code = "demo_unpack_failed";
  readonly kind = "unavailable";
  /** @param path The file that could not be written, absolute. */
  constructor(readonly path: string, options?: ErrorOptions) {
    super(
      `Cannot write the embedded demo file "${path}": ${(options?.cause as Error | undefined)?.message}`,
      options,
    );
  }
}

/**
 * Writes the embedded demo under `<dataDir>/demo/` (only the files whose sha256 differs from the embedded
 * copy) and returns its manifest's absolute path; null when this Kiln carries no demo (the source tree, where
 * `examples/demo.yaml` is read in place).
 *
 * @throws {DemoUnpackError} when a file cannot be written (permissions, a full disk).
 */
export async function unpackEmbeddedDemo(dataDir: string): Promise<string | null> {
  if (getEmbedded(DEMO_PATH) === null) return null;
  const root = resolve(dataDir, DEMO_DIR);
  // The demo's modules, not the SDK sources embedded for `kiln new` (cli/new.ts).
  const modules = listEmbedded("modules/").filter((p) => !p.startsWith("modules/sdk/"));
  for (const path of [DEMO_PATH, ...modules]) {
    const bytes = getEmbedded(path)!;
    const target = join(root, path);
    if (await sameContent(target, bytes)) continue;
    const tmp = `${target}.tmp-${crypto.randomUUID()}`;
    try {
      await Deno.mkdir(dirname(target), { recursive: true });
      await Deno.writeFile(tmp, bytes, { mode: 0o644 });
      await Deno.rename(tmp, target);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {}); // the error below says what failed
      throw new DemoUnpackError(target, { cause: err });
    }
  }
  return join(root, DEMO_PATH);
}

/** True when the file at `path` exists and has `bytes`' sha256. */
async function sameContent(path: string, bytes: Uint8Array): Promise<boolean> {
  let onDisk: Uint8Array;
  try {
    onDisk = await Deno.readFile(path);
  } catch {
    return false; // missing or unreadable: written again
  }
  if (onDisk.length !== bytes.length) return false;
  const [a, b] = await Promise.all([sha256Hex(onDisk), sha256Hex(bytes)]);
  return a === b;
}
