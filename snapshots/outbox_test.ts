import assert from "node:assert/strict";
import { openStore, type Store } from "./store.ts";
import {
  createOutbox,
  estimateDiskBytes,
  type OutboxEntry,
  OutboxMessageTooLargeError,
  OutboxShareExceededError,
  OutboxWriteError,
} from "./outbox.ts";

async function tempStore(): Promise<{ store: Store; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-outbox-" });
  const path = `${dir}/kiln.db`;
  return { store: openStore(path), path };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
/** The budget size of a message on stream `s`, topic `t` with an `n`-byte payload. */
const size = (n: number, stream = "s", topic = "t") => estimateDiskBytes(n, { stream, topic });
const msg = (over: Partial<OutboxEntry> = {}): OutboxEntry => ({
  stream: "s",
  kind: "telemetry",
  topic: "t",
  payload: bytes(10),
  ...over,
});

Deno.test("messages come back in enqueue order with per-stream sequence numbers from 1", async () => {
  const { store } = await tempStore();
  using _ = store;
  const outbox = createOutbox(store, { diskBudgetBytes: 1_000_000, nowMs: () => 5_000 });
  const a1 = outbox.enqueue(msg({ stream: "a", payload: bytes(3, 7) }));
  const b1 = outbox.enqueue(msg({ stream: "b", kind: "alert", qos: 2 }));
  const a2 = outbox.enqueue(msg({ stream: "a" }));
  assert.deepEqual([a1.seq, b1.seq, a2.seq], [1, 1, 2]);
  const all = outbox.peek(10);
  assert.deepEqual(all.map((m) => [m.stream, m.seq, m.kind, m.qos]), [
    ["a", 1, "telemetry", 1],
    ["b", 1, "alert", 2],
    ["a", 2, "telemetry", 1],
  ]);
  assert.deepEqual(all[0]!.payload, bytes(3, 7));
  assert.equal(all[0]!.createdAtMs, 5_000);
  assert.deepEqual(outbox.peek(10, a1.id).map((m) => m.id), [b1.id, a2.id]);
  assert.deepEqual(outbox.peek(1).map((m) => m.id), [a1.id]);
});

Deno.test("an acknowledged message is deleted and counted as delivered; a second ack returns false", async () => {
  const { store } = await tempStore();
  using _ = store;
  let now = 1_000;
  const outbox = createOutbox(store, { diskBudgetBytes: 1_000_000, nowMs: () => now });
  const m1 = outbox.enqueue(msg());
  now = 1_500;
  outbox.enqueue(msg({ kind: "alert" }));
  now = 4_000;
  assert.equal(outbox.stats().oldestAgeMs, 3_000);
  assert.equal(outbox.ack(m1.id), true);
  assert.equal(outbox.ack(m1.id), false);
  const s = outbox.stats();
  assert.equal(s.depth, 1);
  assert.equal(s.oldestAgeMs, 2_500);
  assert.equal(s.sizeBytes, size(10));
  assert.deepEqual([s.kinds.telemetry.enqueued, s.kinds.telemetry.delivered, s.kinds.telemetry.depth], [
    1,
    1,
    0,
  ]);
  assert.deepEqual([s.kinds.alert.enqueued, s.kinds.alert.delivered, s.kinds.alert.depth], [1, 0, 1]);
});

Deno.test("an id is never given out again, also after the newest message was acknowledged and the store reopened", async () => {
  const { store, path } = await tempStore();
  const first = createOutbox(store, { diskBudgetBytes: 1_000_000 });
  const m1 = first.enqueue(msg());
  first.ack(m1.id);
  const m2 = first.enqueue(msg());
  assert.ok(m2.id > m1.id);
  // A reader that sent m2 reads on after its id and must see what comes next.
  first.ack(m2.id);
  store.close();
  using again = openStore(path);
  const m3 = createOutbox(again, { diskBudgetBytes: 1_000_000 }).enqueue(msg());
  assert.ok(m3.id > m2.id);
});

Deno.test("sequence numbers and counters continue after the store is reopened, also once every message was delivered", async () => {
  const { store, path } = await tempStore();
  const first = createOutbox(store, { diskBudgetBytes: 1_000_000 });
  for (let i = 0; i < 3; i++) first.ack(first.enqueue(msg()).id);
  store.close();
  using again = openStore(path);
  const outbox = createOutbox(again, { diskBudgetBytes: 1_000_000 });
  assert.equal(outbox.stats().depth, 0);
  assert.equal(outbox.enqueue(msg()).seq, 4);
  assert.equal(outbox.stats().kinds.telemetry.delivered, 3);
  assert.deepEqual(outbox.listStreams(), [{ stream: "s", lastSeq: 4, dropped: 0 }]);
});

Deno.test("past the budget the oldest telemetry is dropped first, then batches, never alerts, and every drop is counted", async (t) => {
  const { store } = await tempStore();
  using _ = store;
  // Room for exactly four 100-byte-payload messages.
  const outbox = createOutbox(store, { diskBudgetBytes: 4 * size(100) });
  const alert = outbox.enqueue(msg({ stream: "s", kind: "alert", payload: bytes(100) }));
  const batch = outbox.enqueue(msg({ stream: "s", kind: "batch", payload: bytes(100) }));
  const t1 = outbox.enqueue(msg({ payload: bytes(100) }));
  const t2 = outbox.enqueue(msg({ payload: bytes(100) }));
  assert.equal(outbox.stats().sizeBytes, 4 * size(100));

  await t.step("a new telemetry message drops the oldest telemetry", () => {
    const t3 = outbox.enqueue(msg({ payload: bytes(100) }));
    assert.deepEqual(outbox.peek(10).map((m) => m.id), [alert.id, batch.id, t2.id, t3.id]);
    assert.equal(outbox.stats().kinds.telemetry.dropped, 1);
    assert.equal(outbox.stats().kinds.telemetry.droppedBytes, size(100));
  });
  await t.step("an alert drops telemetry too, and then batches once no telemetry is left", () => {
    outbox.enqueue(msg({ kind: "alert", payload: bytes(100) }));
    outbox.enqueue(msg({ kind: "alert", payload: bytes(100) }));
    outbox.enqueue(msg({ kind: "alert", payload: bytes(100) }));
    const s = outbox.stats();
    assert.deepEqual(outbox.peek(10).map((m) => m.kind), ["alert", "alert", "alert", "alert"]);
    assert.deepEqual([s.kinds.telemetry.dropped, s.kinds.batch.dropped, s.kinds.alert.dropped], [3, 1, 0]);
    assert.equal(s.sizeBytes, 4 * size(100));
    assert.equal(s.kinds.alert.overBudget, 0);
  });
  await t.step("with only alerts left, a new alert is kept anyway and counted over budget", () => {
    outbox.enqueue(msg({ kind: "alert", payload: bytes(100) }));
    const s = outbox.stats();
    assert.equal(s.kinds.alert.depth, 5);
    assert.equal(s.kinds.alert.overBudget, 1);
    assert.equal(s.sizeBytes, 5 * size(100));
  });
  await t.step(
    "with only alerts left, new telemetry is kept (the newest wins) and evicts the previous one",
    () => {
      const n1 = outbox.enqueue(msg({ payload: bytes(100) }));
      const n2 = outbox.enqueue(msg({ payload: bytes(100) }));
      const ids = outbox.peek(10).map((m) => m.id);
      assert.ok(!ids.includes(n1.id) && ids.includes(n2.id));
      const s = outbox.stats();
      assert.equal(s.kinds.telemetry.overBudget, 2);
      assert.equal(s.sizeBytes, s.kinds.alert.sizeBytes + size(100));
    },
  );
  await t.step("drops leave gaps in the stream's sequence numbers and are counted per stream", () => {
    const seqs = outbox.peek(20).map((m) => m.seq);
    assert.deepEqual(seqs, [1, 6, 7, 8, 9, 11]);
    assert.deepEqual(outbox.listStreams(), [{ stream: "s", lastSeq: 11, dropped: 5 }]);
    const k = outbox.stats().kinds;
    for (const kind of ["alert", "telemetry", "batch"] as const) {
      assert.equal(k[kind].enqueued, k[kind].depth + k[kind].delivered + k[kind].dropped, kind);
    }
  });
  assert.equal(t1.seq, 3);
});

Deno.test("a payload built from its sequence number carries it, and a builder that throws stores nothing", async () => {
  const { store } = await tempStore();
  using _ = store;
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000, maxMessageBytes: 1_000 });
  const enc = (seq: number) => new TextEncoder().encode(JSON.stringify({ stream: "s", seq }));
  const m = outbox.enqueue(msg({ payload: enc }));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(outbox.peek(1)[0]!.payload)), { stream: "s", seq: 1 });
  assert.equal(m.sizeBytes, size(enc(1).byteLength));
  const bug = new Error("builder bug");
  assert.throws(() =>
    outbox.enqueue(msg({
      payload: () => {
        throw bug;
      },
    })), (err: unknown) => err === bug);
  assert.throws(
    () => outbox.enqueue(msg({ payload: () => bytes(2_000) })),
    (err: unknown) => err instanceof OutboxMessageTooLargeError,
  );
  assert.throws(() => outbox.enqueue(msg({ payload: () => "text" as unknown as Uint8Array })), TypeError);
  assert.equal(store.db.isTransaction, false);
  // The failed attempts took no sequence number.
  assert.equal(outbox.enqueue(msg({ payload: enc })).seq, 2);
  assert.equal(outbox.stats().depth, 2);
});

Deno.test("enqueueMany stores all of its messages in order or none, and ackMany counts what it deleted", async () => {
  const { store } = await tempStore();
  using _ = store;
  const outbox = createOutbox(store, { diskBudgetBytes: 1_000_000 });
  const heard: number[] = [];
  outbox.onEnqueue((m) => heard.push(m.id));
  const ms = outbox.enqueueMany([msg({ stream: "a" }), msg({ stream: "b" }), msg({ stream: "a" })]);
  assert.deepEqual(ms.map((m) => [m.stream, m.seq]), [["a", 1], ["b", 1], ["a", 2]]);
  assert.deepEqual(outbox.peek(10).map((m) => m.id), ms.map((m) => m.id));
  assert.deepEqual(heard, ms.map((m) => m.id));
  assert.throws(() =>
    outbox.enqueueMany([
      msg({ stream: "a" }),
      msg({
        stream: "a",
        payload: () => {
          throw new RangeError("bad");
        },
      }),
    ]), RangeError);
  assert.throws(() => outbox.enqueueMany([msg({ stream: "a" }), msg({ topic: "" })]), TypeError);
  assert.equal(outbox.stats().depth, 3);
  assert.equal(outbox.enqueue(msg({ stream: "a" })).seq, 3, "the refused batches took no sequence number");
  assert.deepEqual(outbox.enqueueMany([]), []);
  assert.equal(outbox.ackMany([ms[0]!.id, ms[2]!.id, ms[0]!.id, 999]), 2);
  assert.equal(outbox.ackMany([]), 0);
  assert.equal(outbox.stats().kinds.telemetry.delivered, 2);
  assert.equal(outbox.stats().depth, 2);
});

Deno.test("the budget counts what messages take in the database file", async (t) => {
  // One size per store, as the estimate is exact for that; sizes on both sides of SQLite's page-packing
  // steps and past a page (overflow pages).
  for (const payloadBytes of [100, 1500, 2500, 9000]) {
    await t.step(`${payloadBytes}-byte payloads`, async () => {
      const { store } = await tempStore();
      using _ = store;
      const outbox = createOutbox(store, { diskBudgetBytes: 100_000_000 });
      const used = () => {
        store.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        const n = (pragma: string) => Number(Object.values(store.db.prepare(`PRAGMA ${pragma}`).get()!)[0]);
        return (n("page_count") - n("freelist_count")) * n("page_size");
      };
      const before = used();
      let counted = 0;
      for (let i = 0; i < (payloadBytes < 1000 ? 2000 : 300); i++) {
        counted +=
          outbox.enqueue(msg({ stream: "sensor_1", topic: "kiln/gw/t", payload: bytes(payloadBytes, i) }))
            .sizeBytes;
      }
      const onDisk = used() - before;
      assert.ok(Math.abs(onDisk - counted) / counted < 0.05, `${onDisk} bytes on disk, ${counted} counted`);
      assert.equal(outbox.stats().sizeBytes, counted);
    });
  }
  // Topic and stream count in UTF-8 bytes.
  assert.equal(
    estimateDiskBytes(10, { stream: "s", topic: "ø" }),
    estimateDiskBytes(11, { stream: "s", topic: "o" }),
  );
});

Deno.test("bad messages are refused with the right error and nothing is stored", async (t) => {
  const { store } = await tempStore();
  using _ = store;
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000, maxMessageBytes: 1_000 });
  await t.step("too large", () => {
    assert.throws(
      () => outbox.enqueue(msg({ payload: bytes(1_000) })),
      (err: unknown) =>
        err instanceof OutboxMessageTooLargeError && err.code === "outbox_message_too_large" &&
        err.sizeBytes === size(1_000) && err.maxMessageBytes === 1_000,
    );
  });
  await t.step("empty stream or topic, unknown kind, wrong qos", () => {
    assert.throws(() => outbox.enqueue(msg({ stream: "" })), TypeError);
    assert.throws(() => outbox.enqueue(msg({ topic: "" })), TypeError);
    assert.throws(() => outbox.enqueue(msg({ kind: "log" as "alert" })), TypeError);
    assert.throws(() => outbox.enqueue(msg({ qos: 3 as 1 })), RangeError);
  });
  await t.step("bad options", () => {
    assert.throws(() => createOutbox(store, { diskBudgetBytes: 0 }), RangeError);
    assert.throws(() => createOutbox(store, { diskBudgetBytes: 10, maxMessageBytes: 1.5 }), RangeError);
  });
  assert.equal(outbox.stats().depth, 0);
  assert.deepEqual(outbox.listStreams(), []);
});

Deno.test("a write the database refuses is an outbox write error and leaves no trace", async () => {
  const { store, path } = await tempStore();
  createOutbox(store, { diskBudgetBytes: 10_000 }).enqueue(msg());
  store.close();
  using readOnly = openStore(path, { readOnly: true });
  const outbox = createOutbox(readOnly, { diskBudgetBytes: 10_000 });
  assert.throws(
    () => outbox.enqueue(msg()),
    (err: unknown) => err instanceof OutboxWriteError && err.code === "outbox_write_failed",
  );
  assert.throws(() => outbox.ack(1), (err: unknown) => err instanceof OutboxWriteError);
  assert.equal(readOnly.db.isTransaction, false);
  assert.equal(outbox.stats().depth, 1);
  assert.deepEqual(outbox.listStreams(), [{ stream: "s", lastSeq: 1, dropped: 0 }]);
});

Deno.test("enqueue listeners hear each committed message, and a throwing listener does not fail the enqueue", async () => {
  const { store } = await tempStore();
  using _ = store;
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000 });
  const heard: number[] = [];
  const off = outbox.onEnqueue((m) => heard.push(m.seq));
  const offBad = outbox.onEnqueue(() => {
    throw new Error("listener bug");
  });
  // The listener's error is rethrown in a microtask; catch it here instead of failing the test run.
  const caught = new Promise<unknown>((resolve) => {
    const handler = (e: ErrorEvent) => {
      e.preventDefault();
      globalThis.removeEventListener("error", handler);
      resolve(e.error);
    };
    globalThis.addEventListener("error", handler);
  });
  const m = outbox.enqueue(msg());
  assert.equal(m.seq, 1);
  assert.equal(((await caught) as Error).message, "listener bug");
  offBad();
  outbox.enqueue(msg());
  off();
  outbox.enqueue(msg());
  assert.deepEqual(heard, [1, 2]);
  assert.equal(outbox.stats().depth, 3);
});

Deno.test("an owner's waiting messages are counted through acks and drops, and its share is never exceeded", async (t) => {
  const { store } = await tempStore();
  using _ = store;
  const one = size(100);
  const outbox = createOutbox(store, { diskBudgetBytes: one * 6 });
  const share = one * 3;
  const mine = (over: Partial<OutboxEntry> = {}) =>
    msg({ payload: bytes(100), owner: "flood", ownerMaxBytes: share, ...over });

  await t.step("messages are charged to their owner until its share is full", () => {
    const sent = [outbox.enqueue(mine()), outbox.enqueue(mine()), outbox.enqueue(mine())];
    assert.deepEqual(sent.map((m) => m.owner), ["flood", "flood", "flood"]);
    assert.equal(outbox.ownerBytes("flood"), share);
    assert.throws(() => outbox.enqueue(mine()), (err) => {
      assert.ok(err instanceof OutboxShareExceededError);
      assert.equal(err.code, "outbox_share_exceeded");
      assert.equal(err.ownerBytes, share);
      return true;
    });
    assert.equal(outbox.stats().depth, 3, "the refused message is not stored");
    assert.deepEqual(outbox.listStreams(), [{ stream: "s", lastSeq: 3, dropped: 0 }], "and takes no number");
  });

  await t.step("a refused message drops nothing of anyone else's", () => {
    outbox.enqueue(msg({ payload: bytes(100), owner: "neighbour" }));
    outbox.enqueue(msg({ payload: bytes(100) }));
    assert.throws(() => outbox.enqueue(mine()), OutboxShareExceededError);
    assert.equal(outbox.stats().kinds.telemetry.dropped, 0);
    assert.deepEqual(outbox.listOwners(), [
      { owner: "flood", depth: 3, sizeBytes: share },
      { owner: "neighbour", depth: 1, sizeBytes: one },
    ]);
  });

  await t.step("an ack gives the owner room again; the last ack forgets it", () => {
    const [first, second, third] = outbox.peek(3);
    assert.equal(outbox.ackMany([first!.id]), 1);
    assert.equal(outbox.ownerBytes("flood"), share - one);
    outbox.enqueue(mine());
    assert.equal(outbox.ownerBytes("flood"), share);
    assert.equal(outbox.ackMany([second!.id, third!.id]), 2);
    assert.equal(outbox.ownerBytes("flood"), one);
  });

  await t.step("a budget drop takes the message off its owner's count too", () => {
    // Fill the budget with unowned telemetry: the oldest (the owner's one, then the others) are dropped.
    for (let i = 0; i < 6; i++) outbox.enqueue(msg({ payload: bytes(100) }));
    assert.ok(outbox.stats().kinds.telemetry.dropped > 0);
    assert.equal(outbox.ownerBytes("flood"), 0);
    assert.equal(outbox.ownerBytes("neighbour"), 0);
    assert.deepEqual(outbox.listOwners(), []);
  });
});
