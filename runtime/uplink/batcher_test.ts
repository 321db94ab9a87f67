import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { openStore, type Store } from "../../snapshots/store.ts";
import { createOutbox, type Outbox, OutboxWriteError } from "../../snapshots/outbox.ts";
import { BATCH_FORMAT, createBatcher, decodeBatch } from "./batcher.ts";
import type { Clock } from "./forwarder.ts";

/** Manual time: timers fire only in {@linkcode FakeClock.advance}. */
class FakeClock implements Clock {
  #now = 0;
  #timers: { atMs: number; callback: () => void }[] = [];
  nowMs(): number {
    return this.#now;
  }
  setTimer(callback: () => void, delayMs: number): () => void {
    const timer = { atMs: this.#now + delayMs, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.atMs <= target).sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.atMs;
      due.callback();
    }
    this.#now = target;
  }
  get timers(): number {
    return this.#timers.length;
  }
}

async function tempOutbox(): Promise<{ store: Store; outbox: Outbox }> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-batcher-" });
  const store = openStore(`${dir}/kiln.db`);
  return { store, outbox: createOutbox(store, { diskBudgetBytes: 10_000_000 }) };
}

Deno.test("every interval the outputs go into the outbox as one compressed batch that decodes to the same outputs", async () => {
  const { store, outbox } = await tempOutbox();
  using _ = store;
  const clock = new FakeClock();
  using batcher = createBatcher(outbox, {
    topic: "kiln/gw/batch",
    intervalMs: 60_000,
    device: "gw-1",
    clock,
  });
  const t0 = 1_764_085_200_000;
  const added = [
    { module: "temperature", name: "temp_c", value: 45.1, atMs: t0 + 10 },
    { module: "fft", name: "rms", value: 0.5, atMs: t0 },
    { module: "temperature", name: "temp_c", value: NaN, atMs: t0 + 110 },
    { module: "fft", name: "bands", value: [0.25, Infinity, -Infinity], atMs: t0 + 200 },
    { module: "temperature", name: "temp_c", value: -0.1, atMs: t0 + 59_000 },
  ];
  for (const o of added) batcher.add(o);
  clock.advance(59_999);
  assert.equal(outbox.stats().depth, 0);
  clock.advance(1);
  const [m] = outbox.peek(10);
  assert.ok(m);
  assert.deepEqual([m.kind, m.topic, m.stream, m.seq, m.qos], [
    "batch",
    "kiln/gw/batch",
    "kiln/gw/batch",
    1,
    1,
  ]);
  assert.deepEqual(Array.from(m.payload.subarray(0, 4)), [0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
  const batch = decodeBatch(m.payload);
  assert.deepEqual([batch.device, batch.stream, batch.seq, batch.startMs, batch.endMs], [
    "gw-1",
    "kiln/gw/batch",
    1,
    t0,
    t0 + 59_000,
  ]);
  const byKey = (o: { module: string; name: string; atMs: number }) => `${o.module}/${o.name}/${o.atMs}`;
  assert.deepEqual(
    batch.outputs.map((o) => ({ ...o })).sort((a, b) => byKey(a).localeCompare(byKey(b))),
    added.map((o) => ({ ...o })).sort((a, b) => byKey(a).localeCompare(byKey(b))),
  );
  // Grouped by series in order of first appearance, in the order added within each.
  assert.deepEqual(batch.outputs.map((o) => `${o.module}/${o.name}`), [
    "temperature/temp_c",
    "temperature/temp_c",
    "temperature/temp_c",
    "fft/rms",
    "fft/bands",
  ]);
  assert.deepEqual(batcher.stats(), {
    pendingOutputs: 0,
    batches: 1,
    outputs: 5,
    droppedOutputs: 0,
    lastError: null,
  });
  // An interval without outputs queues nothing.
  clock.advance(60_000);
  assert.equal(outbox.stats().depth, 1);
});

Deno.test("the raw payload is the documented JSON, so a receiver without Kiln can read it", async () => {
  const { store, outbox } = await tempOutbox();
  using _ = store;
  using batcher = createBatcher(outbox, { topic: "b", codec: "gzip", clock: new FakeClock() });
  batcher.add({ module: "m", name: "x", value: 1.5, atMs: 1000 });
  batcher.add({ module: "m", name: "x", value: 2, atMs: 1250 });
  batcher.add({ module: "m", name: "s", value: new Float32Array([0.1, 1e-7]), atMs: 1100 });
  const m = batcher.flush()!;
  assert.deepEqual(Array.from(m.payload.subarray(0, 2)), [0x1f, 0x8b], "a gzip member");
  const { gunzipSync } = await import("node:zlib");
  const doc = JSON.parse(new TextDecoder().decode(gunzipSync(m.payload)));
  assert.deepEqual(doc, {
    format: BATCH_FORMAT,
    stream: "b",
    seq: 1,
    start_ms: 1000,
    end_ms: 1250,
    count: 3,
    series: [
      { module: "m", name: "x", t: [0, 250], v: [1.5, 2] },
      // Float32 values with the fewest digits that read back to the same float32.
      { module: "m", name: "s", t: [100], v: [[0.1, 1e-7]] },
    ],
  });
  const back = decodeBatch(m.payload).outputs.find((o) => o.name === "s")!.value as number[];
  assert.deepEqual(new Float32Array(back), new Float32Array([0.1, 1e-7]));
});

Deno.test("a batch is queued early at maxOutputs, timers keep a fixed rate, and close queues the rest", async () => {
  const { store, outbox } = await tempOutbox();
  using _ = store;
  const clock = new FakeClock();
  const batcher = createBatcher(outbox, { topic: "b", intervalMs: 1000, maxOutputs: 3, clock });
  for (let i = 0; i < 7; i++) batcher.add({ module: "m", name: "x", value: i, atMs: i });
  assert.equal(outbox.stats().depth, 2);
  assert.equal(batcher.stats().pendingOutputs, 1);
  clock.advance(1000);
  assert.equal(outbox.stats().depth, 3);
  batcher.add({ module: "m", name: "x", value: 7, atMs: 7 });
  clock.advance(999);
  assert.equal(outbox.stats().depth, 3);
  clock.advance(1);
  assert.equal(outbox.stats().depth, 4, "the next batch at 2000 ms");
  batcher.add({ module: "m", name: "x", value: 8, atMs: 8 });
  batcher.close();
  assert.equal(clock.timers, 0);
  const batches = outbox.peek(10).map((m) => decodeBatch(m.payload));
  assert.deepEqual(batches.map((b) => b.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(batches.flatMap((b) => b.outputs.map((o) => o.value)), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(batcher.flush(), null);
});

Deno.test("a batch the outbox refuses counts its outputs as dropped and names the error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-batcher-" });
  openStore(`${dir}/kiln.db`).close();
  using readOnly = openStore(`${dir}/kiln.db`, { readOnly: true });
  const clock = new FakeClock();
  using batcher = createBatcher(createOutbox(readOnly, { diskBudgetBytes: 10_000 }), {
    topic: "b",
    intervalMs: 1000,
    clock,
  });
  batcher.add({ module: "m", name: "x", value: 1, atMs: 1 });
  assert.throws(() => batcher.flush(), (err: unknown) => err instanceof OutboxWriteError);
  batcher.add({ module: "m", name: "x", value: 2, atMs: 2 });
  clock.advance(1000); // the timer's flush fails too, without throwing
  const s = batcher.stats();
  assert.deepEqual([s.pendingOutputs, s.batches, s.droppedOutputs], [0, 0, 2]);
  assert.match(s.lastError ?? "", /Cannot enqueue/);
});

Deno.test("bad outputs, options and payloads are refused", async (t) => {
  const { store, outbox } = await tempOutbox();
  using _ = store;
  await t.step("outputs", () => {
    using batcher = createBatcher(outbox, { topic: "b", clock: new FakeClock() });
    assert.throws(() => batcher.add({ module: "m", name: "x", value: 1, atMs: NaN }), TypeError);
    assert.throws(
      () => batcher.add({ module: "m", name: "x", value: "1" as unknown as number, atMs: 1 }),
      TypeError,
    );
    assert.throws(
      () => batcher.add({ module: 1 as unknown as string, name: "x", value: 1, atMs: 1 }),
      TypeError,
    );
  });
  await t.step("options", () => {
    const clock = new FakeClock();
    assert.throws(() => createBatcher(outbox, { topic: "", clock }), TypeError);
    assert.throws(() => createBatcher(outbox, { topic: "b", intervalMs: 0, clock }), RangeError);
    assert.throws(() => createBatcher(outbox, { topic: "b", maxOutputs: 0, clock }), RangeError);
    assert.throws(() => createBatcher(outbox, { topic: "b", codec: "lz4" as "zstd", clock }), TypeError);
  });
  await t.step("payloads", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    assert.throws(() => decodeBatch(enc("plain")), SyntaxError);
    assert.throws(() => decodeBatch(new Uint8Array(zstdCompressSync(enc("{]")))), SyntaxError);
    assert.throws(() => decodeBatch(new Uint8Array(gzipSync(enc('{"format":"other"}')))), SyntaxError);
    assert.throws(
      () =>
        decodeBatch(
          new Uint8Array(
            gzipSync(
              enc(`{"format":"${BATCH_FORMAT}","stream":"b","seq":1,"start_ms":0,"end_ms":0,"series":[1]}`),
            ),
          ),
        ),
      SyntaxError,
    );
  });
});
