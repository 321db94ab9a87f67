/**
 * Hostile modules of the `memory` class: with `max_memory_mb: 1`, state the module makes the host hold
 * besides its one capped memory: more memories (multi-memory), many tables and tables with large maximums,
 * a huge number of globals (each mutable one also exported by the instrumenter), large passive data and
 * element segments, and `memory.grow` on a second memory. Each is either refused at deploy with the limit
 * named, or contained: what it holds stays within the cap (as its outputs and `memory_bytes` report it), and
 * the gateway's resident memory stays bounded (the harness samples it, {@linkcode runHostile}).
 *
 * The two multi-memory fixtures are WAT in `fixtures/`; the others are counts no one writes by hand (a
 * thousand tables, 300,000 globals, segments of megabytes), so they are built here byte by byte.
 */
import assert from "node:assert/strict";
import { capPages, PAGE_BYTES } from "../../runtime/mod.ts";
import { leb } from "../fixtures/wasm/bytes.ts";
import { wat } from "../_helpers.ts";
import { type Containment, fixtureWith, rejectedFor, runHostile } from "./_harness.ts";

const CAP_MB = 1;
const CAP_PAGES = capPages(CAP_MB);
const CAP_BYTES = CAP_PAGES * PAGE_BYTES;

/** Refused naming `limits.max_memory_mb` (or multi-memory itself), or deployed and then `contained`. */
function refusedOrContained(contained: Containment) {
  return { refused: rejectedFor(/max_memory_mb|memories|multi-memory/), orContained: contained };
}

/** Contained: it ran and is running, and reports at most the cap in its memory. */
const runsWithinCap = (check?: Containment["check"]): Containment => ({
  until: (m) => m.invocations >= 3,
  check: async (m, rt, audit) => {
    assert.ok(m.memory_bytes <= CAP_BYTES, `memory_bytes ${m.memory_bytes} over the cap of ${CAP_BYTES}`);
    await check?.(m, rt, audit);
  },
});

// ---- binary building, for the counts no one writes by hand ---------------------------------------------

type Bytes = readonly number[] | Uint8Array;

function concat(parts: readonly Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A section: id, payload size, payload. */
const sect = (id: number, ...payload: Bytes[]): Uint8Array => {
  const body = concat(payload);
  return concat([[id], leb(body.length), body]);
};
const utf8 = new TextEncoder();
const nameOf = (s: string) => [...leb(s.length), ...utf8.encode(s)];
/** A function body without locals. */
const body = (...code: number[]) => [...leb(code.length + 1), 0, ...code];
/** `i32.const 65536` (signed LEB128). */
const I32_64K = [0x41, 0x80, 0x80, 0x04];

/**
 * A periodic module of two functions (`kiln_abi_version`, `kiln_on_tick` running `tick` then returning 0) with
 * one exported memory of one page, and `extra` sections in their places: `{ 4: tables, 6: globals, 9:
 * elements, 11: data, 12: data count }`.
 */
function periodicModule(tick: number[], extra: Partial<Record<4 | 6 | 9 | 11 | 12, Uint8Array>>): Uint8Array {
  return concat([
    [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    sect(1, [2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7e, 1, 0x7f]), // () -> i32, (i64) -> i32
    sect(3, [2, 0, 1]),
    extra[4] ?? [],
    sect(5, [1, 0, 1]),
    extra[6] ?? [],
    sect(
      7,
      [3],
      nameOf("memory"),
      [2, 0],
      nameOf("kiln_abi_version"),
      [0, 0],
      nameOf("kiln_on_tick"),
      [0, 1],
    ),
    extra[9] ?? [],
    extra[12] ?? [],
    sect(10, [2], body(0x41, 1, 0x0b), body(...tick, 0x41, 0, 0x0b)),
    extra[11] ?? [],
  ]);
}

// ---- memories ------------------------------------------------------------------------------------------

Deno.test("escape[memory]: eight memories each within max_memory_mb are refused, or held within the cap in total", async () => {
  await runHostile({
    bytes: await fixtureWith("memory_many_memories", { multi_memory: true }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap((m) => {
      assert.ok(m.outputs.pages !== undefined, "it reported its pages");
      assert.ok(m.outputs.pages! <= CAP_PAGES, `it holds ${m.outputs.pages} pages, the cap is ${CAP_PAGES}`);
    })),
  });
});

Deno.test("escape[memory]: memory.grow on a second memory is refused, or stops at the module's cap", async () => {
  await runHostile({
    bytes: await fixtureWith("memory_grow_second", { multi_memory: true }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained({
      until: (m) => m.outputs.done === 1,
      check: (m) => {
        assert.equal(m.outputs.grow, -1, "a grow past the cap fails");
        assert.ok(
          m.outputs.pages! <= CAP_PAGES,
          `it holds ${m.outputs.pages} pages, the cap is ${CAP_PAGES}`,
        );
      },
    }),
    timeoutMs: 15_000,
  });
});

// ---- tables --------------------------------------------------------------------------------------------

Deno.test("escape[memory]: a thousand tables of 65,536 elements are refused with the limit named", async () => {
  const table = [0x70, 0x01, ...leb(65_536), ...leb(65_536)];
  const tables = sect(4, leb(1000), ...Array.from({ length: 1000 }, () => table));
  await runHostile({
    bytes: periodicModule([], { 4: tables }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap()),
  });
});

Deno.test("escape[memory]: 64 tables grown to a maximum of 65,536 elements are refused, or held within the cap", async () => {
  const n = 64;
  const source = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  ${Array.from({ length: n }, (_, i) => `(table $t${i} 1 65536 funcref)`).join("\n  ")}
  (data (i32.const 0) "elements")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (local $total i32)
    ${
    Array.from({ length: n }, (_, i) =>
      `(drop (table.grow $t${i} (ref.null func) (i32.sub (i32.const 65536) (table.size $t${i}))))
    (local.set $total (i32.add (local.get $total) (table.size $t${i})))`).join("\n    ")
  }
    (drop (call $output (i32.const 0) (i32.const 8) (f64.convert_i32_u (local.get $total))))
    (i32.const 0)))`;
  await runHostile({
    bytes: wat(source),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap((m) => {
      // A table element is a reference: at least 4 bytes (V8 compresses pointers), 8 without compression.
      const bytes = (m.outputs.elements ?? 0) * 4;
      assert.ok(bytes <= CAP_BYTES, `${m.outputs.elements} table elements (${bytes} bytes at least) held`);
    })),
  });
});

// ---- globals and segments ------------------------------------------------------------------------------

Deno.test("escape[memory]: 300,000 mutable i64 globals (each exported by the instrumenter) are refused, or contained", async () => {
  const n = 300_000;
  const one = [0x7e, 0x01, 0x42, 0x00, 0x0b]; // (mut i64) (i64.const 0)
  const globals = new Uint8Array(n * one.length);
  for (let i = 0; i < n; i++) globals.set(one, i * one.length);
  await runHostile({
    bytes: periodicModule([0x23, ...leb(n - 1), 0x1a], { 6: sect(6, leb(n), globals) }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap()),
  });
});

Deno.test("escape[memory]: a 24 MiB passive data segment is refused, or contained within the cap", async () => {
  const size = 24 * 1024 * 1024;
  const data = sect(11, [1, 0x01], leb(size), new Uint8Array(size).fill(0x5a));
  // memory.init 0: copy 64 KiB of the segment into memory at 0, every tick.
  const tick = [0x41, 0, 0x41, 0, ...I32_64K, 0xfc, 0x08, 0, 0];
  await runHostile({
    bytes: periodicModule(tick, { 11: data, 12: sect(12, [1]) }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap()),
    timeoutMs: 15_000,
  });
});

Deno.test("escape[memory]: a passive element segment of 4,000,000 entries is refused, or contained", async () => {
  const n = 4_000_000;
  const indices = new Uint8Array(n); // every entry is function 0
  const elements = sect(9, [1, 0x01, 0x00], leb(n), indices);
  const table = sect(4, [1, 0x70, 0x01], leb(65_536), leb(65_536));
  // table.init 0 0: copy 65,536 entries of the segment into the table at 0, every tick.
  const tick = [0x41, 0, 0x41, 0, ...I32_64K, 0xfc, 0x0c, 0, 0];
  await runHostile({
    bytes: periodicModule(tick, { 4: table, 9: elements }),
    plan: { maxMemoryMb: CAP_MB },
    expect: refusedOrContained(runsWithinCap()),
    timeoutMs: 15_000,
  });
});
