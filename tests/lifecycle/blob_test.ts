/**
 * Stored binaries are checked at every start: a module whose binary changed in `<data>/blobs` is refused
 * with a clear error and stays stopped while the others run; a rollback to it is refused too; deploying the
 * binary again stores a good copy.
 */
import assert from "node:assert/strict";
import { AUTH, getJson } from "../_process.ts";
import { counterWasm, countsPast, deploy, moduleStatus, startGateway, writeManifest } from "./_gateway.ts";

interface Report {
  start: { modules: { module: string; state: string; source: string; error: string | null }[] };
}

Deno.test("a binary changed in the data directory is refused at start, its module stays stopped and the others run", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  const manifest = await writeManifest(dir, { base: 1 });
  const wasm = counterWasm(3);
  let sha: string;
  {
    await using kiln = await startGateway(manifest, data);
    const deployed = await deploy(kiln.base, "extra", wasm);
    assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
    sha = deployed.body.sha256 as string;
    assert.deepEqual(await Deno.readFile(`${data}/blobs/sha256/${sha}`), wasm, "stored under its digest");
    assert.equal(await kiln.stop(), 0);
  }
  // Between restarts, someone swaps a byte of the stored binary.
  const blob = `${data}/blobs/sha256/${sha}`;
  const changed = await Deno.readFile(blob);
  changed[changed.length - 1]! ^= 0xff;
  await Deno.writeFile(blob, changed);
  {
    await using kiln = await startGateway(manifest, data);
    assert.equal((await moduleStatus(kiln.base, "base"))?.state, "running", "the other modules run");
    assert.equal(await moduleStatus(kiln.base, "extra"), null, "the changed module was not started");
    const report = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
    const extra = report.start.modules.find((m) => m.module === "extra")!;
    assert.deepEqual([extra.state, extra.source], ["refused", "api"]);
    assert.match(
      extra.error ?? "",
      new RegExp(`"${blob}" changed on disk: its sha256 is [0-9a-f]{64}, it was stored as ${sha}`),
    );
    assert.match(
      kiln.output(),
      /desired state: module extra: refused, from the API \(version 1\).*changed on disk.*it stays stopped/,
    );

    // A rollback to the changed version is refused the same way; nothing runs from it.
    const rolled = await fetch(`${kiln.base}/api/v1/modules/extra/rollback`, {
      method: "POST",
      headers: AUTH,
    });
    assert.equal(rolled.status, 422);
    assert.equal((await rolled.json()).error.code, "blob_corrupt");
    assert.equal(await moduleStatus(kiln.base, "extra"), null);

    // Deploying the same binary again replaces the changed copy.
    const again = await deploy(kiln.base, "extra", wasm);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.deepEqual(await Deno.readFile(blob), wasm);
    await countsPast(kiln.base, "extra", 5);
  }
});
