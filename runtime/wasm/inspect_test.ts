import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import { formatFuncType, formatInspect, inspectModule, readModule } from "./mod.ts";

const kilnModule = wat(
  await Deno.readTextFile(new URL("../../tests/fixtures/wasm/kiln_module.wat", import.meta.url)),
  { debugNames: true },
);
const capabilityFor = (module: string, name: string) =>
  module === "kiln" && name === "input" ? "read:*:*" : null;

Deno.test("the inspect report lists imports with signatures and the capabilities they need", () => {
  const report = inspectModule(readModule(kilnModule), { capabilityFor });
  assert.deepEqual(report.imports.slice(0, 2), [
    { module: "kiln", name: "log", kind: "function", signature: "(i32, i32, i32) -> i32", needs: null },
    { module: "kiln", name: "input", kind: "function", signature: "(i32, i32) -> i32", needs: "read:*:*" },
  ]);
  assert.equal(report.imports[2]!.signature, "() -> i64");
});

Deno.test("the inspect report describes exports, memory, tables, globals, start, code and data", () => {
  const report = inspectModule(readModule(kilnModule));
  assert.equal(report.imports[0]!.needs, undefined);
  assert.deepEqual(report.exports.find((e) => e.name === "memory"), {
    name: "memory",
    kind: "memory",
    signature: "2 to 32 pages (0.13 to 2 MiB)",
  });
  assert.deepEqual(report.exports.find((e) => e.name === "pair")?.signature, "(i64) -> (i64, i32)");
  assert.deepEqual(report.memories, [
    { index: 0, imported: false, minPages: 2, maxPages: 32, minMib: 0.125, maxMib: 2, shared: false },
  ]);
  assert.deepEqual(report.tables, [{ index: 0, imported: false, element: "funcref", min: 4, max: null }]);
  assert.deepEqual(report.functions, { imported: 4, defined: 6 });
  assert.deepEqual(report.globals, { imported: 0, defined: 4 });
  assert.deepEqual(report.start, { index: 9, name: "setup" });
  assert.deepEqual(report.dataSegmentSizesBytes, [5, 4, 12]);
  assert.equal(report.dataSizeBytes, 21);
  assert.ok(report.codeSizeBytes > 0);
  assert.deepEqual(report.customSections.map((c) => c.name), ["name"]);
});

Deno.test("the inspect text shows a needs column only when capabilities are known", () => {
  const info = readModule(kilnModule);
  const text = formatInspect(inspectModule(info, { capabilityFor }));
  assert.match(text, /kiln\.input\s+function\s+\(i32, i32\) -> i32\s+needs read:\*:\*/);
  assert.match(text, /kiln\.log\s+function\s+\(i32, i32, i32\) -> i32\s+needs -/);
  assert.match(text, /Memory 0: 2 to 32 pages \(0\.13 to 2 MiB\)/);
  assert.match(text, /Start function: 9 \(setup\)/);
  assert.doesNotMatch(formatInspect(inspectModule(info)), /needs/);
});

Deno.test("the inspect report describes imported memories, globals, tables and tags", () => {
  const report = inspectModule(readModule(wat(`(module
    (import "env" "memory" (memory 1 4 shared))
    (import "env" "g" (global (mut i64)))
    (import "env" "t" (table 1 externref))
    (import "env" "e" (tag (param i32)))
    (export "g" (global 0)) (export "e" (tag 0)))`)));
  assert.deepEqual(report.imports.map((i) => i.signature), [
    "1 to 4 pages (0.06 to 0.25 MiB), shared",
    "mut i64",
    "externref, 1 entry, no maximum",
    "(i32)",
  ]);
  assert.deepEqual(report.exports.map((e) => e.signature), ["mut i64", "(i32)"]);
  assert.equal(report.memories[0]!.imported, true);
  assert.equal(report.start, null);
  assert.match(formatInspect(report), /Memory 0 \(imported\)/);
});

Deno.test("a module without memory or sections is described without failing", () => {
  const text = formatInspect(inspectModule(readModule(wat("(module)"))));
  assert.match(text, /Memory: none/);
  assert.match(text, /Imports \(0\)/);
});

Deno.test("function types format with their results", () => {
  assert.equal(formatFuncType({ params: [], results: [] }), "() -> ()");
  assert.equal(
    formatFuncType({ params: ["v128", "externref"], results: ["f32"] }),
    "(v128, externref) -> f32",
  );
});
