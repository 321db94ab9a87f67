/**
 * The stream's frames as they go on the wire (see `mod.ts`): `{"seq":n,"topic":...,"at":...,"data":...}`.
 * A frame's body, everything after its `seq`, is encoded once and shared by every connection it is queued
 * for; the connection's `seq` is put in front of it when it is sent.
 *
 * Module text (a log line, an alert) goes out with its control, bidi and line-separator characters as `\u`
 * escapes, even those `JSON.stringify` leaves raw (`safeJsonStringify`): a client that prints frames as they
 * come cannot be made to run a terminal escape sequence or reorder a line, and the text parses back exactly.
 *
 * @module
 */
import { safeJsonStringify } from "../../log_text.ts";

/** A frame's shared text: everything after `{"seq":n,`. */
export interface FrameBody {
  text: string;
  /** The text's length in UTF-8 bytes, as the queue limits count it. */
  bytes: number;
}

/**
 * Encodes the body of a frame on `topic`; `at` is when it happened, an ISO 8601 time.
 *
 * @throws {TypeError} when `data` cannot be serialized to JSON.
 */
export function encodeFrameBody(topic: string, at: string, data: unknown): FrameBody {
  const text = safeJsonStringify({ topic, at, data }).slice(1);
  return { text, bytes: utf8Length(text) };
}

/** The whole frame: `body` (a {@linkcode FrameBody} text) numbered `seq` on its connection. */
export function frameText(seq: number, body: string): string {
  return `{"seq":${seq},${body}`;
}

/** UTF-8 length of a string without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 2; // a surrogate pair: 4 bytes for 2 code units
      i++;
    } else n += 2;
  }
  return n;
}
