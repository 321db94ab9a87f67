/**
 * The mistakes people make writing their first module, built with the real toolchain (clang-19, wasm-ld-19)
 * and refused by the loader with a message that says what to do next: the runtime file not linked, a libm
 * function, a misspelled import or handler, a kiln function declared without its import module.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CFLAGS } from "../../modules/build.ts";
import { abiProblems } from "../../runtime/loader.ts";
import { readModule } from "../../runtime/wasm/mod.ts";

const SDK = new URL("../../modules/sdk/", import.meta.url).pathname;
const BUILD_TIMEOUT_MS = 60_000;
const STREAM = { mode: "stream", source: "sim:vib" } as Parameters<typeof abiProblems>[1];

/** Builds one C source with the examples' flags (plus `extra`) and returns the loader's reasons to refuse it. */
async function problemsOf(source: string, options: { runtime?: boolean; extra?: string[] } = {}) {
  const dir = await Deno.makeTempDir({ prefix: "kiln_beginner_" });
  try {
    await Deno.writeTextFile(join(dir, "m.c"), source);
    const sources = ["m.c", ...(options.runtime === false ? [] : [join(SDK, "kiln_rt.c")])];
    const flags = CFLAGS.map((f) => f === "-Isdk" ? `-I${SDK}` : f);
    const out = await new Deno.Command("clang-19", {
      args: [...flags, ...(options.extra ?? []), ...sources, "-o", "m.wasm"],
      cwd: dir,
      signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return abiProblems(readModule(await Deno.readFile(join(dir, "m.wasm"))), STREAM);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const HANDLER = `
#include "kiln.h"
KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *s, int32_t n) {
  return kiln_output("n", n + s[0]);
}
`;

Deno.test("a module built without kiln_rt.c is told to link it", async () => {
  const problems = await problemsOf(HANDLER, { runtime: false });
  const alloc = problems.find((p) => p.startsWith(`export "kiln_alloc"`));
  assert.ok(alloc, problems.join("\n"));
  assert.match(alloc, /kiln_rt\.c defines it: add modules\/sdk\/kiln_rt\.c to the build/);
  assert.ok(problems.some((p) => /^export "kiln_abi_version".*kiln_rt\.c/.test(p)), problems.join("\n"));
});

Deno.test("a correct module has no problems, so the hints add nothing to a good build", async () => {
  assert.deepEqual(await problemsOf(HANDLER), []);
});

Deno.test("sin and sqrt from libm are named as libm, with what to use instead", async () => {
  const problems = await problemsOf(
    `#include "kiln.h"
double sin(double); double sqrt(double);
KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *s, int32_t n) {
  volatile double x = s[0];
  return kiln_output("y", sin(x) + sqrt(x) + n);
}`,
    // What a beginner adds after wasm-ld's "undefined symbol: sin": the symbol becomes an env import.
    { extra: ["-Wl,--allow-undefined", "-fno-builtin"] },
  );
  const sin = problems.find((p) => p.startsWith(`import "env.sin"`));
  assert.ok(sin, problems.join("\n"));
  assert.match(sin, /comes from libm, which modules do not link; use kmath\.h's kmath_sin/);
  const sqrt = problems.find((p) => p.startsWith(`import "env.sqrt"`));
  assert.ok(sqrt, problems.join("\n"));
  assert.match(sqrt, /use __builtin_sqrt\(\) in C/);
});

Deno.test("a misspelled kiln import gets the nearest ABI function", async () => {
  const problems = await problemsOf(`#include "kiln.h"
KILN_IMPORT(outptu) int32_t my_output(const char *k, int32_t n, double v);
KILN_EXPORT(kiln_on_samples) int32_t kiln_on_samples(const int16_t *s, int32_t n) {
  return my_output("n", 1, n + s[0]);
}`);
  assert.deepEqual(problems, [
    `import "kiln.outptu": the host has no function "outptu" in ABI v1; did you mean "output"?`,
  ]);
});

Deno.test("a misspelled handler is named next to the one the mode requires", async () => {
  const problems = await problemsOf(`#include "kiln.h"
KILN_EXPORT(kiln_on_sample) int32_t kiln_on_sample(const int16_t *s, int32_t n) { return n + s[0]; }`);
  assert.deepEqual(problems, [
    `export "kiln_on_samples": required in stream mode but missing; ` +
    `the module exports "kiln_on_sample": did you mean "kiln_on_samples"?`,
  ]);
});

Deno.test("a kiln function declared without KILN_IMPORT is told how to declare it", async () => {
  const problems = await problemsOf(
    `#include <stdint.h>
int32_t kiln_log(int32_t level, const char *p, int32_t n);
__attribute__((export_name("kiln_on_samples"))) int32_t kiln_on_samples(const int16_t *s, int32_t n) {
  return kiln_log(1, "x", 1) + n + s[0];
}`,
    { extra: ["-Wl,--allow-undefined"] },
  );
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(
    problems[0]!,
    /^import "env\.kiln_log": unknown import namespace "env" .*"log" is a kiln function declared without its import module; declare it with KILN_IMPORT\(log\)/,
  );
});

Deno.test("an unknown WASI function gets the nearest one", () => {
  const problems = abiProblems(
    {
      ...readModule(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])),
      imports: [{
        module: "wasi_snapshot_preview1",
        name: "fd_wrte",
        kind: "function",
        type: { params: ["i32", "i32", "i32", "i32"], results: ["i32"] },
      }],
    } as unknown as ReturnType<typeof readModule>,
    null,
  );
  assert.ok(
    problems.includes(
      `import "wasi_snapshot_preview1.fd_wrte": not a function of wasi_snapshot_preview1; did you mean "fd_write"?`,
    ),
    problems.join("\n"),
  );
});
