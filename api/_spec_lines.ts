/**
 * Lines of a deploy's issues in the text the client sent. A deploy is validated as the device's manifest with
 * the module's entry merged in (`runtime/deployer.ts`), so its issues name paths of that manifest and carry
 * no lines; the issues under `modules.<name>` are found again in the uploaded `spec` (YAML or JSON), so the
 * client gets the line of each, as `kiln validate` gives them for a manifest file.
 *
 * @module
 */
import { type ManifestIssue, type PathSegment, readDocument } from "../runtime/manifest/mod.ts";

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
  const doc = readDocument(spec);
  const prefix = `modules.${module}`;
  return issues.map((issue) => {
    const { line: _, column: __, ...rest } = issue;
    const inEntry = issue.path === prefix ||
      (issue.path.startsWith(prefix) && /^[.[]/.test(issue.path.slice(prefix.length)));
    if (doc.hasSyntaxErrors || !inEntry) return rest;
    const segments = parsePath(issue.path.slice(prefix.length));
    const at = segments === null ? undefined : doc.locate(segments);
    return at === undefined ? rest : { ...rest, line: at.line };
  });
}

/** `.limits.budget_us`, `.capabilities[1]`, `.params["a b"]` as segments; null when it is not such a path. */
function parsePath(text: string): PathSegment[] | null {
  const segments: PathSegment[] = [];
  const token = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  while (token.lastIndex < text.length) {
    const m = token.exec(text);
    if (m === null) return null;
    segments.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : JSON.parse(m[3]!) as string));
  }
  return segments;
}
