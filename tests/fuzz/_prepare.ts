/**
 * The harness's edits of binaryen's output before Kiln's pipeline sees it (see `Edits` in `_variant.ts`):
 * tables get the maximum ABI v1 requires, binaryen's hang limit is defused so that runaway loops really run
 * away, and the memory section is edited into the shapes Kiln must refuse (shared, 64-bit, a second memory)
 * or into one it must cap (no maximum) or run (unshared atomics).
 *
 * @module
 */
import { readModule } from "../../runtime/wasm/mod.ts";
import { boundTables, listSections, readMemories, replacePayload, writeMemories } from "./_binary.ts";
import type { Edits } from "./_variant.ts";

/** The export binaryen's translate-to-fuzz adds to reset its hang limit (its JS runner calls it first). */
export const HANG_LIMIT_EXPORT = "hangLimitInitializer";

/** `i32.const 2147483647; end`: the defused hang limit's initial value. */
const HUGE_I32_INIT = [0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0b];

/** The edited binary, and whether the hang limit was found and defused. */
export interface Prepared {
  bytes: Uint8Array<ArrayBuffer>;
  defused: boolean;
}

/**
 * Applies `edits` to a module binaryen generated. A module the edits cannot parse is passed on with the
 * edits it could make: Kiln's pipeline decides what it is.
 */
export function prepare(raw: Uint8Array, edits: Edits): Prepared {
  let bytes: Uint8Array = raw;
  let defused = false;
  try {
    bytes = boundTables(bytes);
    if (edits.defuse) {
      const out = defuseHangLimit(bytes);
      if (out) [bytes, defused] = [out, true];
    }
    const memories = readMemories(bytes);
    const first = memories[0];
    if (first) {
      if (edits.dropMemoryMax && (first.flags & 0x02) === 0) memories[0] = { ...first, max: null };
      if (edits.memory === "unshare") memories[0] = { ...first, flags: first.flags & ~0x02 };
      if (edits.memory === "share") {
        memories[0] = { ...first, flags: first.flags | 0x02, max: first.max ?? first.min };
      }
      if (edits.memory === "memory64") memories[0] = { ...first, flags: first.flags | 0x04 };
      if (edits.memory === "add") memories.push({ flags: 0, min: 1, max: null });
      bytes = writeMemories(bytes, memories);
    }
  } catch {
    // A binary the harness cannot edit goes to Kiln as far as it was edited.
  }
  return { bytes: Uint8Array.from(bytes), defused };
}

/**
 * Finds binaryen's hang-limit global (the one `hangLimitInitializer` sets with `i32.const N; global.set G`)
 * and makes its initial value 2^31 - 1, so a loop guarded by it runs for billions of iterations. Returns
 * null when the module has no such export or its body is not that shape.
 */
function defuseHangLimit(bytes: Uint8Array): Uint8Array | null {
  const info = readModule(bytes);
  const exp = info.exports.find((e) => e.name === HANG_LIMIT_EXPORT && e.kind === "function");
  const body = exp && info.code.find((b) => b.funcIndex === exp.index);
  if (!body) return null;
  let pos = body.exprStart;
  if (bytes[pos++] !== 0x41) return null; // i32.const
  while (bytes[pos++]! & 0x80);
  if (bytes[pos++] !== 0x24) return null; // global.set
  let index = 0, shift = 0, b: number;
  do {
    b = bytes[pos++]!;
    index |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  const imported = info.imports.filter((i) => i.kind === "global").length;
  const global = info.globals[index - imported];
  const section = info.sections.find((s) => s.name === "global");
  if (!global || !section || global.type !== "i32") return null;
  const raw = listSections(bytes).find((s) => s.start === section.start);
  if (!raw) return null;
  const payload = [
    ...bytes.subarray(section.payloadStart, global.initStart),
    ...HUGE_I32_INIT,
    ...bytes.subarray(global.initEnd, section.end),
  ];
  return replacePayload(bytes, raw, payload);
}
