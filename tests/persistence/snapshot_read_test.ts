/**
 * The snapshot worker reads snapshots with the database file memory-mapped (`runtime/persistence/
 * snapshot_worker.ts`): what another connection commits between two reads, in the WAL or checkpointed into
 * the file, is what the next read returns, page for page, and corruption written meanwhile is still caught.
 */
import assert from "node:assert/strict";
import { Snapshotter } from "../../runtime/mod.ts";
import {
  openStore,
  saveSnapshot,
  SNAPSHOT_PAGE_BYTES,
  type SnapshotImage,
  type SnapshotKey,
} from "../../snapshots/mod.ts";

const KEY: SnapshotKey = { moduleSha256: "a".repeat(64), abiVersion: 1, configSha256: "c".repeat(64) };
const P = SNAPSHOT_PAGE_BYTES;

/**
 * `used` pages of noise seeded by `seed` (raw on disk), then one page of text (zstd) and two mostly zero
 * (stored as runs), in `total` pages.
 */
function image(total: number, used: number, seed: number): SnapshotImage {
  const pages: Uint8Array[] = [];
  let x = seed | 1;
  for (let p = 0; p < used; p++) {
    const page = new Uint8Array(P);
    for (let j = 0; j < P; j += 4) {
      x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
      new DataView(page.buffer).setInt32(j, x);
    }
    pages.push(page);
  }
  pages.push(new TextEncoder().encode(`seed ${seed} `.repeat(P / 4)).slice(0, P));
  for (const at of [seed, P - 100 - seed]) {
    const sparse = new Uint8Array(P);
    sparse.set(new TextEncoder().encode(`sparse ${seed}`), at);
    pages.push(sparse);
  }
  return {
    memoryBytes: total * P,
    index: Uint32Array.from({ length: used + 3 }, (_, i) => i),
    pages,
    state: new TextEncoder().encode(`{"seed":${seed}}`),
  };
}

function assertSameImage(actual: SnapshotImage, expected: SnapshotImage): void {
  assert.equal(actual.memoryBytes, expected.memoryBytes);
  assert.deepEqual([...actual.index], [...expected.index]);
  assert.equal(actual.pages.length, expected.pages.length);
  actual.pages.forEach((p, i) => assert.ok(Buffer.from(p).equals(expected.pages[i]!), `page ${i} differs`));
  assert.deepEqual([...actual.state], [...expected.state]);
}

Deno.test("the snapshot worker reads what another connection committed since its last read, page for page", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-snapshot-read-" });
  try {
    using store = openStore(`${dir}/kiln.db`);
    await using worker = new Snapshotter(store.path);
    // Through the worker's own connection, then read back through it.
    const first = image(64, 20, 1);
    await worker.save("m", { key: KEY, reason: "warm_up", image: image(64, 20, 1), keep: 5 });
    assertSameImage((await worker.loadLatest("m", KEY)).found!.image, first);
    // A small write stays in the WAL; a 16 MiB one goes past the auto-checkpoint into the file itself.
    for (const [seed, used] of [[2, 3], [3, 256]] as const) {
      const expected = image(512, used, seed);
      saveSnapshot(store.db, "m", { key: KEY, reason: "interval", image: image(512, used, seed), keep: 5 });
      const latest = await worker.loadLatest("m", KEY);
      assert.deepEqual(latest.skipped, []);
      assertSameImage(latest.found!.image, expected);
    }
    // A page corrupted by another connection after a read is caught on the next one.
    store.db.prepare(
      "UPDATE snapshot_pages SET data = zeroblob(65536) WHERE page = 7 AND snapshot_id = " +
        "(SELECT max(id) FROM snapshots)",
    ).run();
    const latest = await worker.loadLatest("m", KEY);
    assert.equal(latest.skipped.length, 1);
    assert.equal(latest.skipped[0]!.seq, 3);
    assert.equal(latest.found!.info.seq, 2);
    assertSameImage(latest.found!.image, image(512, 3, 2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
