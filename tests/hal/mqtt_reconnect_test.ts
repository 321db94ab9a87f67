/**
 * The MQTT connector when the link fails, against a real Mosquitto (started by each test on a free port) and
 * hostile peers: a TCP proxy that cuts or stalls the link, a server that answers with garbage, one that never
 * answers. The last will, reconnects with backoff, and what happens to publishes in flight.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createMqttConnector,
  MqttConnectionLostError,
  MqttNotConnectedError,
  MqttProtocolError,
  MqttTimeoutError,
} from "../../hal/mqtt/mod.ts";
import { createMosquitto, pub, startMosquitto, startProxy, startSub, tempDir, until } from "./_mosquitto.ts";
import { connected, dec, enc, FAST } from "./_mqtt_helpers.ts";

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
