/**
 * No TypeScript file of the repository imports itself back through other files: a type two files share
 * lives in a small file both import (`snapshots/_outbox_types.ts`, `api/stream/_hub_types.ts`,
 * `runtime/wasm/_instrument_result.ts`, `bench/_source.ts`). The walk counts value and type imports.
 */
import assert from "node:assert/strict";
import { findCycles, importGraph, maskCommentsAndTemplates, relativeImports } from "./_import_graph.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("no TypeScript file of the repository reaches itself through its relative imports", async () => {
  const graph = await importGraph(ROOT);
  assert.ok(graph.size > 100, `the walk found only ${graph.size} files`);
  assert.ok(
    graph.get("runtime/wasm/instrument.ts")?.includes("runtime/wasm/_rewrite.ts"),
    "the walk follows imports",
  );
  assert.ok(
    graph.get("runtime/wasm/_rewrite.ts")?.includes("runtime/wasm/_instrument_result.ts"),
    "the walk follows type-only imports",
  );
  const cycles = findCycles(graph).map((cycle) => cycle.join(" -> "));
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join("\n")}`);
});

Deno.test("the cycle finder names each cycle of a small graph once, from its first file", () => {
  const graph = new Map<string, string[]>([
    ["a", ["b"]],
    ["b", ["c", "x"]],
    ["c", ["a", "d"]],
    ["d", ["d"]],
    ["e", ["f"]],
    ["f", ["e", "g"]],
    ["g", []],
    ["h", ["i", "j"]],
    ["i", ["k"]],
    ["j", ["h"]],
    ["k", ["h"]],
  ]);
  assert.deepEqual(findCycles(graph), [
    ["a", "b", "c", "a"],
    ["d", "d"],
    ["e", "f", "e"],
    ["h", "j", "h"], // h -> i -> k -> h is in the same group, and longer
  ]);
  assert.deepEqual(findCycles(new Map([["a", ["b"]], ["b", []]])), []);
});

Deno.test("the import scanner sees value and type imports and re-exports, not those in comments or text", () => {
  const source = [
    'import type { A } from "./types.ts";',
    'import { type B, c } from "../mixed.ts";',
    'import d, * as e from "./default_and_namespace.ts";',
    "import {",
    "  f,",
    "  g,",
    '} from "./multi_line.ts";',
    'export { h } from "./reexport.ts";',
    'export type { I } from "./type_reexport.ts";',
    'export * from "./star.ts";',
    'import "./side_effect.ts";',
    'import { hono } from "hono";',
    "/**",
    ' * import { inDoc } from "./in_doc.ts";',
    " */",
    '// import { inLine } from "./in_line_comment.ts";',
    "const text = `",
    'import { inTemplate } from "./in_template.ts";',
    '${"nested"}',
    'export * from "./in_template_after_nested.ts";',
    "`;",
    'const pattern = /["`]/; const half = 1 / 2; export { z } from "./after_regex.ts";',
  ].join("\n");
  assert.deepEqual(relativeImports(source), [
    "./types.ts",
    "../mixed.ts",
    "./default_and_namespace.ts",
    "./multi_line.ts",
    "./reexport.ts",
    "./type_reexport.ts",
    "./star.ts",
    "./side_effect.ts",
  ]);
  const masked = maskCommentsAndTemplates(source);
  assert.equal(masked.length, source.length);
  assert.equal(masked.split("\n").length, source.split("\n").length);
  assert.ok(!masked.includes("in_template") && !masked.includes("in_doc") && !masked.includes("in_line"));
  // The backtick inside the regex opens no template, and the division is no regex.
  assert.ok(masked.includes("1 / 2") && masked.includes("after_regex.ts"));
});
