import assert from "node:assert/strict";
import { createRing, type OverflowPolicy, RingReader, ringStats, RingWriter } from "./ring.ts";
import type {
  RingTestJob,
  RingTestReaderResult,
  RingTestWriterResult,
} from "../../tests/runtime/_ring_worker.ts";

/** Record `seq` of `length` bytes: the sequence number in byte 0, then a pattern. */
function record(seq: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let k = 0; k < length; k++) bytes[k] = k === 0 ? seq & 0xff : (seq * 13 + k) & 0xff;
  return bytes;
}

function ring(
  sizeBytes: number,
  overflow: OverflowPolicy,
  extra: { readers?: number; initialPosition?: number } = {},
) {
  const buffer = createRing({ sizeBytes, readers: extra.readers ?? 1, overflow, ...extra });
  const readers = Array.from({ length: extra.readers ?? 1 }, (_, i) => new RingReader(buffer, i));
  return { buffer, writer: new RingWriter(buffer), readers, reader: readers[0]! };
}

/** Reads every pending record. */
function drain(reader: RingReader): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let r = reader.read(); r !== null; r = reader.read()) out.push(r);
  return out;
}

const seqs = (records: Uint8Array[]) => records.map((r) => r[0]);

Deno.test("records come out in the order they went in with exactly their bytes", () => {
  const { writer, reader } = ring(1024, "drop-newest");
  const sizes = [0, 1, 2, 3, 4, 5, 7, 8, 100, writer.maxRecordBytes, 0, 33];
  // Interleave writes and reads over many laps so records land at every offset and wrap often.
  let seq = 0;
  for (let round = 0; round < 300; round++) {
    const written: Uint8Array[] = [];
    for (let k = 0; k < 1 + (round % 3); k++) {
      const bytes = record(seq, sizes[seq % sizes.length]!);
      seq++;
      if (writer.write(bytes) === "ok") written.push(bytes);
    }
    assert.deepEqual(drain(reader), written);
  }
  assert.equal(reader.lost(), 0);
});

Deno.test("a record that does not fit before the end of the ring wraps to the start behind a marker", () => {
  const { buffer, writer, reader } = ring(64, "drop-newest");
  assert.equal(writer.write(record(0, 20)), "ok"); // 24 bytes at 0
  assert.equal(writer.write(record(1, 20)), "ok"); // 24 bytes at 24
  assert.deepEqual(seqs(drain(reader)), [0, 1]);
  assert.equal(writer.write(record(2, 20)), "ok"); // 16 bytes left at 48: marker there, record at 0
  assert.equal(reader.available(), 16 + 24);
  assert.equal(reader.peekLength(), 20);
  assert.deepEqual(reader.read(), record(2, 20));
  assert.equal(reader.available(), 0);
  assert.deepEqual(ringStats(buffer).written, 3);
});

Deno.test("zero-length and largest records round-trip and a longer one is a RangeError", () => {
  const { buffer, writer, reader } = ring(4096, "drop-newest");
  assert.equal(writer.maxRecordBytes, 2044);
  assert.equal(writer.write(new Uint8Array(0)), "ok");
  assert.equal(writer.write(record(1, 2044)), "ok");
  assert.throws(() => writer.write(new Uint8Array(2045)), RangeError);
  assert.deepEqual(reader.read(), new Uint8Array(0));
  assert.deepEqual(reader.read(), record(1, 2044));
  assert.equal(reader.read(), null);
  // The largest record fits after a wrap at the worst offset too.
  for (let i = 0; i < 50; i++) {
    assert.equal(writer.write(record(i, 1 + ((i * 613) % 2044))), "ok");
    assert.equal(writer.write(record(i, 2044)), "ok");
    assert.equal(drain(reader).length, 2);
  }
  assert.equal(ringStats(buffer).dropped, 0);
});

Deno.test("readers keep independent cursors", () => {
  const { writer, readers: [a, b, c] } = ring(256, "drop-newest", { readers: 3 });
  for (let i = 0; i < 3; i++) writer.write(record(i, 10));
  assert.deepEqual(seqs(drain(a!)), [0, 1, 2]);
  assert.deepEqual(b!.read(), record(0, 10));
  for (let i = 3; i < 5; i++) writer.write(record(i, 10));
  assert.deepEqual(seqs(drain(b!)), [1, 2, 3, 4]);
  assert.deepEqual(seqs(drain(a!)), [3, 4]);
  assert.deepEqual(seqs(drain(c!)), [0, 1, 2, 3, 4]);
});

Deno.test("drop-newest keeps the old records and counts each drop against the reader that was full", () => {
  const { buffer, writer, readers: [fast, slow] } = ring(64, "drop-newest", { readers: 2 });
  const results = [];
  for (let i = 0; i < 10; i++) {
    results.push(writer.write(record(i, 12))); // 16 bytes each: 4 fill the ring
    fast!.read();
  }
  assert.deepEqual(results, [...Array(4).fill("ok"), ...Array(6).fill("dropped")]);
  assert.deepEqual(seqs(drain(slow!)), [0, 1, 2, 3]);
  assert.equal(slow!.lost(), 6);
  assert.equal(fast!.lost(), 0);
  const stats = ringStats(buffer);
  assert.equal(stats.written, 4);
  assert.equal(stats.dropped, 6);
  assert.equal(stats.evicted, 0);
});

Deno.test("drop-oldest keeps the newest records and counts what each reader lost", () => {
  const { buffer, writer, readers: [fast, slow, middle] } = ring(64, "drop-oldest", { readers: 3 });
  for (let i = 0; i < 10; i++) {
    assert.equal(writer.write(record(i, 12)), "ok");
    fast!.read();
    if (i === 5) assert.deepEqual(seqs(drain(middle!)), [2, 3, 4, 5]);
  }
  assert.deepEqual(seqs(drain(slow!)), [6, 7, 8, 9]);
  assert.deepEqual(seqs(drain(middle!)), [6, 7, 8, 9]);
  assert.equal(slow!.lost(), 6);
  assert.equal(middle!.lost(), 2);
  assert.equal(fast!.lost(), 0);
  const stats = ringStats(buffer);
  assert.equal(stats.written, 10);
  assert.equal(stats.evicted, 6);
  assert.equal(stats.dropped, 0);
});

Deno.test("drop-oldest evicts whole records of mixed sizes past a wrap marker", () => {
  const { writer, reader } = ring(64, "drop-oldest");
  writer.write(record(0, 4)); // 8 at 0
  writer.write(record(1, 20)); // 24 at 8
  writer.write(record(2, 20)); // 24 at 32, 8 left
  writer.write(record(3, 8)); // needs 12: marker at 56, record at 0; evicts 0 and 1
  assert.equal(reader.lost(), 2);
  writer.write(record(4, 28)); // 32 at 12 (the largest): evicts 2, which leaves the reader at the marker
  assert.equal(reader.lost(), 3);
  assert.deepEqual(drain(reader), [record(3, 8), record(4, 28)]);
});

Deno.test("a drop-oldest reader whose record is evicted while it copies discards the copy and counts the loss", () => {
  const { writer, reader } = ring(1024, "drop-oldest");
  for (let i = 0; i < 4; i++) writer.write(record(i, 252)); // 256 bytes each: the ring is full
  // A target whose copy lets the writer run in the middle, as a writer on another core would. Records this
  // large are copied with `target.set` (smaller ones byte by byte, which the cross-thread tests cover).
  let interleaved = false;
  class Racing extends Uint8Array {
    override set(array: ArrayLike<number>, offset?: number): void {
      if (!interleaved) {
        interleaved = true;
        for (let i = 4; i < 6; i++) writer.write(record(i, 252)); // evicts records 0 and 1
      }
      super.set(array, offset);
    }
  }
  const target = new Racing(300);
  assert.equal(reader.readInto(target, 4), 252);
  assert.ok(interleaved);
  assert.deepEqual(Uint8Array.from(target.subarray(4, 256)), record(2, 252));
  assert.equal(reader.lost(), 2);
  assert.deepEqual(seqs(drain(reader)), [3, 4, 5]);
});

Deno.test("a new writer view over a ring takes over without overwriting unread records", () => {
  const { buffer, writer, reader } = ring(64, "drop-newest");
  writer.write(record(0, 12));
  writer.write(record(1, 12));
  const successor = new RingWriter(buffer); // e.g. the writer module restarted in another executor
  successor.write(record(2, 12));
  successor.write(record(3, 12));
  assert.equal(writer.write(record(4, 12)), "dropped");
  assert.deepEqual(seqs(drain(reader)), [0, 1, 2, 3]);
});

Deno.test("block-writer drops a record after its timeout when no reader makes room", () => {
  const buffer = createRing({ sizeBytes: 64, readers: 2, overflow: "block-writer", blockTimeoutUs: 2000 });
  const writer = new RingWriter(buffer);
  const fast = new RingReader(buffer, 0);
  for (let i = 0; i < 4; i++) writer.write(record(i, 12));
  drain(fast);
  // Deno allows Atomics.wait on the main thread, so this blocks it for 2 ms.
  assert.equal(writer.write(record(4, 12)), "dropped");
  const stats = ringStats(buffer);
  assert.deepEqual(
    { blocked: stats.blocked, timeouts: stats.timeouts, dropped: stats.dropped, written: stats.written },
    { blocked: 1, timeouts: 1, dropped: 1, written: 4 },
  );
  assert.deepEqual(stats.readers.map((r) => r.lost), [0, 1]);
});

/** Record `seq` of `length` (4 or more) bytes: the sequence number, then a pattern. */
function numbered(seq: number, length: number): Uint8Array {
  const bytes = record(seq, length);
  new DataView(bytes.buffer).setUint32(0, seq, true);
  return bytes;
}

const seqOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);

Deno.test("positions wrap at the modulus without losing or reordering records", async (t) => {
  for (const sizeBytes of [256, 300]) {
    for (const overflow of ["drop-newest", "drop-oldest"] as const) {
      await t.step(`${sizeBytes}-byte ring, ${overflow}`, () => {
        // 2^32 for a power of two, else the largest multiple of the size below it.
        const modulus = Math.floor(2 ** 32 / sizeBytes) * sizeBytes;
        const { buffer, writer, reader } = ring(sizeBytes, overflow, { initialPosition: modulus - 800 });
        const accepted: number[] = [];
        const got: number[] = [];
        const take = (bytes: Uint8Array) => {
          assert.deepEqual(bytes, numbered(seqOf(bytes), bytes.length));
          got.push(seqOf(bytes));
        };
        // About 6 KiB of traffic from 800 bytes before the wrap; reads lag so the ring is often full.
        let seq = 0;
        for (let round = 0; round < 80; round++) {
          for (let k = 0; k < 3; k++, seq++) {
            if (writer.write(numbered(seq, 4 + ((seq * 37) % 40))) === "ok") accepted.push(seq);
          }
          for (let k = 0; k < 2; k++) {
            const bytes = reader.read();
            if (bytes) take(bytes);
          }
          assert.ok(reader.available() <= sizeBytes);
        }
        drain(reader).forEach(take);
        assert.equal(got.length + reader.lost(), seq);
        assert.equal(ringStats(buffer).written, accepted.length);
        if (overflow === "drop-newest") {
          assert.deepEqual(got, accepted);
        } else {
          assert.equal(accepted.length, seq);
          assert.ok(got.every((s, i) => i === 0 || s > got[i - 1]!));
          assert.equal(got.at(-1), seq - 1);
          assert.ok(reader.lost() > 0);
        }
      });
    }
  }
});

Deno.test("readInto copies to an offset and leaves a record that does not fit", () => {
  const { writer, reader } = ring(256, "drop-newest");
  const memory = new Uint8Array(64);
  assert.equal(reader.readInto(memory, 0), -1);
  writer.write(record(7, 20));
  assert.equal(reader.readInto(memory, 50), -2);
  assert.equal(reader.peekLength(), 20);
  assert.equal(reader.readInto(memory, 44), 20);
  assert.deepEqual(memory.subarray(44), record(7, 20));
  assert.equal(reader.peekLength(), -1);
  assert.equal(reader.available(), 0);
});

Deno.test("wait returns at once when a record is pending and false after its timeout when none is", () => {
  const { writer, reader } = ring(256, "drop-newest");
  assert.equal(reader.wait(1), false);
  writer.write(record(1, 3));
  assert.equal(reader.wait(1000), true);
  assert.deepEqual(reader.read(), record(1, 3));
});

Deno.test("createRing and the views refuse bad options and buffers", () => {
  const options = { sizeBytes: 1024, readers: 1, overflow: "drop-newest" } as const;
  assert.throws(() => createRing({ ...options, sizeBytes: 1022 }), RangeError);
  assert.throws(() => createRing({ ...options, sizeBytes: 32 }), RangeError);
  assert.throws(() => createRing({ ...options, sizeBytes: 1.5 }), TypeError);
  assert.throws(() => createRing({ ...options, readers: 0 }), RangeError);
  assert.throws(() => createRing({ ...options, readers: 65 }), RangeError);
  assert.throws(() => createRing({ ...options, overflow: "drop-all" as OverflowPolicy }), TypeError);
  assert.throws(() => createRing({ ...options, initialPosition: 2 ** 32 }), RangeError);
  assert.throws(() => new RingWriter(new SharedArrayBuffer(4096)), TypeError);
  assert.throws(() => new RingReader(createRing(options), 1), RangeError);
});

// ---- across threads ----

const RECORDS = 200_000;

async function stream(overflow: OverflowPolicy) {
  const buffer = createRing({ sizeBytes: 4096, readers: 2, overflow, blockTimeoutUs: 100_000 });
  const start = (job: RingTestJob) => {
    const worker = new Worker(new URL("../../tests/runtime/_ring_worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions: "none" },
    });
    const done = new Promise<RingTestWriterResult | RingTestReaderResult>((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
    });
    worker.postMessage(job);
    return { worker, done };
  };
  const workers = [
    start({ role: "read", buffer, index: 0, records: RECORDS }),
    start({ role: "read", buffer, index: 1, records: RECORDS }),
    start({ role: "write", buffer, records: RECORDS, retry: overflow !== "drop-oldest" }),
  ];
  try {
    const [a, b] = (await Promise.all(workers.map((w) => w.done))) as RingTestReaderResult[];
    return { readers: [a!, b!], stats: ringStats(buffer) };
  } finally {
    for (const { worker } of workers) worker.terminate();
  }
}

for (const overflow of ["drop-newest", "block-writer"] as const) {
  Deno.test(`two readers in other workers see every record intact and in order with ${overflow}`, async () => {
    const { readers } = await stream(overflow);
    for (const r of readers) {
      assert.deepEqual(r, {
        role: "read",
        received: RECORDS,
        gaps: 0,
        outOfOrder: 0,
        corrupted: 0,
        lost: r.lost,
      });
    }
  });
}

Deno.test("two readers in other workers lose exactly the records they count as lost with drop-oldest", async () => {
  const { readers, stats } = await stream("drop-oldest");
  for (const r of readers) {
    assert.equal(r.gaps, r.lost);
    assert.equal(r.received + r.lost, RECORDS);
    assert.equal(r.outOfOrder, 0);
    assert.equal(r.corrupted, 0);
  }
  assert.equal(stats.written, RECORDS + 1);
  // Evicted records are counted once however many readers lose them.
  const lost = readers.map((r) => r.lost);
  assert.ok(stats.evicted >= Math.max(...lost) && stats.evicted <= lost[0]! + lost[1]!);
});
