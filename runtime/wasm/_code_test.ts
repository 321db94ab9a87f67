import assert from "node:assert/strict";
import { binary, leb, section } from "../../tests/fixtures/wasm/bytes.ts";
import { readFixture, wabtInstructionCounts, watAll } from "../../tests/fixtures/wasm/wat_all.ts";
import { decodeBody, InstructionReader } from "./_code.ts";
import { readModule, WasmFormatError, WasmUnsupportedError } from "./mod.ts";

const MODULES = ["fft/fft.wasm", "anomaly/anomaly.wasm", "temperature/temperature.wasm"];
const FIXTURES = ["all_features.wat", "exceptions.wat", "exceptions_legacy.wat", "kiln_module.wat"];

/** The committed modules and the WAT fixtures, by name. */
async function corpus(): Promise<[string, Uint8Array<ArrayBuffer>][]> {
  const out: [string, Uint8Array<ArrayBuffer>][] = [];
  for (const m of MODULES) out.push([m, await Deno.readFile(new URL(`../../modules/${m}`, import.meta.url))]);
  for (const f of FIXTURES) out.push([f, watAll(await readFixture(f))]);
  return out;
}

/** A module of one `() -> ()` function (or with `type` the given type bytes) whose body is `body`. */
function oneFunction(
  body: readonly number[],
  type: readonly number[] = [0x60, 0, 0],
): Uint8Array<ArrayBuffer> {
  const code = [0, ...body]; // no locals
  return binary(
    section(1, [1, ...type]),
    section(3, [1, 0]),
    section(5, [1, 0, 1]),
    section(10, [1, ...leb(code.length), ...code]),
  );
}

/** Decodes every body of `bytes`; returns the error, or `null` when all decode. */
function decodeError(bytes: Uint8Array): unknown {
  try {
    for (const body of readModule(bytes).code) decodeBody(bytes, body);
    return null;
  } catch (e) {
    return e;
  }
}

function assertFormatError(bytes: Uint8Array, offset?: number): WasmFormatError {
  const e = decodeError(bytes);
  assert.ok(e instanceof WasmFormatError, `expected a WasmFormatError, got ${e}`);
  assert.equal(e.code, "wasm_invalid");
  assert.equal(e.section, "code");
  if (offset !== undefined) assert.equal(e.offset, offset);
  return e;
}

Deno.test("every body of the committed modules and the fixtures decodes to its end with wabt's instruction count", async (t) => {
  for (const [name, bytes] of await corpus()) {
    await t.step(name, () => {
      assert.ok(WebAssembly.validate(bytes), "V8 accepts the module");
      const info = readModule(bytes);
      const decoded = info.code.map((body) => decodeBody(bytes, body));
      decoded.forEach((d, i) => assert.equal(d.end, info.code[i]!.end, `function ${d.funcIndex} ends early`));
      assert.deepEqual(decoded.map((d) => d.instructions), wabtInstructionCounts(bytes));
    });
  }
});

Deno.test("the reader reports function indices of call, return_call and ref.func, and block depth", () => {
  const bytes = watAll(`(module
    (func $a (result i32) (i32.const 1))
    (func $b (result i32)
      (block (result i32) (loop (result i32) (call $a)))
      (drop (ref.func $a))
      (return_call $b))
    (elem declare func $a))`);
  const body = readModule(bytes).code[1]!;
  const r = new InstructionReader(bytes, body.exprStart, body.end, "function 1", true);
  const seen: [number, number, number][] = [];
  while (r.next()) seen.push([r.op, r.funcIndex, r.depth]);
  assert.deepEqual(seen, [
    [0x02, -1, 1], // block
    [0x03, -1, 2], // loop
    [0x10, 0, 2], // call $a
    [0x0b, -1, 1],
    [0x0b, -1, 0],
    [0xd2, 0, 0], // ref.func $a
    [0x1a, -1, 0], // drop
    [0x12, 1, 0], // return_call $b
    [0x0b, -1, -1],
  ]);
  assert.equal(r.count, 9);
  assert.equal(r.next(), false, "nothing after the final end");
});

Deno.test("an unknown opcode is a WasmFormatError naming the opcode, its byte and the function", async (t) => {
  const cases: [string, number[], string][] = [
    ["one-byte", [0x27, 0x0b], "0x27"],
    ["SIMD", [0xfd, 0x9a, 0x01, 0x0b], "0xFD 0x9A"],
    ["SIMD past relaxed SIMD", [0xfd, 0xb4, 0x24, 0x0b], "0xFD 0x1234"],
    ["misc", [0xfc, 0x12, 0x0b], "0xFC 0x12"],
    ["atomic", [0xfe, 0x04, 0x0b], "0xFE 0x04"],
  ];
  for (const [name, body, opcode] of cases) {
    await t.step(name, () => {
      const bytes = oneFunction(body);
      const exprStart = readModule(bytes).code[0]!.exprStart;
      const e = assertFormatError(bytes, exprStart);
      assert.ok(e.message.includes(`Unknown opcode ${opcode} at byte ${exprStart} in function 0`), e.message);
      assert.equal(WebAssembly.validate(bytes), false);
    });
  }
});

Deno.test("GC and typed function reference instructions are refused as unsupported", () => {
  for (
    const body of [[0xfb, 0x00, 0x00, 0x0b], [0x14, 0x00, 0x0b], [0xd0, 0x00, 0x0b], [0x02, 0x63, 0x70, 0x0b]]
  ) {
    const e = decodeError(oneFunction(body));
    assert.ok(e instanceof WasmUnsupportedError, `expected a WasmUnsupportedError, got ${e}`);
    assert.equal(e.feature, "gc");
  }
});

Deno.test("a memory argument may carry a memory index (multi-memory) and a u64-encoded offset", () => {
  // i32.const 0; i32.load (align 2 | 0x40) memory 0 offset 4; drop; end
  const multiMemory = oneFunction([0x41, 0x00, 0x28, 0x42, 0x00, 0x04, 0x1a, 0x0b]);
  // i32.const 0; i32.load align 2, offset 0 in six bytes (longer than a u32 may be); drop; end
  const longOffset = oneFunction([0x41, 0x00, 0x28, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b]);
  for (const bytes of [multiMemory, longOffset]) {
    assert.ok(WebAssembly.validate(bytes), "V8 accepts it");
    const body = readModule(bytes).code[0]!;
    assert.deepEqual(decodeBody(bytes, body), { funcIndex: 0, instructions: 4, end: body.end });
  }
});

Deno.test("a body cut at any byte is a WasmFormatError", async (t) => {
  for (const [name, bytes] of await corpus()) {
    await t.step(name, () => {
      for (const body of readModule(bytes).code) {
        for (let end = body.exprStart; end < body.end; end++) {
          try {
            const r = new InstructionReader(bytes, body.exprStart, end, `function ${body.funcIndex}`, true);
            while (r.next());
            assert.fail(`function ${body.funcIndex} cut at byte ${end} decoded`);
          } catch (e) {
            assert.ok(e instanceof WasmFormatError, `function ${body.funcIndex} cut at byte ${end}: ${e}`);
          }
        }
      }
    });
  }
});

Deno.test("a malformed LEB128 immediate is a WasmFormatError at the immediate", async (t) => {
  const cases: [string, number[], number][] = [
    ["i32.const of six bytes", [0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b], 1],
    ["i32.const overflowing s32", [0x41, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x1a, 0x0b], 1],
    ["i64.const of eleven bytes", [0x42, ...Array(10).fill(0x80), 0x00, 0x1a, 0x0b], 1],
    ["call index overflowing u32", [0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x0b], 1],
    ["br_table with 2^31 labels", [0x41, 0x00, 0x0e, ...leb(2 ** 31), 0x00, 0x0b], 3],
    ["SIMD opcode of six bytes", [0xfd, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b], 1],
    ["memory offset of eleven bytes", [0x41, 0, 0x28, 0x02, ...Array(10).fill(0x80), 0x00, 0x1a, 0x0b], 4],
  ];
  for (const [name, body, at] of cases) {
    await t.step(name, () => {
      const bytes = oneFunction(body);
      assertFormatError(bytes, readModule(bytes).code[0]!.exprStart + at);
      assert.equal(WebAssembly.validate(bytes), false);
    });
  }
});

Deno.test("bytes after a body's final end are a WasmFormatError", () => {
  // end; nop; end: the first end closes the function, two bytes early.
  const bytes = oneFunction([0x0b, 0x01, 0x0b]);
  const e = assertFormatError(bytes);
  assert.match(e.message, /has 2 bytes after its final "end"/);
});

Deno.test("random corruption of bodies gives a WasmFormatError or a decode, never another error", async () => {
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  for (const [name, original] of await corpus()) {
    const info = readModule(original);
    for (let trial = 0; trial < 200; trial++) {
      const bytes = original.slice();
      const body = info.code[Math.floor(random() * info.code.length)]!;
      for (let k = 0; k < 3; k++) {
        bytes[body.exprStart + Math.floor(random() * (body.end - body.exprStart))] = Math.floor(
          random() * 256,
        );
      }
      const r = new InstructionReader(bytes, body.exprStart, body.end, `function ${body.funcIndex}`, true);
      try {
        while (r.next());
      } catch (e) {
        assert.ok(
          e instanceof WasmFormatError || e instanceof WasmUnsupportedError,
          `${name} trial ${trial}: ${e}`,
        );
      }
    }
  }
});
