/**
 * The MQTT connector's connection options against a real Mosquitto (started by each test on a free port): a
 * user name and password, TLS with and without a client certificate, and persistent sessions.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createMqttConnector, MqttConnectRefusedError, MqttNotConnectedError } from "../../hal/mqtt/mod.ts";
import { makeTls, pub, startMosquitto, tempDir, until } from "./_mosquitto.ts";
import { connected, dec, enc, FAST } from "./_mqtt_helpers.ts";

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
