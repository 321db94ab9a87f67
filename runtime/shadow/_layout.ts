/**
 * Whether a shadow candidate can be resumed from the live build's memory image (`start: "image"`,
 * `docs/shadow.md`): a hint from the two binaries' declared layout, never a proof. Two builds that differ in
 * their initial memory, their mutable globals or where and how much static data they place cannot share an
 * image; two that agree on all of it may still lay a structure out differently, so agreement says nothing.
 *
 * @module
 */
import type { WasmModuleInfo } from "../wasm/mod.ts";

/**
 * What differs between the declared memory layouts of `live` and `candidate`, as one sentence, or null when
 * nothing visible does: the initial memory (pages), the mutable globals (number and types, in order), the
 * active data segments (number, offsets, sizes in bytes).
 */
export function layoutDifference(live: WasmModuleInfo, candidate: WasmModuleInfo): string | null {
  const pages = (m: WasmModuleInfo) => m.memories[0]?.min ?? 0;
  if (pages(live) !== pages(candidate)) {
    return `its initial memory is ${pages(candidate)} pages, the live build's ${pages(live)}`;
  }
  const globals = (m: WasmModuleInfo) => m.globals.filter((g) => g.mutable).map((g) => g.type).join(",");
  if (globals(live) !== globals(candidate)) {
    const n = (m: WasmModuleInfo) => m.globals.filter((g) => g.mutable).length;
    return `it has ${n(candidate)} mutable globals (${globals(candidate) || "none"}), the live build ` +
      `${n(live)} (${globals(live) || "none"})`;
  }
  const active = (m: WasmModuleInfo) => m.data.filter((d) => d.mode === "active");
  const a = active(live), b = active(candidate);
  if (a.length !== b.length) {
    return `it has ${b.length} active data segments, the live build ${a.length}`;
  }
  for (let i = 0; i < a.length; i++) {
    const l = a[i]!, c = b[i]!;
    if (l.offset !== c.offset || l.sizeBytes !== c.sizeBytes) {
      const at = (d: typeof l) => `${d.sizeBytes} bytes at ${d.offset ?? "a computed offset"}`;
      return `its data segment ${i} is ${at(c)}, the live build's ${at(l)}`;
    }
  }
  return null;
}
