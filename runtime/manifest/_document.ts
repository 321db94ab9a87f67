/**
 * The YAML side of manifest parsing: syntax errors and duplicate keys as issues, and the line of any path.
 * JSON is YAML (1.2), so the same code reads both.
 *
 * @module
 */
import type { PolicyLimitDetail } from "./errors.ts";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";

/** A path into the manifest: keys and list indexes. */
export type PathSegment = string | number;

/** A problem found in the document, located by path segments and, when known, a position. */
export interface RawIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
  /** For a refusal by a limit of the device policy: the limit, the value asked for and the value allowed. */
  readonly detail?: PolicyLimitDetail;
}

/** A parsed YAML document that can tell where a path is. */
export interface ManifestDocument {
  /** The document as plain data (`undefined` when it had syntax errors). */
  readonly data: unknown;
  /**
   * Syntax errors, duplicate keys and `__proto__` keys. When there are syntax errors, `data` is not to be
   * validated.
   */
  readonly issues: readonly RawIssue[];
  readonly hasSyntaxErrors: boolean;
  /** The 1-based line and column of `path`, or of its nearest ancestor present in the source. */
  locate(path: readonly PathSegment[]): { line: number; column: number } | undefined;
}

/** Parses YAML or JSON text; never throws for bad input. */
export function readDocument(text: string): ManifestDocument {
  const lineCounter = new LineCounter();
  // uniqueKeys is off so that duplicates are reported below with their path, not as anonymous syntax errors.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const position = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const syntaxIssues = doc.errors.map((error): RawIssue => ({
    path: [],
    message: `YAML syntax error: ${syntaxMessage(error.message)}`,
    ...position(error.pos[0]),
  }));
  if (syntaxIssues.length > 0) {
    return { data: undefined, issues: syntaxIssues, hasSyntaxErrors: true, locate: () => undefined };
  }
  return {
    data: doc.toJS({ maxAliasCount: 100 }),
    issues: duplicateKeys(doc, position),
    hasSyntaxErrors: false,
    locate(path) {
      const offset = locateOffset(doc, path);
      return offset === undefined ? undefined : position(offset);
    },
  };
}

/** Formats path segments as `modules.fft.capabilities[1]`; keys that are not plain words are quoted. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) text += text === "" ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** yaml's messages end with " at line N, column M" and a code frame; the position is reported separately. */
function syntaxMessage(message: string): string {
  const first = (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
  return first.charAt(0).toLowerCase() + first.slice(1);
}

/** The source offset of the deepest node on `path`: a map entry's key, a list item. */
function locateOffset(doc: Document, path: readonly PathSegment[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(segment));
      if (pair === undefined) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset;
}

function duplicateKeys(
  doc: Document,
  position: (offset: number) => { line: number; column: number },
): RawIssue[] {
  const issues: RawIssue[] = [];
  const visit = (node: unknown, path: PathSegment[]) => {
    if (isMap(node)) {
      const seen = new Map<string, number | undefined>();
      for (const pair of node.items) {
        const key = keyText(pair.key);
        if (key === undefined) continue;
        const start = rangeStart(pair.key);
        if (key === "__proto__") {
          // zod leaves a record's "__proto__" key out without a word: a module, a param or a data blob of
          // that name would silently vanish. Any other schema key is reported by the schema, not here.
          issues.push({
            path: [...path, key],
            message: `the key "__proto__" is not allowed (it names JavaScript's object prototype)`,
            ...(start === undefined ? {} : position(start)),
          });
        }
        if (seen.has(key)) {
          const first = seen.get(key);
          const where = first === undefined ? "" : ` (first defined on line ${position(first).line})`;
          issues.push({
            path: [...path, key],
            message: `duplicate key "${key}"${where}`,
            ...(start === undefined ? {} : position(start)),
          });
        } else {
          seen.set(key, start);
        }
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(doc.contents, []);
  return issues;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}
