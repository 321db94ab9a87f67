/**
 * The attack suite (see `_attack.ts`): memories and tables too large, unbounded or of a refused kind, and growth past
 * their caps.
 */
import assert from "node:assert/strict";
import { capPages, MAX_TABLE_ELEMENTS, PAGE_BYTES } from "../../runtime/mod.ts";
import { WasmUnsupportedError } from "../../runtime/wasm/mod.ts";
import { binary, section } from "../fixtures/wasm/bytes.ts";
import { fixture, refusedFor, runHostile } from "./_harness.ts";
import { answered, name } from "./_attack.ts";

// ---- memory and tables -----------------------------------------------------------------------------------

Deno.test("attack: an initial memory of 65536 pages (4 GiB) with max_memory_mb 1 is refused with the limit", async () => {
  await runHostile({
    bytes: await fixture("memory_huge_initial"),
    plan: { maxMemoryMb: 1 },
    expect: refusedFor(
      /needs (65536 pages \(4096 MiB\)|4096 MiB of memory) initially .*limits\.max_memory_mb allows (16 pages|\(1 MiB\))/,
    ),
  });
});

Deno.test("attack: a memory.grow bomb is contained: grow returns -1 at the cap and the module keeps running", async () => {
  const cap = capPages(1) * PAGE_BYTES;
  await runHostile({
    bytes: await fixture("memory_grow_bomb"),
    plan: { maxMemoryMb: 1 },
    expect: answered(-1, {
      key: "grow",
      check: (m) => {
        assert.equal(m.outputs.pages, capPages(1));
        assert.equal(m.memory_bytes, cap);
      },
    }),
  });
});

Deno.test("attack: a 64-bit memory (memory64) is refused as unsupported", async () => {
  await runHostile({
    bytes: binary(section(5, [1, 0x04, 1]), section(7, [1, ...name("memory"), 2, 0])),
    expect: refusedFor(/64-bit memory \(memory64 proposal\)/, WasmUnsupportedError),
  });
});

Deno.test("attack: a table of 10,000,000 elements is refused", async () => {
  await runHostile({
    bytes: await fixture("table_huge"),
    expect: refusedFor(
      new RegExp(`^table 0: declares a maximum of 10000000 elements; .*at most ${MAX_TABLE_ELEMENTS}`),
    ),
  });
});

Deno.test("attack: a table without a maximum is refused", async () => {
  await runHostile({
    bytes: await fixture("table_no_max"),
    expect: refusedFor(new RegExp(`^table 0: declares no maximum; .*at most ${MAX_TABLE_ELEMENTS}`)),
  });
});

Deno.test("attack: table.grow past the table's maximum is contained: it returns -1 and the module keeps running", async () => {
  await runHostile({
    bytes: await fixture("table_grow_past_max"),
    expect: answered(-1, { check: (m) => assert.equal(m.outputs.size, 4) }),
  });
});
