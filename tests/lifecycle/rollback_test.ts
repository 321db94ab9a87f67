/**
 * Versions and an operator's rollback: each deploy is a version the module keeps; `kiln rollback` and
 * `POST /api/v1/modules/:name/rollback` return it to a named version with that version's code and memory
 * (its snapshot is kept for it while newer versions snapshot on); `kiln history` and `GET
 * /api/v1/deployments` list every action with who made it and the binary's sha256.
 */
import assert from "node:assert/strict";
import { AUTH, getJson, runKiln } from "../_process.ts";
import { waitFor } from "../_helpers.ts";
import {
  counterWasm,
  countsPast,
  deploy,
  moduleStatus,
  startGateway,
  type Status,
  writeManifest,
} from "./_gateway.ts";

interface Versions {
  module: string;
  versions: {
    version_seq: number;
    sha256: string;
    source: string;
    created_by: string;
    current: boolean;
    snapshot: { seq: number; module_sha256: string } | null;
  }[];
}

interface ErrorBody {
  error: { code: string; message: string };
}

async function tokenOf(data: string, role: string, name: string): Promise<string> {
  const made = await runKiln(["token", "create", "--role", role, "--name", name, "--data", data, "--json"]);
  assert.equal(made.code, 0, made.stderr);
  return JSON.parse(made.stdout).token;
}

function rollback(base: string, name: string, body: unknown, token?: string): Promise<Response> {
  return fetch(`${base}/api/v1/modules/${name}/rollback`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : AUTH), "content-type": "application/json" },
    body: body === undefined ? "" : JSON.stringify(body),
  });
}

Deno.test("an operator rolls a module back to a named version, code and memory, and the history lists every action with who and sha256", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/data`;
  await using kiln = await startGateway(await writeManifest(dir, { base: 1 }), data);
  const ci = await tokenOf(data, "admin", "ci");
  const operator = await tokenOf(data, "operator", "night-shift");

  // Version 1 counts by 1; version 2 (counting by 1000) replaces it, after a snapshot of version 1's memory.
  const v1 = await deploy(kiln.base, "extra", counterWasm(1), { token: ci });
  assert.equal(v1.status, 201, JSON.stringify(v1.body));
  assert.equal(v1.body.version_seq, 1);
  const countOfV1 = (await countsPast(kiln.base, "extra", 30)).outputs.count!;
  const v2 = await deploy(kiln.base, "extra", counterWasm(1000), { token: ci });
  assert.equal(v2.status, 200, JSON.stringify(v2.body));
  assert.equal(v2.body.version_seq, 2);
  assert.equal(v2.body.replaced_sha256, v1.body.sha256);
  // Version 2 snapshots more often than `keep` (3): version 1's snapshot must outlive that.
  await waitFor("four snapshots of version 2", async () => {
    const s = (await moduleStatus(kiln.base, "extra"))!;
    return (s.snapshot?.taken ?? 0) >= 4;
  }, 30_000);
  const countOfV2 = (await moduleStatus(kiln.base, "extra"))!.outputs.count!;
  assert.ok(countOfV2 >= 1000);

  const versions = await getJson<Versions>(`${kiln.base}/api/v1/modules/extra/versions`);
  assert.deepEqual(
    versions.versions.map((v) => [v.version_seq, v.sha256, v.source, v.created_by, v.current]),
    [[2, v2.body.sha256, "api", "ci", true], [1, v1.body.sha256, "api", "ci", false]],
  );
  assert.equal(versions.versions[1]!.snapshot?.module_sha256, v1.body.sha256, "version 1's memory is kept");

  // Refusals: an operator may not roll back; unknown modules and versions are 404 with a clear message.
  const forbidden = await rollback(kiln.base, "extra", { version: 1 }, operator);
  assert.equal(forbidden.status, 403);
  await forbidden.body?.cancel();
  const unknownModule = await rollback(kiln.base, "nope", { version: 1 });
  assert.equal(unknownModule.status, 404);
  assert.equal((await unknownModule.json() as ErrorBody).error.code, "module_unknown");
  const unknownVersion = await rollback(kiln.base, "extra", { version: 9 });
  assert.equal(unknownVersion.status, 404);
  const unknownBody = await unknownVersion.json() as ErrorBody;
  assert.equal(unknownBody.error.code, "version_unknown");
  assert.match(unknownBody.error.message, /keeps no version 9 \(it keeps 2, 1\)/);
  const noVersions = await fetch(`${kiln.base}/api/v1/modules/nope/versions`, { headers: AUTH });
  assert.equal(noVersions.status, 404);
  await noVersions.body?.cancel();
  const badBody = await rollback(kiln.base, "extra", { version: "one" });
  assert.equal(badBody.status, 400);
  await badBody.body?.cancel();

  // kiln rollback to version 1: its code, and its memory from where version 1 stopped.
  const cli = await runKiln(["rollback", "extra", "--version", "1", "--url", kiln.base, "--token", ci]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /module "extra": rolled back to version 1 from version 2/);
  const back = (await moduleStatus(kiln.base, "extra"))!;
  assert.equal(back.sha256, v1.body.sha256);
  assert.notEqual(back.snapshot?.restored_from, null, "restored from version 1's snapshot");
  const resumed = await countsPast(kiln.base, "extra", countOfV1);
  assert.equal(resumed.outputs.step, 1, "version 1's code");
  assert.equal(resumed.outputs.inits, 1, "version 1's memory: kiln_init did not run again");
  assert.ok(resumed.outputs.count! < 1000, `version 1's count went on (${resumed.outputs.count})`);

  // Without a version: the one before the version it runs; there is none before version 1.
  const none = await rollback(kiln.base, "extra", undefined);
  assert.equal(none.status, 409);
  assert.equal((await none.json() as ErrorBody).error.code, "no_previous_version");
  // Forward again to version 2, over the API: its memory too.
  const forward = await rollback(kiln.base, "extra", { version: 2 });
  assert.equal(forward.status, 200, await forward.clone().text());
  const fwd = await forward.json() as Status & { version_seq: number; rolled_back_from: number };
  assert.deepEqual([fwd.sha256, fwd.version_seq, fwd.rolled_back_from], [v2.body.sha256, 2, 1]);
  const again = await countsPast(kiln.base, "extra", countOfV2);
  assert.deepEqual([again.outputs.step, again.outputs.inits], [1000, 1]);

  // The record: every action, who made it, and the binary's sha256 (read beside the running runtime).
  const history = await runKiln(["history", "--data", data, "--module", "extra"]);
  assert.equal(history.code, 0, history.stderr);
  const lines = history.stdout.trim().split("\n").map((l) => l.split("\t"));
  assert.deepEqual(lines.map((l) => [l[2], l[3], l[4], l[5], l[6]]), [
    ["deploy", "extra", "by ci", `sha256 ${(v1.body.sha256 as string).slice(0, 12)}`, "v1"],
    ["replace", "extra", "by ci", `sha256 ${(v2.body.sha256 as string).slice(0, 12)}`, "v2"],
    ["rollback", "extra", "by ci", `sha256 ${(v1.body.sha256 as string).slice(0, 12)}`, "v1"],
    ["rollback", "extra", "by KILN_ADMIN_TOKEN", `sha256 ${(v2.body.sha256 as string).slice(0, 12)}`, "v2"],
  ]);
  const remote = await runKiln(["history", "--url", kiln.base, "--json"]);
  assert.equal(remote.code, 0, remote.stderr);
  const json = JSON.parse(remote.stdout) as {
    start: { modules: { module: string }[] };
    deployments: { action: string; module: string | null; by: string; sha256: string | null }[];
  };
  assert.deepEqual(json.start.modules.map((m) => m.module), ["base"]);
  assert.deepEqual(
    json.deployments.map((d) => [d.action, d.module, d.by, d.sha256]),
    [
      ["manifest", "base", "manifest", (await moduleStatus(kiln.base, "base"))!.sha256],
      ["manifest", null, "manifest", json.deployments[1]!.sha256],
      ["deploy", "extra", "ci", v1.body.sha256],
      ["replace", "extra", "ci", v2.body.sha256],
      ["rollback", "extra", "ci", v1.body.sha256],
      ["rollback", "extra", "KILN_ADMIN_TOKEN", v2.body.sha256],
    ],
  );
});
