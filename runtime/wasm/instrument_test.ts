import assert from "node:assert/strict";
import { SimTemperatureSensor, SimVibrationSensor } from "../../hal/sim/mod.ts";
import { type CheckHost, createCheckHost, type HostEvent } from "../../tests/fixtures/wasm/check_host.ts";
import { readFixture, watAll } from "../../tests/fixtures/wasm/wat_all.ts";
import { decodeBody } from "./_code.ts";
import { Cursor } from "./_cursor.ts";
import {
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  instrument,
  InstrumentConflictError,
  type InstrumentOptions,
  readModule,
  WasmFormatError,
  WasmUnsupportedError,
} from "./mod.ts";

/** What the host's `__check` throws to interrupt a module. */
class Interrupt extends Error {}

const MODULES = ["fft/fft.wasm", "anomaly/anomaly.wasm", "temperature/temperature.wasm"];
const FIXTURES = [
  "all_features.wat",
  "exceptions.wat",
  "exceptions_legacy.wat",
  "kiln_module.wat",
  "renumber.wat",
];
const MODES: [string, InstrumentOptions][] = [["interrupt", {}], ["fuel", { fuel: true }]];

const readWasm = (path: string) => Deno.readFile(new URL(`../../modules/${path}`, import.meta.url));

async function corpus(): Promise<[string, Uint8Array<ArrayBuffer>][]> {
  const out: [string, Uint8Array<ArrayBuffer>][] = [];
  for (const m of MODULES) out.push([m, await readWasm(m)]);
  for (const f of FIXTURES) out.push([f, watAll(await readFixture(f), { debugNames: true })]);
  return out;
}

function instantiate(
  bytes: Uint8Array<ArrayBuffer>,
  imports: WebAssembly.Imports = {},
): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}

// deno-lint-ignore no-explicit-any
type Exports = Record<string, any>;

Deno.test("instrumented modules validate and hold the original instructions plus 16 per check and charge (23 before a bulk instruction)", async (t) => {
  for (const [name, bytes] of await corpus()) {
    for (const [mode, options] of MODES) {
      await t.step(`${name} (${mode})`, () => {
        const result = instrument(bytes, options);
        assert.ok(WebAssembly.validate(result.bytes), "V8 accepts the instrumented module");
        const before = readModule(bytes);
        const after = readModule(result.bytes);
        assert.equal(result.functions, before.code.length);
        assert.equal(result.sites, result.functions - result.leafFunctions + result.loops + result.bulkSites);
        assert.equal(result.fuelSegments > 0, mode === "fuel" && before.code.length > 0);
        const count = (b: Uint8Array, info: typeof before) =>
          info.code.reduce((n, body) => n + decodeBody(b, body).instructions, 0);
        assert.equal(
          count(result.bytes, after),
          count(bytes, before) + 16 * (result.sites + result.fuelSegments) + 7 * result.bulkSites,
        );
        assert.equal(after.imports.length, before.imports.length + 1);
        assert.deepEqual(
          after.data,
          after.data.map((d, i) => ({ ...before.data[i]!, dataStart: d.dataStart })),
        );
      });
    }
  }
});

/** Sample windows of the simulated machine: healthy first, then with a bearing fault. */
function vibrationWindows(count: number, seed: number): Int16Array[] {
  const sensor = new SimVibrationSensor({ id: "v", rateHz: 25_600, seed });
  return Array.from({ length: count }, (_, i) => {
    if (i === count >> 1) sensor.fault = "bearing";
    const w = new Int16Array(1024);
    sensor.fill(w);
    return w;
  });
}

interface Run {
  results: number[];
  events: HostEvent[];
  memory: Uint8Array;
  checks: number;
}

const RUNS: Record<string, (wasm: Uint8Array<ArrayBuffer>, check?: () => number) => Promise<Run>> = {
  async "fft/fft.wasm"(wasm, check) {
    const host = await createCheckHost(wasm, {
      window: 1024,
      params: { "kiln.sample_rate_hz": 25_600, "kiln.full_scale": 16, "kiln.window": 1024 },
      ...check && { check },
    });
    const results = vibrationWindows(8, 3).map((w) => host.pushWindow(w));
    return finish(host, results);
  },
  async "anomaly/anomaly.wasm"(wasm, check) {
    const host = await createCheckHost(wasm, {
      window: 1024,
      data: { weights: await readWasm("anomaly/weights.bin") },
      params: { "kiln.sample_rate_hz": 25_600, "kiln.full_scale": 16, "kiln.window": 1024, debounce: 2 },
      ...check && { check },
    });
    const results = vibrationWindows(12, 5).map((w) => host.pushWindow(w));
    return finish(host, results);
  },
  async "temperature/temperature.wasm"(wasm, check) {
    const host = await createCheckHost(wasm, {
      params: { "kiln.period_us": 1_000_000 },
      ...check && { check },
    });
    const sensor = new SimTemperatureSensor({ id: "t", seed: 4 });
    const results: number[] = [];
    for (let s = 1; s <= 120; s++) {
      if (s === 30) sensor.fault = "overheat";
      host.inputs[0] = { value: sensor.read(s * 1000), quality: s % 17 === 0 ? 2 : 0 };
      results.push(host.tick(BigInt(s) * 1_000_000n));
    }
    return finish(host, results);
  },
};

function finish(host: CheckHost, results: number[]): Run {
  return {
    results,
    events: host.events,
    memory: new Uint8Array(host.memory.buffer).slice(),
    checks: host.checks,
  };
}

/** The first offset where `a` and `b` differ, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

Deno.test("the committed modules publish the same outputs, alerts and memory after instrumentation", async (t) => {
  for (const name of MODULES) {
    const original = await readWasm(name);
    const plain = await RUNS[name]!(original);
    assert.ok(plain.events.some((e) => e[0] === "output"), "the run publishes outputs");
    if (name !== "fft/fft.wasm") {
      assert.ok(plain.events.some((e) => e[0] === "alert"), "the run raises alerts");
    }
    for (const [mode, options] of MODES) {
      await t.step(`${name} (${mode})`, async () => {
        const run = await RUNS[name]!(instrument(original, options).bytes);
        assert.deepEqual(run.results, plain.results);
        assert.deepEqual(run.events, plain.events);
        assert.equal(firstDifference(run.memory, plain.memory), -1, "linear memory differs");
        assert.ok(run.checks > 0, "the module was checked");
      });
    }
  }
});

Deno.test("a module calls __check once per interval of executed check sites", async () => {
  for (const name of MODULES) {
    const original = await readWasm(name);
    // With an interval of 1 every function entry and loop iteration calls __check: that counts them.
    const sites = (await RUNS[name]!(instrument(original, { checkInterval: 1 }).bytes, () => 1)).checks;
    const run = await RUNS[name]!(instrument(original, { checkInterval: 1000 }).bytes, () => 1000);
    assert.equal(run.checks, Math.floor(sites / 1000), name);
  }
});

Deno.test("an ordinary loop calls __check at most iterations / interval + entries times", () => {
  const bytes = watAll(`(module (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block (loop
      (br_if 1 (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $s (i32.add (local.get $s) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br 0)))
    (local.get $s)))`);
  for (const interval of [1, 7, 100, 1000]) {
    let checks = 0;
    const { exports } = instantiate(instrument(bytes, { checkInterval: interval }).bytes, {
      kiln: { __check: () => (checks++, interval) },
    });
    const entries = 50;
    const iterations = 997;
    for (let e = 0; e < entries; e++) assert.equal((exports as Exports).sum(iterations), 496_506);
    assert.ok(checks <= (entries * (iterations + 1)) / interval + entries, `${checks} checks at ${interval}`);
    assert.ok(
      checks >= Math.floor((entries * (iterations + 1)) / interval),
      `${checks} checks at ${interval}`,
    );
  }
});

/** A `__check` that returns `interval` until `deadlineMs` has passed, then throws {@linkcode Interrupt}. */
function deadlineCheck(deadlineMs: number, interval = 1000): () => number {
  const until = performance.now() + deadlineMs;
  return () => {
    if (performance.now() >= until) throw new Interrupt("budget exceeded");
    return interval;
  };
}

Deno.test("runaway modules are interrupted by a __check that throws", async (t) => {
  await t.step("an infinite loop", () => {
    const { exports } = instantiate(
      instrument(watAll(`(module (func (export "spin") (loop $l (br $l))))`)).bytes,
      { kiln: { __check: deadlineCheck(20) } },
    );
    assert.throws(() => (exports as Exports).spin(), Interrupt);
  });
  await t.step("an infinite loop with fuel metering", () => {
    const { exports } = instantiate(
      instrument(watAll(`(module (func (export "spin") (loop $l (br $l))))`), { fuel: true }).bytes,
      { kiln: { __check: deadlineCheck(20) } },
    );
    assert.throws(() => (exports as Exports).spin(), Interrupt);
  });
  await t.step("infinite recursion without a loop", () => {
    // The deadline has passed at the first check: the stack is then 1000 frames deep, far from overflowing.
    const { exports } = instantiate(
      instrument(watAll(`(module (func $f (export "recurse") (call $f)))`)).bytes,
      { kiln: { __check: deadlineCheck(0) } },
    );
    assert.throws(() => (exports as Exports).recurse(), Interrupt);
  });
  await t.step("mutual recursion through a table", () => {
    const { exports } = instantiate(
      instrument(watAll(`(module (type $v (func)) (table 2 funcref) (elem (i32.const 0) $a $b)
        (func $a (export "a") (call_indirect (type $v) (i32.const 1)))
        (func $b (call_indirect (type $v) (i32.const 0))))`)).bytes,
      { kiln: { __check: deadlineCheck(0) } },
    );
    assert.throws(() => (exports as Exports).a(), Interrupt);
  });
  await t.step("a loop in the start function", () => {
    const bytes = instrument(watAll(`(module (func $s (loop $l (br $l))) (start $s))`)).bytes;
    assert.throws(() => instantiate(bytes, { kiln: { __check: deadlineCheck(20) } }), Interrupt);
  });
  await t.step("a loop under an exception handler", async () => {
    // try_table catches Wasm exceptions only: the host's JS exception passes through it.
    const bytes = instrument(watAll(await readFixture("exceptions.wat"))).bytes;
    const { exports } = instantiate(bytes, { kiln: { __check: deadlineCheck(20) } });
    assert.throws(() => (exports as Exports).modern(2 ** 31 - 1), Interrupt);
  });
});

Deno.test("function indices are renumbered everywhere they appear", async () => {
  const source = watAll(await readFixture("renumber.wat"), { debugNames: true });
  for (const [mode, options] of MODES) {
    const { bytes } = instrument(source, { ...options, checkInterval: 1 });
    let checks = 0;
    const { exports: e } = instantiate(bytes, {
      host: { add: (a: number, b: number) => a + b, seven: () => 7 },
      kiln: { __check: () => (checks++, 1) },
    }) as { exports: Exports };
    assert.equal(e.started(), 7, `${mode}: the start function ran`);
    assert.equal(e.double(21), 42);
    assert.equal(e.call_t(0, 5), 10, "active segment, slot 0: double");
    assert.equal(e.call_t(1, 5), 6, "active segment, slot 1: inc");
    assert.equal(e.call_u(0, 5), 25, "table $u slot 0: square");
    assert.equal(e.call_u(1, 5), -5, "table $u slot 1: neg");
    assert.equal(e.call_u(2, 5), 15, "table $u expression segment: triple");
    assert.throws(() => e.call_u(3, 5), WebAssembly.RuntimeError, "ref.null slot");
    assert.equal(e.fill(), 8);
    assert.equal(e.call_t(2, 5), -5, "passive vector segment: neg");
    assert.equal(e.call_t(3, 5), 15, "passive vector segment: triple");
    assert.equal(e.call_t(4, 5), 25, "passive expression segment: square");
    assert.equal(e.call_t(6, 5), 25, "global ref.func: square");
    assert.equal(e.call_t(7, 5), 10, "ref.func in code: double");
    assert.equal(e.direct(1), 27, "direct calls to an import and defined functions");
    assert.equal(e.tail(9), 81, "return_call");
    assert.ok(checks > 0);

    const before = readModule(source).functionNames;
    const after = readModule(bytes).functionNames;
    assert.ok(before.size > 0, "the fixture has a name section");
    assert.deepEqual(after, new Map([...before].map(([i, name]) => [i < 2 ? i : i + 1, name])));
    const stack = (() => {
      try {
        e.boom();
      } catch (err) {
        return (err as Error).stack ?? "";
      }
      return "";
    })();
    assert.match(stack, /at boom \(/, "the trap names the function that trapped");
  }
});

Deno.test("instrumented fixtures behave as the originals", async () => {
  const features = watAll(await readFixture("all_features.wat"));
  const legacy = watAll(await readFixture("exceptions_legacy.wat"));
  const modern = watAll(await readFixture("exceptions.wat"));
  const kiln = { __check: () => 1000 };
  for (const [, options] of MODES) {
    const a = instantiate(features).exports as Exports;
    const b = instantiate(instrument(features, options).bytes, { kiln }).exports as Exports;
    for (const name of ["tail", "multi", "mvp"]) {
      for (const x of [0, 1, 5, 100]) assert.equal(b[name](x), a[name](x), `${name}(${x})`);
    }
    for (const name of ["bulk", "refs", "simd", "atomics"]) assert.equal(b[name](), a[name](), name);
    const l = instantiate(instrument(legacy, options).bytes, { kiln }).exports as Exports;
    assert.deepEqual([l.legacy(0), l.legacy(3), l.rethrows(4)], [1, 103, 4]);
    const m = instantiate(instrument(modern, options).bytes, { kiln }).exports as Exports;
    assert.equal(m.modern(5), 105);
  }
});

Deno.test("the fuel count is deterministic for the same inputs", async () => {
  const { bytes } = instrument(await readWasm("fft/fft.wasm"), { fuel: true });
  const counts: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    const host = await createCheckHost(bytes, { window: 1024, params: { "kiln.window": 1024 } });
    const fuel = host.exports[FUEL_EXPORT] as WebAssembly.Global;
    for (const w of vibrationWindows(3, 9)) {
      fuel.value = 10n ** 12n;
      host.pushWindow(w);
      counts.push(10n ** 12n - (fuel.value as bigint));
    }
  }
  assert.deepEqual(counts.slice(0, 3), counts.slice(3));
  assert.ok(counts.every((c) => c > 10_000n), `a 1024-point FFT runs many instructions: ${counts}`);
});

Deno.test("a module already instrumented, or using the reserved names, is refused", () => {
  const cases = [
    `(module (import "kiln" "__check" (func (result i32))))`,
    `(module (global (export "__kiln_fuel") (mut i64) (i64.const 0)))`,
  ];
  for (const source of cases) {
    assert.throws(() => instrument(watAll(source)), (e) => e instanceof InstrumentConflictError);
  }
  const once = instrument(watAll(`(module (func (export "f")))`), { fuel: true }).bytes;
  assert.throws(
    () => instrument(once),
    (e) => e instanceof InstrumentConflictError && e.code === "wasm_instrumented",
  );
});

Deno.test("the module's own mutable globals are exported by index for snapshots, and nothing else is", () => {
  const source = `(module
    (import "env" "g" (global (mut i32)))
    (global $sp (mut i32) (i32.const 4096))
    (global $k i64 (i64.const 7))
    (global $f (mut f64) (f64.const 1.5))
    (func (export "bump") (global.set $sp (i32.add (global.get $sp) (i32.const 1)))))`;
  for (const [mode, options] of MODES) {
    const { bytes } = instrument(watAll(source), options);
    const names = readModule(bytes).exports.filter((e) => e.name.startsWith(GLOBAL_EXPORT_PREFIX));
    // Global 0 is imported, 2 is immutable: only 1 and 3 are the module's own mutable globals.
    assert.deepEqual(names.map((e) => [e.name, e.kind, e.index]), [
      [`${GLOBAL_EXPORT_PREFIX}1`, "global", 1],
      [`${GLOBAL_EXPORT_PREFIX}3`, "global", 3],
    ], mode);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
      env: { g: new WebAssembly.Global({ value: "i32", mutable: true }, 0) },
      kiln: { __check: () => 1000 },
    });
    (instance.exports.bump as () => void)();
    assert.equal((instance.exports[`${GLOBAL_EXPORT_PREFIX}1`] as WebAssembly.Global).value, 4097, mode);
  }
  assert.throws(
    () => instrument(watAll(`(module (global (export "__kiln_global_0") (mut i32) (i32.const 0)))`)),
    (e) => e instanceof InstrumentConflictError,
  );
});

Deno.test("a check interval that is not an integer from 1 to 2^31 - 1 is a RangeError", () => {
  const bytes = watAll(`(module)`);
  for (const checkInterval of [0, -1, 1.5, 2 ** 31, NaN]) {
    assert.throws(() => instrument(bytes, { checkInterval }), RangeError);
  }
  assert.ok(WebAssembly.validate(instrument(bytes, { checkInterval: 2 ** 31 - 1 }).bytes));
});

Deno.test("modules without imports, globals, exports or functions get the sections they need", () => {
  const cases = [
    `(module)`,
    `(module (memory 1) (data (i32.const 0) "x"))`,
    `(module (func $f (loop $l (br $l))))`,
    `(module (type (func (param i64))) (import "env" "g" (global i32)) (func (result i32) (global.get 0)))`,
  ];
  for (const source of cases) {
    for (const [mode, options] of MODES) {
      const { bytes } = instrument(watAll(source), options);
      assert.ok(WebAssembly.validate(bytes), `${mode}: ${source}`);
      const info = readModule(bytes);
      assert.deepEqual(info.imports.at(-1), {
        module: "kiln",
        name: "__check",
        kind: "function",
        typeIndex: info.types.findIndex((t) => t.params.length === 0 && t.results.join() === "i32"),
        type: { params: [], results: ["i32"] },
      });
      assert.equal(info.exports.some((e) => e.name === FUEL_EXPORT), mode === "fuel");
    }
  }
});

Deno.test("an existing () -> i32 type is reused and other custom sections are copied", () => {
  const source = watAll(
    `(module (type (func (param i32))) (type (func (result i32)))
    (func (type 1) (i32.const 3)))`,
    { debugNames: true },
  );
  // Append a custom section "extra" with three bytes.
  const custom = [0, 9, 5, ...new TextEncoder().encode("extra"), 1, 2, 3];
  const bytes = new Uint8Array([...source, ...custom]);
  const result = instrument(bytes).bytes;
  const info = readModule(result);
  assert.equal(info.types.length, 2);
  assert.deepEqual(info.imports.map((i) => i.kind === "function" && i.typeIndex), [1]);
  assert.deepEqual([...result.slice(-custom.length)], custom);
});

Deno.test("hostile bodies make instrument throw a WasmFormatError, never another error or a hang", async () => {
  let seed = 0x9e3779b9;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  let refused = 0;
  for (const [name, original] of await corpus()) {
    const info = readModule(original);
    for (let trial = 0; trial < 150; trial++) {
      const bytes = original.slice();
      const body = info.code[Math.floor(random() * info.code.length)]!;
      const at = body.exprStart + Math.floor(random() * (body.end - body.exprStart));
      bytes[at] = [0x27, 0xff, 0x80, 0xfd, 0xfc, 0xfe, 0x41, 0x10][trial % 8]!;
      try {
        instrument(bytes, { fuel: trial % 2 === 0 });
      } catch (e) {
        assert.ok(
          e instanceof WasmFormatError || e instanceof WasmUnsupportedError,
          `${name} byte ${at}: ${e}`,
        );
        refused++;
      }
    }
  }
  assert.ok(refused > 0);
  // A body whose last instruction is cut: `i32.const` without its immediate, then the function's `end`.
  const cut = watAll(`(module (func (result i32) (i32.const 0x7fffffff)))`);
  const code = readModule(cut).sections.find((s) => s.name === "code")!;
  const truncated = new Uint8Array([...cut.slice(0, code.start), 10, 5, 1, 3, 0, 0x41, 0x0b]);
  assert.throws(() => instrument(truncated), WasmFormatError);
});

Deno.test("a branch hint section before the code section marks every inserted if unlikely", async () => {
  const bytes = await readWasm("fft/fft.wasm");
  for (const [, options] of MODES) {
    const result = instrument(bytes, options);
    const info = readModule(result.bytes);
    const names = info.sections.map((s) =>
      s.id === 0 ? info.customSections.find((c) => c.start === s.start)!.name : s.name
    );
    assert.equal(names.indexOf("metadata.code.branch_hint"), names.indexOf("code") - 1);
    const hint = info.customSections.find((c) => c.name === "metadata.code.branch_hint")!;
    const c = new Cursor(result.bytes, hint.contentStart, hint.end, "hints");
    const functions = c.u32("functions");
    let hints = 0;
    for (let f = 0; f < functions; f++) {
      const funcIndex = c.u32("function");
      const body = info.code.find((b) => b.funcIndex === funcIndex)!;
      for (let n = c.u32("hints"), i = 0; i < n; i++, hints++) {
        const offset = c.u32("offset");
        assert.deepEqual([c.u32("size"), c.byte("value")], [1, 0]);
        assert.deepEqual([...result.bytes.subarray(body.bodyStart + offset, body.bodyStart + offset + 3)], [
          0x04, // if
          0x40, // empty block type
          0x10, // call
        ]);
      }
    }
    assert.equal(c.pos, hint.end);
    assert.equal(hints, result.sites + result.fuelSegments);
  }
});
