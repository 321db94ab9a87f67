import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { BUILD_TIMEOUT_MS, TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** Writes GPIO pin `out` to the first payload byte (API events) or to the edge's level (GPIO events). */
const follower = (out: number) =>
  `(module
  (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 1))
      (then (drop (call $w (i32.const ${out}) (i32.load8_u (local.get $ptr))))))
    (if (i32.eq (local.get $kind) (i32.const 2))
      (then (drop (call $w (i32.const ${out}) (i32.load (i32.add (local.get $ptr) (i32.const 4)))))))
    (i32.const 0)))`;

async function runtimeWith(fifo: number | undefined) {
  const dir = await Deno.makeTempDir();
  const rt = await createRuntime({
    plan: {
      ...deploymentPlan([
        modulePlan({
          name: "trip",
          wasm: await writeFixture(dir, "trip.wasm", wat(follower(8))),
          schedule: { mode: "event", trigger: "api", priority: 90 },
          capabilities: ["write:gpio:pin_8"],
        }),
        modulePlan({
          name: "horn",
          wasm: await writeFixture(dir, "horn.wasm", wat(follower(9))),
          schedule: { mode: "event", trigger: "gpio:pin_8", priority: 80 },
          capabilities: ["read:gpio:pin_8", "write:gpio:pin_9"],
        }),
      ]),
      ...(fifo !== undefined && { realtimeFifoPriority: fifo }),
    },
    version: "test",
    log: () => {},
  });
  await rt.start();
  return rt;
}

/**
 * The scheduling class of each thread of this process, as procps `ps` reads it from the kernel (`TS` normal,
 * `FF` SCHED_FIFO): Deno refuses reading `/proc/self` without `--allow-all`.
 */
async function threadClasses(): Promise<string[]> {
  const out = await new Deno.Command("ps", {
    args: ["-L", "-o", "cls=", "-p", String(Deno.pid)],
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

Deno.test("with realtime_fifo_priority, the realtime executor's thread runs at SCHED_FIFO and holds only FFI", async () => {
  const before = (await threadClasses()).filter((c) => c === "FF").length;
  await using rt = await runtimeWith(50);
  const realtime = await waitFor("the realtime executor's scheduling", async () => {
    const ex = (await rt.listExecutors()).find((e) => e.name === "realtime");
    return ex?.scheduling.policy === "fifo" && ex;
  });
  assert.deepEqual(realtime.scheduling, {
    policy: "fifo",
    priority: 50,
    error: null,
    cpus: null,
    cpuError: null,
  });
  // The kernel agrees: one more thread of this process is under SCHED_FIFO.
  assert.equal((await threadClasses()).filter((c) => c === "FF").length, before + 1);
  // The worker got FFI (this test process has it unscoped) and nothing else.
  const { readProbe, ...states } = realtime.permissions;
  assert.equal(states.ffi, "granted");
  for (const name of ["read", "write", "net", "env", "run", "sys"] as const) {
    assert.notEqual(states[name], "granted", `${name} must not be granted`);
  }
  assert.match(readProbe, /NotCapable|PermissionDenied/);
});

Deno.test("without it, every executor runs at the normal policy with no permissions", async () => {
  await using rt = await runtimeWith(undefined);
  const executors = await rt.listExecutors();
  assert.ok(executors.length > 0);
  for (const ex of executors) {
    assert.deepEqual(ex.scheduling, {
      policy: "normal",
      priority: null,
      error: null,
      cpus: null,
      cpuError: null,
    });
    assert.notEqual(ex.permissions.ffi, "granted");
  }
});

Deno.test("a pin an event handler drives from its executor raises the edge event of a module bound to it", async () => {
  await using rt = await runtimeWith(undefined);
  rt.triggerEvent("trip", new Uint8Array([1]));
  await waitFor("pin 8 high", () => rt.plant.listGpio()[8]!.value === 1);
  await waitFor("pin 9 to follow pin 8", () => rt.plant.listGpio()[9]!.value === 1);
  const pin8 = rt.plant.listGpio()[8]!;
  assert.equal(pin8.setBy, "output");
  assert.equal(pin8.writes, 1);
  rt.triggerEvent("trip", new Uint8Array([0]));
  await waitFor("pin 9 to follow pin 8 down", () => rt.plant.listGpio()[9]!.value === 0);
  assert.equal(rt.getModule("horn")!.events, 2);
  assert.equal(rt.getModule("trip")!.event_latency_us!.p50 > 0, true);
});

Deno.test("without CAP_SYS_NICE the thread stays at the normal policy and says why", async () => {
  const script = new URL("../../runtime/executor/realtime_thread.ts", import.meta.url).href;
  const out = await new Deno.Command("setpriv", {
    args: [
      "--inh-caps=-sys_nice",
      "--bounding-set=-sys_nice",
      Deno.execPath(),
      "eval",
      `import { enterRealtime } from "${script}"; console.log(JSON.stringify(enterRealtime(50)));`,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS), // a Deno that loads and runs a module
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(result.policy, "normal");
  assert.match(result.error, /EPERM.*CAP_SYS_NICE/);
});

Deno.test("FFI granted for a libc path that is not the first one tried still gets SCHED_FIFO", async () => {
  const { existingLibcPaths } = await import("../../runtime/executor/realtime_thread.ts");
  const libc = existingLibcPaths()[0]!;
  const dir = await Deno.makeTempDir();
  const script = `${dir}/enter.ts`;
  // As on an ARM gateway: the first path is not this machine's, and FFI is granted for the real one only.
  await Deno.writeTextFile(
    script,
    `import { enterRealtime } from ${
      JSON.stringify(new URL("../../runtime/executor/realtime_thread.ts", import.meta.url).href)
    };
console.log(JSON.stringify(enterRealtime(30, ["/lib/not-this-machine/libc.so.6", ${
      JSON.stringify(libc)
    }])));`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-config", `--allow-read=${dir}`, `--allow-ffi=${libc}`, script],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
    policy: "fifo",
    priority: 30,
    error: null,
  });
});
