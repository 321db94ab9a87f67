import assert from "node:assert/strict";
import { createMqttConnector } from "./connector.ts";
import { MqttNotConnectedError, MqttTopicError } from "./errors.ts";

/** A loopback port nobody listens on: every connection attempt is refused at once. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("options are checked when the connector is created", async (t) => {
  const cases: [string, Parameters<typeof createMqttConnector>[1], new (...a: never[]) => Error][] = [
    ["a URL that is not one", { url: "not a url" }, TypeError],
    ["a scheme other than mqtt: or mqtts:", { url: "http://127.0.0.1:1883" }, RangeError],
    [
      "TLS settings on a plain mqtt:// URL",
      { url: "mqtt://127.0.0.1", tls: { caFile: "ca.crt" } },
      RangeError,
    ],
    ["credentials in the URL (they go in username and password)", {
      url: "mqtt://gw:secret@127.0.0.1:1883",
    }, RangeError],
    ["a keepalive of 0", { url: "mqtt://127.0.0.1", keepaliveS: 0 }, RangeError],
    ["a keepalive past 16 bits", { url: "mqtt://127.0.0.1", keepaliveS: 65_536 }, RangeError],
    ["a fractional timeout", { url: "mqtt://127.0.0.1", connectTimeoutMs: 1.5 }, RangeError],
    [
      "maxMs below initialMs",
      { url: "mqtt://127.0.0.1", reconnect: { initialMs: 500, maxMs: 100 } },
      RangeError,
    ],
    ["an empty client id", { url: "mqtt://127.0.0.1", clientId: "" }, TypeError],
    [
      "a will with a wildcard topic",
      { url: "mqtt://127.0.0.1", will: { topic: "a/#", payload: "x" } },
      MqttTopicError,
    ],
    ["a will with QoS 3", {
      url: "mqtt://127.0.0.1",
      will: { topic: "a", payload: "x", qos: 3 as 0 },
    }, RangeError],
  ];
  for (const [what, options, type] of cases) {
    await t.step(what, () => assert.throws(() => createMqttConnector("c", options), type));
  }
});

Deno.test("a broker that cannot be reached is state reconnecting, and publish rejects at once", async () => {
  await using mqtt = createMqttConnector("offline", {
    url: `mqtt://127.0.0.1:${closedPort()}`,
    reconnect: { initialMs: 10, maxMs: 50 },
  });
  const changes: boolean[] = [];
  mqtt.onConnectionChange((up) => changes.push(up));
  assert.equal(mqtt.status().state, "connecting");
  assert.equal(mqtt.connected, false);

  await until("failed attempts", () => mqtt.status().errors >= 3);
  const status = mqtt.status();
  assert.equal(status.state, "reconnecting");
  assert.equal(status.kind, "mqtt");
  assert.equal(status.reconnects, 0);
  assert.match(status.lastError ?? "", /ECONNREFUSED/);

  await assert.rejects(
    mqtt.publish("factory/gw-01/telemetry", new Uint8Array([1])),
    (err) =>
      err instanceof MqttNotConnectedError && err.state === "reconnecting" && err.connector === "offline",
  );
  await assert.rejects(mqtt.publish("factory/+/telemetry", new Uint8Array([1])), MqttTopicError);
  await assert.rejects(mqtt.publish("a", new Uint8Array([1]), { qos: 3 as 0 }), RangeError);
  await assert.rejects(mqtt.publish("a", "text" as unknown as Uint8Array), TypeError);
  // Offline, a subscription is only recorded; a bad filter is still refused.
  const unsubscribe = await mqtt.subscribe("factory/+/cmd/#", () => {});
  await unsubscribe();
  await unsubscribe();
  await assert.rejects(mqtt.subscribe("factory/#/cmd", () => {}), MqttTopicError);
  assert.deepEqual(changes, []);
});

Deno.test("a closed connector is state closed, refuses work, and closes once", async () => {
  const mqtt = createMqttConnector("closing", {
    url: `mqtt://127.0.0.1:${closedPort()}`,
    reconnect: { initialMs: 10, maxMs: 50 },
  });
  await until("a failed attempt", () => mqtt.status().errors >= 1);
  await Promise.all([mqtt.close(), mqtt.close()]);
  await mqtt[Symbol.asyncDispose]();
  const errors = mqtt.status().errors;
  assert.equal(mqtt.status().state, "closed");
  await assert.rejects(
    mqtt.publish("a", new Uint8Array()),
    (err) => err instanceof MqttNotConnectedError && err.state === "closed",
  );
  await assert.rejects(mqtt.subscribe("a", () => {}), MqttNotConnectedError);
  // No attempt runs after close (the sanitizers would also catch a leaked timer).
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(mqtt.status().errors, errors);
});

Deno.test("closing right after creating, before any attempt finished, leaks nothing", async () => {
  const mqtt = createMqttConnector("instant", { url: `mqtt://127.0.0.1:${closedPort()}` });
  await mqtt.close();
  assert.equal(mqtt.status().state, "closed");
  const tls = createMqttConnector("instant-tls", {
    url: `mqtts://127.0.0.1:${closedPort()}`,
    tls: { caFile: "/nonexistent/ca.crt" },
  });
  await tls.close();
  assert.equal(tls.status().state, "closed");
});
