import assert from "node:assert/strict";
import { modulePlan, wat, writeFixture } from "../tests/_helpers.ts";
import { ModuleRejectedError } from "./errors.ts";
import { loadModule } from "./loader.ts";
import { LimitExceededError, WasmInvalidError, WasmUnsupportedError } from "./wasm/mod.ts";

const PERIODIC = { mode: "periodic", periodUs: 10_000, priority: 50 } as const;
const HANDLERS = `(func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0))`;

async function load(source: string, maxMemoryMb: number) {
  const dir = await Deno.makeTempDir();
  try {
    const wasm = await writeFixture(dir, "m.wasm", wat(source));
    return await loadModule(modulePlan({ name: "m", wasm, maxMemoryMb, schedule: PERIODIC }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts a refusal whose cause is of class `cause`. */
async function refused(source: string, maxMemoryMb: number, cause: new (...a: never[]) => Error) {
  await assert.rejects(load(source, maxMemoryMb), (e: unknown) => {
    assert.ok(e instanceof ModuleRejectedError, String(e));
    assert.ok(e.cause instanceof cause, `cause: ${e.cause}`);
    return true;
  });
}

Deno.test("a table counts against max_memory_mb: a 65,536-element table leaves a 1 MiB module no memory", async () => {
  await refused(
    `(module (memory (export "memory") 1) (table 1 65536 funcref) ${HANDLERS})`,
    1,
    LimitExceededError,
  );
});

Deno.test("with room for both, the memory's maximum is the cap less the table beyond the allowance", async () => {
  const loaded = await load(`(module (memory (export "memory") 1) (table 1 65536 funcref) ${HANDLERS})`, 4);
  // 256 + 65,536 x 16 bytes = 1 MiB + 256; less the 64 KiB allowance: 16 pages taken from 64.
  assert.equal(loaded.maxPages, 48);
  assert.equal(loaded.reservedBytes, 256 + 65_536 * 16);
});

Deno.test("a module's few globals and small table come free: its memory gets the whole cap", async () => {
  const loaded = await load(
    `(module (memory (export "memory") 1) (table 4 4 funcref) (global (mut i32) (i32.const 0)) ${HANDLERS})`,
    2,
  );
  assert.equal(loaded.maxPages, 32);
});

Deno.test("thousands of globals count against the cap", async () => {
  const globals = Array.from({ length: 10_000 }, () => "(global i64 (i64.const 0))").join(" ");
  // 160,000 bytes: 96 KiB beyond the allowance, two pages.
  const loaded = await load(`(module (memory (export "memory") 1) ${globals} ${HANDLERS})`, 1);
  assert.equal(loaded.maxPages, 14);
});

Deno.test("a second memory and a shared memory are refused before anything runs", async () => {
  await refused(`(module (memory (export "memory") 1 1) (memory 1 1) ${HANDLERS})`, 1, WasmUnsupportedError);
  await refused(`(module (memory (export "memory") 1 1 shared) ${HANDLERS})`, 1, WasmUnsupportedError);
});

Deno.test("code naming the global the instrumenter would append is refused as invalid", async () => {
  await refused(
    `(module (memory (export "memory") 1) (func (export "kiln_abi_version") (result i32) (i32.const 1))
      (func (export "kiln_on_tick") (param i64) (result i32) (global.set 0 (i32.const 1000000)) (i32.const 0)))`,
    1,
    WasmInvalidError,
  );
});
