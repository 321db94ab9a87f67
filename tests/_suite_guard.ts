/**
 * The structural check behind `suite_guard_test.ts`: every child process a test or a benchmark starts is
 * bounded by a timeout, so no test can hang the suite.
 *
 * It reads TypeScript roughly, not with a parser: comments, string and template text and regular
 * expressions are blanked first (so a `signal:` in a comment or a string does not count, and a sample in a
 * string is not flagged), then
 *
 * - every `new Deno.Command(` must have `signal` in its arguments (from the `(` to its matching `)`), as
 *   `signal: AbortSignal.timeout(ms)` or a shorthand `signal` property: Deno kills the child when it aborts;
 * - every synchronous spawn (`outputSync(`, `spawnSync(`, `execSync(`, `execFileSync(`) must be on an
 *   allow-list with a reason, because a synchronous call cannot take a signal and blocks the whole test
 *   process while it runs.
 *
 * @example
 * ```ts
 * import { checkSource } from "./_suite_guard.ts";
 *
 * const found = checkSource(`await new Deno.Command("ps").output();`, "tests/x_test.ts");
 * // [{ file: "tests/x_test.ts", line: 1, rule: "unbounded-command", text: 'await new Deno.Command("ps")...' }]
 * ```
 *
 * @module
 */

/** What the check found wrong. */
export type GuardRule = "unbounded-command" | "sync-spawn";

/** One finding: the file (as given), its 1-based line, the rule broken and the line's text. */
export interface GuardFinding {
  readonly file: string;
  readonly line: number;
  readonly rule: GuardRule;
  /** The source line, trimmed. */
  readonly text: string;
}

/** A synchronous spawn that is allowed: in `file`, on a line containing `match`, for `reason`. */
export interface SyncSpawnAllowance {
  /** The path as the check is given it, e.g. `tests/hal/foo_test.ts`. */
  readonly file: string;
  /** A piece of the source line that identifies the call. */
  readonly match: string;
  /** Why it cannot hang (or why it cannot be asynchronous): required, never empty. */
  readonly reason: string;
}

const WORD = /[A-Za-z0-9_$]/;
/** After one of these keywords a `/` starts a regular expression, not a division. */
const BEFORE_REGEX_WORDS = new Set([
  "return",
  "typeof",
  "case",
  "in",
  "of",
  "void",
  "delete",
  "throw",
  "await",
  "yield",
  "else",
  "instanceof",
  "new",
]);

/**
 * Blanks comments, the text of string and template literals (not their `${...}` code) and regular
 * expression bodies with spaces, keeping every newline and every other offset, so positions still map to
 * the source.
 */
export function codeOnly(source: string): string {
  const out = source.split("");
  const n = source.length;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to && k < n; k++) if (out[k] !== "\n") out[k] = " ";
  };
  /** Brace depths at which an open `${` of a template was entered. */
  const substitutions: number[] = [];
  let depth = 0;
  let prev = ""; // the last significant character of code
  let word = ""; // the identifier or keyword that ends at `prev`, if any

  /**
   * Scans template text from `start` up to its closing backtick or a `${`, and returns the index after it;
   * sets `prev` as the code that follows sees it.
   */
  const templateText = (start: number): number => {
    word = "";
    let k = start;
    while (k < n) {
      const c = source[k];
      if (c === "\\") {
        blank(k, k + 2);
        k += 2;
      } else if (c === "`") {
        prev = "`";
        return k + 1;
      } else if (c === "$" && source[k + 1] === "{") {
        substitutions.push(depth);
        prev = "{";
        return k + 2;
      } else {
        blank(k, k + 1);
        k++;
      }
    }
    return n;
  };

  let i = 0;
  while (i < n) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end < 0 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < n && source[k] !== c && source[k] !== "\n") k += source[k] === "\\" ? 2 : 1;
      blank(i + 1, k);
      i = k + 1;
      prev = c;
      word = "";
    } else if (c === "`") {
      i = templateText(i + 1);
    } else if (c === "}" && substitutions.at(-1) === depth) {
      substitutions.pop();
      i = templateText(i + 1);
    } else if (
      c === "/" && (prev === "" || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev) || BEFORE_REGEX_WORDS.has(word))
    ) {
      // A regular expression literal: up to the unescaped `/` outside a character class, on this line.
      let k = i + 1;
      let inClass = false;
      while (k < n && source[k] !== "\n") {
        const r = source[k];
        if (r === "\\") k++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        k++;
      }
      if (k < n && source[k] === "/") {
        blank(i + 1, k);
        i = k + 1;
        prev = "/";
        word = "";
      } else {
        prev = c; // not a regular expression after all: a division
        word = "";
        i++;
      }
    } else {
      if (c === "{") depth++;
      else if (c === "}") depth--;
      if (!/\s/.test(c)) {
        word = WORD.test(c) ? (WORD.test(prev) ? word + c : c) : "";
        prev = c;
      }
      i++;
    }
  }
  return out.join("");
}

/** The index of the `)` that closes the `(` at `open` in blanked code, or the end of the text. */
function closingParen(code: string, open: number): number {
  let depth = 0;
  for (let k = open; k < code.length; k++) {
    if (code[k] === "(") depth++;
    else if (code[k] === ")" && --depth === 0) return k;
  }
  return code.length;
}

/** `signal` as a property of an object literal: `signal: ...`, or the shorthand `signal,` / `signal }`. */
const SIGNAL_PROPERTY = /(?:^|[{,\s])signal\s*(?::|,|\}|$)/m;
const COMMAND = /\bnew\s+Deno\s*\.\s*Command\s*\(/g;
const SYNC_SPAWN = /\b(?:outputSync|spawnSync|execSync|execFileSync)\s*\(/g;

/**
 * Checks one file's source: each `new Deno.Command(` without a `signal`, and each synchronous spawn not on
 * `allowed` for this `file`, is a finding.
 *
 * @throws {TypeError} when an allowance has no reason.
 */
export function checkSource(
  source: string,
  file: string,
  allowed: readonly SyncSpawnAllowance[] = [],
): GuardFinding[] {
  for (const a of allowed) {
    if (a.reason.trim() === "") {
      throw new TypeError(`The allowance for "${a.match}" in "${a.file}" has no reason`);
    }
  }
  const code = codeOnly(source);
  const lines = source.split("\n");
  const lineAt = (index: number) => source.slice(0, index).split("\n").length;
  const found: GuardFinding[] = [];
  const add = (index: number, rule: GuardRule) => {
    const line = lineAt(index);
    found.push({ file, line, rule, text: (lines[line - 1] ?? "").trim() });
  };
  for (const m of code.matchAll(COMMAND)) {
    const open = m.index + m[0].length - 1;
    const args = code.slice(open + 1, closingParen(code, open));
    if (!SIGNAL_PROPERTY.test(args)) add(m.index, "unbounded-command");
  }
  for (const m of code.matchAll(SYNC_SPAWN)) {
    const text = (lines[lineAt(m.index) - 1] ?? "").trim();
    if (!allowed.some((a) => a.file === file && text.includes(a.match))) add(m.index, "sync-spawn");
  }
  return found.sort((a, b) => a.line - b.line);
}

/** Every `.ts` file under `dir` (a path relative to `root`), as paths relative to `root`, sorted. */
export async function listTypeScript(root: URL, dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const entry of Deno.readDir(new URL(rel, root))) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
    }
  };
  await walk(dir.replace(/\/+$/, ""));
  return out.sort();
}

/** Checks every `.ts` file under each of `dirs` (relative to `root`). */
export async function checkTree(
  root: URL,
  dirs: readonly string[],
  allowed: readonly SyncSpawnAllowance[] = [],
): Promise<GuardFinding[]> {
  const found: GuardFinding[] = [];
  for (const dir of dirs) {
    for (const file of await listTypeScript(root, dir)) {
      found.push(...checkSource(await Deno.readTextFile(new URL(file, root)), file, allowed));
    }
  }
  return found;
}

const ADVICE: Record<GuardRule, string> = {
  "unbounded-command": "new Deno.Command without a signal: add `signal: AbortSignal.timeout(ms)` " +
    "(bounds in tests/_timeouts.ts)",
  "sync-spawn": "synchronous spawn, which cannot take a signal: make it asynchronous with a signal, or " +
    "allow it with a reason in suite_guard_test.ts",
};

/** `file:line: what is wrong and how to fix it` followed by the source line, one finding per line. */
export function formatFindings(found: readonly GuardFinding[]): string {
  return found.map((f) => `${f.file}:${f.line}: ${ADVICE[f.rule]}\n    ${f.text}`).join("\n");
}
