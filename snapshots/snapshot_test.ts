import assert from "node:assert/strict";
import {
  listSnapshots,
  loadLatestSnapshot,
  loadSnapshot,
  openStore,
  saveSnapshot,
  SNAPSHOT_PAGE_BYTES,
  SnapshotCorruptError,
  type SnapshotImage,
  type SnapshotKey,
} from "./mod.ts";

const KEY: SnapshotKey = { moduleSha256: "a".repeat(64), abiVersion: 1, configSha256: "c".repeat(64) };
const P = SNAPSHOT_PAGE_BYTES;

/** An image of `pagesTotal` pages where the listed pages hold data: `"text"` compresses, `"noise"` does not. */
function image(pagesTotal: number, filled: Record<number, "text" | "noise">, state = "{}"): SnapshotImage {
  const index = Object.keys(filled).map(Number).sort((a, b) => a - b);
  const pages = new Uint8Array(index.length * P);
  let x = 0x1234_5678;
  index.forEach((page, i) => {
    const view = pages.subarray(i * P, (i + 1) * P);
    if (filled[page] === "text") {
      view.set(new TextEncoder().encode(`page ${page} `.repeat(P / 8)).subarray(0, P));
    } else {
      for (let j = 0; j < P; j++) {
        x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
        view[j] = x & 0xff;
      }
    }
  });
  return {
    memoryBytes: pagesTotal * P,
    index: Uint32Array.from(index),
    pages: index.map((_, i) => pages.subarray(i * P, (i + 1) * P)),
    state: new TextEncoder().encode(state),
  };
}

async function tempStore() {
  return openStore(`${await Deno.makeTempDir()}/kiln.db`);
}

Deno.test("a snapshot round-trips: zero pages are left out, compressible pages shrink, noise is kept raw", async () => {
  using store = await tempStore();
  const img = image(64, { 0: "text", 5: "noise", 63: "text" }, `{"sp":4096}`);
  const info = saveSnapshot(store.db, "fft", { key: KEY, reason: "demand", image: img, keep: 3 });
  assert.equal(info.seq, 1);
  assert.equal(info.pagesStored, 3);
  assert.equal(info.memoryBytes, 64 * P);
  // The noise page is stored as is; the two text pages compress to a small fraction.
  assert.ok(info.storedBytes >= P && info.storedBytes < P + P / 4, `stored ${info.storedBytes}`);
  const back = loadSnapshot(store.db, info.id)!;
  assert.deepEqual(back.info, info);
  assert.deepEqual([...back.image.index], [0, 5, 63]);
  assert.deepEqual(back.image.pages.map((p) => [...p]), img.pages.map((p) => [...p]));
  assert.equal(new TextDecoder().decode(back.image.state), `{"sp":4096}`);
});

Deno.test("only the newest `keep` snapshots of a module are kept, and sequence numbers are never reused", async () => {
  using store = await tempStore();
  for (let i = 0; i < 5; i++) {
    saveSnapshot(store.db, "m", { key: KEY, reason: "interval", image: image(2, { 1: "text" }), keep: 2 });
  }
  saveSnapshot(store.db, "other", { key: KEY, reason: "interval", image: image(1, {}), keep: 2 });
  assert.deepEqual(listSnapshots(store.db, "m").map((s) => s.seq), [5, 4]);
  assert.deepEqual(listSnapshots(store.db).map((s) => `${s.module}:${s.seq}`), ["m:5", "m:4", "other:1"]);
  const pages = store.db.prepare("SELECT count(*) AS n FROM snapshot_pages").get() as { n: number };
  assert.equal(pages.n, 2, "the pages of deleted snapshots are deleted too");
});

Deno.test("a corrupt snapshot is detected and the one before it is used", async (t) => {
  const corruptions: [string, string][] = [
    [
      "a flipped byte in a raw page",
      "UPDATE snapshot_pages SET data = zeroblob(65536) WHERE page = 5 AND snapshot_id = ?",
    ],
    [
      "a compressed page cut short",
      "UPDATE snapshot_pages SET data = substr(data, 1, 10) WHERE page = 0 AND snapshot_id = ?",
    ],
    ["a page row lost", "DELETE FROM snapshot_pages WHERE page = 63 AND snapshot_id = ?"],
    ["a header field changed", "UPDATE snapshots SET memory_bytes = memory_bytes * 2 WHERE id = ?"],
    ["the state changed", "UPDATE snapshots SET state = X'7B7D20' WHERE id = ?"],
  ];
  for (const [what, sql] of corruptions) {
    await t.step(what, async () => {
      using store = await tempStore();
      const good = saveSnapshot(store.db, "m", {
        key: KEY,
        reason: "warm_up",
        image: image(64, { 0: "text", 5: "noise", 63: "text" }),
        keep: 3,
      });
      const bad = saveSnapshot(store.db, "m", {
        key: KEY,
        reason: "interval",
        image: image(64, { 0: "text", 5: "noise", 63: "text" }),
        keep: 3,
      });
      store.db.prepare(sql).run(bad.id);
      assert.throws(
        () => loadSnapshot(store.db, bad.id),
        (e) => e instanceof SnapshotCorruptError && e.seq === 2,
      );
      const latest = loadLatestSnapshot(store.db, "m", KEY);
      assert.equal(latest.found?.info.seq, good.seq);
      assert.equal(latest.skipped.length, 1);
      assert.equal(latest.skipped[0]!.seq, 2);
    });
  }
});

Deno.test("a snapshot of another build, ABI or configuration is passed over with the reason", async () => {
  using store = await tempStore();
  saveSnapshot(store.db, "m", { key: KEY, reason: "stop", image: image(1, {}), keep: 3 });
  const cases: [Partial<SnapshotKey>, RegExp][] = [
    [{ moduleSha256: "b".repeat(64) }, /another build/],
    [{ abiVersion: 2 }, /ABI 1/],
    [{ configSha256: "d".repeat(64) }, /params, data blobs or window/],
  ];
  for (const [change, reason] of cases) {
    const latest = loadLatestSnapshot(store.db, "m", { ...KEY, ...change });
    assert.equal(latest.found, null);
    assert.match(latest.skipped[0]!.reason, reason);
  }
  assert.equal(loadLatestSnapshot(store.db, "m", KEY).found?.info.seq, 1);
  assert.deepEqual(loadLatestSnapshot(store.db, "none", KEY), { found: null, skipped: [] });
});

Deno.test("an inconsistent image is a RangeError and nothing is written", async () => {
  using store = await tempStore();
  const good = image(4, { 1: "text", 2: "text" });
  const bad: SnapshotImage[] = [
    { ...good, memoryBytes: 1000 },
    { ...good, pages: good.pages.slice(0, 1) },
    { ...good, pages: [good.pages[0]!, good.pages[1]!.subarray(1)] },
    { ...good, index: Uint32Array.of(2, 1) },
    { ...good, index: Uint32Array.of(1, 4) },
  ];
  for (const img of bad) {
    assert.throws(
      () => saveSnapshot(store.db, "m", { key: KEY, reason: "demand", image: img, keep: 3 }),
      RangeError,
    );
  }
  assert.deepEqual(listSnapshots(store.db), []);
});

Deno.test("a page that is mostly zero is stored as its non-zero runs and restores byte for byte", async () => {
  using store = await tempStore();
  const pages: Uint8Array[] = [];
  // A few scattered values, a run at each end of the page, and a gap shorter than a run header inside one.
  const a = new Uint8Array(P);
  a.set([1, 2, 3], 0);
  a.set([9, 0, 0, 0, 0, 0, 7], 1000);
  a[P - 1] = 5;
  pages.push(a);
  // One byte per 4 KiB: 16 runs.
  const b = new Uint8Array(P);
  for (let i = 4096 - 3; i < P; i += 4096) b[i] = i & 0xff;
  pages.push(b);
  // Data over an eighth of the page: not stored as runs (zstd here, it repeats).
  const c = new Uint8Array(P);
  c.fill(0x5a, 0, P / 4);
  pages.push(c);
  const img: SnapshotImage = {
    memoryBytes: 8 * P,
    index: Uint32Array.from([1, 2, 7]),
    pages,
    state: new TextEncoder().encode("{}"),
  };
  const info = saveSnapshot(store.db, "m", { key: KEY, reason: "demand", image: img, keep: 3 });
  const codecs = store.db.prepare(
    "SELECT page, codec, length(data) AS bytes FROM snapshot_pages WHERE snapshot_id = ? ORDER BY page",
  ).all(info.id) as { page: number; codec: number; bytes: number }[];
  assert.deepEqual(codecs.map((r) => [r.page, r.codec]), [[1, 2], [2, 2], [7, 1]]);
  assert.ok(codecs[0]!.bytes < 64 && codecs[1]!.bytes === 16 * 12, JSON.stringify(codecs));
  const back = loadSnapshot(store.db, info.id)!;
  back.image.pages.forEach((p, i) => assert.ok(Buffer.from(p).equals(pages[i]!), `page ${i} differs`));
});

Deno.test("a page stored as runs that is cut short, overruns its page or names an unknown codec is corrupt", async (t) => {
  for (
    const [what, sql] of [
      ["cut short", "UPDATE snapshot_pages SET data = substr(data, 1, 6) WHERE snapshot_id = ?"],
      [
        "a run past the page",
        "UPDATE snapshot_pages SET data = X'F0FF000020000000' || zeroblob(32) WHERE snapshot_id = ?",
      ],
      ["an unknown codec", "UPDATE snapshot_pages SET codec = 9 WHERE snapshot_id = ?"],
    ] as const
  ) {
    await t.step(what, async () => {
      using store = await tempStore();
      const page = new Uint8Array(P);
      page[100] = 1;
      const info = saveSnapshot(store.db, "m", {
        key: KEY,
        reason: "demand",
        image: { memoryBytes: P, index: Uint32Array.from([0]), pages: [page], state: new Uint8Array() },
        keep: 1,
      });
      store.db.prepare(sql).run(info.id);
      assert.throws(() => loadSnapshot(store.db, info.id), (e) => e instanceof SnapshotCorruptError);
    });
  }
});
