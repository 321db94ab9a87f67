/**
 * The MQTT connector against a real Mosquitto (started by each test on a free port) and against hostile
 * peers: a TCP proxy that cuts or stalls the link, a server that answers with garbage, one that never answers.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createMqttConnector,
  expandTopic,
  MqttConnectionLostError,
  type MqttConnector,
  MqttConnectRefusedError,
  type MqttHandlerError,
  MqttNotConnectedError,
  MqttProtocolError,
  MqttTimeoutError,
  startEmbeddedBroker,
} from "../../hal/mqtt/mod.ts";
import {
  createMosquitto,
  makeTls,
  pub,
  startMosquitto,
  startProxy,
  startSub,
  tempDir,
  until,
} from "./_mosquitto.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Reconnect quickly: these tests wait for reconnects and should not wait long. */
const FAST = { reconnect: { initialMs: 20, maxMs: 200 }, connectTimeoutMs: 3_000 } as const;

/** Every byte value, then a payload over 16 KiB, so length encoding and binary bytes are both exercised. */
function payloads(): Uint8Array[] {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251);
  return [all, big, enc('{"rms":0.42}\n')];
}

async function connected(mqtt: MqttConnector): Promise<void> {
  await until(() => `"${mqtt.name}" to connect (${JSON.stringify(mqtt.status())})`, () => mqtt.connected);
}

Deno.test({
  name: "telemetry published at QoS 0, 1 and 2 reaches mosquitto_sub with its bytes exact",
  // What the connector needs: the broker's address, and the environment (npm:mqtt and its dependencies read
  // variables when loaded and at each connect; see hal/mqtt/mod.ts). Reading and writing are for the test.
  permissions: {
    net: ["127.0.0.1"],
    env: true,
    read: true,
    write: true,
    run: ["mosquitto", "stdbuf"],
    sys: ["uid"],
  },
}, async () => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);
  await using mqtt = createMqttConnector("plant", { url: broker.url, clientId: "kiln-telemetry", ...FAST });
  await connected(mqtt);
  const topic = expandTopic("factory/{device}/{module}/telemetry", { device: "gw-01", module: "fft" });
  await using sub = await startSub(broker, topic, 3);

  const sent = payloads();
  for (const [qos, payload] of sent.entries()) {
    await mqtt.publish(topic, payload, { qos: qos as 0 | 1 | 2 });
  }

  const got = await sub.messages;
  assert.deepEqual(got.map((m) => [m.topic, m.qos]), [[topic, 0], [topic, 1], [topic, 2]]);
  for (const [i, m] of got.entries()) assert.deepEqual(m.payload, sent[i]);

  // A retained message waits at the broker for subscribers that come later.
  await mqtt.publish("factory/gw-01/status", enc("online"), { qos: 1, retain: true });
  await using late = await startSub(broker, "factory/gw-01/status", 1);
  assert.equal(dec((await late.messages)[0]!.payload), "online");
  assert.deepEqual(mqtt.status(), {
    name: "plant",
    kind: "mqtt",
    state: "connected",
    lastError: null,
    errors: 0,
    reconnects: 0,
    failures: 0,
    nextAttemptAtMs: null,
    backoffMs: FAST.reconnect.initialMs,
    maxBackoffMs: FAST.reconnect.maxMs,
  });
});

Deno.test("a command from mosquitto_pub reaches the subscriptions whose filters match it", async (t) => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);
  await using mqtt = createMqttConnector("plant", { url: broker.url, ...FAST });
  await connected(mqtt);
  const commands: [string, string, number][] = [];
  const others: string[] = [];
  await mqtt.subscribe("factory/gw-01/cmd/#", (topic, payload, info) => {
    commands.push([topic, dec(payload), info.qos]);
  }, { qos: 2 });
  await mqtt.subscribe("factory/+/status", (topic) => others.push(topic), { qos: 0 });

  await t.step("a wildcard filter receives the command with its exact bytes and QoS", async () => {
    await pub(broker, "factory/gw-01/cmd/valve/open", enc("open 42%"), { qos: 2 });
    await until("the command", () => commands.length === 1);
    assert.deepEqual(commands, [["factory/gw-01/cmd/valve/open", "open 42%", 2]]);
    assert.deepEqual(others, []);
  });

  await t.step("a retained message reaches a new subscription marked as retained", async () => {
    await pub(broker, "factory/gw-01/setpoint", enc("72.5"), { qos: 1, retain: true });
    const got: [string, boolean][] = [];
    await mqtt.subscribe(
      "factory/gw-01/setpoint",
      (_topic, payload, info) => got.push([dec(payload), info.retain]),
    );
    await until("the retained message", () => got.length === 1);
    assert.deepEqual(got, [["72.5", true]]);
  });

  await t.step("a handler that throws is reported and the others carry on", async () => {
    await mqtt.subscribe("factory/gw-01/cmd/+", () => {
      throw new Error("module rejected the command");
    });
    await mqtt.subscribe("factory/gw-01/cmd/+", () => Promise.reject(new Error("async handler failed")));
    await pub(broker, "factory/gw-01/cmd/reset", enc("now"));
    await until("the command", () => commands.length === 2);
    await until("both handler errors", () => mqtt.status().errors === 2);
    assert.equal(mqtt.status().state, "connected");
    assert.ok(mqtt.connected);
    assert.deepEqual(commands[1], ["factory/gw-01/cmd/reset", "now", 1]);
  });

  await t.step("a handler error goes to onHandlerError when one is given", async () => {
    const reported: MqttHandlerError[] = [];
    await using own = createMqttConnector("own", {
      url: broker.url,
      onHandlerError: (err) => reported.push(err),
      ...FAST,
    });
    await connected(own);
    const cause = new Error("bad command");
    await own.subscribe("factory/gw-01/cmd/+", () => {
      throw cause;
    });
    await pub(broker, "factory/gw-01/cmd/stop", enc("stop"));
    await until("the report", () => reported.length === 1);
    assert.equal(reported[0]!.code, "mqtt_handler_failed");
    assert.equal(reported[0]!.filter, "factory/gw-01/cmd/+");
    assert.equal(reported[0]!.topic, "factory/gw-01/cmd/stop");
    assert.equal(reported[0]!.cause, cause);
    assert.equal(own.status().errors, 0);
  });

  await t.step("after unsubscribing, a handler receives nothing more", async () => {
    const seen: string[] = [];
    const unsubscribe = await mqtt.subscribe("factory/gw-01/alarm", (topic) => seen.push(topic));
    await pub(broker, "factory/gw-01/alarm", enc("1"));
    await until("the alarm", () => seen.length === 1);
    await unsubscribe();
    await pub(broker, "factory/gw-01/alarm", enc("2"));
    // The broker keeps one publisher's messages in order, so once this one arrives the alarm would have.
    await pub(broker, "factory/gw-01/status", enc("online"));
    await until("the status", () => others.length === 1);
    assert.deepEqual(seen, ["factory/gw-01/alarm"]);
  });
});

Deno.test("a user name and password are accepted, and a wrong password is state error with the reason", async () => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path, { passwords: { gateway: "s3cret" } });

  await using good = createMqttConnector("good", {
    url: broker.url,
    username: "gateway",
    password: "s3cret",
    ...FAST,
  });
  await using bad = createMqttConnector("bad", {
    url: broker.url,
    username: "gateway",
    password: "wrong",
    ...FAST,
  });
  await using anonymous = createMqttConnector("anonymous", { url: broker.url, ...FAST });

  await connected(good);
  await good.publish("factory/gw-01/hello", enc("hi"), { qos: 1 });

  for (const refused of [bad, anonymous]) {
    await until(`"${refused.name}" to be refused`, () => refused.status().errors >= 2);
    const status = refused.status();
    assert.equal(status.state, "error");
    // Mosquitto answers a refused login with "not authorized" (CONNACK 5).
    assert.equal(status.lastError, new MqttConnectRefusedError(refused.name, 5).message);
    assert.equal(refused.connected, false);
    await assert.rejects(
      refused.publish("factory/gw-01/hello", enc("hi")),
      (err) =>
        err instanceof MqttNotConnectedError && err.code === "mqtt_not_connected" && err.state === "error",
    );
  }
});

Deno.test("TLS with a client certificate connects, and without one the failure is reported", async (t) => {
  await using dir = await tempDir();
  const tls = await makeTls(dir.path);
  await using broker = await startMosquitto(dir.path, {
    tls: { cafile: tls.caCert, certfile: tls.serverCert, keyfile: tls.serverKey, requireCertificate: true },
  });

  await t.step("a client certificate signed by the broker's CA is accepted", async () => {
    await using mqtt = createMqttConnector("tls", {
      url: broker.url,
      // PEM text for the CA, files for the rest: both ways work.
      tls: { ca: await Deno.readTextFile(tls.caCert), certFile: tls.clientCert, keyFile: tls.clientKey },
      ...FAST,
    });
    await connected(mqtt);
    const got: string[] = [];
    await mqtt.subscribe("factory/gw-01/secure", (_topic, payload) => got.push(dec(payload)));
    await mqtt.publish("factory/gw-01/secure", enc("over tls"), { qos: 1 });
    await until("the message back", () => got.length === 1);
    assert.deepEqual(got, ["over tls"]);
    assert.equal(mqtt.status().errors, 0);
  });

  await t.step("without a client certificate the broker refuses, and the connector says so", async () => {
    await using mqtt = createMqttConnector("tls-nocert", {
      url: broker.url,
      tls: { caFile: tls.caCert },
      ...FAST,
    });
    await until("a reported failure", () => mqtt.status().errors >= 2);
    const status = mqtt.status();
    assert.ok(status.state === "error" || status.state === "reconnecting", status.state);
    assert.notEqual(status.lastError, null);
    assert.equal(mqtt.connected, false);
  });

  await t.step("a broker certificate from an unknown CA is refused: state error", async () => {
    await using other = await tempDir();
    const stranger = await makeTls(other.path);
    await using mqtt = createMqttConnector("tls-stranger", {
      url: broker.url,
      tls: { caFile: stranger.caCert, certFile: tls.clientCert, keyFile: tls.clientKey },
      ...FAST,
    });
    await until("a reported failure", () => mqtt.status().errors >= 2);
    assert.equal(mqtt.status().state, "error");
    assert.equal(mqtt.connected, false);
  });

  await t.step("an unreadable certificate file is state error naming the file", async () => {
    const missing = `${dir.path}/missing.crt`;
    await using mqtt = createMqttConnector("tls-missing", {
      url: broker.url,
      tls: { caFile: missing },
      ...FAST,
    });
    await until("a reported failure", () => mqtt.status().errors >= 1);
    assert.equal(mqtt.status().state, "error");
    assert.ok(mqtt.status().lastError?.includes(missing));
  });
});

Deno.test("the last will is published when the connection breaks without a DISCONNECT", async () => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);
  await using proxy = startProxy(broker.port);
  const will = "factory/gw-01/status";
  await using sub = await startSub(broker, will, 1);
  await using mqtt = createMqttConnector("will", {
    url: `mqtt://127.0.0.1:${proxy.port}`,
    will: { topic: will, payload: "offline", qos: 1, retain: false },
    ...FAST,
  });
  await connected(mqtt);

  proxy.cut();

  const [message] = await sub.messages;
  assert.equal(dec(message!.payload), "offline");
  assert.equal(message!.qos, 1);
  // The connector noticed and reconnected through the proxy by itself.
  await until("a reconnect", () => mqtt.status().reconnects === 1 && mqtt.connected);
  assert.equal(mqtt.status().errors, 1);
});

Deno.test("a broker that is down at start, then restarted mid-stream, is reconnected to by itself", async (t) => {
  await using dir = await tempDir();
  await using broker = await createMosquitto(dir.path);
  await using mqtt = createMqttConnector("plant", { url: broker.url, ...FAST });
  const changes: boolean[] = [];
  mqtt.onConnectionChange((up) => changes.push(up));
  const commands: string[] = [];
  const topic = "factory/gw-01/fft/telemetry";

  await t.step("down at start: reconnecting, counting errors, publish rejects at once", async () => {
    await until("failed attempts", () => mqtt.status().errors >= 2);
    assert.equal(mqtt.status().state, "reconnecting");
    assert.match(mqtt.status().lastError ?? "", /ECONNREFUSED/);
    await assert.rejects(
      mqtt.publish(topic, enc("1")),
      (err) => err instanceof MqttNotConnectedError && err.code === "mqtt_not_connected",
    );
    // Offline, a subscription is kept and sent once connected.
    await mqtt.subscribe("factory/gw-01/cmd/+", (_t, payload) => commands.push(dec(payload)));
  });

  await t.step("the broker comes up: connected, publish and subscription work", async () => {
    await broker.start();
    await connected(mqtt);
    assert.equal(mqtt.status().state, "connected");
    assert.equal(mqtt.status().reconnects, 0);
    await using sub = await startSub(broker, topic, 1);
    await mqtt.publish(topic, enc("before"), { qos: 1 });
    assert.equal(dec((await sub.messages)[0]!.payload), "before");
    await pub(broker, "factory/gw-01/cmd/start", enc("start"));
    await until("the command", () => commands.length === 1);
  });

  await t.step(
    "the broker restarts mid-stream: publishes reject while it is down, then all resumes",
    async () => {
      const errorsBefore = mqtt.status().errors;
      // A stream of publishes while the broker goes away: each either is confirmed or rejects, none hangs.
      let stop = false;
      const outcomes: string[] = [];
      const stream = (async () => {
        for (let i = 0; !stop; i++) {
          try {
            await mqtt.publish(topic, enc(`${i}`), { qos: 1 });
            outcomes.push("ok");
          } catch (err) {
            assert.ok(
              err instanceof MqttNotConnectedError || err instanceof MqttConnectionLostError,
              `${err}`,
            );
            outcomes.push(err.code);
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      })();
      await until("some confirmed publishes", () => outcomes.includes("ok"));
      await broker.stop();
      await until("the connector to notice", () => !mqtt.connected);
      await until("rejected publishes", () => outcomes.includes("mqtt_not_connected"));
      assert.notEqual(mqtt.status().state, "connected");
      assert.ok(mqtt.status().errors > errorsBefore);

      await broker.start();
      await connected(mqtt);
      const okBefore = outcomes.filter((o) => o === "ok").length;
      await until("confirmed publishes again", () => outcomes.filter((o) => o === "ok").length > okBefore);
      stop = true;
      await stream;
      assert.equal(mqtt.status().reconnects, 1);
      assert.deepEqual(changes, [true, false, true]);

      // The subscription was restored without being asked.
      await pub(broker, "factory/gw-01/cmd/resume", enc("resume"));
      await until("the command after the restart", () => commands.length === 2);
      assert.deepEqual(commands, ["start", "resume"]);
    },
  );
});

Deno.test("a broken or hostile link is an error the connector survives and recovers from", async (t) => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);

  await t.step("a QoS 1 publish in flight when the link drops rejects and is not resent", async () => {
    await using proxy = startProxy(broker.port);
    await using mqtt = createMqttConnector("inflight", { url: `mqtt://127.0.0.1:${proxy.port}`, ...FAST });
    await connected(mqtt);
    await using sub = await startSub(broker, "factory/gw-01/lost", 1);
    proxy.pause();
    const inFlight = mqtt.publish("factory/gw-01/lost", enc("x"), { qos: 1 });
    proxy.cut();
    await assert.rejects(
      inFlight,
      (err) => err instanceof MqttConnectionLostError && err.code === "mqtt_connection_lost",
    );
    proxy.resume();
    await until("a reconnect", () => mqtt.status().reconnects === 1 && mqtt.connected);
    // Had the lost message been resent from memory on reconnect, it would arrive before this one.
    await mqtt.publish("factory/gw-01/lost", enc("y"), { qos: 1 });
    assert.deepEqual((await sub.messages).map((m) => dec(m.payload)), ["y"]);
  });

  await t.step("a link that stalls is detected by keepalive, and recovers when it flows again", async () => {
    await using proxy = startProxy(broker.port);
    await using mqtt = createMqttConnector("stall", {
      url: `mqtt://127.0.0.1:${proxy.port}`,
      keepaliveS: 1,
      ...FAST,
      connectTimeoutMs: 500,
    });
    await connected(mqtt);
    proxy.pause();
    await until("the keepalive timeout", () => !mqtt.connected, 5_000);
    assert.equal(mqtt.status().lastError, new MqttTimeoutError("stall", "keepalive", 1500).message);
    proxy.resume();
    await connected(mqtt);
    assert.equal(mqtt.status().state, "connected");
  });

  await t.step(
    "closing while the link is stalled rejects the publish in flight and does not hang",
    async () => {
      await using proxy = startProxy(broker.port);
      const mqtt = createMqttConnector("stalled-close", {
        url: `mqtt://127.0.0.1:${proxy.port}`,
        ...FAST,
        connectTimeoutMs: 300,
      });
      await connected(mqtt);
      proxy.pause();
      const inFlight = assert.rejects(
        mqtt.publish("factory/gw-01/x", enc("x"), { qos: 2 }),
        MqttConnectionLostError,
      );
      // The DISCONNECT cannot get through, and the broker never closes its side: the close is bounded anyway.
      await mqtt.close();
      await inFlight;
      assert.equal(mqtt.status().state, "closed");
      proxy.resume();
    },
  );

  await t.step("a server that answers with an HTTP page is a protocol error, closed at once", async () => {
    // The server keeps the socket open: only the connector's own close ends the attempt before its timeout.
    await using server = fakeServer("http");
    await using mqtt = createMqttConnector("http", { url: `mqtt://127.0.0.1:${server.port}`, ...FAST });
    await until("repeated errors", () => mqtt.status().errors >= 3);
    assert.equal(mqtt.status().state, "reconnecting");
    assert.ok(mqtt.status().lastError?.startsWith(new MqttProtocolError("http", "").message));
  });

  await t.step(
    "a server that answers with random bytes is counted as errors, retried, and never crashes",
    async () => {
      await using server = fakeServer("random");
      // Random bytes may announce a long packet and then stop: the connect timeout ends those attempts.
      await using mqtt = createMqttConnector("garbage", {
        url: `mqtt://127.0.0.1:${server.port}`,
        ...FAST,
        connectTimeoutMs: 300,
      });
      await until("repeated errors", () => mqtt.status().errors >= 6 && server.connections >= 6);
      assert.notEqual(mqtt.status().state, "connected");
      assert.notEqual(mqtt.status().lastError, null);
      assert.equal(mqtt.connected, false);
      await assert.rejects(mqtt.publish("factory/x", enc("x")), MqttNotConnectedError);
    },
  );

  await t.step("a server that accepts and never answers times out", async () => {
    await using server = fakeServer("silent");
    await using mqtt = createMqttConnector("silent", {
      url: `mqtt://127.0.0.1:${server.port}`,
      ...FAST,
      connectTimeoutMs: 100,
    });
    await until("a connect timeout", () => mqtt.status().errors >= 2);
    assert.equal(mqtt.status().state, "reconnecting");
    assert.equal(mqtt.status().lastError, new MqttTimeoutError("silent", "connect", 100).message);
  });
});

/**
 * A TCP server that is not an MQTT broker. `"http"` answers every connection with an HTTP error page and keeps
 * it open; `"random"` answers with random bytes, closing some connections at once and keeping others open;
 * `"silent"` never answers.
 */
function fakeServer(
  kind: "http" | "random" | "silent",
): { port: number; connections: number } & AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();
  let connections = 0;
  const serve = async (conn: Deno.Conn, n: number) => {
    try {
      if (kind === "http") await conn.write(enc("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
      if (kind === "random") {
        await conn.write(crypto.getRandomValues(new Uint8Array(1 + ((n * 37) % 512))));
        if (n % 2 === 0) return;
      }
      // Read until the client gives up.
      const buf = new Uint8Array(4096);
      while ((await conn.read(buf)) !== null) { /* discard */ }
    } catch {
      // The client reset the connection.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed by dispose.
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      open.add(conn);
      const handler = serve(conn, connections++);
      handlers.add(handler);
      handler.finally(() => handlers.delete(handler));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of open) conn.close();
      await Promise.all(handlers);
    },
  };
}

Deno.test("the embedded broker serves Mosquitto's own clients as well as the connector", async () => {
  await using broker = await startEmbeddedBroker({ port: 0 });
  await using mqtt = createMqttConnector("demo", { url: broker.url, ...broker.credentials, ...FAST });
  await connected(mqtt);
  const commands: string[] = [];
  await mqtt.subscribe("kiln/+/cmd", (_topic, payload) => commands.push(dec(payload)));
  await using sub = await startSub(broker, "kiln/summary/temperature", 1);

  await mqtt.publish("kiln/summary/temperature", enc('{"t1":45.2}'), { qos: 1 });
  await pub(broker, "kiln/gw/cmd", enc("reset"), { qos: 1 });

  assert.deepEqual((await sub.messages).map((m) => [m.qos, dec(m.payload)]), [[1, '{"t1":45.2}']]);
  await until("the command", () => commands.length === 1);
  assert.deepEqual(commands, ["reset"]);
});

Deno.test("with a persistent session, a command sent while the connector was away arrives when it is back", async (t) => {
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);

  /** Connects as `clientId`, subscribes to the commands, and returns what arrived up to a marker message. */
  async function session(clientId: string, persistentSession: boolean, away: () => Promise<void>) {
    await using first = createMqttConnector("first", {
      url: broker.url,
      clientId,
      persistentSession,
      ...FAST,
    });
    await first.subscribe("gw/cmd/#", () => {});
    await connected(first);
    await first.close(); // a clean DISCONNECT: the broker keeps a persistent session, not a clean one
    await away();
    const got: string[] = [];
    await using again = createMqttConnector("again", {
      url: broker.url,
      clientId,
      persistentSession,
      ...FAST,
    });
    await again.subscribe("gw/cmd/#", (topic, payload) => got.push(`${topic}=${dec(payload)}`));
    await connected(again);
    // One publisher's messages arrive in order: once the marker is here, a queued command would have been.
    await pub(broker, "gw/cmd/marker", enc("m"), { qos: 1 });
    await until("the marker", () => got.includes("gw/cmd/marker=m"));
    return got;
  }

  await t.step("persistent: the command queued by the broker is delivered, before the marker", async () => {
    const got = await session(
      "kiln-persistent",
      true,
      () => pub(broker, "gw/cmd/reset", enc("now"), { qos: 1 }),
    );
    assert.deepEqual(got, ["gw/cmd/reset=now", "gw/cmd/marker=m"]);
  });

  await t.step("clean: the command sent while away is lost", async () => {
    const got = await session("kiln-clean", false, () => pub(broker, "gw/cmd/reset", enc("now"), { qos: 1 }));
    assert.deepEqual(got, ["gw/cmd/marker=m"]);
  });

  await t.step("a persistent session without a fixed client id is refused", () => {
    assert.throws(
      () => createMqttConnector("nameless", { url: broker.url, persistentSession: true }),
      /persistent session needs a fixed "clientId"/,
    );
  });
});
