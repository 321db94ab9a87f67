import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  createStreamRoute,
  type StreamAuthenticate,
  StreamHub,
  type StreamModuleStatus,
  StreamPoller,
  type StreamSocket,
  type StreamSource,
} from "../../api/stream/mod.ts";
import type { AlertEvent, Health, LogEvent, Runtime } from "../../runtime/mod.ts";
import { createRuntime } from "../../runtime/runtime.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

interface Frame {
  seq: number;
  topic: string;
  at: string;
  // deno-lint-ignore no-explicit-any
  data: any;
}

/** A real server on a free port with the stream route mounted where the API mounts it. */
function serve(hub: StreamHub, authenticate?: StreamAuthenticate) {
  const app = new Hono();
  app.route("/api/v1/stream", createStreamRoute({ hub, authenticate }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return {
    app,
    port: server.addr.port,
    url: `ws://127.0.0.1:${server.addr.port}/api/v1/stream`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A WebSocket client that records every frame and can wait for one. */
class Client implements AsyncDisposable {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly closed: Promise<CloseEvent>;
  #listeners = new Set<() => void>();

  constructor(url: string, headers?: Record<string, string>) {
    this.ws = headers ? new WebSocket(url, { headers }) : new WebSocket(url);
    this.closed = new Promise((resolve) => this.ws.addEventListener("close", resolve));
    this.ws.addEventListener("message", (e) => {
      this.frames.push(JSON.parse(e.data));
      for (const l of this.#listeners) l();
    });
    this.ws.addEventListener("close", () => {
      for (const l of this.#listeners) l();
    });
  }

  static async open(url: string, headers?: Record<string, string>): Promise<Client> {
    const c = new Client(url, headers);
    await new Promise((resolve, reject) => {
      c.ws.addEventListener("open", resolve);
      c.ws.addEventListener("error", reject);
    });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  of(topic: string): Frame[] {
    return this.frames.filter((f) => f.topic === topic);
  }

  /** Resolves when `check` holds over the frames received, checked after each one. */
  until<T>(what: string, check: (frames: Frame[]) => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#listeners.delete(test);
        clearTimeout(timer);
      };
      const test = () => {
        const v = check(this.frames);
        if (v) {
          done();
          resolve(v as NonNullable<T>);
        } else if (this.ws.readyState === WebSocket.CLOSED) {
          done();
          reject(new Error(`The socket closed while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out waiting for ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      this.#listeners.add(test);
      test();
    });
  }

  /** Subscribes and waits for the acknowledgement. */
  async subscribe(...topics: string[]): Promise<void> {
    const acks = this.of("subscriptions").length;
    this.send({ type: "subscribe", topics });
    await this.until(`subscription to ${topics}`, () => this.of("subscriptions").length > acks);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

function assertSeqFromOne(frames: Frame[]): void {
  assert.deepEqual(
    frames.map((f) => f.seq),
    frames.map((_, i) => i + 1),
    "seq counts frames from 1, gapless",
  );
}

/** The hub's counters for connection `id`. */
function statsOf(hub: StreamHub, id: number) {
  const s = hub.stats().connections.find((c) => c.id === id);
  assert.ok(s, `connection ${id} is in the stats`);
  return s;
}

Deno.test("a subscriber gets frames of the topics it subscribed to, with seq rising by one", async (t) => {
  await using hub = new StreamHub();
  await using srv = serve(hub);
  await using outputs = await Client.open(srv.url);
  await using alerts = await Client.open(srv.url);

  await t.step("hello first, then an acknowledgement of each subscription", async () => {
    await outputs.subscribe("outputs/*");
    await alerts.subscribe("alerts");
    const hello = outputs.frames[0]!;
    assert.equal(hello.topic, "hello");
    assert.equal(hello.data.role, null);
    assert.equal(hello.data.limits.max_subscriptions, 32);
    assert.deepEqual(outputs.of("subscriptions")[0]!.data, { topics: ["outputs/*"] });
  });

  await t.step("each client receives only its topics, in order", async () => {
    hub.publish("outputs/x", { v: 1 });
    hub.publish("alerts", { message: "hot" });
    hub.publish("outputs/y", { v: 2 });
    hub.publish("logs/x", { message: "ignored" });
    hub.publish("outputs/x/deeper", { v: 3 }); // `*` is one segment
    hub.publish("alerts", { message: "end" });
    hub.publish("outputs/x", { v: 4 });
    await alerts.until("the last alert", () => alerts.of("alerts").length === 2);
    await outputs.until("the last output", () => outputs.of("outputs/x").length === 2);
    assert.deepEqual(outputs.frames.slice(2).map((f) => [f.topic, f.data.v]), [
      ["outputs/x", 1],
      ["outputs/y", 2],
      ["outputs/x", 4],
    ]);
    assert.deepEqual(alerts.frames.slice(2).map((f) => f.topic), ["alerts", "alerts"]);
    for (const c of [outputs, alerts]) {
      assertSeqFromOne(c.frames);
      for (const f of c.frames) assert.equal(new Date(f.at).toISOString(), f.at);
    }
  });

  await t.step("a retained topic is sent at once to a new subscriber; events are not", async () => {
    hub.publish("status", { modules: [{ name: "x", state: "running" }] }, { retain: true });
    hub.publish("alerts", { message: "before" });
    await using late = await Client.open(srv.url);
    await late.subscribe("#");
    const status = await late.until("the retained status", () => late.of("status")[0]);
    assert.equal(status.data.modules[0].state, "running");
    assert.equal(late.of("alerts").length, 0);
  });

  await t.step("unsubscribe stops delivery", async () => {
    outputs.send({ type: "unsubscribe", topics: ["outputs/*"] });
    await outputs.until("the ack", () => outputs.of("subscriptions").at(-1)!.data.topics.length === 0);
    await outputs.subscribe("alerts");
    hub.publish("outputs/x", { v: 5 });
    hub.publish("alerts", { message: "sync" });
    await outputs.until("the alert", () => outputs.of("alerts").length === 1);
    assert.equal(outputs.of("outputs/x").length, 2);
  });
  assert.deepEqual(hub.stats().connections.map((c) => c.dropped), [0, 0]);
});

Deno.test("bad messages are answered with error frames and the connection keeps working", async () => {
  await using hub = new StreamHub({ maxSubscriptions: 3, maxMessageBytes: 256 });
  await using srv = serve(hub);
  await using c = await Client.open(srv.url);
  const cases: [unknown, string][] = [
    ["not json {", "bad_json"],
    ["[1,2]", "bad_message"],
    [{ kind: "subscribe" }, "bad_message"],
    [{ type: "shout" }, "unknown_type"],
    [{ type: "subscribe", topics: "alerts" }, "bad_message"],
    [{ type: "subscribe", topics: [] }, "bad_message"],
    [{ type: "subscribe", topics: ["alerts", 7] }, "bad_message"],
    [{ type: "subscribe", topics: ["weather/today"] }, "bad_topic"],
    [{ type: "subscribe", topics: ["outputs/FFT"] }, "bad_topic"],
    [{ type: "subscribe", topics: ["#/outputs"] }, "bad_topic"],
    [
      { type: "subscribe", topics: ["outputs/a", "outputs/b", "outputs/c", "outputs/d"] },
      "too_many_subscriptions",
    ],
    [{ type: "subscribe", topics: ["outputs/" + "a".repeat(300)] }, "message_too_large"],
    [{ type: "auth", token: "t" }, "already_authenticated"],
  ];
  for (const [i, [msg, code]] of cases.entries()) {
    c.send(msg);
    const err = await c.until(`error ${i + 1}`, () => c.of("error")[i]);
    assert.equal(err.data.code, code, `${JSON.stringify(msg)} gives ${code}`);
    assert.equal(typeof err.data.message, "string");
    assert.doesNotMatch(err.data.message, /\n\s+at /, "no stack trace");
  }
  c.ws.send(new Uint8Array([1, 2, 3]));
  assert.equal((await c.until("binary refused", () => c.of("error")[cases.length])).data.code, "bad_message");

  // A refused subscribe changed nothing; a good one still works.
  assert.deepEqual(statsOf(hub, 1).topics, []);
  await c.subscribe("alerts");
  hub.publish("alerts", { message: "still here" });
  assert.equal((await c.until("the alert", () => c.of("alerts")[0])).data.message, "still here");
  assertSeqFromOne(c.frames);
});

Deno.test("with an authenticate hook a connection needs a good token, from a header or its first message", async (t) => {
  const tokens: Record<string, { role: string; name: string }> = {
    "tok-viewer": { role: "viewer", name: "dash" },
    "tok-admin": { role: "admin", name: "root" },
  };
  const authenticate: StreamAuthenticate = async (token) => {
    await Promise.resolve();
    if (token === "explode") throw new Error("token store is gone");
    return tokens[token] ?? null;
  };
  await using hub = new StreamHub({ authTimeoutMs: 200 });
  await using srv = serve(hub, authenticate);

  await t.step(
    "a first auth message with a good token opens it; a subscribe right behind it is served",
    async () => {
      await using c = await Client.open(srv.url);
      c.send({ type: "auth", token: "tok-viewer" });
      c.send({ type: "subscribe", topics: ["alerts"] }); // without waiting for hello
      await c.until("the ack", () => c.of("subscriptions")[0]);
      assert.equal(c.frames[0]!.topic, "hello");
      assert.equal(c.frames[0]!.data.role, "viewer");
      hub.publish("alerts", { message: "a" });
      await c.until("the alert", () => c.of("alerts")[0]);
    },
  );

  await t.step("a good Authorization header opens it", async () => {
    await using c = await Client.open(srv.url, { authorization: "Bearer tok-admin" });
    const hello = await c.until("hello", () => c.of("hello")[0]);
    assert.equal(hello.data.role, "admin");
    assert.equal(hub.stats().connections.find((s) => s.role === "admin")?.state, "open");
  });

  await t.step("a client that piles messages up behind a slow token check is cut off", async () => {
    const release = Promise.withResolvers<null>();
    await using slowHub = new StreamHub();
    await using slowSrv = serve(slowHub, () => release.promise);
    await using c = await Client.open(slowSrv.url);
    c.send({ type: "auth", token: "slow" });
    // 64 may wait; the 65th message closes it. (More would arrive after the close, which Deno's client
    // then reports as an unclean close with code 0 instead of the server's 1008.)
    for (let i = 0; i < 64; i++) c.send({ type: "subscribe", topics: ["alerts"] });
    const closed = await c.closed;
    release.resolve(null);
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /Too many messages/);
  });

  const refusals: [string, Record<string, string> | undefined, unknown, number][] = [
    ["a bad token in the first message", undefined, { type: "auth", token: "nope" }, 1008],
    ["a first message that is not auth", undefined, { type: "subscribe", topics: ["alerts"] }, 1008],
    ["a first message that is not JSON", undefined, "hello?", 1008],
    ["a bad header token", { authorization: "Bearer nope" }, undefined, 1008],
    ["a header that is not Bearer", { authorization: "Basic dXNlcjpwYXNz" }, undefined, 1008],
    ["no auth message in time", undefined, undefined, 1008],
    ["an authenticate hook that throws", undefined, { type: "auth", token: "explode" }, 1011],
  ];
  for (const [what, headers, first, code] of refusals) {
    await t.step(`${what} is refused with ${code}`, async () => {
      const errors: unknown[] = [];
      const consoleError = console.error;
      console.error = (...args: unknown[]) => errors.push(args);
      try {
        await using c = await Client.open(srv.url, headers);
        if (first !== undefined) c.send(first);
        const closed = await c.closed;
        assert.equal(closed.code, code);
        assert.ok(closed.reason.length > 0, "the close says why");
        assert.equal(c.of("hello").length, 0, "nothing was served");
      } finally {
        console.error = consoleError;
      }
      assert.equal(errors.length, code === 1011 ? 1 : 0, "only the hook's failure is logged");
    });
  }
});

Deno.test("the route answers a plain GET with 426 and refuses connections past its limit with 503", async () => {
  await using hub = new StreamHub({ maxConnections: 1 });
  await using srv = serve(hub);
  const plain = await srv.app.request("/api/v1/stream");
  assert.equal(plain.status, 426);
  assert.equal((await plain.json()).error.code, "upgrade_required");
  await using first = await Client.open(srv.url);
  await first.until("hello", () => first.of("hello")[0]);
  const res = await fetch(`http://127.0.0.1:${srv.port}/api/v1/stream`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
    },
  });
  assert.equal(res.status, 503);
  assert.equal((await res.json()).error.code, "too_many_connections");
});

Deno.test("module text in a frame has its control, bidi and separator characters escaped on the wire", async () => {
  await using hub = new StreamHub();
  await using srv = serve(hub);
  await using c = await Client.open(srv.url);
  const raw: string[] = [];
  c.ws.addEventListener("message", (e) => raw.push(e.data));
  await c.subscribe("logs/*");
  const message = "ok\n\x1b[31mFAKE\x9b2J\u202eevil\u2028next\x7f";
  hub.publish("logs/probe", { module: "probe", level: "info", message });
  const frame = await c.until("the log line", () => c.of("logs/probe")[0]);
  assert.equal(frame.data.message, message, "the text parses back exactly");
  const text = raw.find((r) => r.includes('"logs/probe"'))!;
  // deno-lint-ignore no-control-regex -- control characters are what this looks for
  assert.doesNotMatch(text, /[\x00-\x1f\x7f-\x9f\u202e\u2028]/);
  for (const escape of ["\\n", "\\u001b", "\\u009b", "\\u202e", "\\u2028", "\\u007f"]) {
    assert.ok(text.includes(escape), `${escape} in ${text}`);
  }
});

/** A raw upgrade request, answered 101 or refused (503); its socket is not kept. */
async function upgradeStatus(port: number, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/stream`, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...headers,
    },
  });
  await res.body?.cancel();
  return res.status;
}

Deno.test("sockets that never send a token hold no authenticated slot: an authenticated client still gets in", async () => {
  const authenticate: StreamAuthenticate = (token) => token === "tok" ? { role: "viewer" } : null;
  // A deadline far beyond the test: the idle sockets are still waiting when the good clients arrive.
  await using hub = new StreamHub({ maxConnections: 2, maxPendingConnections: 3, authTimeoutMs: 600_000 });
  await using srv = serve(hub, authenticate);
  const idle: Client[] = [];
  try {
    // Every authenticated slot and every pending one, and two more: none is refused.
    for (let i = 0; i < 2 + 3 + 2; i++) idle.push(await Client.open(srv.url));
    const evicted = await Promise.all(idle.slice(0, 4).map((c) => c.closed));
    for (const e of evicted) {
      assert.equal(e.code, 1013, "the oldest waiting connections make room");
      assert.match(e.reason, /waiting to authenticate/);
    }
    await waitFor("three connections waiting", () => hub.pending === 3);
    assert.equal(hub.stats().pending_evicted, 4);
    assert.equal(hub.open, 0);

    await using byHeader = await Client.open(srv.url, { authorization: "Bearer tok" });
    await using byMessage = await Client.open(srv.url);
    byMessage.send({ type: "auth", token: "tok" });
    for (const c of [byHeader, byMessage]) {
      assert.equal((await c.until("hello", () => c.of("hello")[0])).data.role, "viewer");
      await c.subscribe("alerts");
    }
    hub.publish("alerts", { message: "through" });
    for (const c of [byHeader, byMessage]) {
      assert.equal((await c.until("the alert", () => c.of("alerts")[0])).data.message, "through");
    }
    assert.equal(hub.open, 2);
    // The authenticated slots are full now: that, and only that, is refused with 503.
    assert.equal(await upgradeStatus(srv.port, { authorization: "Bearer tok" }), 503);
    assert.ok(hub.pending <= 3, `at most 3 waiting, got ${hub.pending}`);
  } finally {
    for (const c of idle) await c[Symbol.asyncDispose]();
  }
});

Deno.test("a connection that is not authenticated by the deadline is closed with 1008 and frees its slot", async (t) => {
  const hang = Promise.withResolvers<null>();
  await using hub = new StreamHub({ authTimeoutMs: 50 });
  await using srv = serve(hub, (token) => token === "hang" ? hang.promise : null);
  try {
    await t.step("sockets that send nothing", async () => {
      const idle = [await Client.open(srv.url), await Client.open(srv.url), await Client.open(srv.url)];
      for (const c of idle) {
        await using _ = c;
        const closed = await c.closed;
        assert.equal(closed.code, 1008);
        assert.match(closed.reason, /Authentication timed out after 50ms/);
        assert.equal(c.of("hello").length, 0);
      }
      assert.equal(hub.stats().auth_timeouts, 3);
    });
    await t.step("a header token whose check never ends", async () => {
      await using c = await Client.open(srv.url, { authorization: "Bearer hang" });
      const closed = await c.closed;
      assert.equal(closed.code, 1008);
      assert.match(closed.reason, /timed out/);
    });
    await waitFor("every connection gone", () => hub.pending === 0 && hub.size === 0);
  } finally {
    hang.resolve(null);
  }
});

Deno.test("disposing the hub closes its connections with 1001 and later ones at once", async () => {
  const hub = new StreamHub();
  await using srv = serve(hub);
  await using c = await Client.open(srv.url);
  await c.subscribe("alerts");
  await hub[Symbol.asyncDispose]();
  assert.equal((await c.closed).code, 1001);
  assert.equal(hub.size, 0);
  await using late = await Client.open(srv.url);
  assert.equal((await late.closed).code, 1001);
});

Deno.test("a poller whose source fails counts it and keeps polling", async () => {
  const rt = new FakeRuntime();
  let failing = false;
  const source: StreamSource = Object.assign(Object.create(rt), {
    listModules: () => {
      if (failing) throw new Error("runtime is gone");
      return rt.listModules();
    },
  });
  await using hub = new StreamHub();
  await using poller = new StreamPoller(source, hub, { intervalMs: 5 });
  poller.start();
  const errors: unknown[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    failing = true;
    await waitFor("three failed polls", () => poller.stats().errors >= 3);
    assert.equal(poller.stats().last_error, "runtime is gone");
    assert.equal(errors.length, 1, "said once, not every interval");
    failing = false;
    await waitFor("a good poll", () => poller.stats().last_error === null);
  } finally {
    console.error = consoleError;
  }
});

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

/** A socket that records what is sent on it, always writable. */
class RecordingSocket {
  readonly frames: Frame[] = [];
  readonly readyState = WebSocket.OPEN;
  readonly bufferedAmount = 0;
  #listeners = new Map<string, ((e: unknown) => void)[]>();
  send(text: string): void {
    this.frames.push(JSON.parse(text));
  }
  close(): void {}
  addEventListener(type: string, fn: (e: unknown) => void): void {
    this.#listeners.set(type, [...this.#listeners.get(type) ?? [], fn]);
  }
  /** Delivers a client message and lets the hub handle it. */
  async receive(msg: unknown): Promise<void> {
    for (const fn of this.#listeners.get("message") ?? []) fn({ data: JSON.stringify(msg) });
    await new Promise((r) => setTimeout(r, 0));
  }
  /** Frames after the first `n`, as `[topic, data]`. */
  since(n: number): [string, unknown][] {
    return this.frames.slice(n).map((f) => [f.topic, f.data]);
  }
}

/** A runtime that changes only when the test says so. */
class FakeRuntime implements StreamSource {
  modules: StreamModuleStatus[] = [module("fft"), module("temp")];
  arrays: Record<string, Record<string, number[]>> = { fft: { spectrum: [1, 2, 3] } };
  logs: Record<string, LogEvent[]> = { fft: [log("fft", "old line", 1)], temp: [] };
  alerts: (AlertEvent & { seq: number })[] = [{
    seq: 1,
    module: "temp",
    severity: "warning",
    message: "old",
    at: 1,
  }];
  messages: ReturnType<StreamSource["listMessages"]> = [];
  status: Health = {
    status: "ok",
    version: "test",
    device: { id: "gw", location: null },
    uptime_s: 1,
    modules: { starting: 0, running: 2, stopped: 0, crashed: 0, failed: 0 },
  };
  arrayReads = 0;
  listModules() {
    return this.modules.map((m) => ({ ...m, outputs: { ...m.outputs } }));
  }
  getModuleArrays(name: string) {
    this.arrayReads++;
    return this.arrays[name] ?? null;
  }
  getModuleLogs(name: string) {
    return this.logs[name]?.map((l) => ({ ...l })) ?? null; // copies: the poller cannot rely on identity
  }
  listAlerts(after: number) {
    return this.alerts.filter((a) => a.seq > after);
  }
  listMessages(after: number) {
    return this.messages.filter((m) => m.seq > after);
  }
  health() {
    return { ...this.status };
  }
}

function module(name: string): StreamModuleStatus {
  return {
    name,
    state: "running",
    last_error: null,
    restarts: 0,
    outputs: { value: 1 },
    invocations: 10,
    errors: 0,
    traps: 0,
    avg_us: 5,
    max_us: 9,
    memory_bytes: 65536,
    samples_in: 0,
    dropped_samples: 0,
    behind: null,
    deadline_misses: 0,
    budget_overruns: 0,
    denials: 0,
  };
}

function log(module: string, message: string, at: number): LogEvent {
  return { module, level: "info", message, at };
}

Deno.test("the poller publishes what changed in the runtime, and nothing from before it started", async (t) => {
  const rt = new FakeRuntime();
  await using hub = new StreamHub();
  await using poller = new StreamPoller(rt, hub);
  const socket = new RecordingSocket();
  hub.attach(socket as unknown as StreamSocket);
  poller.poll();

  await t.step("a subscriber gets the retained state at once, and no old events", async () => {
    await socket.receive({
      type: "subscribe",
      topics: ["status", "health", "outputs/*", "alerts", "logs/*"],
    });
    assert.deepEqual(socket.frames.map((f) => f.topic), [
      "hello",
      "subscriptions",
      "status",
      "health",
      "outputs/fft",
      "outputs/temp",
    ]);
    assert.deepEqual(socket.frames[2]!.data.modules[0], {
      name: "fft",
      state: "running",
      last_error: null,
      restarts: 0,
    });
    assert.deepEqual(socket.frames[4]!.data, { value: 1 });
    assert.equal(rt.arrayReads, 0, "arrays are not read while nobody subscribes to them");
  });

  await t.step("a poll with nothing changed publishes nothing; uptime alone is no change", () => {
    const n = socket.frames.length;
    rt.status.uptime_s = 2;
    rt.modules[0]!.invocations++; // metrics/fft changes, but nobody subscribed to it
    poller.poll();
    assert.deepEqual(socket.since(n), []);
  });

  await t.step("changes are published once each", () => {
    const n = socket.frames.length;
    rt.modules[0]!.outputs = { value: 2 };
    rt.modules[1]!.state = "crashed";
    rt.modules[1]!.last_error = "unreachable";
    rt.status.status = "degraded";
    rt.alerts.push({
      seq: 2,
      module: "temp",
      severity: "critical",
      message: "trip",
      at: Date.parse("2025-01-02"),
    });
    rt.logs.fft!.push(log("fft", "line 2", 2), log("fft", "line 3", 3));
    rt.logs.fft!.shift(); // the runtime keeps only the latest lines
    poller.poll();
    poller.poll();
    const frames = socket.since(n);
    assert.deepEqual(frames.map(([topic]) => topic), [
      "status",
      "health",
      "outputs/fft",
      "logs/fft",
      "logs/fft",
      "alerts",
    ]);
    assert.deepEqual(frames.map(([, d]) => (d as { message?: string }).message).slice(3), [
      "line 2",
      "line 3",
      "trip",
    ]);
    assert.equal(socket.frames.at(-1)!.at, "2025-01-02T00:00:00.000Z", "an event's frame has its time");
  });

  await t.step("arrays, metrics and messages are published once subscribed to", async () => {
    await socket.receive({ type: "subscribe", topics: ["arrays/fft", "metrics/temp", "messages/*"] });
    const n = socket.frames.length;
    assert.deepEqual(socket.frames.at(-1)!.topic, "metrics/temp", "metrics are retained");
    poller.poll();
    rt.messages.push({ seq: 1, module: "temp", topic: "kiln/t", payload: "{}", encoding: "utf-8", at: 5 });
    rt.arrays.fft = { spectrum: [4, 5, 6] };
    poller.poll();
    assert.deepEqual(socket.since(n), [
      ["arrays/fft", { spectrum: [1, 2, 3] }],
      ["arrays/fft", { spectrum: [4, 5, 6] }],
      ["messages/temp", { ...rt.messages[0], at: "1970-01-01T00:00:00.005Z" }], // the API's time format
    ]);
  });

  await t.step("a module that goes away is forgotten; a new one's logs are all new", async () => {
    rt.modules = [module("fft"), module("fresh")];
    rt.logs.fresh = [log("fresh", "hi", 9)];
    poller.poll();
    const late = new RecordingSocket();
    hub.attach(late as unknown as StreamSocket);
    await late.receive({ type: "subscribe", topics: ["outputs/*"] });
    assert.deepEqual(late.frames.map((f) => f.topic).slice(2), ["outputs/fft", "outputs/fresh"]);
    assert.deepEqual(socket.frames.at(-1)!.data, {
      ...log("fresh", "hi", 9),
      at: "1970-01-01T00:00:00.009Z",
    });
  });
});

Deno.test("a real runtime's module outputs and state reach a WebSocket subscriber", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wasm = await writeFixture(dir, "count.wasm", wat(streamModuleWat()));
    await using rt = await createRuntime({
      plan: deploymentPlan([modulePlan({ name: "count", wasm })]),
      version: "test",
      log: () => {},
    });
    await rt.start();
    const source: StreamSource = rt satisfies Pick<Runtime, keyof StreamSource>;
    await using hub = new StreamHub();
    await using poller = new StreamPoller(source, hub, { intervalMs: 20 });
    poller.start();
    await using srv = serve(hub);
    await using c = await Client.open(srv.url);
    await c.subscribe("outputs/count", "status", "metrics/count");
    const status = await c.until("status", () => c.of("status")[0]);
    assert.deepEqual(status.data.modules.map((m: { name: string; state: string }) => [m.name, m.state]), [[
      "count",
      "running",
    ]]);
    // The first frame may be the module's outputs before its first window: `{}`.
    const counted = () => c.of("outputs/count").filter((f) => f.data.windows !== undefined);
    await c.until("three outputs", () => counted().length >= 3);
    const windows = counted().map((f) => f.data.windows as number);
    assert.ok(windows.every((w, i) => i === 0 || w > windows[i - 1]!), `windows rise: ${windows}`);
    await c.until("metrics", () => c.of("metrics/count").some((f) => f.data.invocations > 0));
    assertSeqFromOne(c.frames);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
