import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import { capMemory, ImportedMemoryError, LimitExceededError, readModule, WasmFormatError } from "./mod.ts";

/** A module with `memory` and exports to grow it and to store and load a word. */
const growable = (limits: string) =>
  wat(`(module
    (memory (export "memory") ${limits})
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))`);

interface Growable {
  grow(pages: number): number;
  store(at: number, value: number): void;
  load(at: number): number;
}

function instantiate(bytes: Uint8Array<ArrayBuffer>): Growable {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Growable;
}

Deno.test("a memory without a maximum gets the cap as its maximum", () => {
  const capped = capMemory(growable("1"), 4);
  assert.deepEqual(readModule(capped).memories, [{ min: 1, max: 4, shared: false }]);
});

Deno.test("a maximum above the cap is lowered to the cap", () => {
  const capped = capMemory(growable("1 100"), 10);
  assert.deepEqual(readModule(capped).memories, [{ min: 1, max: 10, shared: false }]);
});

Deno.test("a maximum at or below the cap leaves the binary unchanged", () => {
  const original = growable("1 5");
  const capped = capMemory(original, 10);
  assert.deepEqual(capped, original);
  assert.notEqual(capped, original, "a copy, not the caller's buffer");
  assert.deepEqual(capMemory(original, 5), original);
});

Deno.test("memory.grow past the cap returns -1 and the instance keeps working", () => {
  const original = growable("1");
  const uncapped = instantiate(original);
  assert.equal(uncapped.grow(4), 1, "without the cap the memory grows to 5 pages");

  const capped = instantiate(capMemory(original, 4));
  assert.equal(capped.grow(3), 1, "growing up to the cap succeeds");
  assert.equal(capped.grow(1), -1, "growing past the cap fails inside the module");
  assert.equal(capped.grow(65535), -1);
  capped.store(4 * 65536 - 4, 0x1234_5678);
  assert.equal(capped.load(4 * 65536 - 4), 0x1234_5678);
  assert.equal(capped.grow(0), 4);
});

Deno.test("an initial size above the cap is refused with the limit in MiB", () => {
  assert.throws(
    () => capMemory(growable("20"), 16),
    (e) =>
      e instanceof LimitExceededError && e.code === "limit_exceeded" && e.limit === "max_memory_mb" &&
      e.requested === 1.25 && e.allowed === 1,
  );
});

Deno.test("an imported memory is refused", () => {
  const bytes = wat(`(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)))`);
  assert.throws(
    () => capMemory(bytes, 16),
    (e) =>
      e instanceof ImportedMemoryError && e.code === "memory_imported" && e.importModule === "env" &&
      e.importName === "memory",
  );
});

Deno.test("a module without a memory is returned unchanged", () => {
  const bytes = wat(`(module (func (export "f")))`);
  assert.deepEqual(capMemory(bytes, 16), bytes);
});

Deno.test("a cap that widens the LEB128 encodings still yields a valid module", () => {
  // 60 memories without maximum: adding a 3-byte maximum of 65536 to each pushes the section size
  // from one LEB128 byte (121) to two (301).
  const memories = Array.from({ length: 60 }, (_, i) => `(memory $m${i} 1)`).join(" ");
  const original = wat(`(module ${memories} (export "memory" (memory 0))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (data (i32.const 0) "kept"))`);
  const capped = capMemory(original, 65536);
  assert.ok(WebAssembly.validate(capped));
  const before = readModule(original);
  const after = readModule(capped);
  assert.ok(after.memories.every((m) => m.min === 1 && m.max === 65536));
  assert.equal(capped.length - original.length, 60 * 3 + 1);
  // Every other section is copied byte for byte.
  const others = (info: typeof before, bytes: Uint8Array) =>
    info.sections.filter((s) => s.name !== "memory").map((s) => [...bytes.subarray(s.start, s.end)]);
  assert.deepEqual(others(after, capped), others(before, original));
  assert.equal(
    new TextDecoder().decode(capped.subarray(after.data[0]!.dataStart, after.data[0]!.dataStart + 4)),
    "kept",
  );
});

Deno.test("a cap that narrows the LEB128 encodings still yields a valid module", () => {
  const capped = capMemory(growable("1 65536"), 2);
  assert.deepEqual(readModule(capped).memories, [{ min: 1, max: 2, shared: false }]);
  const instance = instantiate(capped);
  assert.equal(instance.grow(1), 1);
  assert.equal(instance.grow(1), -1);
});

Deno.test("a shared memory stays shared under the cap", () => {
  const capped = capMemory(growable("1 100 shared"), 8);
  assert.deepEqual(readModule(capped).memories, [{ min: 1, max: 8, shared: true }]);
  const memory = (instantiate(capped) as unknown as { memory: WebAssembly.Memory }).memory;
  assert.ok(memory.buffer instanceof SharedArrayBuffer);
});

Deno.test("a Kiln ABI module runs the same after capping", () => {
  const bytes = wat(
    Deno.readTextFileSync(new URL("../../tests/fixtures/wasm/kiln_module.wat", import.meta.url)),
  );
  const capped = capMemory(bytes, 16);
  const log = () => 0;
  const kiln = { log, input: () => 0, now_us: () => 0n, param_f64: (_a: number, _b: number, d: number) => d };
  const exports = new WebAssembly.Instance(new WebAssembly.Module(capped), { kiln }).exports as Record<
    string,
    CallableFunction
  >;
  assert.equal(exports.kiln_abi_version!(), 1);
  assert.equal(exports.kiln_init!(), 0);
  assert.equal(exports.kiln_alloc!(16), 4096);
  assert.equal((exports.memory as unknown as WebAssembly.Memory).grow(13), 3);
  assert.throws(() => (exports.memory as unknown as WebAssembly.Memory).grow(1), RangeError);
});

Deno.test("capMemory refuses a cap that is not a page count", () => {
  for (const cap of [-1, 1.5, 65537, Number.NaN]) {
    assert.throws(() => capMemory(growable("1"), cap), RangeError);
  }
});

Deno.test("capMemory refuses a malformed binary with a WasmFormatError", () => {
  assert.throws(() => capMemory(new Uint8Array([0, 97, 115, 109, 1, 0, 0]), 16), WasmFormatError);
});
