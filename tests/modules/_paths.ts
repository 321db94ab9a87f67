/**
 * Paths of the example modules for the module tests. Private to `tests/modules/`.
 *
 * @module
 */

/** The repository's `modules/` folder. */
export const MODULES_DIR = new URL("../../modules/", import.meta.url);

/** Reads a built module, e.g. `"fft/fft.wasm"`. */
export function readModule(path: string): Promise<Uint8Array<ArrayBuffer>> {
  return Deno.readFile(new URL(path, MODULES_DIR));
}
