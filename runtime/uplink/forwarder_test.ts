import assert from "node:assert/strict";
import { openStore, type Store } from "../../snapshots/store.ts";
import { createOutbox, type Outbox, type OutboxKind } from "../../snapshots/outbox.ts";
import { FakePublisher } from "../../tests/fakes/fake_publisher.ts";
import type { Publisher } from "../../hal/mod.ts";
import { createMqttConnector, startEmbeddedBroker } from "../../hal/mqtt/mod.ts";
import { type Clock, createForwarder, type ForwarderOptions } from "./forwarder.ts";

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
  /** Moves time on by `ms`, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.atMs <= target).sort((a, b) => a.atMs - b.atMs)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.atMs;
      due.callback();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets every pending promise chain run (publish, confirmation, ack, next send). */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

interface Rig extends AsyncDisposable {
  store: Store;
  outbox: Outbox;
  fake: FakePublisher;
  clock: FakeClock;
  forwarder: ReturnType<typeof createForwarder>;
  put(n: number, kind?: OutboxKind, stream?: string): void;
}

async function rig(options: ForwarderOptions = {}, autoAck = true): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-forwarder-" });
  const store = openStore(`${dir}/kiln.db`);
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000_000 });
  const fake = new FakePublisher({ autoAck });
  const clock = new FakeClock();
  const forwarder = createForwarder(outbox, fake, { rateMsgsPerS: Infinity, clock, ...options });
  let n = 0;
  return {
    store,
    outbox,
    fake,
    clock,
    forwarder,
    put(count, kind = "telemetry", stream = "s") {
      for (let i = 0; i < count; i++) {
        outbox.enqueue({
          stream,
          kind,
          topic: `t/${stream}`,
          payload: new TextEncoder().encode(String(n++)),
        });
      }
    },
    async [Symbol.asyncDispose]() {
      fake.ackAll();
      await forwarder.close();
      store.close();
    },
  };
}

const enc = (text: string) => new TextEncoder().encode(text);
const bodies = (list: { payload: Uint8Array }[]) => list.map((p) => new TextDecoder().decode(p.payload));

Deno.test("the forwarder drains the outbox in order and deletes each message once the transport confirms it", async () => {
  await using r = await rig();
  r.put(100);
  await settle();
  await settle();
  assert.deepEqual(bodies(r.fake.delivered), Array.from({ length: 100 }, (_, i) => String(i)));
  assert.deepEqual(r.fake.delivered[0]!.options, { qos: 1 });
  assert.equal(r.outbox.stats().depth, 0);
  assert.equal(r.outbox.stats().kinds.telemetry.delivered, 100);
  const s = r.forwarder.stats();
  assert.deepEqual([s.state, s.sent, s.acked, s.failed], ["idle", 100, 100, 0]);
  // Messages enqueued later wake it up.
  r.put(1);
  await settle();
  assert.equal(r.fake.delivered.length, 101);
});

Deno.test("a message stays in the outbox until its confirmation, and no more than maxInFlight are unconfirmed", async () => {
  await using r = await rig({ maxInFlight: 4 }, false);
  r.put(10);
  await settle();
  assert.equal(r.fake.pending, 4);
  assert.equal(r.forwarder.stats().inFlight, 4);
  assert.equal(r.outbox.stats().depth, 10);
  r.fake.ackNext(1);
  await settle();
  assert.equal(r.outbox.stats().depth, 9);
  assert.equal(r.fake.pending, 4);
  assert.equal(r.fake.published.length, 5);
  while (r.fake.ackNext(1) > 0) {
    assert.ok(r.fake.pending <= 3);
    await settle();
    assert.ok(r.fake.pending <= 4);
  }
  assert.equal(r.outbox.stats().depth, 0);
  assert.deepEqual(bodies(r.fake.delivered), Array.from({ length: 10 }, (_, i) => String(i)));
});

Deno.test("on a disconnect the forwarder stops and keeps every message, and on reconnect it resends from the oldest unconfirmed", async () => {
  await using r = await rig({ maxInFlight: 3 }, false);
  r.put(5);
  await settle();
  r.fake.ackNext(1); // "0" delivered
  await settle();
  assert.equal(r.fake.pending, 3); // "1", "2", "3"
  r.fake.disconnect();
  await settle();
  assert.equal(r.forwarder.stats().state, "disconnected");
  assert.equal(r.outbox.stats().depth, 4);
  r.put(3); // during the outage
  await r.clock.advance(60_000);
  const attempts = r.fake.published.length;
  assert.equal(attempts, 4, "nothing is sent while the link is down");
  r.fake.reconnect();
  await settle();
  r.fake.autoAck = true;
  r.fake.ackAll();
  await settle();
  await settle();
  assert.equal(r.outbox.stats().depth, 0);
  assert.deepEqual(bodies(r.fake.delivered), ["0", "1", "2", "3", "4", "5", "6", "7"]);
  assert.deepEqual(bodies(r.fake.published.slice(attempts)).slice(0, 3), ["1", "2", "3"]);
});

Deno.test("after a failed publish with the link up the forwarder waits, retries with a doubling delay, and resets it on success", async () => {
  await using r = await rig({ retryDelayMs: 1000, maxRetryDelayMs: 3000, maxInFlight: 1 });
  r.fake.failNextPublishes(3);
  r.put(2);
  await settle();
  const s = r.forwarder.stats();
  assert.deepEqual([s.state, s.failed, r.outbox.stats().depth], ["retry_wait", 1, 2]);
  assert.match(s.lastError ?? "", /Injected failure/);
  await r.clock.advance(999);
  assert.equal(r.fake.published.length, 1);
  await r.clock.advance(1); // retry 1 fails; next wait 2000
  assert.equal(r.fake.published.length, 2);
  await r.clock.advance(1999);
  assert.equal(r.fake.published.length, 2);
  await r.clock.advance(1); // retry 2 fails; next wait 3000 (capped)
  await r.clock.advance(2999);
  assert.equal(r.fake.published.length, 3);
  await r.clock.advance(1); // retry 3 succeeds
  assert.equal(r.outbox.stats().depth, 0);
  assert.deepEqual(bodies(r.fake.delivered), ["0", "1"]);
  // The delay is back to the first one.
  r.fake.failNextPublishes(1);
  r.put(1);
  await settle();
  await r.clock.advance(1000);
  assert.deepEqual(bodies(r.fake.delivered), ["0", "1", "2"]);
});

Deno.test("the rate limit lets a burst out at once, then the steady rate, also after an outage", async () => {
  await using r = await rig({ rateMsgsPerS: 10, burstMsgs: 5, maxInFlight: 100 });
  r.put(100);
  await settle();
  assert.equal(r.fake.delivered.length, 5);
  assert.equal(r.forwarder.stats().state, "rate_limited");
  await r.clock.advance(100);
  assert.equal(r.fake.delivered.length, 6);
  await r.clock.advance(1000);
  assert.equal(r.fake.delivered.length, 16);
  r.fake.disconnect();
  await r.clock.advance(3_600_000); // an hour-long outage fills the bucket only to its size
  r.fake.reconnect();
  await settle();
  assert.equal(r.fake.delivered.length, 21);
  await r.clock.advance(2000);
  assert.equal(r.fake.delivered.length, 41);
  assert.deepEqual(bodies(r.fake.delivered), Array.from({ length: 41 }, (_, i) => String(i)));
});

Deno.test("under random failures and outages every message arrives at least once, and dedup by (stream, seq) gives each stream's sequence without gaps", async () => {
  await using r = await rig({ maxInFlight: 5, retryDelayMs: 10 }, false);
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const streams = ["a", "b", "c"];
  for (let step = 0; step < 400; step++) {
    const x = random();
    if (x < 0.3) {
      const stream = streams[Math.floor(random() * 3)]!;
      // The payload carries its (stream, seq), as a receiver needs it.
      r.outbox.enqueue({ stream, kind: "telemetry", topic: "t", payload: (seq) => enc(`${stream} ${seq}`) });
    } else if (x < 0.65) r.fake.ackNext(1 + Math.floor(random() * 3));
    else if (x < 0.72) r.fake.failPending(1);
    else if (x < 0.76) r.fake.disconnect();
    else if (x < 0.85) r.fake.reconnect();
    else await r.clock.advance(random() * 30);
    await settle();
  }
  r.fake.reconnect();
  r.fake.autoAck = true;
  r.fake.ackAll();
  for (let i = 0; i < 20 && r.outbox.stats().depth > 0; i++) await r.clock.advance(100);
  assert.equal(r.outbox.stats().depth, 0);
  // The receiver: dedup by (stream, seq).
  const received = new Map<string, Set<number>>();
  for (const d of r.fake.delivered) {
    const [stream, seq] = new TextDecoder().decode(d.payload).split(" ") as [string, string];
    received.set(stream, (received.get(stream) ?? new Set()).add(Number(seq)));
  }
  for (const { stream, lastSeq } of r.outbox.listStreams()) {
    const seqs = [...(received.get(stream) ?? [])].sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: lastSeq }, (_, i) => i + 1), stream);
  }
  const s = r.forwarder.stats();
  assert.ok(
    s.failed > 0 && r.fake.delivered.length > r.outbox.stats().kinds.telemetry.enqueued,
    "the run had failures and resends",
  );
});

Deno.test("close waits for the confirmations in flight, and gives up after closeTimeoutMs", async (t) => {
  await t.step("confirmed in time", async () => {
    await using r = await rig({}, false);
    r.put(2);
    await settle();
    const closing = r.forwarder.close();
    r.fake.ackAll();
    await closing;
    assert.equal(r.outbox.stats().depth, 0);
    assert.equal(r.forwarder.stats().state, "closed");
    r.put(1);
    await settle();
    assert.equal(r.fake.published.length, 2, "nothing is sent after close");
  });
  await t.step("never confirmed", async () => {
    await using r = await rig({ closeTimeoutMs: 5000 }, false);
    r.put(1);
    await settle();
    let done = false;
    const closing = r.forwarder.close().then(() => (done = true));
    await r.clock.advance(4999);
    assert.equal(done, false);
    await r.clock.advance(1);
    await closing;
    assert.equal(r.outbox.stats().depth, 1, "an unconfirmed message stays for the next start");
  });
});

Deno.test("confirmations that arrive together are acked in one transaction, and a failed ack means the message is sent again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-forwarder-" });
  using store = openStore(`${dir}/kiln.db`);
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000_000 });
  const calls: number[] = [];
  let failAcks = 0;
  const spy = {
    peek: outbox.peek,
    onEnqueue: outbox.onEnqueue,
    ackMany(ids: readonly number[]) {
      calls.push(ids.length);
      if (failAcks > 0 && failAcks--) throw new Error("disk on fire");
      return outbox.ackMany(ids);
    },
  };
  const fake = new FakePublisher({ autoAck: false });
  const clock = new FakeClock();
  await using forwarder = createForwarder(spy, fake, { rateMsgsPerS: Infinity, maxInFlight: 10, clock });
  for (let i = 0; i < 10; i++) {
    outbox.enqueue({ stream: "s", kind: "telemetry", topic: "t", payload: enc(String(i)) });
  }
  await settle();
  fake.ackAll();
  await settle();
  assert.deepEqual(calls, [10]);
  assert.equal(outbox.stats().depth, 0);

  failAcks = 1;
  outbox.enqueue({ stream: "s", kind: "telemetry", topic: "t", payload: enc("10") });
  await settle();
  fake.ackAll();
  await settle();
  assert.equal(outbox.stats().depth, 1, "the ack failed: the message stays");
  assert.equal(forwarder.stats().lastError, "disk on fire");
  await clock.advance(1000);
  fake.ackAll();
  await settle();
  assert.equal(outbox.stats().depth, 0);
  assert.deepEqual(bodies(fake.delivered).slice(-2), ["10", "10"], "sent again: at least once");
});

Deno.test("out-of-range options are refused", () => {
  const fake = new FakePublisher();
  const outbox = { peek: () => [], ackMany: () => 0, onEnqueue: () => () => {} };
  assert.throws(() => createForwarder(outbox, fake, { rateMsgsPerS: 0 }), RangeError);
  assert.throws(() => createForwarder(outbox, fake, { maxInFlight: 0 }), RangeError);
  assert.throws(() => createForwarder(outbox, fake, { burstMsgs: 1.5 }), RangeError);
  assert.throws(() => createForwarder(outbox, fake, { retryDelayMs: -1 }), RangeError);
});

/** Polls `condition` every 10 ms until it holds. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A publisher that looks disconnected while shut, so a test decides when sending may resume. */
interface Gate extends Publisher {
  /** From now on looks disconnected (without telling listeners: use it while the link is down). */
  shut(): void;
  /** Looks like the link again, and tells listeners its state. */
  open(): void;
}

function gated(inner: Publisher): Gate {
  let isOpen = true;
  const listeners = new Set<(connected: boolean) => void>();
  inner.onConnectionChange((connected) => {
    if (isOpen) { for (const l of listeners) l(connected); }
  });
  return {
    get connected() {
      return isOpen && inner.connected;
    },
    publish: (topic, payload, options) => inner.publish(topic, payload, options),
    onConnectionChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    shut() {
      isOpen = false;
    },
    open() {
      isOpen = true;
      for (const l of listeners) l(inner.connected);
    },
  };
}

Deno.test("through the real MQTT connector and a broker that goes away and comes back, every message arrives and dedup by (stream, seq) leaves no gap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-forwarder-" });
  using store = openStore(`${dir}/kiln.db`);
  const outbox = createOutbox(store, { diskBudgetBytes: 10_000_000 });
  let broker = await startEmbeddedBroker({ port: 0 });
  const port = broker.port;
  try {
    const reconnect = { initialMs: 20, maxMs: 100 };
    const credentials = broker.credentials;
    await using sender = createMqttConnector("sender", { url: broker.url, ...credentials, reconnect });
    await using receiver = createMqttConnector("receiver", { url: broker.url, ...credentials, reconnect });
    const got: string[] = [];
    await waitFor(() => sender.connected && receiver.connected, "both connected");
    await receiver.subscribe("kiln/test/#", (_topic, payload) => got.push(new TextDecoder().decode(payload)));
    const link = gated(sender);
    await using _forwarder = createForwarder(outbox, link, { rateMsgsPerS: Infinity, maxInFlight: 8 });
    const put = (n: number) => {
      for (let i = 0; i < n; i++) {
        const stream = ["a", "b"][i % 2]!;
        outbox.enqueue({
          stream,
          kind: "telemetry",
          topic: `kiln/test/${stream}`,
          payload: (s) => enc(`${stream} ${s}`),
        });
      }
    };
    put(30);
    await waitFor(() => outbox.stats().depth === 0 && got.length >= 30, "the first 30 delivered");

    await broker.close();
    await waitFor(() => !sender.connected, "the sender to notice");
    put(20);
    assert.equal(outbox.stats().depth, 20);
    // Let the receiver resubscribe on the new broker before the sender may send (the broker keeps no
    // sessions, so a message published before that would reach nobody).
    link.shut();
    broker = await startEmbeddedBroker({ port, credentials });
    await waitFor(() => receiver.connected && sender.connected, "both reconnected");
    link.open();
    await waitFor(
      () => outbox.stats().depth === 0 && new Set(got).size >= 50,
      "the 20 sent after the outage",
    );

    const unique = new Set(got);
    for (const stream of ["a", "b"]) {
      const seqs = [...unique].filter((g) => g.startsWith(`${stream} `)).map((g) => Number(g.split(" ")[1]));
      assert.deepEqual(seqs.sort((x, y) => x - y), Array.from({ length: 25 }, (_, i) => i + 1), stream);
    }
  } finally {
    await broker.close();
  }
});
