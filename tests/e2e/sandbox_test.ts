import assert from "node:assert/strict";
import { getJson, KILN_FLAGS, ROOT, startKiln } from "../_process.ts";

interface Sandbox {
  process: {
    narrowed: boolean;
    reason: string | null;
    grants: { read: string[]; write: string[]; net: string[] } | null;
    probes: Record<string, string>;
  };
  executors: { permissions: Record<string, string> }[];
}

Deno.test("kiln run relaunches itself with Deno permissions narrowed to its configuration", async () => {
  const dir = await Deno.makeTempDir();
  // As `deno task start` runs it: the launcher execs into its narrowed self (tests/cli/launcher_test.ts).
  await using kiln = await startKiln(["--data", dir], {
    flags: [...KILN_FLAGS, "--allow-run", "--allow-ffi"],
  });
  assert.doesNotMatch(kiln.output(), /relaunching narrowed in a child process/);
  const s = await getJson<Sandbox>(`${kiln.base}/api/v1/sandbox`);
  assert.equal(s.process.narrowed, true);
  const g = s.process.grants!;
  assert.ok(g.read.includes(`${ROOT}examples/demo.yaml`));
  assert.ok(g.read.includes(`${ROOT}modules/fft/fft.wasm`));
  assert.deepEqual(g.write, [dir]);
  assert.deepEqual(g.net, ["127.0.0.1"]);
  for (const [access, state] of Object.entries(s.process.probes)) {
    assert.notEqual(state, "granted", `the runtime must not have ${access}`);
  }
  assert.equal(s.executors[0]!.permissions.read_probe, "NotCapable");
  const health = await getJson<{ modules: Record<string, number> }>(`${kiln.base}/health`);
  assert.equal(health.modules.running, 5, "the narrowed runtime still runs every module");
  assert.equal(await kiln.stop(), 0, "SIGTERM reaches the relaunched runtime and it exits cleanly");
});

Deno.test("without permission to relaunch, kiln run says so and still drops what it never needs", async () => {
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir]);
  const s = await getJson<Sandbox>(`${kiln.base}/api/v1/sandbox`);
  assert.equal(s.process.narrowed, false);
  assert.match(s.process.reason ?? "", /--allow-run/);
  assert.match(kiln.output(), /running with the Deno permissions it was started with/);
  assert.notEqual(s.process.probes.run, "granted");
  assert.notEqual(s.process.probes.ffi, "granted");
});

Deno.test("with scheduling.realtime_fifo_priority and cpus, the narrowed runtime gets FFI for libc only and the realtime executor runs pinned at SCHED_FIFO", async () => {
  const dir = await Deno.makeTempDir();
  const demo = await Deno.readTextFile(`${ROOT}examples/demo.yaml`);
  const manifest = `${dir}/fifo.yaml`;
  const last = navigator.hardwareConcurrency - 1;
  await Deno.writeTextFile(
    manifest,
    `${demo.replaceAll("../modules/", `${ROOT}modules/`)}\nscheduling:\n  realtime_fifo_priority: 40\n` +
      `  cpus:\n    runtime: [0]\n    realtime: [${last}]\n`,
  );
  await using kiln = await startKiln([manifest, "--data", `${dir}/data`], {
    flags: [...KILN_FLAGS, "--allow-run", "--allow-ffi"],
  });
  const s = await getJson<Sandbox>(`${kiln.base}/api/v1/sandbox`);
  assert.equal(s.process.narrowed, true);
  const ffi = (s.process.grants as { ffi?: string[] }).ffi ?? [];
  assert.ok(ffi.length > 0 && ffi.every((p) => /\/libc[.-]/.test(p)), `FFI for libc only: ${ffi}`);
  assert.notEqual(s.process.probes.run, "granted");
  const realtime = s.executors.find((e) => (e as { name?: string }).name === "realtime") as
    | { permissions: Record<string, string>; scheduling: { policy: string; priority: number } }
    | undefined;
  assert.ok(realtime, "a realtime executor (the demo's safety module)");
  assert.deepEqual(realtime.scheduling, {
    policy: "fifo",
    priority: 40,
    error: null,
    cpus: [last],
    cpu_error: null,
  });
  // FFI is scoped to libc's paths (the policy above applied through it): FFI in general is not granted.
  assert.notEqual(realtime.permissions.ffi, "granted");
  assert.equal(realtime.permissions.read_probe, "NotCapable");
  assert.match(
    kiln.output(),
    new RegExp(`executor realtime: thread at SCHED_FIFO priority 40, pinned to CPU ${last}`),
  );
  assert.match(kiln.output(), /runtime: thread at the normal policy, pinned to CPU 0/);
});
