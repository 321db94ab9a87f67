import assert from "node:assert/strict";
import { type StreamAuthenticate, StreamHub } from "../../api/stream/mod.ts";
import { waitFor } from "../_helpers.ts";
import { assertSeqFromOne, Client, serve, statsOf } from "./_stream_client.ts";

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
