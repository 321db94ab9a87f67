/**
 * The repository's graph of relative imports, and the cycles in it. A cycle (`a.ts` imports `b.ts`, which
 * imports `a.ts`, directly or through others) makes the order a module's top level runs in depend on which
 * file is loaded first, and ties files together that should be read and changed apart: a shared type goes
 * into a small file both import instead. Type-only imports count too, because they tie the files together
 * just the same. Dynamic `import()` and `new URL(..., import.meta.url)` (worker entries) are not static
 * imports and do not count.
 *
 * @example
 * ```ts ignore
 * const graph = await importGraph(new URL("../", import.meta.url));
 * findCycles(graph); // [["a.ts", "b.ts", "a.ts"]]
 * ```
 *
 * @module
 */
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";

/** Folders never walked: build output, runtime data, installed packages. Dot folders are skipped too. */
const SKIPPED_FOLDERS = new Set(["dist", "data", "node_modules"]);

/** The characters that can end an expression: after one of them `/` divides, elsewhere it starts a regex. */
const ENDS_EXPRESSION = /[\w$)\]}"'`]/;

/**
 * `source` with its comments and template literals blanked out (each character a space, newlines kept),
 * so that an import statement written inside one (a doc example, a test's generated source) is not taken
 * for a real one. Quoted strings stay: import specifiers are quoted strings. Regular expression literals
 * are told from divisions by the character before them, which is enough for the statements at the top of a
 * file.
 */
export function maskCommentsAndTemplates(source: string): string {
  const out = source.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  /** For each `${` being read, the brace depth its `}` closes at. */
  const templates: number[] = [];
  let depth = 0;
  let last = ""; // the last character of code that is not white space
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end < 0 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      i = skipQuoted(source, i, c);
      last = c;
    } else if (c === "/" && !ENDS_EXPRESSION.test(last)) {
      i = skipQuoted(source, i, "/");
      last = "/";
    } else if (c === "`" || (c === "}" && templates.at(-1) === depth)) {
      if (c === "}") templates.pop();
      const start = i;
      i = readTemplate(source, i + 1);
      if (source.startsWith("${", i)) {
        templates.push(depth);
        blank(start, i);
        i += 2;
        last = "{";
      } else {
        blank(start, i);
        last = "`";
      }
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return out.join("");
}

/** The index after the literal that opens at `start` with `quote` (a string or a regex, one line). */
function skipQuoted(source: string, start: number, quote: string): number {
  let inClass = false; // a regex's `[...]` may hold its quote character unescaped
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") i++;
    else if (c === "\n") return i;
    else if (quote === "/" && c === "[") inClass = true;
    else if (quote === "/" && c === "]") inClass = false;
    else if (c === quote && !inClass) return i + 1;
  }
  return source.length;
}

/** From inside a template literal: the index of its closing backtick + 1, or of the `${` that interrupts it. */
function readTemplate(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") i++;
    else if (c === "`") return i + 1;
    else if (c === "$" && source[i + 1] === "{") return i;
  }
  return source.length;
}

const SPECIFIER = String.raw`\s*["']([^"'\n]+)["']`;
const STATEMENTS = [
  // import x from, import { a, type B } from, import * as ns from, import type ..., import x, { a } from
  new RegExp(
    String.raw`^\s*import\s+(?:type\s+)?(?:[\w$]+\s*,\s*)?(?:\*\s*as\s+[\w$]+|\{[^}]*\}|[\w$]+)\s*from` +
      SPECIFIER,
    "gm",
  ),
  // export { a } from, export type { A } from, export * from, export * as ns from
  new RegExp(
    String.raw`^\s*export\s+(?:type\s+)?(?:\*(?:\s*as\s+[\w$]+)?|\{[^}]*\})\s*from` + SPECIFIER,
    "gm",
  ),
  // import "./side_effect.ts"
  new RegExp(String.raw`^\s*import` + SPECIFIER, "gm"),
];

/**
 * The relative specifiers (`./x.ts`, `../y/z.ts`) of `source`'s static import and re-export statements,
 * type-only ones included, in the order of the patterns above.
 */
export function relativeImports(source: string): string[] {
  const code = maskCommentsAndTemplates(source);
  const found: string[] = [];
  for (const pattern of STATEMENTS) {
    for (const m of code.matchAll(pattern)) {
      const specifier = m[1]!;
      if (specifier.startsWith("./") || specifier.startsWith("../")) found.push(specifier);
    }
  }
  return found;
}

/** Every `.ts` file below `dir`, as paths relative to `root`, with `/` separators. */
async function listTypeScript(root: string, dir: string, out: string[]): Promise<string[]> {
  for await (const entry of Deno.readDir(join(root, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (!entry.name.startsWith(".") && !SKIPPED_FOLDERS.has(entry.name)) {
        await listTypeScript(root, path, out);
      }
    } else if (entry.isFile && entry.name.endsWith(".ts")) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Every `.ts` file below `root` (but build output, data, packages and dot folders) and the files among
 * them it imports by a relative specifier, as paths relative to `root` with `/` separators. An import of a
 * file that does not exist (or is not TypeScript) is left out: `deno check` reports those.
 *
 * @throws {Deno.errors.NotFound} when `root` does not exist.
 */
export async function importGraph(root: URL): Promise<Map<string, string[]>> {
  const base = fileURLToPath(root);
  const files = (await listTypeScript(base, "", [])).sort();
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = await Deno.readTextFile(join(base, file));
    const targets = relativeImports(source)
      .map((specifier) => posix.join(posix.dirname(file), specifier))
      .filter((target) => known.has(target));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/**
 * The import cycles of `graph` (each file to the files it imports): one per group of files that all reach
 * each other (a strongly connected component, Tarjan's algorithm), named by a shortest cycle through the
 * group's first file in sort order, which starts and ends the list (`["a", "b", "a"]`; a file importing
 * itself is `["a", "a"]`). Sorted by that first file. Files imported but absent from `graph` are leaves.
 */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1 || (graph.get(v) ?? []).includes(v)) groups.push(group.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return groups.map((group) => shortestCycle(graph, group)).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest path from the group's first file back to it, through the group only. */
function shortestCycle(graph: ReadonlyMap<string, readonly string[]>, group: readonly string[]): string[] {
  const start = group[0]!;
  const inGroup = new Set(group);
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head]!;
    for (const w of graph.get(v) ?? []) {
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = cameFrom.get(at)) {
          path.splice(1, 0, at);
        }
        return [...path, start];
      }
      if (inGroup.has(w) && !cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start]; // not reached: every file of a group reaches its first one
}
