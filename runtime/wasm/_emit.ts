/**
 * Re-emitting parts of a binary. Sections are spliced by their byte ranges from the reader, so everything
 * outside the replaced section is copied byte for byte.
 *
 * @module
 */
import { encodeUnsigned } from "./_leb128.ts";
import type { SectionInfo } from "./types.ts";

/**
 * Returns a copy of `bytes` with `section`'s payload replaced by `payload`, its size LEB128 re-encoded
 * (its width may change, shifting every later offset).
 */
export function replaceSectionPayload(
  bytes: Uint8Array,
  section: SectionInfo,
  payload: readonly number[],
): Uint8Array<ArrayBuffer> {
  const header = [section.id, ...encodeUnsigned(payload.length)];
  const out = new Uint8Array(section.start + header.length + payload.length + (bytes.length - section.end));
  out.set(bytes.subarray(0, section.start), 0);
  let pos = section.start;
  out.set(header, pos);
  pos += header.length;
  out.set(payload, pos);
  pos += payload.length;
  out.set(bytes.subarray(section.end), pos);
  return out;
}
