/**
 * A restart comes back to the last accepted state: a module deployed over the API runs again after a SIGKILL
 * of the whole runtime (the launcher and its sandboxed child) and after a graceful stop, resuming its memory
 * from its snapshot; a module removed over the API stays removed; one stopped by an operator stays stopped.
 */
import assert from "node:assert/strict";
import { AUTH, getJson } from "../_process.ts";
import {
  counterWasm,
  countsPast,
  deploy,
  killHard,
  lockHolder,
  moduleStatus,
  snapshotAfterNow,
  startGateway,
  writeManifest,
} from "./_gateway.ts";

interface Report {
  start: {
    first_start: boolean;
    manifest_changed: boolean;
    modules: { module: string; source: string; state: string; version_seq: number | null; reason: string }[];
  };
  deployments: { action: string; module: string | null; by: string; sha256: string | null }[];
}

Deno.test("a module deployed over the API survives a SIGKILL of the runtime and a graceful restart, with its memory; a removal and a stop survive too", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  const manifest = await writeManifest(dir, { base: 1 });

  // 1. Deploy over the API, let it count and snapshot, then SIGKILL the launcher and its sandboxed child.
  let sha: string;
  let countBeforeKill: number;
  {
    const kiln = await startGateway(manifest, data, true);
    try {
      const first = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
      assert.equal(first.start.first_start, true);
      const deployed = await deploy(kiln.base, "extra", counterWasm(1));
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      sha = deployed.body.sha256 as string;
      assert.equal(deployed.body.version_seq, 1);
      await countsPast(kiln.base, "extra", 20);
      countBeforeKill = await snapshotAfterNow(kiln.base, "extra");
      assert.equal(
        await lockHolder(data),
        kiln.child.pid,
        "the narrowed process the launcher exec'd into runs it",
      );
    } finally {
      await killHard(kiln, data);
    }
  }
  assert.ok(countBeforeKill > 20);

  // 2. Restart: the deployed version runs again and continues counting from its snapshot.
  {
    await using kiln = await startGateway(manifest, data, true);
    const extra = await moduleStatus(kiln.base, "extra");
    assert.ok(extra, "the module deployed over the API is back after the SIGKILL");
    assert.equal(extra.sha256, sha);
    assert.equal(extra.state, "running");
    assert.notEqual(extra.snapshot?.restored_from, null, "its memory was restored from a snapshot");
    const later = await countsPast(kiln.base, "extra", countBeforeKill);
    assert.equal(later.outputs.inits, 1, "kiln_init did not run again: the count went on");
    const report = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
    assert.equal(report.start.first_start, false);
    assert.equal(report.start.manifest_changed, false);
    const decision = report.start.modules.find((m) => m.module === "extra")!;
    assert.deepEqual([decision.source, decision.state, decision.version_seq], ["api", "running", 1]);
    assert.match(decision.reason, /deployed over the API \(version 1\) by "KILN_ADMIN_TOKEN"/);
    assert.match(kiln.output(), /desired state: module extra: running, from the API \(version 1\)/);
    assert.match(kiln.output(), /desired state: module base: running, from the manifest file/);
    // 3. A graceful stop snapshots it; the next start resumes from that.
    countBeforeKill = (await countsPast(kiln.base, "extra", later.outputs.count!)).outputs.count!;
    assert.equal(await kiln.stop(), 0);
  }
  {
    await using kiln = await startGateway(manifest, data);
    const extra = (await moduleStatus(kiln.base, "extra"))!;
    assert.equal(extra.sha256, sha);
    assert.notEqual(extra.snapshot?.restored_from, null);
    const later = await countsPast(kiln.base, "extra", countBeforeKill);
    assert.equal(later.outputs.inits, 1);

    // 4. Remove it, and stop the manifest's module, over the API.
    const removed = await fetch(`${kiln.base}/api/v1/modules/extra`, { method: "DELETE", headers: AUTH });
    assert.equal(removed.status, 200);
    await removed.body?.cancel();
    const stopped = await fetch(`${kiln.base}/api/v1/modules/base/stop`, { method: "POST", headers: AUTH });
    assert.equal(stopped.status, 200);
    await stopped.body?.cancel();
    assert.equal(await kiln.stop(), 0);
  }
  {
    await using kiln = await startGateway(manifest, data);
    assert.equal(await moduleStatus(kiln.base, "extra"), null, "a removed module stays removed");
    assert.equal((await moduleStatus(kiln.base, "base"))?.state, "stopped", "a stopped module stays stopped");
    const report = await getJson<Report>(`${kiln.base}/api/v1/deployments`);
    const extra = report.start.modules.find((m) => m.module === "extra")!;
    assert.deepEqual([extra.source, extra.state], ["api", "removed"]);
    assert.match(extra.reason, /removed over the API by "KILN_ADMIN_TOKEN"/);
    const base = report.start.modules.find((m) => m.module === "base")!;
    assert.deepEqual([base.source, base.state], ["manifest", "stopped"]);
    assert.match(base.reason, /stopped over the API by "KILN_ADMIN_TOKEN"/);
    assert.deepEqual(
      report.deployments.filter((d) => d.module !== null).map((d) => [d.action, d.module]),
      [["manifest", "base"], ["deploy", "extra"], ["remove", "extra"], ["stop", "base"]],
    );
  }
});
