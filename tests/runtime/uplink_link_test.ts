/**
 * The uplink's two halves (`runtime/uplink/uplink.ts`): the outbox side exists from `createUplink` on, the
 * link (broker, connector, forwarder) only from `connect()`, which the runtime calls while its modules start.
 * Against a real Mosquitto, and Kiln's embedded broker.
 */
import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { createUplink } from "../../runtime/uplink/uplink.ts";
import { createOutbox, openStore } from "../../snapshots/mod.ts";
import { createMosquitto, startSub } from "../hal/_mosquitto.ts";
import {
  deploymentPlan,
  modulePlan,
  mqttPlan,
  streamModuleWat,
  waitFor,
  wat,
  writeFixture,
} from "../_helpers.ts";

Deno.test("uplink: a message queued before the link exists waits in the outbox and goes out once it connects", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-uplink-" });
  try {
    await using broker = await createMosquitto(dir);
    await broker.start();
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    const lines: string[] = [];
    await using uplink = createUplink({
      plan: mqttPlan({ url: broker.url }),
      device: "gw-link",
      outbox,
      log: (l) => lines.push(l),
    });
    // No link yet: nothing connects, nothing drains, and the message is kept.
    assert.equal(uplink.status().state, "connecting");
    assert.equal(uplink.forwarderStats().state, "disconnected");
    const sent = uplink.publishMessage({
      module: "early",
      topic: "plant/early",
      payload: new TextEncoder().encode('{"n":1}'),
      at: Date.now(),
    });
    assert.equal(sent, "queued");
    assert.equal(outbox.stats().depth, 1);
    assert.equal(lines.length, 0, lines.join("\n"));

    await using sub = await startSub({ port: broker.port }, "plant/early", 1);
    await uplink.connect();
    const [message] = await sub.messages;
    const body = JSON.parse(new TextDecoder().decode(message!.payload));
    assert.equal(body.module, "early");
    assert.deepEqual(body.payload, { n: 1 });
    await waitFor("the outbox to drain", () => outbox.stats().depth === 0);
    assert.equal(uplink.status().state, "connected");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uplink: closed before it connected, it ends at once and refuses a later connect", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-uplink-" });
  try {
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    const uplink = createUplink({
      plan: mqttPlan({ url: "mqtt://127.0.0.1:1" }),
      device: "gw-link",
      outbox,
      log: () => {},
    });
    await uplink.close();
    assert.equal(uplink.status().state, "closed");
    assert.equal(uplink.forwarderStats().state, "closed");
    await assert.rejects(uplink.connect(), /the uplink is closed/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uplink: a close while the embedded broker starts waits for it and stops it, leaving no listener", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-uplink-" });
  try {
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    const lines: string[] = [];
    const uplink = createUplink({
      plan: mqttPlan({ url: null, embeddedPort: 0 }),
      device: "gw-link",
      outbox,
      log: (l) => lines.push(l),
    });
    const connecting = uplink.connect();
    await uplink.close();
    await connecting;
    const url = lines.map((l) => /embedded broker listening at mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(l)?.[1])
      .find((p) => p !== undefined);
    assert.ok(url, `the broker started: ${lines.join("\n")}`);
    await assert.rejects(
      Deno.connect({ hostname: "127.0.0.1", port: Number(url) }),
      Deno.errors.ConnectionRefused,
    );
    assert.equal(uplink.status().state, "closed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uplink: an embedded broker that cannot listen fails the runtime's start and stops the modules that started meanwhile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-uplink-" });
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    const wasm = await writeFixture(dir, "s.wasm", wat(streamModuleWat()));
    await using rt = await createRuntime({
      plan: {
        ...deploymentPlan([modulePlan({ name: "s", wasm })]),
        mqtt: mqttPlan({ embeddedPort: (taken.addr as Deno.NetAddr).port }),
      },
      version: "test",
      log: () => {},
      outbox,
    });
    await assert.rejects(rt.start(), /Cannot start the embedded MQTT broker on 127\.0\.0\.1:\d+/);
    assert.notEqual(rt.getModule("s")?.state, "running");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
