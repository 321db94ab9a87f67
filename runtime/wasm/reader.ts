/**
 * The module reader: checks the header, walks every section with bounds checks and decodes what the host
 * needs to vet a module before V8 compiles it (WebAssembly core spec §5). Function bodies are located, not
 * decoded: a code decoder for the instrumenter slots in per {@linkcode CodeBody}.
 *
 * @module
 */
import { Cursor } from "./_cursor.ts";
import { createBuilder, SECTION_READERS } from "./_sections.ts";
import { WasmFormatError } from "./errors.ts";
import type { FuncType, SectionName, WasmModuleInfo } from "./types.ts";

/** Section names by id (core spec §5.5.2; 13 is the exception-handling proposal's tag section). */
export const SECTION_NAMES: Readonly<Record<number, SectionName>> = {
  0: "custom",
  1: "type",
  2: "import",
  3: "function",
  4: "table",
  5: "memory",
  6: "global",
  7: "export",
  8: "start",
  9: "element",
  10: "code",
  11: "data",
  12: "datacount",
  13: "tag",
};

/** The required order of non-custom sections (core spec §5.5.16): data count comes before code. */
export const SECTION_RANK: Readonly<Record<number, number>> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

/**
 * Reads and checks a module binary: the header, every section's bounds and order, and the contents of the
 * type, import, function, table, memory, tag, global, export, start, element, data count, code and data
 * sections. Function bodies are located (ranges and local counts) but their instructions are not
 * validated; V8 does that when it compiles.
 *
 * @param bytes The binary, e.g. the contents of a `.wasm` file.
 * @returns What the module declares, with the byte range of every section.
 * @throws {WasmFormatError} When the binary is malformed: bad magic or version, a section or item that
 *   runs past its bounds, a malformed LEB128, a count larger than the bytes left, an index out of range.
 * @throws {WasmUnsupportedError} When the module uses a feature Kiln refuses: memory64, GC types.
 * @throws {TypeError} When `bytes` is not a `Uint8Array`.
 */
export function readModule(bytes: Uint8Array): WasmModuleInfo {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("Cannot read a module: bytes must be a Uint8Array");
  readHeader(bytes);
  const m = createBuilder();
  const file: Cursor = new Cursor(bytes, 8, bytes.length, "The module");
  let lastRank = 0;
  while (file.pos < bytes.length) {
    const start = file.pos;
    const id = file.byte("a section id");
    const name = SECTION_NAMES[id];
    if (name === undefined) file.fail(`Unknown section id ${id} at byte ${start}`, start);
    const label = `Section ${id} (${name})`;
    const size = file.u32(`the size of ${label.toLowerCase()}`);
    const payloadStart = file.pos;
    if (size > file.remaining) {
      throw new WasmFormatError(
        `${label} at byte ${start} declares ${size} bytes but only ${file.remaining} remain`,
        { offset: start, section: name },
      );
    }
    if (id !== 0) {
      const rank = SECTION_RANK[id]!;
      if (rank <= lastRank) {
        const seen = m.sections.some((s) => s.id === id);
        throw new WasmFormatError(
          `${label} at byte ${start} ${seen ? "appears twice" : "is out of order"} (core spec §5.5.16)`,
          { offset: start, section: name },
        );
      }
      lastRank = rank;
    }
    const end = payloadStart + size;
    m.sections.push({ id, name, start, payloadStart, end });
    const c = new Cursor(bytes, payloadStart, end, label, name);
    SECTION_READERS[id]!(c, m);
    if (c.pos !== end) {
      c.fail(
        `${label} declares ${size} bytes but its content ends at byte ${c.pos}, ${end - c.pos} early`,
        c.pos,
      );
    }
    file.pos = end;
  }
  if (!m.sawCode && m.functions.length > 0) {
    throw new WasmFormatError(
      `The module declares ${m.functions.length} functions but has no code section`,
      { offset: bytes.length },
    );
  }
  if (!m.sawData && m.dataCount !== null && m.dataCount !== 0) {
    throw new WasmFormatError(
      `The data count section declares ${m.dataCount} data segments but there is no data section`,
      { offset: bytes.length },
    );
  }
  const { imported: _i, funcTypes: _f, sawCode: _c, sawData: _d, ...info } = m;
  return { sizeBytes: bytes.length, ...info };
}

/**
 * The type of function `index` (imported functions first, then defined ones), or `null` when there is no
 * such function.
 */
export function getFunctionType(
  info: Pick<WasmModuleInfo, "imports" | "functions" | "types">,
  index: number,
): FuncType | null {
  const imported = info.imports.filter((i) => i.kind === "function");
  const fn = imported[index];
  const typeIndex = fn !== undefined ? fn.typeIndex : info.functions[index - imported.length];
  return typeIndex === undefined ? null : info.types[typeIndex] ?? null;
}

function readHeader(bytes: Uint8Array): void {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  for (let i = 0; i < 4; i++) {
    if (i >= bytes.length) {
      throw new WasmFormatError(`The module is ${bytes.length} bytes long, too short for the 8-byte header`, {
        offset: bytes.length,
      });
    }
    if (bytes[i] !== magic[i]) {
      throw new WasmFormatError(
        `Not a WebAssembly module: it does not start with the magic bytes "\\0asm" (byte ${i} differs)`,
        { offset: i },
      );
    }
  }
  if (bytes.length < 8) {
    throw new WasmFormatError(`The module is ${bytes.length} bytes long, too short for the 8-byte header`, {
      offset: bytes.length,
    });
  }
  const version = bytes[4]! | bytes[5]! << 8 | bytes[6]! << 16 | bytes[7]! << 24;
  if (version !== 1) {
    // 0x0d 0x00 0x01 0x00 is a component (component model), not a core module.
    const what = bytes[6] === 1 ? "a WebAssembly component, not a core module" : `version ${version >>> 0}`;
    throw new WasmFormatError(`Unsupported binary at byte 4: ${what}; Kiln reads core modules of version 1`, {
      offset: 4,
    });
  }
}
