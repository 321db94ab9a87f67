/**
 * Load-time limits written into the binary itself: the memory cap (`limits.max_memory_mb`) becomes the
 * module's declared maximum, so V8 enforces it and `memory.grow` past it returns -1 inside the module
 * (core spec §4.4.7.13: grow fails when it would exceed the maximum).
 *
 * @module
 */
import { encodeUnsigned } from "./_leb128.ts";
import { MAX_PAGES } from "./_decode.ts";
import { replaceSectionPayload } from "./_emit.ts";
import { ImportedMemoryError, LimitExceededError } from "./errors.ts";
import { readModule } from "./reader.ts";
import type { MemoryType, WasmModuleInfo } from "./types.ts";

/** Size of a WebAssembly memory page in bytes (64 KiB). */
export const PAGE_SIZE_BYTES = 65536;

/** Pages in one MiB. */
const PAGES_PER_MIB = 16;

/**
 * Returns a copy of a module binary whose defined memories have maximum `min(declared maximum, maxPages)`,
 * adding a maximum where none is declared. Only the memory section is re-encoded (its LEB128 widths and so
 * its size may change); every other byte is copied. A module without a memory is returned as an unchanged
 * copy: the host's ABI check refuses it.
 *
 * @param bytes The module binary.
 * @param maxPages The cap in 64 KiB pages, 0 to 65536 (`max_memory_mb * 16`).
 * @returns A new binary; `bytes` is not modified.
 * @throws {LimitExceededError} `limit: "max_memory_mb"` when a memory's initial size is already above the
 *   cap; `requested` and `allowed` are in MiB (pages / 16).
 * @throws {ImportedMemoryError} When the module imports a memory (refused by Kiln ABI v1).
 * @throws {WasmFormatError} When the binary is malformed (see {@linkcode readModule}).
 * @throws {WasmUnsupportedError} When the module uses a feature Kiln refuses (memory64).
 * @throws {RangeError} When `maxPages` is not an integer in 0 to 65536.
 *
 * @example Cap a module at 1 MiB
 * ```ts ignore
 * const capped = capMemory(await Deno.readFile("filter.wasm"), 1 * 16);
 * const module = new WebAssembly.Module(capped);
 * ```
 */
export function capMemory(bytes: Uint8Array, maxPages: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(maxPages) || maxPages < 0 || maxPages > MAX_PAGES) {
    throw new RangeError(
      `Cannot cap memory at ${maxPages} pages: expected an integer from 0 to ${MAX_PAGES}`,
    );
  }
  const info = readModule(bytes);
  for (const imp of info.imports) {
    if (imp.kind === "memory") throw new ImportedMemoryError(imp.module, imp.name);
  }
  const section = info.sections.find((s) => s.name === "memory");
  if (section === undefined || info.memories.length === 0) return Uint8Array.from(bytes);

  info.memories.forEach((memory, index) => {
    if (memory.min > maxPages) {
      throw new LimitExceededError(
        "max_memory_mb",
        memory.min / PAGES_PER_MIB,
        maxPages / PAGES_PER_MIB,
        `Memory ${index} needs ${memory.min} pages (${formatMib(memory.min)} MiB) initially but ` +
          `limits.max_memory_mb allows ${maxPages} pages (${formatMib(maxPages)} MiB)`,
      );
    }
  });
  if (info.memories.every((m) => m.max !== null && m.max <= maxPages)) return Uint8Array.from(bytes);

  const payload = [...encodeUnsigned(info.memories.length)];
  for (const memory of info.memories) {
    payload.push(...encodeMemoryType({ ...memory, max: Math.min(memory.max ?? maxPages, maxPages) }));
  }
  return replaceSectionPayload(bytes, section, payload);
}

/** Encodes a 32-bit memory type: limits flags (bit 0 maximum, bit 1 shared), min, then max when present. */
function encodeMemoryType(memory: MemoryType): number[] {
  const flags = (memory.max === null ? 0 : 0x01) | (memory.shared ? 0x02 : 0);
  const out = [flags, ...encodeUnsigned(memory.min)];
  if (memory.max !== null) out.push(...encodeUnsigned(memory.max));
  return out;
}

/** Pages as MiB with at most two decimals: 16 → "1", 1 → "0.06", 24 → "1.5". */
export function formatMib(pages: number): string {
  return String(Math.round((pages / PAGES_PER_MIB) * 100) / 100);
}

/**
 * Bytes V8 may hold for one instance besides its linear memory, as Kiln counts them against
 * `max_memory_mb`: each table at its declared maximum (a reference and a dispatch entry per element), each
 * defined global, each element of the element segments (kept for `table.init`). An upper bound by construction: a table
 * cannot grow past its maximum (the ABI check requires one), and the others are fixed at instantiation.
 */
export interface Footprint {
  /** Tables at their maximum: {@linkcode TABLE_ELEMENT_BYTES} per element plus {@linkcode TABLE_BYTES}. */
  tableBytes: number;
  /** {@linkcode GLOBAL_BYTES} per defined global. */
  globalBytes: number;
  /** {@linkcode TABLE_ELEMENT_BYTES} per element of every element segment. */
  elementBytes: number;
  /** The sum: what the memory cap leaves less room for. */
  totalBytes: number;
}

/** Bytes counted per table element: V8 keeps a reference and a signature-and-target entry for each. */
export const TABLE_ELEMENT_BYTES = 16;
/** Bytes counted per table, whatever its size: its objects. */
export const TABLE_BYTES = 256;
/** Bytes counted per defined global: the widest value (v128). */
export const GLOBAL_BYTES = 16;

/**
 * Counts what an instance of the module may hold outside its linear memory (see {@linkcode Footprint}).
 *
 * @param info The decoded module.
 */
export function footprintOf(info: WasmModuleInfo): Footprint {
  const elementEntries = info.elementEntries;
  let tableBytes = 0;
  for (const t of info.tables) tableBytes += TABLE_BYTES + (t.max ?? t.min) * TABLE_ELEMENT_BYTES;
  const globalBytes = info.globals.length * GLOBAL_BYTES;
  const elementBytes = elementEntries * TABLE_ELEMENT_BYTES;
  return { tableBytes, globalBytes, elementBytes, totalBytes: tableBytes + globalBytes + elementBytes };
}
