/**
 * The attack suite's hostile modules: WAT sources under `fixtures/`, assembled for a case.
 *
 * @module
 */
import createWabt from "wabt";
import { wat } from "../_helpers.ts";
import { V8_FEATURES } from "../fixtures/wasm/wat.ts";

const wabt = await createWabt();

/** The folder of the hostile WAT sources. */
export const FIXTURES = new URL("./fixtures/", import.meta.url);

/** Reads and assembles `fixtures/<name>.wat`. */
export async function fixture(name: string): Promise<Uint8Array> {
  return wat(await Deno.readTextFile(new URL(`${name}.wat`, FIXTURES)), `${name}.wat`);
}

/**
 * Reads and assembles `fixtures/<name>.wat` with wabt features beyond those V8 ships on by default (e.g.
 * `{ multi_memory: true }`), for fixtures that need them.
 */
export async function fixtureWith(name: string, features: Record<string, boolean>): Promise<Uint8Array> {
  const module = wabt.parseWat(
    `${name}.wat`,
    await Deno.readTextFile(new URL(`${name}.wat`, FIXTURES)),
    { ...V8_FEATURES, ...features },
  );
  try {
    module.resolveNames();
    return Uint8Array.from(module.toBinary({ write_debug_names: true }).buffer);
  } finally {
    module.destroy();
  }
}
