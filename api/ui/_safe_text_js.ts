/**
 * The dashboard's `safeText`, browser JavaScript kept as a string (served in `/ui/app.js` before the app):
 * module-supplied text (names, output keys, alert messages, errors) as it is shown, with control, bidi and
 * line-separator characters escaped (`\n`, `\x1b`, `\u202e`), built from the same character class as
 * `escapeText` in `../../log_text.ts` (a unit test checks that both agree on every character). The page puts
 * the result in with `textContent`, never as HTML.
 *
 * @module
 */
import { UNSAFE_TEXT_PATTERN } from "../../log_text.ts";

/** Defines `safeText(value)` in the page's script scope. */
export const SAFE_TEXT_JS =
  `const UNSAFE_TEXT = new RegExp(${JSON.stringify(UNSAFE_TEXT_PATTERN)}, "gu");\n` +
  String.raw`
/** Module text as it is shown: control, bidi and line-separator characters escaped (\n, \x1b, \u202e). */
function safeText(value) {
  const s = value === null || value === undefined ? "" : String(value);
  return s.replace(UNSAFE_TEXT, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const n = c.charCodeAt(0);
    return n < 0x100 ? "\\x" + n.toString(16).padStart(2, "0") : "\\u" + n.toString(16).padStart(4, "0");
  });
}
`;
