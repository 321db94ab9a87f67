/**
 * Best-effort decoding of the `name` custom section (core spec §7.4.1): the module name and function
 * names. The spec asks that errors in custom sections never fail a module, so a malformed `name` section
 * yields whatever was read before the fault.
 *
 * @module
 */
import { Cursor } from "./_cursor.ts";
import { WasmFormatError, WasmUnsupportedError } from "./errors.ts";

/** What the `name` section gave. */
export interface NameSection {
  moduleName: string | null;
  functionNames: Map<number, string>;
}

/** Decodes the content of a `name` section, `[start, end)` after the section's own name. Never throws. */
export function readNameSection(bytes: Uint8Array, start: number, end: number): NameSection {
  const out: NameSection = { moduleName: null, functionNames: new Map() };
  const c = new Cursor(bytes, start, end, 'Custom section "name"', "custom");
  try {
    let lastId = -1;
    while (c.pos < c.end) {
      const id = c.byte("a name subsection id");
      const size = c.length(`name subsection ${id}`);
      const sub = new Cursor(bytes, c.pos, c.pos + size, `Name subsection ${id}`, "custom");
      c.pos += size;
      if (id <= lastId) break; // subsections must be in order and unique; stop at the first that is not
      lastId = id;
      if (id === 0) {
        out.moduleName = sub.name("the module name");
      } else if (id === 1) {
        const n = sub.count("function names", 2);
        for (let i = 0; i < n; i++) {
          const index = sub.u32("a function index");
          out.functionNames.set(index, sub.name(`the name of function ${index}`));
        }
      }
    }
  } catch (e) {
    if (!(e instanceof WasmFormatError || e instanceof WasmUnsupportedError)) throw e;
    // Keep what was decoded: names are debugging aid only (core spec §7.4).
  }
  return out;
}
