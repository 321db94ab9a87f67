/**
 * The desired state in process, with a data blob: a deploy stores the binary and its data blob under their
 * digests and records them; the next start runs the module from the stored files, pinned to their digests;
 * a data blob changed on disk is refused like a binary; versions past `lifecycle.keep_versions` go, with the
 * files no kept version names.
 */
import assert from "node:assert/strict";
import {
  BlobStore,
  createDeployer,
  createRuntime,
  Lifecycle,
  planDeployment,
  resolveDesiredState,
  type Runtime,
} from "../../runtime/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { listVersions, openStore, type Store } from "../../snapshots/mod.ts";
import { waitFor, wat } from "../_helpers.ts";

/** A periodic module that outputs the first byte of its data blob "table" on every tick. */
const READS_DATA = (tag: number) =>
  wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "data" (func $data (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "first")
  (data (i32.const 24) "table")
  (data (i32.const 32) "tag")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (drop (call $output (i32.const 16) (i32.const 5)
      (f64.convert_i32_u (i32.load8_u (call $data (i32.const 24) (i32.const 5) (i32.const 64))))))
    (drop (call $output (i32.const 32) (i32.const 3) (f64.const ${tag})))
    (i32.const 0)))`);

const SPEC = "schedule: { mode: periodic, period_us: 20000 }\nlimits: { max_memory_mb: 1 }\n" +
  "data: { table: table.bin }\n";

/** A gateway in process over `dir`: the store, the desired state, the runtime, the lifecycle. */
async function gateway(dir: string) {
  const manifest = await loadManifest(`${dir}/kiln.yaml`);
  const store: Store = openStore(`${dir}/data/kiln.db`);
  const blobs = new BlobStore(`${dir}/data`);
  const lines: string[] = [];
  const desired = await resolveDesiredState({
    manifest,
    db: store.db,
    blobs,
    dataDir: `${dir}/data`,
    log: (l) => lines.push(l),
  });
  const runtime: Runtime = await createRuntime({
    plan: { ...planDeployment(manifest), modules: planDeployment(desired.manifest).modules },
    version: "test",
    log: () => {},
  });
  await runtime.start();
  const lifecycle = new Lifecycle({
    db: store.db,
    dataDir: `${dir}/data`,
    blobs,
    desired,
    keepVersions: manifest.lifecycle.keep_versions,
    runtime,
    log: (l) => lines.push(l),
  });
  const deployer = createDeployer({
    manifestFile: `${dir}/kiln.yaml`,
    dataDir: `${dir}/data`,
    runtime,
    lifecycle,
  });
  return {
    runtime,
    store,
    blobs,
    lifecycle,
    deployer,
    lines,
    desired,
    [Symbol.dispose]() {
      runtime.close();
      store.close();
    },
  };
}

const deployTagged = (g: Awaited<ReturnType<typeof gateway>>, tag: number, table: number) =>
  g.deployer.deploy({
    name: "reader",
    spec: SPEC,
    wasm: READS_DATA(tag),
    files: new Map([["table.bin", new Uint8Array([table, 1, 2, 3])]]),
    by: "ci",
  });

Deno.test("a deployed module and its data blob run again from the stored files; a changed data blob is refused; old versions and their files go", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1\ndevice: { id: gw }\nlifecycle: { keep_versions: 2 }\nmodules: {}\n`,
  );
  let tableDigest: string;
  {
    using g = await gateway(dir);
    const r = await deployTagged(g, 1, 42);
    assert.equal(r.versionSeq, 1);
    const v = listVersions(g.store.db, "reader")[0]!;
    tableDigest = v.data.get("table")!;
    assert.deepEqual(await g.blobs.read(tableDigest), new Uint8Array([42, 1, 2, 3]));
    await waitFor("the blob's first byte", () => g.runtime.getModule("reader")!.outputs.first === 42);
  }
  {
    using g = await gateway(dir);
    const d = g.desired.report.modules.find((m) => m.module === "reader")!;
    assert.deepEqual([d.source, d.state, d.versionSeq], ["api", "running", 1]);
    await waitFor("the stored blob read again", () => g.runtime.getModule("reader")?.outputs.first === 42);
    // Two more versions: with keep_versions 2, version 1 and its data blob go.
    assert.equal((await deployTagged(g, 2, 7)).versionSeq, 2);
    assert.equal((await deployTagged(g, 3, 9)).versionSeq, 3);
    assert.deepEqual(listVersions(g.store.db, "reader").map((v) => v.seq), [3, 2]);
    await assert.rejects(g.blobs.read(tableDigest), { code: "blob_missing" });
    assert.ok(g.lines.some((l) => /module reader: dropped version 1 \(lifecycle.keep_versions: 2\)/.test(l)));
    await waitFor("version 3", () => g.runtime.getModule("reader")!.outputs.tag === 3);
  }
  // A data blob changed on disk is refused at the next start, like a binary.
  let digest: string;
  {
    using store = openStore(`${dir}/data/kiln.db`);
    digest = listVersions(store.db, "reader")[0]!.data.get("table")!;
  }
  const path = `${dir}/data/blobs/sha256/${digest}`;
  await Deno.writeFile(path, new Uint8Array([0, 1, 2, 3]));
  {
    using g = await gateway(dir);
    const d = g.desired.report.modules.find((m) => m.module === "reader")!;
    assert.equal(d.state, "refused");
    assert.match(d.error!, new RegExp(`"${path}" changed on disk`));
    assert.equal(g.runtime.getModule("reader"), null);
  }
});
