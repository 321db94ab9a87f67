/**
 * `kiln run`'s process log against a module that tries to forge it: through `kiln.log`, `kiln.alert` and
 * WASI stdout it writes a fake line of another module, a fake alert, ANSI and OSC escape sequences, a C1
 * CSI, a bidi override and a line separator. In the `text` format every line it causes starts with
 * `module=probe` and shows all of that escaped on that one line; in the `json` format each is one object
 * whose text parses back exactly.
 */
import assert from "node:assert/strict";
import { startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";

const LOG =
  'tick\nmodule=safety kind=alert level=critical msg="E-STOP"\r\x1b[2K\x1b[31mFAKE\x9b2J\u202eevil\u2028next\x7f';
const ALERT = "ALERT critical safety: forged\n[other] info: x";
/** One WASI line (the newline ends it) with an OSC sequence that would retitle a terminal. */
const WASI_LINE = "wasi \x1b]0;pwned\x07 \u202edone";

/** `text` as a WAT data string (every byte escaped) and its length in bytes. */
function data(text: string): { wat: string; bytes: number } {
  const bytes = new TextEncoder().encode(text);
  return { wat: [...bytes].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join(""), bytes: bytes.length };
}

/** Logs, alerts and prints the hostile texts on its first three ticks. */
function probeWat(): string {
  const log = data(LOG), alert = data(ALERT), wasi = data(`${WASI_LINE}\n`);
  return `(module
  (import "kiln" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "kiln" "alert" (func $alert (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "${log.wat}")
  (data (i32.const 1024) "${alert.wat}")
  (data (i32.const 2048) "${wasi.wat}")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (if (i32.lt_u (i32.load (i32.const 4000)) (i32.const 3))
      (then
        (i32.store (i32.const 4000) (i32.add (i32.load (i32.const 4000)) (i32.const 1)))
        (drop (call $log (i32.const 1) (i32.const 256) (i32.const ${log.bytes})))
        (drop (call $alert (i32.const 2) (i32.const 1024) (i32.const ${alert.bytes})))
        (i32.store (i32.const 3000) (i32.const 2048))
        (i32.store (i32.const 3004) (i32.const ${wasi.bytes}))
        (drop (call $fd_write (i32.const 1) (i32.const 3000) (i32.const 1) (i32.const 3008)))))
    (i32.const 0)))`;
}

async function plant(): Promise<{ dir: string; manifest: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-e2e-logs-" });
  await Deno.writeFile(`${dir}/probe.wasm`, wat(probeWat()));
  const manifest = `${dir}/kiln.yaml`;
  await Deno.writeTextFile(
    manifest,
    `version: 1
device: { id: gw-logs }
policy:
  allow: []
modules:
  probe:
    wasm: probe.wasm
    schedule: { mode: periodic, period_us: 50000 }
`,
  );
  return { dir, manifest, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** Characters no line of the process log may hold raw (tab and newline aside: Kiln's own output has them). */
// deno-lint-ignore no-control-regex -- control characters are what this looks for
const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

Deno.test("in the text log a module's lines start with its name and show forged lines and escape codes escaped", async () => {
  await using p = await plant();
  await using kiln = await startKiln([p.manifest, "--data", `${p.dir}/data`]);
  await waitFor("the probe's lines", () => (kiln.output().match(/^module=probe /gm) ?? []).length >= 9);
  assert.equal(await kiln.stop(), 0);
  const out = kiln.output();
  assert.doesNotMatch(out, RAW, "no control, escape, bidi or separator character reaches the log raw");
  const lines = out.split("\n");
  assert.ok(!lines.some((l) => /^(module=safety|\[other\]|ALERT)/.test(l)), "nothing posing as another line");
  for (const forged of ["E-STOP", "[other]", "pwned"]) {
    for (const l of lines.filter((l) => l.includes(forged))) assert.match(l, /^module=probe kind=/, l);
  }
  assert.ok(lines.includes(
    'module=probe kind=log level=info msg="tick\\nmodule=safety kind=alert level=critical msg=\\"E-STOP\\"' +
      '\\r\\x1b[2K\\x1b[31mFAKE\\x9b2J\\u202eevil\\u2028next\\x7f"',
  ));
  assert.ok(lines.includes(
    'module=probe kind=alert level=critical msg="ALERT critical safety: forged\\n[other] info: x"',
  ));
  assert.ok(lines.includes('module=probe kind=log level=info msg="wasi \\x1b]0;pwned\\x07 \\u202edone"'));
});

Deno.test("in the json log each line a module causes is one object with its name and its exact text", async () => {
  await using p = await plant();
  await using kiln = await startKiln([p.manifest, "--data", `${p.dir}/data`, "--log-format", "json"]);
  await waitFor("the probe's lines", () => (kiln.output().match(/"module":"probe"/g) ?? []).length >= 9);
  assert.equal(await kiln.stop(), 0);
  const out = kiln.output();
  assert.doesNotMatch(out, RAW);
  const records = out.split("\n").filter((l) => l.includes('"probe"')).map((l) => JSON.parse(l));
  for (const r of records) {
    assert.equal(r.source, "module");
    assert.equal(r.module, "probe");
    assert.match(r.time, /^\d{4}-\d\d-\d\dT/);
  }
  const texts = records.map((r) => `${r.kind} ${r.level} ${r.msg}`);
  assert.ok(texts.includes(`log info ${LOG}`));
  assert.ok(texts.includes(`alert critical ${ALERT}`));
  assert.ok(texts.includes(`log info ${WASI_LINE}`));
  // Kiln's own lines are objects too.
  const stopping = out.split("\n").find((l) => l.includes("kiln: stopping"));
  assert.deepEqual(JSON.parse(stopping!).source, "kiln");
});
