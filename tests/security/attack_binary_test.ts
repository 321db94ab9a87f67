/**
 * The attack suite (see `_attack.ts`): malformed binaries, refused before any byte is compiled.
 */
import assert from "node:assert/strict";
import { MAX_MODULE_BYTES } from "../../runtime/mod.ts";
import { readModule, WasmFormatError } from "../../runtime/wasm/mod.ts";
import { binary, leb, section } from "../fixtures/wasm/bytes.ts";
import { fixture, FIXTURES, refusedFor, runHostile } from "./_harness.ts";
import { name, utf8 } from "./_attack.ts";

/** A memory section with one 1-page memory, and an export section exporting it as "memory". */
const MEMORY = [...section(5, [1, 0, 1]), ...section(7, [1, ...name("memory"), 2, 0])];
/** A type section with one `() -> ()` type. */
const VOID_TYPE = section(1, [1, 0x60, 0, 0]);

// ---- malformed binaries: refused before any byte is compiled -------------------------------------------

Deno.test("attack: an empty file is refused as malformed", async () => {
  await runHostile({
    bytes: new Uint8Array(0),
    expect: refusedFor(/0 bytes long, too short for the 8-byte header/, WasmFormatError),
  });
});

Deno.test("attack: a text file (WAT source deployed as the binary) is refused as malformed", async () => {
  await runHostile({
    bytes: utf8.encode(await Deno.readTextFile(new URL("trap_unreachable.wat", FIXTURES))),
    expect: refusedFor(/Not a WebAssembly module: .*magic bytes .*byte 0 differs/, WasmFormatError),
  });
});

Deno.test("attack: bad magic is refused as malformed", async () => {
  await runHostile({
    bytes: utf8.encode("\x7fELF not wasm at all"),
    expect: refusedFor(/magic/i, WasmFormatError),
  });
});

Deno.test("attack: a binary of version 2 is refused as unsupported", async () => {
  await runHostile({
    bytes: new Uint8Array([0x00, 0x61, 0x73, 0x6d, 2, 0, 0, 0, ...MEMORY]),
    expect: refusedFor(/at byte 4: version 2; Kiln reads core modules of version 1/, WasmFormatError),
  });
});

Deno.test("attack: a module truncated in the middle of its code section is refused as malformed", async () => {
  const whole = await fixture("trap_unreachable");
  const code = readModule(whole).sections.find((s) => s.name === "code")!;
  const cut = whole.slice(0, Math.floor((code.payloadStart + code.end) / 2));
  await runHostile({
    bytes: cut,
    expect: refusedFor(
      new RegExp(`Section 10 \\(code\\) at byte ${code.start} declares \\d+ bytes but only \\d+ remain`),
      WasmFormatError,
    ),
  });
});

Deno.test("attack: a section whose size runs past the end of the file is refused as malformed", async () => {
  await runHostile({
    bytes: binary(VOID_TYPE, [5, ...leb(4096), 1, 0, 1]),
    expect: refusedFor(
      /Section 5 \(memory\) at byte 14 declares 4096 bytes but only 3 remain/,
      WasmFormatError,
    ),
  });
});

Deno.test("attack: an over-long LEB128 (six bytes for a u32) is refused as malformed", async () => {
  await runHostile({
    bytes: binary(VOID_TYPE, [3, 6, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
    expect: refusedFor(/not a valid LEB128 integer: it is longer than 5 bytes/, WasmFormatError),
  });
});

Deno.test("attack: a count of 2^31 functions in a 10-byte section is refused as malformed", async () => {
  await runHostile({
    bytes: binary(VOID_TYPE, section(3, [...leb(2 ** 31), 0, 0, 0, 0, 0])),
    expect: refusedFor(/declares 2147483648 functions at byte \d+ but only 5 bytes remain/, WasmFormatError),
  });
});

Deno.test("attack: a data segment declaring 4 GiB is refused as malformed", async () => {
  await runHostile({
    bytes: binary(
      section(5, [1, 0, 1]),
      section(7, [1, ...name("memory"), 2, 0]),
      section(11, [1, 0, 0x41, 0, 0x0b, ...leb(2 ** 32 - 1), 1, 2, 3]),
    ),
    expect: refusedFor(
      /Data segment 0 at byte \d+ declares 4294967295 bytes but only 3 remain/,
      WasmFormatError,
    ),
  });
});

Deno.test("attack: a module over MAX_MODULE_BYTES (valid, padded with a custom section) is refused", async () => {
  const valid = await fixture("trap_unreachable");
  // A custom section "pad" of zeros taking the file to one byte over the limit; its size needs a 4-byte LEB128.
  const payload = MAX_MODULE_BYTES + 1 - valid.length - 1 - 4;
  assert.equal(leb(payload).length, 4);
  const bytes = new Uint8Array(MAX_MODULE_BYTES + 1);
  bytes.set(valid);
  bytes.set([0, ...leb(payload), ...name("pad")], valid.length);
  await runHostile({
    bytes,
    expect: refusedFor(
      new RegExp(`${MAX_MODULE_BYTES + 1} bytes, more than the ${MAX_MODULE_BYTES}-byte limit`),
    ),
  });
});

Deno.test("attack: duplicate export names are refused as malformed", async () => {
  await runHostile({
    bytes: binary(section(5, [1, 0, 1]), section(7, [2, ...name("memory"), 2, 0, ...name("memory"), 2, 0])),
    expect: refusedFor(/export 1 at byte \d+ repeats the name "memory"/, WasmFormatError),
  });
});

Deno.test("attack: an ill-typed function body is refused as invalid WebAssembly", async () => {
  await runHostile({
    bytes: await fixture("ill_typed_body"),
    // Validated before instrumentation (the loader's WasmInvalidError), or by V8's compile of the result.
    expect: refusedFor(/^(The module is not valid WebAssembly|invalid WebAssembly): .*(type|expected)/),
  });
});
