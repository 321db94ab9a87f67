/**
 * The MQTT connector's publish and subscribe against a real Mosquitto (started by each test on a free port):
 * telemetry at each QoS with its bytes exact, retained messages, commands to matching subscriptions, handler
 * errors, unsubscribing, and the embedded broker.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  createMqttConnector,
  expandTopic,
  type MqttHandlerError,
  startEmbeddedBroker,
} from "../../hal/mqtt/mod.ts";
import { pub, startMosquitto, startSub, tempDir, until } from "./_mosquitto.ts";
import { connected, dec, enc, FAST } from "./_mqtt_helpers.ts";

/** Every byte value, then a payload over 16 KiB, so length encoding and binary bytes are both exercised. */
function payloads(): Uint8Array[] {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const big = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251);
  return [all, big, enc('{"rms":0.42}\n')];
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
