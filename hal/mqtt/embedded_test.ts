import assert from "node:assert/strict";
import { createMqttConnector } from "./connector.ts";
import { startEmbeddedBroker } from "./embedded.ts";
import { EmbeddedBrokerError } from "./errors.ts";

async function until(what: () => string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const FAST = { reconnect: { initialMs: 20, maxMs: 100 } } as const;

Deno.test("the embedded broker carries messages between connectors at QoS 0, 1 and 2", async () => {
  await using broker = await startEmbeddedBroker({ port: 0 });
  assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  await using publisher = createMqttConnector("publisher", { url: broker.url, ...FAST });
  await using consumer = createMqttConnector("consumer", { url: broker.url, ...FAST });
  await until(() => "both to connect", () => publisher.connected && consumer.connected);
  assert.equal(broker.clients, 2);

  const got: [string, number[], number][] = [];
  await consumer.subscribe("factory/+/telemetry", (topic, payload, info) => {
    got.push([topic, [...payload], info.qos]);
  }, { qos: 2 });
  for (const qos of [0, 1, 2] as const) {
    await publisher.publish("factory/gw-01/telemetry", new Uint8Array([qos, 0, 255]), { qos });
  }
  await until(() => `3 messages, got ${got.length}`, () => got.length === 3);
  assert.deepEqual(got, [
    ["factory/gw-01/telemetry", [0, 0, 255], 0],
    ["factory/gw-01/telemetry", [1, 0, 255], 1],
    ["factory/gw-01/telemetry", [2, 0, 255], 2],
  ]);
});

Deno.test("closing the embedded broker disconnects its clients, which then keep retrying", async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  await using mqtt = createMqttConnector("demo", { url: broker.url, ...FAST });
  await until(() => "a connection", () => mqtt.connected);
  await Promise.all([broker.close(), broker.close()]);
  await until(
    () => `reconnecting (${JSON.stringify(mqtt.status())})`,
    () => mqtt.status().state === "reconnecting",
  );
  assert.equal(mqtt.connected, false);
});

Deno.test("the embedded broker refuses a port that is taken or out of range", async () => {
  await using first = await startEmbeddedBroker({ port: 0 });
  await assert.rejects(
    startEmbeddedBroker({ port: first.port }),
    (err) =>
      err instanceof EmbeddedBrokerError && err.code === "mqtt_embedded_listen_failed" &&
      err.port === first.port,
  );
  await assert.rejects(startEmbeddedBroker({ port: 70_000 }), RangeError);
});
