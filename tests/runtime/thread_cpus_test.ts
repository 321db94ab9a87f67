import assert from "node:assert/strict";
import { createRuntime, prewarmPlan, type ThreadCpus } from "../../runtime/mod.ts";
import { dropSpareExecutors, prewarmExecutors, spareExecutors } from "../../runtime/executor.ts";
import { threadCpus } from "../../runtime/executor/realtime_thread.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** The highest CPU number here (0 on a one-CPU machine, where the tests below still hold). */
const LAST = navigator.hardwareConcurrency - 1;

const TICK = `(module (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

/** A 100 Hz ticker in each executor: `fast` (priority 90, realtime) and `slow` (priority 10, normal). */
async function runtimeWith(cpus?: ThreadCpus) {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "tick.wasm", wat(TICK));
  const rt = await createRuntime({
    plan: {
      ...deploymentPlan([
        modulePlan({ name: "fast", wasm, schedule: { mode: "periodic", periodUs: 10_000, priority: 90 } }),
        modulePlan({ name: "slow", wasm, schedule: { mode: "periodic", periodUs: 10_000, priority: 10 } }),
      ]),
      ...(cpus && { cpus }),
    },
    version: "test",
    log: () => {},
  });
  await rt.start();
  return rt;
}

/**
 * This process's threads as the kernel has them: name, and the CPUs each may run on (util-linux `taskset`).
 * Deno refuses reading `/proc/self` without `--allow-all`, so `ps` and `taskset` read it.
 */
async function threads(): Promise<{ tid: number; name: string; cpus: string }[]> {
  const run = async (cmd: string, args: string[]) => {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
    }).output();
    return out.code === 0 ? new TextDecoder().decode(out.stdout) : null; // a thread may end meanwhile
  };
  const list = await run("ps", ["-L", "-o", "tid=,comm=", "-p", String(Deno.pid)]);
  assert.ok(list !== null, "ps failed");
  const result = [];
  for (const line of list.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    const [tid, ...name] = line.split(/\s+/);
    const affinity = await run("taskset", ["-cp", tid!]);
    if (affinity === null) continue;
    result.push({ tid: Number(tid), name: name.join(" "), cpus: affinity.trim().split(": ").at(-1)! });
  }
  return result;
}

/** Deno's worker threads (named `worker-N` by the kernel's count). */
const workerThreads = async () => (await threads()).filter((t) => /^worker-\d+$/.test(t.name));

/** The ids of {@linkcode workerThreads}. */
const tids = async () => new Set((await workerThreads()).map((t) => t.tid));

Deno.test("scheduling.cpus pins each executor's thread and the runtime's, as the kernel reports them", async () => {
  const before = threadCpus();
  assert.ok(before !== null && before.length === navigator.hardwareConcurrency, `${before}`);
  const workersBefore = new Set((await workerThreads()).map((t) => t.tid));
  {
    await using rt = await runtimeWith({ runtime: [0], realtime: [LAST], normal: [0] });
    const executors = await waitFor("both executors pinned", async () => {
      const list = await rt.listExecutors();
      return list.length === 2 && list.every((e) => e.scheduling.cpus !== null) && list;
    });
    const cpusOf = (name: string) => executors.find((e) => e.name === name)!.scheduling;
    assert.deepEqual(cpusOf("realtime"), {
      policy: "normal",
      priority: null,
      error: null,
      cpus: [LAST],
      cpuError: null,
    });
    assert.deepEqual(cpusOf("normal").cpus, [0]);
    assert.deepEqual(rt.runtimeThread.cpus, [0]);
    // The kernel agrees: the two new worker threads may run on those CPUs only, and so may this thread
    // (which `deno test` runs in a thread of its own, not the process's first).
    const added = (await workerThreads()).filter((t) => !workersBefore.has(t.tid)).map((t) => t.cpus).sort();
    assert.deepEqual(added, [String(LAST), "0"].sort());
    assert.deepEqual(threadCpus(), [0]);
    await waitFor("both modules ticking", () => rt.listModules().every((m) => m.invocations > 5));
  }
  // Closed: the embedding process (this test) has all its CPUs back.
  assert.deepEqual(threadCpus(), before);
});

Deno.test("a CPU that is not online leaves the thread unpinned and says why; its modules still run", async () => {
  await using rt = await runtimeWith({ realtime: [1023] });
  const realtime = await waitFor("the realtime executor's report", async () => {
    const ex = (await rt.listExecutors()).find((e) => e.name === "realtime");
    return ex?.scheduling.cpuError && ex;
  });
  assert.equal(realtime.scheduling.cpus, null);
  assert.match(realtime.scheduling.cpuError!, /EINVAL.*1023.*online/);
  await waitFor("fast ticking", () => rt.getModule("fast")!.invocations > 5);
});

Deno.test("closing a runtime ends its executors' threads", async () => {
  const before = await tids(); // may still hold threads of the tests above, ending
  const rt = await runtimeWith();
  await waitFor("both modules ticking", () => rt.listModules().every((m) => m.invocations > 5));
  const ours = [...await tids()].filter((tid) => !before.has(tid));
  assert.equal(ours.length, 2, "one thread per executor");
  rt.close();
  // A terminated worker whose loop kept running (as with a MessagePort left open in Deno 2.9) fails here.
  await waitFor("the executors' threads to end", async () => {
    const now = await tids();
    return ours.every((tid) => !now.has(tid));
  }, 5_000);
});

Deno.test("workers started ahead (prewarmPlan) become the executors of their permission set; the modules run", async () => {
  const before = await tids();
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(dir, "tick.wasm", wat(TICK));
  // The normal executor pinned (its worker gets FFI, for libc), the realtime one not (no permission at all).
  const plan = {
    ...deploymentPlan([
      modulePlan({ name: "fast", wasm, schedule: { mode: "periodic", periodUs: 10_000, priority: 90 } }),
      modulePlan({ name: "slow", wasm, schedule: { mode: "periodic", periodUs: 10_000, priority: 10 } }),
    ]),
    cpus: { normal: [LAST] },
  };
  prewarmPlan(plan);
  using _spares = { [Symbol.dispose]: dropSpareExecutors }; // none left running if an assertion fails
  assert.equal(spareExecutors(), 2);
  const spares = await waitFor("the spares' threads", async () => {
    const now = [...await tids()].filter((tid) => !before.has(tid));
    return now.length === 2 && now;
  });
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  assert.equal(spareExecutors(), 0, "both taken");
  await waitFor("both modules ticking", () => rt.listModules().every((m) => m.invocations > 5));
  assert.deepEqual(
    [...await tids()].filter((tid) => !before.has(tid)).sort(),
    spares.sort(),
    "no other worker",
  );
  const executors = await waitFor("the normal executor pinned", async () => {
    const list = await rt.listExecutors();
    return list.find((e) => e.name === "normal")?.scheduling.cpus !== null && list;
  });
  const of = (name: string) => executors.find((e) => e.name === name)!;
  assert.deepEqual(of("normal").scheduling.cpus, [LAST]);
  assert.equal(of("normal").permissions.ffi, "granted");
  // What the worker was started with, whoever took it: FFI for the pinned one, nothing else for either.
  for (const name of ["normal", "realtime"]) {
    const { readProbe, ...states } = of(name).permissions;
    assert.equal(readProbe, "NotCapable", `${name}: reading a file is refused by Deno`);
    for (const [permission, state] of Object.entries(states)) {
      if (name === "normal" && permission === "ffi") assert.equal(state, "granted");
      else assert.notEqual(state, "granted", `${name} executor permission "${permission}"`);
    }
  }
});

Deno.test("spare workers no executor took end with dropSpareExecutors", async () => {
  const before = await tids();
  prewarmExecutors(["none"]);
  using _spares = { [Symbol.dispose]: dropSpareExecutors }; // none left running if an assertion fails
  const [spare] = await waitFor("the spare's thread", async () => {
    const now = [...await tids()].filter((tid) => !before.has(tid));
    return now.length === 1 && now;
  });
  dropSpareExecutors();
  assert.equal(spareExecutors(), 0);
  await waitFor("its thread to end", async () => !(await tids()).has(spare!), 5_000);
});
