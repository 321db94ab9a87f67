/**
 * Lines of a deploy's issues in the text the client sent. A deploy is validated as the device's manifest with
 * the module's entry merged in (`runtime/deployer.ts`), so its issues name paths of that manifest and carry
 * no lines; the issues under `modules.<name>` are found again in the uploaded `spec` (YAML or JSON), so the
 * client gets the line of each, as `kiln validate` gives them for a manifest file.
 *
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { ManifestIssue } from "../runtime/manifest/mod.ts";

/** A key or a list index of a path. */
type Segment = string | number;

/**
 * The issues with the line of each in `spec`, the entry of module `module`: the line of the deepest key (or
 * list item) of its path that `spec` has. Issues outside the entry (another module, a channel, the module
 * count) keep no line, nor do any when `spec` does not parse.
 */
export function locateInSpec(
  issues: readonly ManifestIssue[],
  module: string,
  spec: string,
): ManifestIssue[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(spec, { lineCounter, uniqueKeys: false });
  const parsed = doc.errors.length === 0;
  const prefix = `modules.${module}`;
  return issues.map((issue) => {
    const { line: _, column: __, ...rest } = issue;
    const inEntry = issue.path === prefix ||
      (issue.path.startsWith(prefix) && /^[.[]/.test(issue.path.slice(prefix.length)));
    if (!parsed || !inEntry) return rest;
    const segments = parsePath(issue.path.slice(prefix.length));
    const offset = segments === null ? undefined : offsetOf(doc.contents, segments);
    return offset === undefined ? rest : { ...rest, line: lineCounter.linePos(offset).line };
  });
}

/** `.limits.budget_us`, `.capabilities[1]`, `.params["a b"]` as segments; null when it is not such a path. */
function parsePath(text: string): Segment[] | null {
  const segments: Segment[] = [];
  const token = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  while (token.lastIndex < text.length) {
    const m = token.exec(text);
    if (m === null) return null;
    segments.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : JSON.parse(m[3]!) as string));
  }
  return segments;
}

/** The source offset of the deepest node of `segments` present under `node`: a key, or a list item. */
function offsetOf(node: unknown, segments: readonly Segment[]): number | undefined {
  let offset = rangeStart(node);
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
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

function rangeStart(node: unknown): number | undefined {
  return (node as Node | null)?.range?.[0];
}
