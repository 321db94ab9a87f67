import assert from "node:assert/strict";
import {
  createVersion,
  getVersion,
  inTransaction,
  lastManifestRecord,
  listDeployments,
  listSnapshots,
  listVersions,
  openStore,
  pruneVersions,
  recordDeployment,
  referencedDigests,
  saveSnapshot,
  type SnapshotImage,
} from "./mod.ts";

const SHA = (c: string) => c.repeat(64);
const EMPTY: SnapshotImage = { memoryBytes: 0, index: new Uint32Array(), pages: [], state: new Uint8Array() };

Deno.test("versions are numbered per module and never reused; pruning keeps the newest and the one running", async () => {
  using store = openStore(`${await Deno.makeTempDir()}/kiln.db`);
  const db = store.db;
  const add = (module: string, c: string) =>
    createVersion(db, {
      module,
      sha256: SHA(c),
      entry: { schedule: { mode: "periodic", period_us: 1000 } },
      data: new Map([["weights", SHA("d")]]),
      source: "api",
      actor: "ci",
    });
  assert.deepEqual([add("fft", "1").seq, add("fft", "2").seq, add("other", "3").seq, add("fft", "4").seq], [
    1,
    2,
    1,
    3,
  ]);
  const gone = pruneVersions(db, "fft", { keep: 1, pinned: [1] });
  assert.deepEqual(gone.map((v) => v.seq), [2]);
  assert.deepEqual(listVersions(db, "fft").map((v) => v.seq), [3, 1]);
  assert.equal(getVersion(db, "fft", 2), null);
  assert.equal(getVersion(db, "fft", 1)!.data.get("weights"), SHA("d"));
  assert.deepEqual(
    [...referencedDigests(db)].sort(),
    [SHA("1"), SHA("3"), SHA("4"), SHA("d")].sort(),
  );
  // A number the record used is not given out again, even once its version is pruned.
  recordDeployment(db, { action: "deploy", module: "fft", actor: "ci", sha256: SHA("5"), versionSeq: 7 });
  assert.equal(add("fft", "6").seq, 8);
});

Deno.test("the record is append-only, read oldest first, by module, after an id, or its newest rows", async () => {
  using store = openStore(`${await Deno.makeTempDir()}/kiln.db`);
  const db = store.db;
  assert.equal(lastManifestRecord(db), null);
  inTransaction(db, () => {
    recordDeployment(db, { action: "manifest", module: "a", actor: "manifest", sha256: SHA("1"), entry: {} });
    recordDeployment(db, { action: "manifest", module: null, actor: "manifest", sha256: SHA("f") });
  });
  recordDeployment(db, { action: "deploy", module: "b", actor: "ci", sha256: SHA("2"), versionSeq: 1 });
  recordDeployment(db, { action: "stop", module: "a", actor: "night-shift" });
  assert.deepEqual(listDeployments(db).map((r) => [r.id, r.action, r.module]), [
    [1, "manifest", "a"],
    [2, "manifest", null],
    [3, "deploy", "b"],
    [4, "stop", "a"],
  ]);
  assert.deepEqual(listDeployments(db, { module: "a" }).map((r) => r.id), [1, 4]);
  assert.deepEqual(listDeployments(db, { after: 2 }).map((r) => r.id), [3, 4]);
  assert.deepEqual(listDeployments(db, { limit: 2 }).map((r) => r.id), [3, 4]);
  assert.equal(lastManifestRecord(db)?.sha256, SHA("f"));
  assert.throws(() =>
    inTransaction(db, () => {
      recordDeployment(db, { action: "remove", module: "b", actor: "ci" });
      throw new Error("abandoned");
    })
  );
  assert.equal(listDeployments(db).length, 4, "an abandoned transaction records nothing");
});

Deno.test("snapshot retention keeps, beyond the newest `keep`, the newest snapshot of each build a kept version has", async () => {
  using store = openStore(`${await Deno.makeTempDir()}/kiln.db`);
  const db = store.db;
  const save = (c: string) =>
    saveSnapshot(db, "m", {
      key: { moduleSha256: SHA(c), abiVersion: 1, configSha256: SHA("c") },
      reason: "interval",
      image: EMPTY,
      keep: 2,
    });
  createVersion(db, { module: "m", sha256: SHA("1"), entry: {}, data: new Map(), source: "api", actor: "x" });
  save("1");
  save("1"); // version 1's newest
  save("9"); // a build no version keeps
  for (let i = 0; i < 4; i++) save("2");
  assert.deepEqual(
    listSnapshots(db, "m").map((s) => [s.seq, s.moduleSha256[0]]),
    [[7, "2"], [6, "2"], [2, "1"]],
    "version 1's newest snapshot stays; the unkept build's and older ones go",
  );
});
