/**
 * Module-supplied text made safe to show: what a module writes (`kiln.log`, WASI stdout and stderr, alert
 * messages, output keys, a denied call's topic) reaches the process log, terminals, `kiln audit` and the
 * dashboard, and must never be able to start a line of its own, pose as another module, move a terminal's
 * cursor or recolour it, or reorder what is shown around it. Every character that could do that is shown
 * escaped instead:
 *
 * - C0 control characters (U+0000-U+001F): `\n`, `\r`, `\t`, the rest as `\xHH` (ESC is `\x1b`, so no ANSI
 *   or VT escape sequence survives: each needs ESC, or CSI below);
 * - DEL (U+007F) and the C1 control characters (U+0080-U+009F, among them CSI U+009B and NEL U+0085), as
 *   `\xHH`;
 * - Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the line and
 *   paragraph separators (U+2028, U+2029) and lone surrogates, as `\uHHHH`.
 *
 * Everything else, other scripts and emoji included, is shown as it is. This file sits beside `errors.ts`,
 * outside every layer, because the runtime, the API and the CLI all render module text; it imports nothing.
 *
 * Process log lines ({@linkcode formatLogLine}), in `text` format, one per line:
 * ```
 * module=fft kind=log level=info msg="window 12\nFORGED" (shown with a backslash-n, on one line)
 * module=anomaly kind=alert level=critical msg="Bearing fault"
 * module=probe kind=denial level=warn msg="publish to \"x\" needs \"write:mqtt:x\"" count=3
 * kiln: stopping
 * ```
 * A module's line always starts with `module=<name>` and its text is always quoted, so a line that does not
 * start with `module=` is Kiln's own. In `json` format each line is one object:
 * `{"time":"...","source":"module","module":"fft","kind":"log","level":"info","msg":"..."}` or
 * `{"time":"...","source":"kiln","msg":"kiln: stopping"}`; the characters above are `\u` escapes there,
 * so the text parses back exactly.
 *
 * @example
 * ```ts
 * import { escapeText, formatLogLine } from "./log_text.ts";
 *
 * escapeText("ok\n\x1b[31mFAKE ALERT"); // 'ok\\n\\x1b[31mFAKE ALERT'
 * formatLogLine({ module: "fft", kind: "log", level: "info", message: 'a"b' }, { format: "text" });
 * // 'module=fft kind=log level=info msg="a\\"b"'
 * ```
 *
 * @module
 */

/**
 * The characters {@linkcode escapeText} escapes, as the source of a regular expression to compile with the
 * `u` flag (under `u`, `[\ud800-\udfff]` matches only lone surrogates). The dashboard's script builds its
 * own copy of the expression from this string.
 */
export const UNSAFE_TEXT_PATTERN =
  "[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ud800-\\udfff]";

const UNSAFE = new RegExp(UNSAFE_TEXT_PATTERN, "gu");
const UNSAFE_OR_QUOTE = new RegExp(`${UNSAFE_TEXT_PATTERN}|["\\\\]`, "gu");
/** What `JSON.stringify` leaves raw of {@linkcode UNSAFE_TEXT_PATTERN} (it escapes C0, lone surrogates). */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** A name shown bare in a `text` line; anything else is quoted. */
const BARE = /^[A-Za-z0-9_.:\/-]+$/;

/** One escaped character: `\n`, `\r`, `\t`, `\xHH` below U+0100, else `\uHHHH`. */
function escapeChar(c: string): string {
  if (c === "\n") return "\\n";
  if (c === "\r") return "\\r";
  if (c === "\t") return "\\t";
  if (c === '"') return '\\"';
  if (c === "\\") return "\\\\";
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every control, bidi-override, line-separator and lone-surrogate character shown as an escape
 * (`\n`, `\x1b`, `\u202e`), so it stays on one line and cannot restyle or reorder what surrounds it.
 * Backslashes and quotes are kept: this is for text shown in a field of its own (a table cell, a
 * tab-separated column); a log line quotes with {@linkcode quoteText}.
 */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * `text` in double quotes with {@linkcode escapeText}'s escapes plus `\"` and `\\`, so the quoted text ends
 * only at its closing quote, whatever it holds.
 */
export function quoteText(text: string): string {
  return `"${text.replace(UNSAFE_OR_QUOTE, escapeChar)}"`;
}

/**
 * `JSON.stringify(value, null, space)` with DEL, the C1 controls, bidi controls and U+2028/U+2029 as `\u`
 * escapes too (JSON.stringify escapes only C0 and lone surrogates). It parses back to the same value.
 *
 * @throws {TypeError} when `value` cannot be serialized (a cycle, a BigInt) or serializes to nothing
 *   (`undefined`, a function).
 */
export function safeJsonStringify(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space);
  if (json === undefined) throw new TypeError(`Cannot serialize a ${typeof value} to JSON`);
  // Outside its strings JSON is ASCII punctuation, digits and literals, so these are all inside strings.
  // JSON has no `\x` escape: always `\u00HH`.
  return json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** How the process log is written: `text` (logfmt-like lines) or `json` (one object per line). */
export type LogFormat = "text" | "json";

/** The formats {@linkcode formatLogLine} writes. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** A line a module caused: its log line, its alert, or calls it was refused. */
export interface ModuleLogRecord {
  /** The module's name. */
  module: string;
  kind: "log" | "alert" | "denial";
  /** `debug` to `error` for a log line, an alert's severity (`warning`, `critical`), `warn` for a denial. */
  level: string;
  /** The module's text (or, for a denial, the refused call and the capability it needed). */
  message: string;
  /** How many identical events this line stands for (denials folded in one report). @default 1 */
  count?: number;
  /** When it happened, milliseconds since the epoch. @default now */
  at?: number;
}

/** One entry of the process log: a line of Kiln's own (escaped all the same), or a module's record. */
export type LogEntry = string | ModuleLogRecord;

/** Options of {@linkcode formatLogLine}. */
export interface FormatLogOptions {
  format: LogFormat;
  /** The time of a Kiln line in `json` (a module record carries its own), ms since the epoch. @default now */
  nowMs?: number;
}

/**
 * One process log line (without its newline) for `entry`. A string is Kiln's own line: in `text` it is
 * written as it is with {@linkcode escapeText}'s escapes (a runtime line can quote module text, a trap's
 * message for one); a {@linkcode ModuleLogRecord} is written `module=<name> kind=<kind> level=<level>
 * msg="<text>"` with its text quoted by {@linkcode quoteText}. In `json`, one object per line.
 */
export function formatLogLine(entry: LogEntry, options: FormatLogOptions): string {
  const now = options.nowMs ?? Date.now();
  if (typeof entry === "string") {
    if (options.format === "json") {
      return safeJsonStringify({ time: new Date(now).toISOString(), source: "kiln", msg: entry });
    }
    // A runtime line that starts like a module's would be ambiguous: no such line exists, but make sure.
    const text = escapeText(entry);
    return text.startsWith("module=") ? `kiln: ${text}` : text;
  }
  const count = entry.count !== undefined && entry.count !== 1 ? entry.count : undefined;
  if (options.format === "json") {
    return safeJsonStringify({
      time: new Date(entry.at ?? now).toISOString(),
      source: "module",
      module: entry.module,
      kind: entry.kind,
      level: entry.level,
      msg: entry.message,
      ...(count !== undefined && { count }),
    });
  }
  return `module=${bare(entry.module)} kind=${entry.kind} level=${bare(entry.level)} msg=${
    quoteText(entry.message)
  }${count !== undefined ? ` count=${count}` : ""}`;
}

/** A name bare when it is plain, else quoted (names are validated, but the format must not rely on it). */
function bare(name: string): string {
  return BARE.test(name) ? name : quoteText(name);
}
