import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import { binary, HEADER, leb, section } from "../../tests/fixtures/wasm/bytes.ts";
import { readModule, WasmFormatError, WasmUnsupportedError } from "./mod.ts";

const kilnModule = wat(
  await Deno.readTextFile(new URL("../../tests/fixtures/wasm/kiln_module.wat", import.meta.url)),
  { debugNames: true },
);
const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const name = (s: string) => [...leb(utf8(s).length), ...utf8(s)];
/** Type section with one `() -> ()` type. */
const voidType = section(1, [1, 0x60, 0, 0]);

function outcome(bytes: Uint8Array): WasmFormatError | WasmUnsupportedError | null {
  try {
    readModule(bytes);
    return null;
  } catch (e) {
    if (e instanceof WasmFormatError || e instanceof WasmUnsupportedError) return e;
    throw new Error(`readModule threw a ${(e as Error)?.name} instead of a WasmFormatError`, { cause: e });
  }
}

function assertFormatError(
  bytes: Uint8Array<ArrayBuffer>,
  expected: { offset?: number; section?: string } = {},
) {
  assert.equal(WebAssembly.validate(bytes), false, "V8 rejects the fixture too");
  const e = outcome(bytes);
  assert.ok(e instanceof WasmFormatError, `expected a WasmFormatError, got ${e}`);
  assert.equal(e.code, "wasm_invalid");
  if (expected.offset !== undefined) assert.equal(e.offset, expected.offset);
  if ("section" in expected) assert.equal(e.section, expected.section);
  return e;
}

Deno.test("a module truncated at any byte is refused with a WasmFormatError unless it ends on a section boundary", () => {
  const boundaries = new Set([8, ...readModule(kilnModule).sections.map((s) => s.end)]);
  for (let length = 0; length < kilnModule.length; length++) {
    const prefix = kilnModule.slice(0, length);
    const e = outcome(prefix);
    const valid = WebAssembly.validate(prefix);
    assert.ok(e === null || e instanceof WasmFormatError, `prefix of ${length} bytes: ${e}`);
    assert.equal(e === null, valid, `prefix of ${length} bytes: we say ${e ?? "valid"}, V8 says ${valid}`);
    if (e === null) assert.ok(boundaries.has(length), `prefix of ${length} bytes ends inside a section`);
  }
});

Deno.test("a binary without the magic bytes is refused", () => {
  assertFormatError(new Uint8Array([0x00, 0x61, 0x73, 0x6e, 1, 0, 0, 0]), { offset: 3 });
  assertFormatError(new TextEncoder().encode("#!/bin/sh\necho hi\n"), { offset: 0 });
  assertFormatError(new Uint8Array([]), { offset: 0 });
});

Deno.test("a binary of another version, or a component, is refused", () => {
  assertFormatError(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), { offset: 4 });
  assertFormatError(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]), { offset: 4 });
});

Deno.test("a section whose size runs past the end of the file is refused", () => {
  const e = assertFormatError(binary(voidType, [5, ...leb(4096), 1, 0, 1]), {
    offset: 14,
    section: "memory",
  });
  assert.match(e.message, /Section 5 \(memory\) at byte 14 declares 4096 bytes but only 3 remain/);
});

Deno.test("a LEB128 of six bytes is refused", () => {
  assertFormatError(binary([3, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), { offset: 10, section: "function" });
  assertFormatError(binary([1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), { offset: 9 });
});

Deno.test("a count of 2^31 functions in a 10-byte section is refused before any loop runs", () => {
  const e = assertFormatError(binary(voidType, section(3, [...leb(2 ** 31), 0, 0, 0, 0, 0])), {
    section: "function",
  });
  assert.match(e.message, /declares 2147483648 functions .* but only 5 bytes remain/);
});

Deno.test("huge counts and sizes in every section are refused", async (t) => {
  const huge = leb(2 ** 32 - 1);
  const cases: Record<string, number[][]> = {
    types: [section(1, [...huge, 0x60])],
    "type parameters": [section(1, [1, 0x60, ...huge, 0x7f])],
    imports: [section(2, [...huge, 0, 0, 0, 0])],
    "an import name": [section(2, [1, ...huge, 0x61])],
    tables: [section(4, [...huge, 0x70, 0, 0])],
    memories: [section(5, [...huge, 0, 0])],
    globals: [section(6, [...huge, 0x7f, 0, 0x0b])],
    exports: [section(7, [...huge, 0, 0, 0])],
    "element segments": [section(9, [...huge, 1, 0, 0])],
    "function bodies": [voidType, section(3, [1, 0]), section(10, [...huge, 2, 0, 0x0b])],
    "a function body": [voidType, section(3, [1, 0]), section(10, [1, ...huge, 0, 0x0b])],
    locals: [voidType, section(3, [1, 0]), section(10, [1, 8, 1, ...huge, 0x7f, 0x0b])],
    "data segments": [section(11, [...huge, 1, 0])],
  };
  for (const [what, parts] of Object.entries(cases)) {
    await t.step(what, () => void assertFormatError(binary(...parts)));
  }
});

Deno.test("a data segment declaring 4 GiB is refused with its size in the message", () => {
  const bytes = binary(
    section(5, [1, 0, 1]),
    section(11, [1, 0, 0x41, 0, 0x0b, ...leb(2 ** 32 - 1), 1, 2, 3]),
  );
  const e = assertFormatError(bytes, { section: "data" });
  assert.match(e.message, /Data segment 0 at byte \d+ declares 4294967295 bytes but only 3 remain/);
});

Deno.test("structural faults between sections are refused", async (t) => {
  const cases: Record<string, number[][]> = {
    "an unknown section id": [section(14, [])],
    "a duplicate section": [voidType, voidType],
    "sections out of order": [section(3, [0]), voidType],
    "a section with bytes after its content": [section(1, [0, 0])],
    "a custom section without a name": [[0, 0]],
    "a custom section with a name longer than the section": [section(0, [9, 0x61])],
    "functions without a code section": [voidType, section(3, [1, 0])],
    "more function bodies than functions": [
      voidType,
      section(3, [1, 0]),
      section(10, [2, 2, 0, 0x0b, 2, 0, 0x0b]),
    ],
    "a function body that does not end with end": [
      voidType,
      section(3, [1, 0]),
      section(10, [1, 2, 0, 0x01]),
    ],
    "a function body of zero bytes": [voidType, section(3, [1, 0]), section(10, [1, 0])],
    "a function of an unknown type": [voidType, section(3, [1, 5]), section(10, [1, 2, 0, 0x0b])],
    "an import that is not valid UTF-8": [section(2, [1, 1, 0xff, 1, 0x61, 3, 0x7f, 0])],
    "an import of an unknown kind": [section(2, [1, ...name("a"), ...name("b"), 7, 0])],
    "a duplicate export name": [
      section(5, [1, 0, 1]),
      section(7, [2, ...name("m"), 2, 0, ...name("m"), 2, 0]),
    ],
    "an export of a missing function": [section(7, [1, ...name("f"), 0, 3])],
    "a start function that does not exist": [section(8, [0])],
    "a start function with parameters": [
      section(1, [1, 0x60, 1, 0x7f, 0]),
      section(3, [1, 0]),
      section(8, [0]),
      section(10, [1, 2, 0, 0x0b]),
    ],
    "a data count that differs from the data section": [
      section(5, [1, 0, 1]),
      section(12, [2]),
      section(11, [1, 1, 0]),
    ],
    "a data count without a data section": [section(12, [1])],
    "a data segment for a missing memory": [section(11, [1, 0, 0x41, 0, 0x0b, 0])],
    "a global of an unknown value type": [section(6, [1, 0x40, 0, 0x41, 0, 0x0b])],
    "a global whose initializer is not constant": [section(6, [1, 0x7f, 0, 0x20, 0, 0x0b])],
    "a global with a mutability of 2": [section(6, [1, 0x7f, 2, 0x41, 0, 0x0b])],
    "memory limits with an unknown flag": [section(5, [1, 0x10, 1])],
    "a memory above 4 GiB": [section(5, [1, 0, ...leb(65537)])],
    "a memory whose maximum is below its minimum": [section(5, [1, 1, 2, 1])],
    "a shared memory without a maximum": [section(5, [1, 2, 1])],
    "a table of an unknown element type": [section(4, [1, 0x7f, 0, 0])],
    "an element segment for a missing table": [section(9, [1, 0, 0x41, 0, 0x0b, 0])],
    "an element segment with flags 8": [section(9, [1, 8, 0])],
    "more than 50000 locals": [
      voidType,
      section(3, [1, 0]),
      section(10, [1, 7, 1, ...leb(50001), 0x7f, 0x0b]),
    ],
  };
  for (const [what, parts] of Object.entries(cases)) {
    await t.step(what, () => void assertFormatError(binary(...parts)));
  }
});

/**
 * V8 messages for faults a reader without a type checker cannot see: instruction typing in function bodies
 * and constant expressions (core spec §3, validation, not §5, binary format).
 */
const TYPE_CHECK_ERRORS = [
  /Compiling function #\d+/,
  /type error in constant expression/,
  /expected type \S+, found/,
  /elements on the stack for constant expression/,
  /is not a subtype of/,
];

/** A second mutation base: every import kind, tags, expression element segments, passive data, data count. */
const importsModule = wat(`(module
  (type $v (func))
  (import "env" "table" (table 1 10 externref))
  (import "env" "memory" (memory 1 2 shared))
  (import "env" "g" (global (mut f32)))
  (import "env" "oops" (tag (param i32)))
  (tag $t (export "t") (param i64))
  (table $f 2 funcref)
  (global (export "h") (mut i64) (i64.const -1))
  (func $a (export "fail") (throw $t (i64.const 1)))
  (func $b (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 1)) (data.drop 0))
  (elem (table $f) (i32.const 0) funcref (ref.func $a) (ref.null func))
  (elem funcref (ref.func $b))
  (data "passive"))`);

Deno.test("what V8 refuses for structural reasons the reader refuses too, under single-byte mutations", async (t) => {
  for (
    const [name, base] of [["a Kiln ABI module", kilnModule], [
      "a module of every import kind",
      importsModule,
    ]] as const
  ) {
    await t.step(name, () => {
      assert.ok(WebAssembly.validate(base));
      const mismatches: string[] = [];
      for (const [what, bytes] of mutants(base)) {
        const ours = outcome(bytes);
        let v8: string | null = null;
        try {
          new WebAssembly.Module(bytes);
        } catch (e) {
          v8 = (e as Error).message;
        }
        if (ours instanceof WasmFormatError && v8 === null) {
          mismatches.push(`${what}: V8 accepts, we refuse: ${ours.message}`);
        }
        if (ours === null && v8 !== null && !TYPE_CHECK_ERRORS.some((re) => re.test(v8!))) {
          mismatches.push(`${what}: V8 refuses, we accept: ${v8}`);
        }
      }
      assert.deepEqual(mismatches, []);
    });
  }
});

/** Every byte deleted, a zero inserted before every byte, and every byte replaced by a few telling values. */
function* mutants(base: Uint8Array): Generator<[string, Uint8Array<ArrayBuffer>]> {
  for (let at = 8; at < base.length; at++) {
    const before = base.subarray(0, at);
    const after = base.subarray(at + 1);
    const here = base[at]!;
    yield [`delete byte ${at}`, new Uint8Array([...before, ...after])];
    yield [`insert 0x00 at ${at}`, new Uint8Array([...before, 0x00, here, ...after])];
    for (const v of [0x00, 0x01, 0x0b, 0x40, 0x7f, 0x80, 0xff, (here + 1) & 0xff, (here - 1) & 0xff]) {
      if (v !== here) yield [`byte ${at} = 0x${v.toString(16)}`, new Uint8Array([...before, v, ...after])];
    }
  }
}

Deno.test("the 8-byte header alone is a valid empty module", () => {
  assert.equal(outcome(new Uint8Array(HEADER)), null);
});
