import assert from "node:assert/strict";
import { StreamHub } from "../../api/stream/mod.ts";
import { assertSeqFromOne, Client, type Frame, serve, statsOf } from "./_stream_client.ts";

/**
 * A WebSocket client over raw TCP, so that it can stop reading: the server's socket then fills the kernel's
 * buffers and its `bufferedAmount` grows, as with a subscriber on a slow link.
 */
class RawClient implements Disposable {
  #conn: Deno.TcpConn;
  #pending = new Uint8Array(0);
  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number, path: string): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const c = new RawClient(conn);
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      await c.#fill();
      head = new TextDecoder().decode(c.#pending);
    }
    assert.match(head, /^HTTP\/1\.1 101/);
    c.#pending = c.#pending.subarray(head.indexOf("\r\n\r\n") + 4);
    return c;
  }

  async #fill(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(buf);
    if (n === null) throw new Error("The server closed the connection");
    const joined = new Uint8Array(this.#pending.length + n);
    joined.set(this.#pending);
    joined.set(buf.subarray(0, n), this.#pending.length);
    this.#pending = joined;
  }

  /** Sends a text frame, masked as RFC 6455 section 5.3 requires of clients. */
  async send(msg: unknown): Promise<void> {
    const payload = new TextEncoder().encode(JSON.stringify(msg));
    assert.ok(payload.length < 126);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array(6 + payload.length);
    frame.set([0x81, 0x80 | payload.length, ...mask]);
    for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i % 4]!;
    await this.#conn.write(frame);
  }

  /** Reads the next text frame (server frames are unmasked; RFC 6455 section 5.2). */
  async next(): Promise<Frame> {
    for (;;) {
      const p = this.#pending;
      if (p.length >= 2) {
        let len = p[1]! & 0x7f;
        let at = 2;
        if (len === 126 && p.length >= 4) [len, at] = [(p[2]! << 8) | p[3]!, 4];
        else if (len === 127 && p.length >= 10) {
          [len, at] = [Number(new DataView(p.buffer, p.byteOffset).getBigUint64(2)), 10];
        } else if (len >= 126) len = Infinity;
        if (p.length >= at + len) {
          const opcode = p[0]! & 0x0f;
          const payload = p.subarray(at, at + len);
          this.#pending = p.subarray(at + len);
          if (opcode === 0x1) return JSON.parse(new TextDecoder().decode(payload));
          continue; // ping or pong
        }
      }
      await this.#fill();
    }
  }

  [Symbol.dispose](): void {
    this.#conn.close();
  }
}

Deno.test("a subscriber that stops reading has frames dropped and counted for it alone, within its bounds", async () => {
  const limits = { maxQueuedFrames: 16, maxQueuedBytes: 200 * 1024, maxBufferedBytes: 64 * 1024 };
  await using hub = new StreamHub({ ...limits, drainIntervalMs: 5 });
  await using srv = serve(hub);
  await using fast = await Client.open(srv.url);
  await fast.subscribe("outputs/x");
  using slow = await RawClient.connect(srv.port, "/api/v1/stream");
  await slow.send({ type: "subscribe", topics: ["outputs/x"] });
  assert.equal((await slow.next()).topic, "hello");
  assert.equal((await slow.next()).topic, "subscriptions");
  const [fastId, slowId] = [1, 2];
  assert.deepEqual(hub.stats().connections.map((c) => c.id), [fastId, slowId]);

  // 16 KiB frames: the kernel's socket buffers take a few MiB before `bufferedAmount` grows.
  const pad = "x".repeat(16 * 1024);
  let published = 0;
  let firstDrop = -1;
  while (published < 4000 && (firstDrop < 0 || published < firstDrop + 100)) {
    hub.publish("outputs/x", { i: published, pad });
    published++;
    if (firstDrop < 0 && statsOf(hub, slowId).dropped > 0) firstDrop = published;
    // The fast client keeps up: pace the producer on it so that its own queue never fills.
    if (published % 4 === 0) {
      const want = published;
      await fast.until(`frame ${want}`, () => fast.of("outputs/x").length === want);
    }
  }
  await fast.until("every frame", () => fast.of("outputs/x").length === published);

  const s = statsOf(hub, slowId);
  assert.ok(firstDrop > 0, `the slow subscriber had frames dropped (${published} published)`);
  assert.ok(s.peak_queued <= limits.maxQueuedFrames, `peak queue ${s.peak_queued} frames`);
  assert.ok(s.peak_queued_bytes <= limits.maxQueuedBytes, `peak queue ${s.peak_queued_bytes} bytes`);
  const frameBytes = JSON.stringify({
    seq: published,
    topic: "outputs/x",
    at: new Date().toISOString(),
    data: { i: published, pad },
  }).length;
  assert.ok(
    s.peak_buffered_bytes < limits.maxBufferedBytes + frameBytes,
    `peak buffered ${s.peak_buffered_bytes}`,
  );
  assert.ok(s.queued_bytes + frameBytes > limits.maxQueuedBytes, "its queue is full, and no fuller");
  assert.equal(
    s.sent - 2 + s.queued + s.dropped,
    published,
    "every frame was sent, is queued, or was dropped",
  );

  const f = statsOf(hub, fastId);
  assert.equal(f.dropped, 0);
  assert.equal(fast.of("dropped").length, 0);
  assert.deepEqual(
    fast.of("outputs/x").map((fr) => fr.data.i),
    [...Array(published).keys()],
    "missed nothing",
  );
  assertSeqFromOne(fast.frames);

  // The slow subscriber reads again: it gets everything that was not dropped, in order, and is told how many
  // it missed before the first frame after the gap.
  let seq = 2;
  let received = 0;
  let missed = 0;
  let gap = 0;
  let lastI = -1;
  while (received + missed < published) {
    const fr = await slow.next();
    assert.equal(fr.seq, ++seq, "seq is gapless");
    if (fr.topic === "dropped") {
      assert.ok(fr.data.missed > 0);
      missed += fr.data.missed;
      gap += fr.data.missed;
      assert.equal(fr.data.dropped_total, missed);
      continue;
    }
    assert.equal(fr.topic, "outputs/x");
    assert.equal(fr.data.i, lastI + 1 + gap, "the frames missed are the ones just before the notice");
    lastI = fr.data.i;
    gap = 0;
    received++;
  }
  assert.equal(missed, s.dropped, "the missed counts add up to what was dropped");
  assert.equal(lastI, published - 1, "the newest frames were kept");
  assert.equal(statsOf(hub, slowId).queued, 0, "drained");
});
