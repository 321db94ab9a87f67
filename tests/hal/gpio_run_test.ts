/**
 * `kiln run` with a Linux GPIO bank (`connectors.gpio`, backend `linux-sysfs`), as a user runs it: a child
 * process that relaunches itself with narrowed Deno permissions.
 *
 * - Against a FAKE sysfs folder (`tests/fakes/fake_sysfs_gpio.ts`: ordinary files in a temporary
 *   directory): a level written to the fake input line fires the event module, whose write reaches the fake
 *   output line. This shows Kiln's side of the files under its narrowed permissions, not real GPIO: this VM
 *   has no GPIO hardware or GPIO driver at all.
 * - Against this machine's real sysfs, which has no GPIO: `kiln run` ends with one `kiln:` line naming the
 *   connector, the folder and what to do.
 */
import assert from "node:assert/strict";
import { getJson, KILN_FLAGS, runKiln, startKiln } from "../_process.ts";
import { createFakeSysfsGpio } from "../fakes/fake_sysfs_gpio.ts";
import { waitFor, wat } from "../_helpers.ts";
import { TOOL_TIMEOUT_MS } from "../_timeouts.ts";

/** On each GPIO edge event (kind 2: u32 pin, u32 level), drives pin 8 to the level. */
const FOLLOWER = `(module
  (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
    (if (i32.eq (local.get $kind) (i32.const 2))
      (then (drop (call $w (i32.const 8) (i32.load (i32.add (local.get $ptr) (i32.const 4)))))))
    (i32.const 0)))`;

/** Writes a manifest whose `follower` module drives pin 8 (line 27) after pin 3 (line 17) of `root`. */
async function gateway(dir: string, root: string): Promise<string> {
  await Deno.writeFile(`${dir}/follower.wasm`, wat(FOLLOWER));
  const path = `${dir}/gateway.yaml`;
  await Deno.writeTextFile(
    path,
    `version: 1
device: { id: gw-gpio }
policy: { allow: ["read:gpio:*", "write:gpio:*", "use:executor:realtime"] }
connectors:
  gpio:
    backend: linux-sysfs
    root: ${root}
    poll_ms: 5
    pins:
      3: { line: 17, direction: in }
      8: { line: 27, direction: out }
modules:
  follower:
    wasm: follower.wasm
    capabilities: [read:gpio:pin_3, write:gpio:pin_8, use:executor:realtime]
    schedule: { mode: event, trigger: "gpio:pin_3", priority: 90 }
`,
  );
  return path;
}

/** Runs `mount` or `umount` (killed after {@linkcode TOOL_TIMEOUT_MS}: a hung mount never hangs the suite). */
async function mountTool(
  program: "mount" | "umount",
  args: string[],
): Promise<{ success: boolean; stderr: string }> {
  const out = await new Deno.Command(program, {
    args,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(TOOL_TIMEOUT_MS),
  }).output();
  return { success: out.success, stderr: new TextDecoder().decode(out.stderr) };
}

/** Whether this process may bind-mount (root with CAP_SYS_ADMIN), probed once on two empty folders. */
async function canBindMount(): Promise<boolean> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  const from = await Deno.makeTempDir();
  const to = await Deno.makeTempDir();
  try {
    if (!(await mountTool("mount", ["--bind", from, to])).success) return false;
    return (await mountTool("umount", [to])).success;
  } finally {
    await Deno.remove(from);
    await Deno.remove(to);
  }
}

/** Probed at load time (top-level await), as `Deno.test`'s `ignore` needs it when the test is declared. */
const BIND_MOUNT = await canBindMount();

/** Asserts `kiln run` failed with exactly one `kiln:` line on stderr, and returns that line. */
function oneLine(ran: { code: number; stdout: string; stderr: string }): string {
  assert.equal(ran.code, 1, `${ran.stdout}\n${ran.stderr}`);
  const lines = ran.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, no stack trace:\n${ran.stderr}`);
  assert.match(lines[0]!, /^kiln: /);
  return lines[0]!;
}

Deno.test("kiln run drives a Linux GPIO bank (a FAKE sysfs folder) under narrowed permissions: an input edge fires the module, whose write reaches the output line", async () => {
  await using fake = await createFakeSysfsGpio();
  const dir = await Deno.makeTempDir();
  const manifest = await gateway(dir, fake.root);
  await using kiln = await startKiln(["--data", `${dir}/data`, manifest], {
    flags: [...KILN_FLAGS, "--allow-run"],
  });
  const sandbox = await getJson<
    { process: { narrowed: boolean; grants: { read: string[]; write: string[] } } }
  >(
    `${kiln.base}/api/v1/sandbox`,
  );
  assert.equal(sandbox.process.narrowed, true);
  assert.ok(sandbox.process.grants.write.includes(fake.root));
  assert.ok(sandbox.process.grants.read.includes(fake.root));
  assert.deepEqual(fake.exports, [17, 27]);

  await fake.setValue(17, 1);
  await waitFor("line 27 to follow line 17 up", async () => await fake.value(27) === 1);
  await fake.setValue(17, 0);
  await waitFor("line 27 to follow line 17 down", async () => await fake.value(27) === 0);

  const { connectors } = await getJson<{ connectors: { name: string; kind: string; state: string }[] }>(
    `${kiln.base}/api/v1/connectors`,
  );
  const gpio = connectors.find((c) => c.name === "gpio");
  assert.equal(gpio?.kind, "linux-sysfs");
  assert.equal(gpio?.state, "connected");
  const { pins } = await getJson<{ pins: { pin: number; value: number }[] }>(`${kiln.base}/api/v1/sim/gpio`);
  assert.deepEqual(pins.map((p) => p.pin), [3, 8], "the bank is the configured lines");
  assert.equal(await kiln.stop(), 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("kiln run with a GPIO folder that does not exist ends with one kiln: line naming the connector, the folder and what to do", async () => {
  const dir = await Deno.makeTempDir();
  const root = `${dir}/sys/class/gpio`;
  const manifest = await gateway(dir, root);
  const line = oneLine(
    await runKiln(["run", "--listen", "127.0.0.1:0", "--data", `${dir}/data`, manifest], {
      flags: [...KILN_FLAGS, "--allow-run"],
    }),
  );
  assert.ok(line.includes("connectors.gpio"), line);
  assert.ok(line.includes(`"${root}"`), line);
  assert.ok(line.includes("backend: sim"), line);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "kiln run on this machine's real sysfs, which has no GPIO, ends with one kiln: line naming the folder",
  ignore: !BIND_MOUNT,
  async fn() {
    // /sys seen through a bind mount, as the README says to run Kiln: Deno opens nothing under /sys itself
    // without --allow-all.
    const dir = await Deno.makeTempDir();
    await Deno.mkdir(`${dir}/sys`);
    const mounted = await mountTool("mount", ["--bind", "/sys", `${dir}/sys`]);
    assert.ok(mounted.success, mounted.stderr);
    try {
      assert.ok((await Deno.stat(`${dir}/sys/class`)).isDirectory, "the real sysfs is there");
      const root = `${dir}/sys/class/gpio`;
      const manifest = await gateway(dir, root);
      const line = oneLine(
        await runKiln(["run", "--listen", "127.0.0.1:0", "--data", `${dir}/data`, manifest], {
          flags: [...KILN_FLAGS, "--allow-run"],
        }),
      );
      assert.ok(line.includes(`"${root}" does not exist`), line);
      assert.ok(line.includes("CONFIG_GPIO_SYSFS"), line);
      assert.ok(line.includes("backend: sim"), line);
    } finally {
      const unmounted = await mountTool("umount", [`${dir}/sys`]);
      assert.ok(unmounted.success, unmounted.stderr);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("kiln validate refuses /sys/class/gpio as the folder, saying how to reach it under Deno", async () => {
  const dir = await Deno.makeTempDir();
  const manifest = await gateway(dir, "/sys/class/gpio");
  const ran = await runKiln(["validate", manifest]);
  assert.equal(ran.code, 1);
  assert.match(ran.stderr, /connectors\.gpio\.root: .*--allow-all.*mount --bind \/sys/);
  await Deno.remove(dir, { recursive: true });
});
