import assert from "node:assert/strict";
import { wat } from "../../tests/fixtures/wasm/wat.ts";
import {
  COUNTDOWN_EXPORT,
  instrument,
  InstrumentConflictError,
  validateModule,
  WasmFormatError,
  WasmInvalidError,
  WasmUnsupportedError,
} from "./mod.ts";

const MEMORY = `(memory (export "memory") 1 1)`;

Deno.test("validateModule accepts a valid module and returns what it decoded", () => {
  const info = validateModule(wat(`(module ${MEMORY} (global $g (mut i32) (i32.const 0))
    (func (export "f") (global.set $g (i32.const 1))))`));
  assert.equal(info.globals.length, 1);
});

Deno.test("code naming a global the module does not declare is refused before it is rewritten", async (t) => {
  // Global 1 would be the instrumenter's countdown once appended: valid after rewriting, not before.
  for (
    const [name, body] of [
      ["a handler that resets the countdown", `(func (export "f") (global.set 1 (i32.const 1000)))`],
      ["a start function that reads it", `(func $s (drop (global.get 1))) (start $s)`],
      ["a module with no globals at all", `(func (export "f") (global.set 0 (i32.const 7)))`],
    ] as const
  ) {
    await t.step(name, () => {
      const globals = name.includes("no globals") ? "" : `(global (mut i32) (i32.const 0))`;
      const bytes = wat(`(module ${MEMORY} ${globals} ${body})`);
      assert.throws(
        () => validateModule(bytes),
        (e: unknown) => e instanceof WasmInvalidError && e.code === "wasm_invalid",
      );
    });
  }
});

Deno.test("the rewrite itself refuses an instruction naming an appended global, whatever validated before", () => {
  const bytes = wat(`(module ${MEMORY} (func (export "f") (global.set 0 (i32.const 1000))))`);
  assert.throws(
    () => instrument(bytes),
    (e: unknown) => e instanceof WasmFormatError && /global 0/.test(e.message),
  );
});

Deno.test("a shared memory is refused: an atomic wait on it would park the executor", () => {
  const bytes = wat(`(module (memory (export "memory") 1 1 shared)
    (func (export "f") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))`);
  assert.throws(
    () => validateModule(bytes),
    (e: unknown) =>
      e instanceof WasmUnsupportedError && e.feature === "threads" && e.code === "wasm_unsupported",
  );
});

Deno.test("atomic instructions on an unshared memory are valid, and an atomic wait there traps", () => {
  const bytes = wat(`(module ${MEMORY}
    (func (export "wait") (result i32) (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1))))`);
  validateModule(bytes);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>));
  assert.throws(() => (instance.exports.wait as () => number)(), WebAssembly.RuntimeError);
});

Deno.test("more than one memory is refused (multi-memory): one memory is capped per module", () => {
  const bytes = wat(`(module (memory (export "memory") 1 1) (memory 1 1))`);
  assert.throws(
    () => validateModule(bytes),
    (e: unknown) => e instanceof WasmUnsupportedError && e.feature === "multi-memory",
  );
});

Deno.test("names the instrumenter reserves cannot be imported or exported by a module", async (t) => {
  for (
    const [name, src] of [
      ["import kiln.__check", `(import "kiln" "__check" (func (result i32)))`],
      ["import another kiln.__ name", `(import "kiln" "__refuel" (func))`],
      [
        "export __kiln_countdown",
        `(global (mut i32) (i32.const 0)) (export "${COUNTDOWN_EXPORT}" (global 0))`,
      ],
    ] as const
  ) {
    await t.step(name, () => {
      assert.throws(() => instrument(wat(`(module ${src} ${MEMORY})`)), InstrumentConflictError);
    });
  }
});

Deno.test("the budget interrupt is a trap that catch_all and try_table cannot catch", async (t) => {
  for (
    const [name, body] of [
      ["legacy try/catch_all", `(loop $l (try (do (call $spin)) (catch_all)) (br $l))`],
      ["try_table catch_all", `(loop $l (block $h (try_table (catch_all $h) (call $spin))) (br $l))`],
    ] as const
  ) {
    await t.step(name, () => {
      const bytes = wat(`(module ${MEMORY}
        (func $spin (loop $l (br $l)))
        (func (export "run") ${body}))`);
      validateModule(bytes);
      const instrumented = instrument(bytes, { checkInterval: 10 }).bytes;
      let checks = 0;
      const instance = new WebAssembly.Instance(new WebAssembly.Module(instrumented), {
        kiln: { __check: () => (++checks >= 5 ? 0 : 10) },
      });
      assert.throws(() => (instance.exports.run as () => void)(), /unreachable/);
      assert.equal(checks, 5, "the first interrupt ended the call");
    });
  }
});

Deno.test("a bulk memory instruction is a check site charged by its length", () => {
  // Ten fills of 1 MiB: counted as ten sites they would all run between two checks (interval 1000); charged
  // one site per 64 bytes, each one reaches __check.
  const bytes = wat(`(module (memory (export "memory") 16 16)
    (func (export "run") (param $n i32) (local $i i32)
      (loop $l
        (memory.fill (i32.const 0) (local.get $i) (i32.const 1048576))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (local.get $n))))))`);
  const result = instrument(bytes, { checkInterval: 1000 });
  assert.equal(result.bulkSites, 1);
  let checks = 0;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(result.bytes), {
    kiln: { __check: () => (checks++, 1000) },
  });
  (instance.exports.run as (n: number) => void)(10);
  assert.ok(checks >= 10, `${checks} checks for ten 1 MiB fills`);
  assert.equal(new Uint8Array((instance.exports.memory as WebAssembly.Memory).buffer)[1048575], 9);
});

Deno.test("a function without loops or calls gets no entry check; one with a call does", () => {
  const result = instrument(wat(`(module (memory (export "memory") 1)
    (func $leaf (result i32) (i32.add (i32.const 1) (i32.const 2)))
    (func (export "caller") (result i32) (call $leaf)))`));
  assert.equal(result.functions, 2);
  assert.equal(result.leafFunctions, 1);
  assert.equal(result.sites, 1);
});
