import assert from "node:assert/strict";
import { loadManifest } from "../runtime/manifest/mod.ts";
import { denoFlags, grantsFor } from "./sandbox.ts";

async function manifest(modbus: string, extra = ""): Promise<Awaited<ReturnType<typeof loadManifest>>> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1\ndevice: { id: gw }\nconnectors:\n  modbus:\n${modbus}\nmodules: {}\n${extra}`,
  );
  return await loadManifest(`${dir}/kiln.yaml`);
}

const TCP = `    plc1:
      host: 10.0.0.5
      port: 5020
      points: [{ id: a, table: hr, address: 0 }]`;
const RTU = `    drive1:
      transport: rtu
      serial: { path: /dev/ttyUSB0, baud: 9600 }
      points: [{ id: a, table: hr, address: 0 }]`;

const listen = { hostname: "127.0.0.1", port: 8080 };

Deno.test("a Modbus TCP device is granted its host and port, and no program to run", async () => {
  const g = grantsFor({ manifest: await manifest(TCP), dataDir: "data", listen });
  assert.ok(g.net.includes("10.0.0.5:5020"));
  assert.deepEqual(g.run, []);
  assert.ok(!denoFlags(g).some((f) => f.startsWith("--allow-run")));
});

Deno.test("a Modbus device on a serial line is granted stty and dd to run, and nothing under /dev", async () => {
  const g = grantsFor({ manifest: await manifest(`${TCP}\n${RTU}`), dataDir: "data", listen });
  assert.deepEqual(g.run, ["stty", "dd"]);
  assert.deepEqual(g.net, ["127.0.0.1:8080", "10.0.0.5:5020"], "no network for the serial device");
  assert.ok(![...g.read, ...g.write].some((p) => p.startsWith("/dev")), "Deno opens nothing under /dev");
  assert.ok(denoFlags(g).includes("--allow-run=stty,dd"));
});

Deno.test("FFI is granted for libc only, and only when a thread is put at SCHED_FIFO or pinned to CPUs", async () => {
  const none = grantsFor({ manifest: await manifest(TCP), dataDir: "data", listen });
  assert.deepEqual(none.ffi, []);
  assert.ok(!denoFlags(none).some((f) => f.startsWith("--allow-ffi")));
  for (const scheduling of ["realtime_fifo_priority: 50", "cpus: { realtime: [0] }"]) {
    const g = grantsFor({
      manifest: await manifest(TCP, `scheduling:\n  ${scheduling}\n`),
      dataDir: "data",
      listen,
    });
    assert.ok(g.ffi!.length > 0 && g.ffi!.every((p) => /\/libc[.-]/.test(p)), `${scheduling}: ${g.ffi}`);
    assert.ok(denoFlags(g).includes(`--allow-ffi=${g.ffi!.join(",")}`), scheduling);
  }
});
