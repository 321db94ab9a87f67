/**
 * `modules/wasi_demo`, a C program built with clang-19 against Debian's wasi-libc, run on Kiln's WASI subset
 * (`runtime/executor/host_wasi.ts`) and a tiny test-local `kiln` host.
 */
import assert from "node:assert/strict";
import { HOST_IMPORTS, HOST_NAMESPACE } from "../../runtime/abi.ts";
import { createWasiImports, WASI_FUNCTIONS, WASI_NAMESPACE } from "../../runtime/executor/host_wasi.ts";
import { readModule } from "../../runtime/wasm/mod.ts";
import { findWasiSysroot, ModuleBuildError, WASI_CFLAGS } from "../../modules/build.ts";

const WASM = await Deno.readFile(new URL("../../modules/wasi_demo/wasi_demo.wasm", import.meta.url));
const MODULE = new WebAssembly.Module(WASM);

interface Demo {
  exports: Record<string, (...args: unknown[]) => unknown>;
  logs: [string, string][];
  denials: [string, string][];
  outputs: Map<string, number>;
  /** WASI functions the module called, in order. */
  calls: string[];
}

function startDemo(): Demo {
  const logs: [string, string][] = [];
  const denials: [string, string][] = [];
  const outputs = new Map<string, number>();
  const calls: string[] = [];
  let memory: WebAssembly.Memory | null = null;
  const wasi = createWasiImports({
    memory: () => memory!,
    log: (stream, text) => logs.push([stream, text]),
    denied: (call, detail) => denials.push([call, detail]),
    monotonicNs: () => 42_000_000_000n,
    realtimeNs: () => 1_700_000_000_000_000_000n,
  });
  const traced = Object.fromEntries(
    Object.entries(wasi).map(([name, f]) => [name, (...args: never[]) => (calls.push(name), f(...args))]),
  );
  const text = (ptr: number, len: number) =>
    new TextDecoder().decode(new Uint8Array(memory!.buffer, ptr >>> 0, len >>> 0));
  const kiln = {
    log: (_level: number, ptr: number, len: number) => (logs.push(["kiln", text(ptr, len)]), 0),
    now_us: () => 0n,
    output: (ptr: number, len: number, value: number) => (outputs.set(text(ptr, len), value), 0),
  };
  const instance = new WebAssembly.Instance(MODULE, { [WASI_NAMESPACE]: traced, [HOST_NAMESPACE]: kiln });
  memory = instance.exports.memory as WebAssembly.Memory;
  return { exports: instance.exports as Demo["exports"], logs, denials, outputs, calls };
}

Deno.test("the wasi_demo module prints through fd_write and has its file access refused", () => {
  const demo = startDemo();
  demo.exports._initialize!();
  assert.equal(demo.exports.kiln_abi_version!(), 1);
  assert.equal(demo.exports.kiln_init!(), 0);

  const stdout = demo.logs.filter(([s]) => s === "stdout").map(([, text]) => text);
  const stderr = demo.logs.filter(([s]) => s === "stderr").map(([, text]) => text);
  assert.equal(stdout[0], "wasi_demo: hello from wasi-libc, 10 ticks per line, monotonic clock at 42 s");
  assert.ok(stdout.includes('wasi_demo: fopen("/etc/passwd") failed as expected'), stdout.join("\n"));
  // libc's fopen reaches the host through the "/" preopen and is refused with ENOTCAPABLE (76).
  assert.deepEqual(stderr, ["wasi_demo: fopen /etc/passwd: Capabilities insufficient (errno 76)"]);
  // Both the fopen and the direct path_open are audited with their paths.
  assert.deepEqual(demo.denials.map(([call]) => call), ["path_open", "path_open"]);
  assert.equal(demo.denials[0]![1].startsWith('fd 3 ("/"), path "etc/passwd"'), true, demo.denials[0]![1]);
  assert.match(demo.denials[1]![1], /"\/etc\/passwd"/);
  assert.ok(stdout.includes('wasi_demo: path_open("/etc/passwd") returned errno 76'), stdout.join("\n"));
  assert.ok(demo.calls.includes("clock_time_get"), "clock_gettime goes through clock_time_get");
  assert.ok(demo.calls.includes("random_get"), "getentropy goes through random_get");
  assert.ok(!demo.calls.includes("proc_exit"));
});

Deno.test("the wasi_demo module prints a line with printf's float formatting every 10 ticks", () => {
  const demo = startDemo();
  demo.exports._initialize!();
  assert.equal(demo.exports.kiln_init!(), 0);
  const before = demo.logs.length;
  for (let i = 1; i <= 25; i++) assert.equal(demo.exports.kiln_on_tick!(BigInt(i) * 100_000n), 0);
  assert.deepEqual(demo.logs.slice(before), [
    ["stdout", "wasi_demo: tick 10 after 0.90 s, 10.00 ticks/s"],
    ["stdout", "wasi_demo: tick 20 after 1.90 s, 10.00 ticks/s"],
  ]);
  assert.equal(demo.outputs.get("ticks"), 20);
  assert.equal(demo.outputs.get("rate_hz"), 10);
  assert.deepEqual(demo.denials.map(([call]) => call), ["path_open", "path_open"]);
});

Deno.test("WASI_FUNCTIONS covers every WASI import of wasi_demo with the same signature", () => {
  const names = WebAssembly.Module.imports(MODULE).filter((i) => i.module === WASI_NAMESPACE).map((i) =>
    i.name
  );
  assert.ok(names.includes("fd_write") && names.includes("path_open"), names.join(", "));
  const info = readModule(WASM);
  for (const imp of info.imports) {
    assert.equal(imp.kind, "function", `${imp.module}.${imp.name}`);
    if (imp.kind !== "function") continue;
    const expected = imp.module === WASI_NAMESPACE
      ? WASI_FUNCTIONS[imp.name]
      : imp.module === HOST_NAMESPACE
      ? HOST_IMPORTS[imp.name]
      : undefined;
    assert.ok(expected, `${imp.module}.${imp.name} is not a host function`);
    assert.deepEqual(
      { params: [...imp.type.params], results: [...imp.type.results] },
      { params: [...expected.params], results: [...expected.results] },
      `${imp.module}.${imp.name}`,
    );
  }
  assert.deepEqual(
    info.imports.filter((i) => i.module === WASI_NAMESPACE).map((i) => i.name).sort(),
    [...names].sort(),
  );
});

Deno.test("the wasi_demo module exports the ABI v1 periodic entry points, its memory and _initialize", () => {
  const exports = Object.fromEntries(WebAssembly.Module.exports(MODULE).map((e) => [e.name, e.kind]));
  assert.deepEqual(exports, {
    memory: "memory",
    _initialize: "function",
    kiln_abi_version: "function",
    kiln_init: "function",
    kiln_on_tick: "function",
  });
});

Deno.test("the module build names the Debian packages when the WASI sysroot is missing", async () => {
  await findWasiSysroot(WASI_CFLAGS); // installed here: clang-19, wasi-libc, libclang-rt-19-dev-wasm32
  const missing = await findWasiSysroot(["--target=wasm32-wasi", "--sysroot=/nonexistent"]).then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(missing instanceof ModuleBuildError);
  assert.equal(missing.code, "module_build_failed");
  assert.equal(missing.exitCode, 2);
  assert.match(missing.message, /apt-get install wasi-libc/);
});
