/**
 * A few byte-level edits and checks of module binaries for the fuzz harness, written apart from Kiln's own
 * reader (`runtime/wasm/`) so that the oracle deciding whether a refusal was right is not the code under
 * test. Only what the harness needs: section boundaries, the memory section (limits flags: bit 0 a
 * maximum, bit 1 shared, bit 2 64-bit; core spec §5.3.7 and the threads and memory64 proposals), the table
 * section's limits, and the forms of the type section's entries.
 *
 * @module
 */

/** One top-level section: `[start, end)` is the whole section, `[payloadStart, end)` its payload. */
export interface RawSection {
  id: number;
  start: number;
  payloadStart: number;
  end: number;
}

/** One memory as the memory section declares it. */
export interface RawMemory {
  /** Limits flags: 0x01 has a maximum, 0x02 shared, 0x04 64-bit indices. */
  flags: number;
  min: number;
  max: number | null;
}

/** What the harness's own reading says a binary declares, to judge Kiln's verdict by. */
export interface BinaryFacts {
  /** Memories the memory section defines. */
  memories: number;
  /** True when a defined memory is shared. */
  shared: boolean;
  /** True when a defined memory has 64-bit indices. */
  memory64: boolean;
  /** True when the type section holds a type that is not a function type (a GC struct, array or rec group). */
  gcTypes: boolean;
}

const SECTION_MEMORY = 5;
const SECTION_TABLE = 4;
const SECTION_TYPE = 1;
const FORM_FUNC = 0x60;

/** Reads an unsigned LEB128 of up to 10 bytes at `pos`: the value (exact up to 2^53) and the next offset. */
export function readUnsigned(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= bytes.length) throw new RangeError(`Cannot read a LEB128 at ${pos}: the binary ends`);
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) return [value, pos];
  }
  throw new RangeError(`Cannot read a LEB128 at ${pos}: longer than 10 bytes`);
}

/** Encodes an unsigned LEB128 (values up to 2^53). */
export function encodeUnsigned(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const b = v % 128;
    v = Math.floor(v / 128);
    out.push(v > 0 ? b | 0x80 : b);
  } while (v > 0);
  return out;
}

/** The binary's top-level sections, in order. */
export function listSections(bytes: Uint8Array): RawSection[] {
  const out: RawSection[] = [];
  let pos = 8; // magic and version
  while (pos < bytes.length) {
    const start = pos;
    const id = bytes[pos++]!;
    const [size, payloadStart] = readUnsigned(bytes, pos);
    const end = payloadStart + size;
    if (end > bytes.length) throw new RangeError(`Section ${id} at ${start} runs past the end of the binary`);
    out.push({ id, start, payloadStart, end });
    pos = end;
  }
  return out;
}

/** A copy of `bytes` with `section`'s payload replaced (its size re-encoded). */
export function replacePayload(
  bytes: Uint8Array,
  section: RawSection,
  payload: ArrayLike<number>,
): Uint8Array<ArrayBuffer> {
  const head = [section.id, ...encodeUnsigned(payload.length)];
  const out = new Uint8Array(section.start + head.length + payload.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  out.set(head, section.start);
  out.set(payload, section.start + head.length);
  out.set(bytes.subarray(section.end), section.start + head.length + payload.length);
  return out;
}

/** The memories of the memory section (empty when there is none). */
export function readMemories(bytes: Uint8Array): RawMemory[] {
  const section = listSections(bytes).find((s) => s.id === SECTION_MEMORY);
  if (!section) return [];
  let [count, pos] = readUnsigned(bytes, section.payloadStart);
  const out: RawMemory[] = [];
  while (count-- > 0) {
    const flags = bytes[pos++]!;
    let min: number, max: number | null = null;
    [min, pos] = readUnsigned(bytes, pos);
    if (flags & 0x01) [max, pos] = readUnsigned(bytes, pos);
    out.push({ flags, min, max });
  }
  return out;
}

/** A copy of `bytes` whose memory section declares `memories` (the module must have a memory section). */
export function writeMemories(bytes: Uint8Array, memories: readonly RawMemory[]): Uint8Array<ArrayBuffer> {
  const section = listSections(bytes).find((s) => s.id === SECTION_MEMORY);
  if (!section) throw new RangeError("Cannot rewrite the memories: the module has no memory section");
  const payload = encodeUnsigned(memories.length);
  for (const m of memories) {
    const flags = m.max === null ? m.flags & ~0x01 : m.flags | 0x01;
    payload.push(flags, ...encodeUnsigned(m.min));
    if (m.max !== null) payload.push(...encodeUnsigned(m.max));
  }
  return replacePayload(bytes, section, payload);
}

/**
 * Gives every defined table without a maximum the maximum `min` (Kiln ABI v1 requires one: the loader
 * refuses a table without). Returns the bytes unchanged when every table has one, or when a table's
 * element type is not a one-byte reference type (left for the harness's table rule to refuse).
 */
export function boundTables(bytes: Uint8Array): Uint8Array {
  const section = listSections(bytes).find((s) => s.id === SECTION_TABLE);
  if (!section) return bytes;
  let [count, pos] = readUnsigned(bytes, section.payloadStart);
  const payload = encodeUnsigned(count);
  let changed = false;
  while (count-- > 0) {
    const refType = bytes[pos++]!;
    if (refType !== 0x70 && refType !== 0x6f) return bytes; // funcref, externref only
    const flags = bytes[pos++]!;
    if (flags & ~0x01) return bytes; // shared or 64-bit tables: leave to Kiln
    let min: number, max: number | null = null;
    [min, pos] = readUnsigned(bytes, pos);
    if (flags & 0x01) [max, pos] = readUnsigned(bytes, pos);
    if (max === null) changed = true;
    payload.push(refType, 0x01, ...encodeUnsigned(min), ...encodeUnsigned(max ?? min));
  }
  if (!changed || pos !== section.end) return bytes;
  return replacePayload(bytes, section, payload);
}

/** The binary's facts, for judging Kiln's verdict (see {@linkcode BinaryFacts}). */
export function factsOf(bytes: Uint8Array): BinaryFacts {
  const memories = readMemories(bytes);
  return {
    memories: memories.length,
    shared: memories.some((m) => (m.flags & 0x02) !== 0),
    memory64: memories.some((m) => (m.flags & 0x04) !== 0),
    gcTypes: hasNonFunctionType(bytes),
  };
}

/** True when the type section's first entry that is not a plain function type is found (GC, rec groups). */
function hasNonFunctionType(bytes: Uint8Array): boolean {
  const section = listSections(bytes).find((s) => s.id === SECTION_TYPE);
  if (!section) return false;
  let [count, pos] = readUnsigned(bytes, section.payloadStart);
  while (count-- > 0) {
    if (bytes[pos++] !== FORM_FUNC) return true;
    for (let vec = 0; vec < 2; vec++) {
      let n: number;
      [n, pos] = readUnsigned(bytes, pos);
      while (n-- > 0) {
        const t = bytes[pos++]!;
        // A typed reference (final encoding 0x63/0x64, binaryen 108's older 0x6b/0x6c) names a heap type.
        if (t === 0x63 || t === 0x64 || t === 0x6b || t === 0x6c) [, pos] = readUnsigned(bytes, pos);
      }
    }
  }
  return false;
}
