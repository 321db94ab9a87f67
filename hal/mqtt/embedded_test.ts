import assert from "node:assert/strict";
import { createMqttConnector } from "./connector.ts";
import { type EmbeddedBroker, type EmbeddedBrokerCredentials, startEmbeddedBroker } from "./embedded.ts";
import { EmbeddedBrokerError, EmbeddedCredentialsError } from "./errors.ts";

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
  await using publisher = createMqttConnector("publisher", {
    url: broker.url,
    ...broker.credentials,
    ...FAST,
  });
  await using consumer = createMqttConnector("consumer", { url: broker.url, ...broker.credentials, ...FAST });
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
  await using mqtt = createMqttConnector("demo", { url: broker.url, ...broker.credentials, ...FAST });
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

/** A temporary folder, removed afterwards. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "kiln-embedded-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs a Mosquitto client (`mosquitto_pub` or `mosquitto_sub`), killed after 10 s at most. */
async function mosquitto(
  program: "mosquitto_pub" | "mosquitto_sub",
  broker: EmbeddedBroker,
  args: string[],
  as: Partial<EmbeddedBrokerCredentials> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const auth = [...(as.username ? ["-u", as.username] : []), ...(as.password ? ["-P", as.password] : [])];
  const out = await new Deno.Command(program, {
    args: ["-h", "127.0.0.1", "-p", `${broker.port}`, "-i", `t-${crypto.randomUUID()}`, ...auth, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the embedded broker refuses Mosquitto's clients without its generated credentials, and serves them with", async (t) => {
  await using dir = await tempDir();
  const file = `${dir.path}/mqtt-embedded.json`;
  await using broker = await startEmbeddedBroker({ port: 0, credentialsFile: file });
  const creds = broker.credentials!;

  await t.step("the credentials are random, kept in the file, and only its owner may read it", async () => {
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)), creds);
    assert.match(creds.username, /^kiln-[A-Za-z0-9_-]{22}$/);
    assert.match(creds.password, /^[A-Za-z0-9_-]{43}$/, "32 random bytes, base64url");
    assert.equal(broker.credentialsFile, file);
  });

  const refusals: [string, Partial<EmbeddedBrokerCredentials>][] = [
    ["no credentials", {}],
    ["a wrong password", { username: creds.username, password: `${creds.password.slice(0, -1)}x` }],
    ["a wrong user name", { username: "kiln-someone", password: creds.password }],
    ["a user name alone", { username: creds.username }],
  ];
  for (const [what, as] of refusals) {
    await t.step(`${what} is refused with CONNACK 5, not authorized`, async () => {
      const r = await mosquitto("mosquitto_pub", broker, ["-t", "kiln/x", "-m", "hi"], as);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not authori[sz]ed/i);
    });
  }
  assert.equal(broker.refused, refusals.length);

  await t.step(
    "the generated credentials are accepted: a message goes from mosquitto_pub to mosquitto_sub",
    async () => {
      const sub = mosquitto("mosquitto_sub", broker, ["-t", "kiln/x", "-C", "1", "-W", "10"], creds);
      // Retained, so it reaches the subscriber whenever its SUBSCRIBE lands.
      const pub = await mosquitto(
        "mosquitto_pub",
        broker,
        ["-t", "kiln/x", "-m", "hello", "-r", "-q", "1"],
        creds,
      );
      assert.equal(pub.code, 0, pub.stderr);
      const got = await sub;
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout.trim(), "hello");
    },
  );

  await t.step("Kiln's connector gets in with them and is refused without", async () => {
    await using withCreds = createMqttConnector("kiln", { url: broker.url, ...creds, ...FAST });
    await using without = createMqttConnector("anon", { url: broker.url, ...FAST });
    await until(() => "the connector with credentials", () => withCreds.connected);
    await until(
      () => `the refusal (${JSON.stringify(without.status())})`,
      () => without.status().state === "error",
    );
    assert.match(without.status().lastError ?? "", /CONNACK 5/);
    assert.equal(without.connected, false);
  });
});

Deno.test("the embedded broker keeps its credentials across restarts and narrows a file others could read", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/mqtt-embedded.json`;
  let first: EmbeddedBrokerCredentials;
  {
    await using broker = await startEmbeddedBroker({ port: 0, credentialsFile: file });
    first = broker.credentials!;
  }
  await Deno.chmod(file, 0o644);
  await using again = await startEmbeddedBroker({ port: 0, credentialsFile: file });
  assert.deepEqual(again.credentials, first);
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  await using other = await tempDir();
  await using fresh = await startEmbeddedBroker({
    port: 0,
    credentialsFile: `${other.path}/mqtt-embedded.json`,
  });
  assert.notEqual(fresh.credentials!.password, first.password, "each data directory gets its own");
});

Deno.test("a credentials file that holds no credentials stops the embedded broker from starting", async () => {
  await using dir = await tempDir();
  const file = `${dir.path}/mqtt-embedded.json`;
  for (
    const text of [
      "not json",
      "[]",
      '{"username":"u"}',
      '{"username":"","password":"p"}',
      '{"username":1,"password":"p"}',
    ]
  ) {
    await Deno.writeTextFile(file, text);
    await assert.rejects(
      startEmbeddedBroker({ port: 0, credentialsFile: file }),
      (err) =>
        err instanceof EmbeddedCredentialsError && err.code === "mqtt_embedded_credentials_invalid" &&
        err.path === file,
      text,
    );
  }
  await assert.rejects(
    startEmbeddedBroker({ port: 0, credentialsFile: file, credentials: { username: "u", password: "p" } }),
    TypeError,
  );
});

Deno.test("mqtt.js and aedes write packets without mqtt-packet's table of 65,536 Buffers", async () => {
  // The table lives in mqtt-packet's numbers.js; _packet_numbers.ts turns it off in the copy the import map
  // pins, which only works while mqtt.js and aedes resolve to that same copy.
  const lock = JSON.parse(await Deno.readTextFile(new URL("../../deno.lock", import.meta.url))) as {
    specifiers: Record<string, string>;
    npm: Record<string, { dependencies?: string[] }>;
  };
  const pinned = lock.specifiers["npm:mqtt-packet@9.0.2"];
  assert.equal(pinned, "9.0.2");
  for (const user of ["mqtt@5.16.0", "aedes@1.2.0"]) {
    // A bare name in the lock's dependencies is the package's only locked version.
    assert.ok(lock.npm[user]?.dependencies?.includes("mqtt-packet"), `${user} uses the pinned mqtt-packet`);
  }
  assert.deepEqual(Object.keys(lock.npm).filter((k) => k.startsWith("mqtt-packet@")), ["mqtt-packet@9.0.2"]);

  const { cache } = await import("mqtt-packet/numbers.js") as { cache: Record<number, unknown> };
  await using broker = await startEmbeddedBroker({ port: 0 });
  await using mqtt = createMqttConnector("numbers", { url: broker.url, ...broker.credentials, ...FAST });
  await until(() => "a connection", () => mqtt.connected);
  const got: number[] = [];
  await mqtt.subscribe("factory/numbers", (_topic, payload) => got.push(payload[0]!), { qos: 1 });
  for (let i = 0; i < 3; i++) await mqtt.publish("factory/numbers", new Uint8Array([i]), { qos: 1 });
  await until(() => `3 messages, got ${got.length}`, () => got.length === 3);
  assert.deepEqual(got, [0, 1, 2]);
  assert.equal(Object.keys(cache).length, 0, "no pre-built number Buffers");
});
