import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import { binary, section } from "../../tests/fixtures/wasm/bytes.ts";
import { getFunctionType, readModule, WasmFormatError, WasmUnsupportedError } from "./mod.ts";

const kilnModule = wat(
  await Deno.readTextFile(new URL("../../tests/fixtures/wasm/kiln_module.wat", import.meta.url)),
  { debugNames: true },
);

/** Modules covering every import and export kind the reader decodes. */
const MODULES: Record<string, Uint8Array<ArrayBuffer>> = {
  "a Kiln ABI module": kilnModule,
  "an empty module": wat("(module)"),
  "a module importing a table, a memory, globals and a tag": wat(`(module
    (import "env" "table" (table 1 10 externref))
    (import "env" "memory" (memory 1 2 shared))
    (import "env" "g" (global (mut f32)))
    (import "env" "v" (global v128))
    (import "env" "oops" (tag (param i32)))
    (tag $t (export "t") (param i64 f64))
    (global (export "h") (mut i64) (i64.const -1))
    (table (export "refs") 0 externref)
    (func (export "fail") (throw $t (i64.const 1) (f64.const 2))))`),
  "a module with two memories and passive data": wat(`(module
    (memory $a (export "a") 1)
    (memory $b (export "b") 0 65536)
    (data (i32.const 0) "x")
    (data "passive")
    (func (export "init") (memory.init 1 (i32.const 0) (i32.const 0) (i32.const 1))))`),
};

Deno.test("a data segment's offset is known only when it is a constant", () => {
  const info = readModule(wat(`(module (import "env" "base" (global i32)) (memory 1)
    (data (i32.const 70000) "a") (data (i32.const -1) "") (data (global.get 0) "b"))`));
  assert.deepEqual(info.data.map((d) => d.offset), [70000, 0xffff_ffff, null]);
});

Deno.test("the reader agrees with WebAssembly.Module on imports and exports", async (t) => {
  for (const [name, bytes] of Object.entries(MODULES)) {
    await t.step(name, () => {
      assert.ok(WebAssembly.validate(bytes), "fixture is valid");
      const module = new WebAssembly.Module(bytes);
      const info = readModule(bytes);
      assert.deepEqual(
        info.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind })),
        WebAssembly.Module.imports(module),
      );
      assert.deepEqual(
        info.exports.map((e) => ({ name: e.name, kind: e.kind })),
        WebAssembly.Module.exports(module),
      );
    });
  }
});

Deno.test("section ranges tile the file from the header to the last byte", () => {
  for (const bytes of Object.values(MODULES)) {
    const info = readModule(bytes);
    let pos = 8;
    for (const s of info.sections) {
      assert.equal(s.start, pos);
      assert.equal(bytes[s.start], s.id);
      assert.ok(s.payloadStart > s.start && s.payloadStart <= s.end);
      pos = s.end;
    }
    assert.equal(pos, bytes.length);
    assert.equal(info.sizeBytes, bytes.length);
  }
});

Deno.test("a Kiln ABI module is decoded in full", () => {
  const info = readModule(kilnModule);
  assert.deepEqual(info.types[0], { params: ["i32", "i32", "i32"], results: ["i32"] });
  assert.deepEqual(info.imports[0], {
    module: "kiln",
    name: "log",
    kind: "function",
    typeIndex: 0,
    type: { params: ["i32", "i32", "i32"], results: ["i32"] },
  });
  assert.deepEqual(info.exports.find((e) => e.name === "pair")?.type, {
    params: ["i64"],
    results: ["i64", "i32"],
  });
  assert.equal(info.exports.find((e) => e.name === "memory")?.type, null);
  assert.deepEqual(info.memories, [{ min: 2, max: 32, shared: false }]);
  assert.deepEqual(info.tables, [{ element: "funcref", min: 4, max: null }]);
  assert.deepEqual(info.globals.map((g) => [g.type, g.mutable]), [
    ["i32", true],
    ["f64", false],
    ["v128", false],
    ["i32", false],
  ]);
  for (const g of info.globals) assert.equal(kilnModule[g.initEnd - 1], 0x0b);
  assert.equal(info.functions.length, 6);
  assert.equal(info.code.length, 6);
  assert.deepEqual(getFunctionType(info, 8), { params: ["i64"], results: ["i64", "i32"] });
  assert.deepEqual(getFunctionType(info, 0), info.types[0]);
  assert.equal(getFunctionType(info, 99), null);
  assert.equal(info.start, 9);
  assert.equal(info.functionNames.get(9), "setup");
  assert.equal(info.functionNames.get(0), "log");
  assert.equal(info.elementCount, 2);
  assert.deepEqual(info.data.map((d) => [d.mode, d.memoryIndex, d.offset, d.sizeBytes]), [
    ["active", 0, 0, 5],
    ["active", 0, 16, 4],
    ["passive", null, null, 12],
  ]);
  const hello = info.data[0]!;
  assert.equal(new TextDecoder().decode(kilnModule.subarray(hello.dataStart, hello.dataStart + 5)), "hello");
  assert.deepEqual(info.customSections.map((c) => c.name), ["name"]);
});

Deno.test("function bodies are located with their local declarations", () => {
  const info = readModule(kilnModule);
  const samples = info.code.find((c) => info.functionNames.get(c.funcIndex) === "samples")!;
  assert.equal(samples.localDeclCount, 3); // i32, f64, v128 are three runs of one local each
  assert.equal(samples.localCount, 3);
  const alloc = info.code.find((c) => info.functionNames.get(c.funcIndex) === "alloc")!;
  assert.equal(alloc.localCount, 1);
  for (const body of info.code) {
    assert.ok(body.start < body.bodyStart && body.bodyStart < body.exprStart && body.exprStart < body.end);
    assert.equal(kilnModule[body.end - 1], 0x0b);
  }
  const code = info.sections.find((s) => s.name === "code")!;
  assert.equal(info.code.at(-1)!.end, code.end);
});

Deno.test("a shared memory is reported as shared", () => {
  const info = readModule(wat(`(module (memory (export "memory") 1 4 shared))`));
  assert.deepEqual(info.memories, [{ min: 1, max: 4, shared: true }]);
});

Deno.test("a memory64 module is refused as unsupported", () => {
  const bytes = wat(`(module (memory (export "memory") i64 1))`, { memory64: true });
  assert.throws(
    () => readModule(bytes),
    (e) => e instanceof WasmUnsupportedError && e.code === "wasm_unsupported" && e.feature === "memory64",
  );
});

Deno.test("GC struct types are refused as unsupported", () => {
  // type section: one struct type (0x5f) with one immutable i32 field
  const bytes = binary(section(1, [1, 0x5f, 1, 0x7f, 0x00]));
  assert.ok(WebAssembly.validate(bytes));
  assert.throws(() => readModule(bytes), (e) => e instanceof WasmUnsupportedError && e.feature === "gc");
});

Deno.test("a malformed name section never fails the load", () => {
  const bytes = binary(section(0, [4, ..."name".split("").map((c) => c.charCodeAt(0)), 1, 0xff, 0xff]));
  assert.ok(WebAssembly.validate(bytes));
  const info = readModule(bytes);
  assert.equal(info.functionNames.size, 0);
  assert.deepEqual(info.customSections.map((c) => c.name), ["name"]);
});

Deno.test("readModule refuses a non-Uint8Array with a TypeError", () => {
  assert.throws(() => readModule([0, 97, 115, 109] as unknown as Uint8Array), TypeError);
});

Deno.test("an empty section list is a valid module", () => {
  const info = readModule(binary());
  assert.equal(info.sections.length, 0);
  assert.equal(info.start, null);
  assert.equal(info.dataCount, null);
  assert.ok(!(info instanceof WasmFormatError));
});
