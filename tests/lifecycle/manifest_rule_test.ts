/**
 * The rule when the manifest file changed between two starts: the newer decision about a module wins. A
 * module the file changed (its entry or its binary), added or dropped is taken from the file, over what the
 * API did to it before; a module the file did not change keeps what the API did. Each outcome is logged with
 * its source and reason, and shown by `GET /api/v1/deployments`.
 */
import assert from "node:assert/strict";
import { getJson } from "../_process.ts";
import { counterWasm, countsPast, deploy, moduleStatus, startGateway, writeManifest } from "./_gateway.ts";

interface Report {
  start: {
    manifest_changed: boolean;
    modules: { module: string; source: string; state: string; sha256: string | null; reason: string }[];
  };
}

Deno.test("after the manifest file changed, its changed modules win and the API's deploys of the others are kept", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  const manifest = await writeManifest(dir, { a: 1, b: 1 });
  const shas = new Map<string, string>();
  {
    await using kiln = await startGateway(manifest, data);
    for (const [name, step] of [["a", 5], ["b", 5], ["d", 9]] as const) {
      const r = await deploy(kiln.base, name, counterWasm(step));
      assert.ok(r.status < 300, JSON.stringify(r.body));
      shas.set(name, r.body.sha256 as string);
    }
    assert.equal(await kiln.stop(), 0);
  }
  // The operator edits b's entry and adds c; a and d are not touched.
  await writeManifest(dir, { a: 1, b: 1, c: 1 }, { b: "params: { gain: 2 }" });
  {
    await using kiln = await startGateway(manifest, data);
    const report = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
    assert.equal(report.start.manifest_changed, true);
    const by = new Map(report.start.modules.map((m) => [m.module, m]));
    assert.deepEqual([...by.keys()], ["a", "b", "c", "d"]);
    assert.deepEqual([by.get("a")!.source, by.get("a")!.sha256], ["api", shas.get("a")]);
    assert.match(
      by.get("a")!.reason,
      /replaced over the API \(version 2\) .*; the manifest file did not change it since/,
    );
    assert.equal(by.get("b")!.source, "manifest");
    assert.notEqual(by.get("b")!.sha256, shas.get("b"));
    assert.match(
      by.get("b")!.reason,
      /the manifest file changed its entry or files since the last start, a newer decision than what was replaced over the API \(version 2\)/,
    );
    assert.deepEqual([by.get("c")!.source, by.get("c")!.reason], [
      "manifest",
      "the manifest file added it since the last start",
    ]);
    assert.deepEqual([by.get("d")!.source, by.get("d")!.state], ["api", "running"]);
    for (const name of ["a", "b", "c", "d"]) {
      assert.match(kiln.output(), new RegExp(`^desired state: module ${name}: running, from the `, "m"));
    }
    // What runs is what the report says: a and d as deployed, b and c as in the file.
    for (const [name, step] of [["a", 5], ["b", 1], ["c", 1], ["d", 9]] as const) {
      assert.equal((await countsPast(kiln.base, name, 0)).outputs.step, step, name);
    }
    assert.equal((await moduleStatus(kiln.base, "a"))!.sha256, shas.get("a"));
    assert.equal(await kiln.stop(), 0);
  }
  // The operator drops b from the file: it goes; a, still untouched by the file, keeps its API version.
  await writeManifest(dir, { a: 1, c: 1 });
  {
    await using kiln = await startGateway(manifest, data);
    const report = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
    const b = report.start.modules.find((m) => m.module === "b")!;
    assert.deepEqual([b.source, b.state, b.reason], [
      "manifest",
      "removed",
      "the manifest file no longer lists it",
    ]);
    assert.equal(await moduleStatus(kiln.base, "b"), null);
    assert.equal((await moduleStatus(kiln.base, "a"))!.sha256, shas.get("a"));
    assert.equal((await moduleStatus(kiln.base, "d"))?.state, "running");
  }
});
