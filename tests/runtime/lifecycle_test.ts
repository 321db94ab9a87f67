import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/runtime.ts";
import { ChecksumMismatchError, ModuleRejectedError } from "../../runtime/errors.ts";
import { sha256Hex } from "../../runtime/loader.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

const quiet = () => {};

Deno.test("a stream module receives full windows and its invocations and outputs rise", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "count.wasm", wat(streamModuleWat()));
  await using rt = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "count", wasm })]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  assert.equal(rt.getModule("count")?.state, "running");
  const m = await waitFor("20 invocations", () => {
    const s = rt.getModule("count")!;
    return s.invocations >= 20 && s;
  });
  assert.ok(m.outputs.windows! >= 1, "the module's output is visible");
  assert.equal(m.last_error, null);
  assert.equal(rt.health().modules.running, 1);
});

Deno.test("a trapping module is crashed with the trap kind and function named, restarted, and its neighbour keeps running", async () => {
  const dir = await Deno.makeTempDir();
  const good = await writeFixture(dir, "good.wasm", wat(streamModuleWat()));
  // Traps on its third window: unreachable inside a named function.
  const bad = await writeFixture(
    dir,
    "bad.wasm",
    wat(streamModuleWat(
      `(if (f64.ge (global.get $calls) (f64.const 3)) (then (call $explode)))`,
      `(func $explode (unreachable))`,
    )),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "good", wasm: good }), modulePlan({ name: "bad", wasm: bad })]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const crashed = await waitFor("bad to restart twice", () => {
    const s = rt.getModule("bad")!;
    return s.restarts >= 2 && s;
  });
  assert.equal(crashed.last_fault?.kind, "unreachable");
  assert.equal(crashed.last_fault?.function, "explode");
  assert.match(crashed.last_error ?? "", /unreachable/);
  const before = rt.getModule("good")!.invocations;
  await waitFor("good to keep running", () => rt.getModule("good")!.invocations > before + 10);
  assert.equal(rt.getModule("good")!.state, "running");
  assert.equal(rt.getModule("good")!.restarts, 0);
});

Deno.test("a module past its restart limit is failed and stays failed", async () => {
  const dir = await Deno.makeTempDir();
  const bad = await writeFixture(dir, "bad.wasm", wat(streamModuleWat(`(unreachable)`)));
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "bad",
        wasm: bad,
        restart: { policy: "on-failure", maxRestarts: 2, backoffMs: 5, maxBackoffMs: 10 },
      }),
    ]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const failed = await waitFor(
    "failed",
    () => rt.getModule("bad")!.state === "failed" && rt.getModule("bad")!,
  );
  assert.equal(failed.restarts, 2);
  assert.equal(rt.health().status, "degraded");
});

Deno.test("restart policy never leaves a crashed module failed at once", async () => {
  const dir = await Deno.makeTempDir();
  const bad = await writeFixture(
    dir,
    "bad.wasm",
    wat(streamModuleWat(`(drop (i32.div_s (i32.const 1) (i32.const 0)))`)),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "bad",
        wasm: bad,
        restart: { policy: "never", maxRestarts: 5, backoffMs: 5, maxBackoffMs: 5 },
      }),
    ]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const failed = await waitFor(
    "failed",
    () => rt.getModule("bad")!.state === "failed" && rt.getModule("bad")!,
  );
  assert.equal(failed.restarts, 0);
  assert.equal(failed.last_fault?.kind, "divide_by_zero");
});

Deno.test("memory.grow past max_memory_mb fails inside the module and the runtime stays up", async () => {
  const dir = await Deno.makeTempDir();
  // Grows by one page per window and outputs memory.grow's result; declared max is 100 pages, the cap 2 MiB (32 pages).
  const src = streamModuleWat(
    `(drop (call $output (i32.const 32) (i32.const 4) (f64.convert_i32_s (memory.grow (i32.const 1)))))`,
    `(data (i32.const 32) "grow")`,
  ).replace(`(memory (export "memory") 1)`, `(memory (export "memory") 1 100)`);
  const wasm = await writeFixture(dir, "grow.wasm", wat(src));
  await using rt = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "grow", wasm, maxMemoryMb: 2 })]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const m = await waitFor("memory.grow to fail", () => {
    const s = rt.getModule("grow")!;
    return s.outputs.grow === -1 && s;
  });
  assert.equal(m.state, "running");
  assert.equal(m.memory_bytes, 32 * 65536, "memory stopped at the cap");
  assert.equal(m.restarts, 0);
  assert.equal(rt.health().status, "ok");
});

Deno.test("a module whose initial memory exceeds its cap is refused at load", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(
    dir,
    "big.wasm",
    wat(streamModuleWat().replace(`(memory (export "memory") 1)`, `(memory (export "memory") 64)`)),
  );
  await assert.rejects(
    createRuntime({
      plan: deploymentPlan([modulePlan({ name: "big", wasm, maxMemoryMb: 1 })]),
      version: "t",
    }),
    (err: unknown) =>
      err instanceof ModuleRejectedError && err.code === "module_rejected" && err.module === "big",
  );
});

Deno.test("a checksum mismatch is refused naming both hashes", async () => {
  const dir = await Deno.makeTempDir();
  const bytes = wat(streamModuleWat());
  const wasm = await writeFixture(dir, "m.wasm", bytes);
  const wrong = "0".repeat(64);
  await assert.rejects(
    createRuntime({ plan: deploymentPlan([modulePlan({ name: "m", wasm, sha256: wrong })]), version: "t" }),
    (err: unknown) =>
      err instanceof ChecksumMismatchError && err.expected === wrong && err.actual.length === 64,
  );
  // The right hash loads.
  const ok = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "m", wasm, sha256: await sha256Hex(bytes) })]),
    version: "t",
  });
  ok.close();
});

Deno.test("imports outside ABI v1 are refused with the import named", async () => {
  const dir = await Deno.makeTempDir();
  const cases: [string, RegExp][] = [
    [`(import "wasi_snapshot_preview1" "path_open" (func (param i32)))`, /wasi_snapshot_preview1\.path_open/],
    [`(import "kiln" "open_file" (func))`, /kiln\.open_file.*no function/],
    [`(import "kiln" "log" (func (param i32)))`, /kiln\.log.*signature \(i32\) -> \(\)/],
  ];
  for (const [imp, re] of cases) {
    const wasm = await writeFixture(
      dir,
      "imp.wasm",
      wat(streamModuleWat().replace("(memory", `${imp}\n  (memory`)),
    );
    await assert.rejects(
      createRuntime({ plan: deploymentPlan([modulePlan({ name: "imp", wasm })]), version: "t" }),
      (err: unknown) => err instanceof ModuleRejectedError && err.reasons.some((r) => re.test(r)),
    );
  }
});

Deno.test("a stream module without kiln_on_samples is refused at load", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(
    dir,
    "m.wasm",
    wat(
      `(module (memory (export "memory") 1) (func (export "kiln_abi_version") (result i32) (i32.const 1)))`,
    ),
  );
  await assert.rejects(
    createRuntime({ plan: deploymentPlan([modulePlan({ name: "m", wasm })]), version: "t" }),
    (err: unknown) =>
      err instanceof ModuleRejectedError && err.reasons.some((r) => /kiln_on_samples/.test(r)),
  );
});

Deno.test("a periodic module reads its input and data blob and ticks", async () => {
  const dir = await Deno.makeTempDir();
  const blob = await writeFixture(dir, "blob.bin", new Uint8Array([1, 2, 3, 4, 5]));
  const wasm = await writeFixture(
    dir,
    "tick.wasm",
    wat(`(module
    (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
    (import "kiln" "input" (func $input (param i32 i32) (result i32)))
    (import "kiln" "data" (func $data (param i32 i32 i32) (result i32)))
    (import "kiln" "param_f64" (func $param (param i32 i32 f64) (result f64)))
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (data (i32.const 16) "temp")     ;; 16..20
    (data (i32.const 24) "blob")     ;; 24..28
    (data (i32.const 32) "sum")      ;; 32..35
    (data (i32.const 40) "gain")     ;; 40..44
    (data (i32.const 48) "quality")  ;; 48..55
    (global $sum (mut f64) (f64.const -1))
    (func (export "kiln_abi_version") (result i32) (i32.const 1))
    (func (export "kiln_alloc") (param $n i32) (result i32)
      (local $p i32) (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
    (func (export "kiln_init") (result i32)
      (local $p i32) (local $i i32) (local $s i32)
      (local.set $p (call $data (i32.const 24) (i32.const 4) (i32.const 64)))
      (if (i32.eqz (local.get $p)) (then (return (i32.const 7))))
      (block $done (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 64))))
        (local.set $s (i32.add (local.get $s) (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (global.set $sum (f64.convert_i32_u (local.get $s)))
      (i32.const 0))
    (func (export "kiln_on_tick") (param i64) (result i32)
      (drop (call $input (i32.const 0) (i32.const 128)))
      (drop (call $output (i32.const 16) (i32.const 4)
        (f64.mul (f64.load (i32.const 128)) (call $param (i32.const 40) (i32.const 4) (f64.const 0)))))
      (drop (call $output (i32.const 48) (i32.const 7) (f64.convert_i32_u (i32.load (i32.const 136)))))
      (drop (call $output (i32.const 32) (i32.const 3) (global.get $sum)))
      (i32.const 0)))`),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "tick",
        wasm,
        schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
        inputs: ["sim:temp"],
        capabilities: ["read:sim:temp"],
        params: { gain: 2 },
        data: [{ name: "blob", path: blob, sha256: null }],
      }),
    ]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const m = await waitFor("ticks with a good input", () => {
    const s = rt.getModule("tick")!;
    return s.invocations >= 5 && s.outputs.quality === 0 && s;
  });
  assert.equal(m.outputs.sum, 15, "the data blob was copied before kiln_init");
  const t = m.outputs.temp!;
  assert.ok(t > 2 * 10 && t < 2 * 150, `input times the gain param is a plausible temperature x2, got ${t}`);
});

Deno.test("kiln_init returning non-zero crashes the start with the code in last_error", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(
    dir,
    "init.wasm",
    wat(streamModuleWat("", `(func (export "kiln_init") (result i32) (i32.const 42))`)),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "init",
        wasm,
        restart: { policy: "never", maxRestarts: 0, backoffMs: 1, maxBackoffMs: 1 },
      }),
    ]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  const m = rt.getModule("init")!;
  assert.equal(m.state, "failed");
  assert.equal(m.last_fault?.kind, "init_failed");
  assert.match(m.last_error ?? "", /kiln_init returned 42/);
});

Deno.test("stop and start through the runtime keep invocation totals", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "count.wasm", wat(streamModuleWat()));
  await using rt = await createRuntime({
    plan: deploymentPlan([modulePlan({ name: "count", wasm })]),
    version: "test",
    log: quiet,
  });
  await rt.start();
  await waitFor("5 invocations", () => rt.getModule("count")!.invocations >= 5);
  const stopped = await rt.stopModule("count");
  assert.equal(stopped.state, "stopped");
  const started = await rt.startModule("count");
  assert.equal(started.state, "running");
  assert.ok(started.invocations >= stopped.invocations);
  await waitFor("more invocations", () => rt.getModule("count")!.invocations > stopped.invocations + 5);
});
