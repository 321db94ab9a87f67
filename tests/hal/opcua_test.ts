/**
 * The OPC UA connector against a real node-opcua server in another process (`_opcua_server.ts`, whose
 * fixture's address space is documented there) and a socket that answers with garbage. Closing in every
 * state is in `opcua_close_test.ts`.
 */
import assert from "node:assert/strict";
import {
  type Clock,
  createOpcuaConnector,
  opcuaCapability,
  type OpcuaConnector,
  OpcuaNotConnectedError,
  OpcuaStatusError,
  SYSTEM_CLOCK,
} from "../../hal/opcua/mod.ts";
import { covers, parseCapability } from "../../runtime/capabilities.ts";
import { freePort, startGarbageServer } from "./_modbus_server.ts";
import { NODES, runProbe, settles, tempDir, testEndpoint as endpoint, until } from "./_opcua_helpers.ts";
import { startOpcuaServer } from "./_opcua_server.ts";

/** The real clock, plus `skipMs` that a test adds to jump ahead without waiting. */
function skippingClock(): Clock & { skipMs: number } {
  return {
    skipMs: 0,
    now() {
      return Date.now() + this.skipMs;
    },
    setTimer: SYSTEM_CLOCK.setTimer,
  };
}

/** Real `now`, timers that run only when a test fires them. */
function manualClock(): Clock & { fire(which: (delayMs: number) => boolean): number } {
  const timers = new Map<number, { callback: () => void; delayMs: number }>();
  let ids = 0;
  return {
    now: () => Date.now(),
    setTimer(callback, delayMs) {
      const id = ++ids;
      timers.set(id, { callback, delayMs });
      return () => timers.delete(id);
    },
    fire(which) {
      let fired = 0;
      for (const [id, timer] of [...timers]) {
        if (!which(timer.delayMs)) continue;
        timers.delete(id);
        timer.callback();
        fired++;
      }
      return fired;
    },
  };
}

function value(connector: OpcuaConnector, id: string): number | undefined {
  return connector.getSample(id)?.value;
}

Deno.test("values from a node-opcua server arrive, change, and writes land in the node's own type", async (t) => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  await using plc = createOpcuaConnector(endpoint(server.url, dir.path));
  assert.equal(plc.getSample("count"), null);
  plc.start();
  assert.equal(plc.status().state, "connecting");
  await until(plc, "every node's first value", () => [...plc.listSamples()].length === NODES.length);
  assert.equal(plc.status().state, "connected");

  await t.step("values are good and the Temperature changes", async () => {
    assert.equal(plc.getSample("count")?.value, 7);
    assert.equal(plc.getSample("count")?.quality, "good");
    assert.equal(value(plc, "valve"), 0);
    assert.equal(value(plc, "setpoint"), 42.5);
    const first = value(plc, "temperature")!;
    await until(plc, "a new Temperature", () => value(plc, "temperature")! > first);
    assert.equal(plc.getSample("temperature")?.quality, "good");
  });

  await t.step("a write of a Boolean and of a Double reach the server and come back", async () => {
    await plc.write("valve", 1);
    await server.waitForWrite("WRITE Valve true");
    await until(plc, "the Valve's new value", () => value(plc, "valve") === 1);
    await plc.write("setpoint", 12.25);
    await server.waitForWrite("WRITE Setpoint 12.25");
    await until(plc, "the Setpoint's new value", () => value(plc, "setpoint") === 12.25);
  });

  await t.step("writes the node's type cannot hold, or to read-only points, are refused", async () => {
    await assert.rejects(plc.write("valve", 2), RangeError);
    await assert.rejects(plc.write("temperature", 1), TypeError);
    await assert.rejects(plc.write("nope", 1), RangeError);
  });
  assert.deepEqual(plc.status(), {
    name: "plc1",
    kind: "opcua",
    state: "connected",
    lastError: null,
    errors: 0,
    reconnects: 0,
    failures: 0,
    nextAttemptAtMs: null,
    backoffMs: 50,
    maxBackoffMs: 400,
    points: NODES.map((n) => ({ id: n.id, state: "ok", error: null })),
  });
  await plc.close();
  assert.equal(plc.status().state, "closed");
  await assert.rejects(plc.write("valve", 0), OpcuaNotConnectedError);
});

Deno.test("a server down at start leaves the connector reconnecting until it is up, then values are good", async () => {
  await using dir = await tempDir();
  const port = freePort();
  await using plc = createOpcuaConnector(endpoint(`opc.tcp://127.0.0.1:${port}/UA/Kiln`, dir.path));
  plc.start();
  await until(plc, "a failed attempt", () => plc.status().errors >= 2);
  assert.equal(plc.status().state, "reconnecting");
  assert.match(plc.status().lastError ?? "", /Cannot connect to OPC UA endpoint "plc1"/);
  assert.equal(plc.getSample("temperature"), null, "no value is invented while the server was never up");
  await assert.rejects(plc.write("valve", 1), OpcuaNotConnectedError);

  await using _server = await startOpcuaServer({ port, pkiDir: `${dir.path}/server` });
  await until(plc, "connected", () => plc.status().state === "connected");
  await until(plc, "good values", () => plc.getSample("count")?.quality === "good");
  assert.equal(plc.status().reconnects, 0, "the first successful connect is not a reconnect");
});

Deno.test("a server killed mid-stream leaves last values uncertain then bad, and a restart makes them good", async () => {
  await using dir = await tempDir();
  const clock = skippingClock();
  const plant = endpoint("opc.tcp://127.0.0.1:1/UA/Kiln", dir.path);
  let server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  try {
    await using plc = createOpcuaConnector(
      { ...plant, url: server.url, nodes: plant.nodes.map((n) => ({ ...n, staleMs: 60_000 })) },
      { clock },
    );
    plc.start();
    await until(plc, "every node's first value", () => [...plc.listSamples()].length === NODES.length);
    const before = plc.getSample("temperature")!;
    const errors = plc.status().errors;

    await server.kill();
    await until(plc, "reconnecting", () => plc.status().state === "reconnecting");
    const kept = plc.getSample("temperature")!;
    assert.equal(kept.quality, "uncertain");
    assert.ok(kept.value >= before.value, "the last value is kept");
    assert.equal(plc.getSample("count")?.value, 7);
    assert.ok(plc.status().errors > errors, "the loss is counted");
    clock.skipMs = 61_000; // past stale_ms
    assert.deepEqual(plc.getSample("temperature"), { ...kept, quality: "bad" });
    assert.ok([...plc.listSamples()].every(([, s]) => s.quality === "bad"));
    await assert.rejects(plc.write("setpoint", 1), OpcuaNotConnectedError);

    server = await startOpcuaServer({ port: server.port, pkiDir: `${dir.path}/server` });
    await until(plc, "connected again", () => plc.status().state === "connected");
    await until(
      plc,
      "good values again",
      () => [...plc.listSamples()].every(([, s]) => s.quality === "good"),
    );
    assert.equal(plc.status().reconnects, 1);
    await plc.write("setpoint", 3);
    await server.waitForWrite("WRITE Setpoint 3");
  } finally {
    await server.kill();
  }
});

Deno.test("a peer that answers garbage is counted as errors and retried, and Kiln keeps running", async () => {
  await using dir = await tempDir();
  await using garbage = startGarbageServer();
  await using plc = createOpcuaConnector(
    endpoint(`opc.tcp://127.0.0.1:${garbage.port}/UA/Kiln`, dir.path, {
      timeout_ms: 500,
      connect_timeout_ms: 2000,
    }),
  );
  plc.start();
  await until(plc, "two failed attempts", () => plc.status().errors >= 2);
  assert.ok(garbage.replies > 0, "the garbage reached the client");
  assert.equal(plc.status().state, "reconnecting");
  assert.equal([...plc.listSamples()].length, 0);
});

Deno.test("a server that stops answering is detected, and values age while it hangs", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  await using plc = createOpcuaConnector(endpoint(server.url, dir.path, { timeout_ms: 500 }));
  plc.start();
  await until(plc, "connected", () => plc.status().state === "connected");
  await until(plc, "a value", () => plc.getSample("count"));
  server.pause();
  try {
    await until(plc, "reconnecting", () => plc.status().state === "reconnecting");
    assert.notEqual(plc.getSample("count")?.quality, "good");
    assert.equal(plc.getSample("count")?.value, 7);
    assert.ok(plc.status().errors >= 1);
  } finally {
    server.resume();
  }
  await until(plc, "connected again", () => plc.status().state === "connected");
});

Deno.test("no publish response for a keep-alive period is a timeout, and the backoff reconnects (fake timers)", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  const clock = manualClock();
  const plant = endpoint(server.url, dir.path); // timeout_ms 2000, backoff_ms 50
  // The jitter's top: the first retry waits exactly backoff_ms.
  await using plc = createOpcuaConnector(plant, { clock, random: () => 1 });
  plc.start();
  await until(plc, "every node's first value", () => [...plc.listSamples()].length === NODES.length);
  // The watchdog waits a keep-alive period plus timeout_ms, longer than any request's timeout.
  assert.equal(clock.fire((delayMs) => delayMs > plant.timeoutMs), 1);
  assert.equal(plc.status().state, "reconnecting");
  assert.equal(plc.status().errors, 1);
  assert.match(plc.status().lastError ?? "", /timed out/);
  assert.equal(plc.getSample("count")?.quality, "uncertain");
  assert.equal(clock.fire((delayMs) => delayMs === plant.backoffMs), 1);
  await until(plc, "connected again", () => plc.status().state === "connected");
  await until(plc, "good values again", () => plc.getSample("count")?.quality === "good");
  assert.equal(plc.status().reconnects, 1);
});

Deno.test("a quiet server keeps its session: silence up to a keep-alive period is not a broken connection", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  // Count never changes: at a 1000 ms sampling interval the server sends a keep-alive every 10 s and
  // nothing in between, much longer than timeout_ms (node-opcua closed a socket silent for its transport
  // timeout, which used to be timeout_ms: the connection broke every second or so).
  await using plc = createOpcuaConnector(
    endpoint(server.url, dir.path, {
      timeout_ms: 1000,
      nodes: [{ id: "count", node_id: "ns=1;s=Count", sampling_ms: 1000 }],
    }),
  );
  plc.start();
  await until(plc, "the value", () => plc.getSample("count")?.quality === "good");
  await new Promise((resolve) => setTimeout(resolve, 4000));
  assert.deepEqual(
    { state: plc.status().state, errors: plc.status().errors, reconnects: plc.status().reconnects },
    { state: "connected", errors: 0, reconnects: 0 },
  );
  assert.equal(plc.getSample("count")?.quality, "good");
});

Deno.test("close() settles while the server hangs", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  const plc = createOpcuaConnector(endpoint(server.url, dir.path, { timeout_ms: 300 }));
  plc.start();
  await until(plc, "connected", () => plc.status().state === "connected");
  server.pause();
  try {
    await settles(plc.close(), "close()");
  } finally {
    server.resume();
  }
  assert.equal(plc.status().state, "closed");
});

Deno.test("a node the server does not know makes the endpoint degraded with that point refused; the others stay good", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  await using plc = createOpcuaConnector(
    endpoint(server.url, dir.path, {
      nodes: [{ ...NODES[1], writable: true }, {
        id: "ghost",
        node_id: "ns=1;s=NoSuchNode",
        sampling_ms: 50,
      }],
    }),
  );
  plc.start();
  await until(plc, "degraded", () => plc.status().state === "degraded");
  await until(plc, "the known node's value", () => plc.getSample("count")?.quality === "good");
  assert.equal(plc.getSample("ghost"), null);
  const points = plc.status().points ?? [];
  assert.deepEqual(points.map((p) => [p.id, p.state]), [["count", "ok"], ["ghost", "refused"]]);
  assert.match(points[1]?.error ?? "", /BadNodeIdUnknown/);
  assert.equal(plc.status().errors, 1);
  assert.match(plc.status().lastError ?? "", /BadNodeIdUnknown/);
  // The manifest says writable, the server does not: its refusal is the write's error, the session stays up.
  const refused = await plc.write("count", 8).then(() => null, (err) => err);
  assert.ok(refused instanceof OpcuaStatusError, String(refused));
  assert.equal(refused.code, "opcua_bad_status");
  assert.match(refused.statusName, /^Bad/);
  assert.equal(plc.status().errors, 2);
  assert.equal(plc.status().state, "degraded");
  assert.equal(plc.getSample("count")?.quality, "good");
});

Deno.test("after a reconnect, a node the restarted server no longer has is bad at once, and a kept value goes on aging", async () => {
  await using dir = await tempDir();
  const clock = skippingClock();
  const plant = endpoint("opc.tcp://127.0.0.1:1/UA/Kiln", dir.path);
  let server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  try {
    await using plc = createOpcuaConnector(
      { ...plant, url: server.url, nodes: plant.nodes.map((n) => ({ ...n, staleMs: 60_000 })) },
      { clock },
    );
    plc.start();
    await until(plc, "every node's first value", () => [...plc.listSamples()].length === NODES.length);
    await server.kill();
    await until(plc, "reconnecting", () => plc.status().state === "reconnecting");
    assert.equal(plc.getSample("count")?.quality, "uncertain", "kept from the lost session, fresh enough");
    assert.deepEqual(plc.status().points?.map((p) => p.state), NODES.map(() => "waiting"));

    // The server comes back without Count: the new session's server refuses it (BadNodeIdUnknown).
    server = await startOpcuaServer({ port: server.port, pkiDir: `${dir.path}/server`, without: ["Count"] });
    await until(plc, "degraded", () => plc.status().state === "degraded");
    const count = plc.getSample("count")!;
    assert.equal(count.quality, "bad", "a node the server no longer has is bad, however young its value");
    assert.equal(count.value, 7, "its last value is kept, marked bad");
    const refused = plc.status().points?.find((p) => p.id === "count");
    assert.equal(refused?.state, "refused");
    assert.match(refused?.error ?? "", /BadNodeIdUnknown/);
    await until(plc, "the other nodes good again", () => plc.getSample("temperature")?.quality === "good");

    // The age of a kept value does not start over at the reconnect.
    clock.skipMs = 61_000;
    assert.equal(plc.getSample("count")?.quality, "bad");
    assert.equal(plc.getSample("temperature")?.quality, "good", "a live value does not age");
  } finally {
    await server.kill();
  }
});

Deno.test("a Sign&Encrypt session with a user name needs the server's certificate to be trusted", async (t) => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server`, credentials: "kiln:s3cret" });
  await Deno.writeTextFile(`${dir.path}/password`, "s3cret\n");
  const secure = endpoint(server.url, dir.path, {
    security_mode: "sign_and_encrypt",
    security_policy: "Basic256Sha256",
    username: "kiln",
    password_file: `${dir.path}/password`,
    pki_dir: `${dir.path}/client-pki`,
  });
  assert.equal(secure.pkiDir, `${dir.path}/client-pki`);
  // One connector throughout, as on a gateway: the operator trusts the server while Kiln keeps retrying.
  await using plc = createOpcuaConnector(secure);
  plc.start();

  await t.step("an untrusted server certificate is refused, and filed in rejected/", async () => {
    await until(plc, "a failed attempt", () => plc.status().errors >= 1);
    assert.equal(plc.status().state, "reconnecting");
    assert.match(plc.status().lastError ?? "", /BadCertificateUntrusted/);
    assert.equal(plc.getSample("count"), null);
    const rejected = await Array.fromAsync(Deno.readDir(`${secure.pkiDir}/rejected`));
    assert.equal(rejected.length, 1, "node-opcua files the server's certificate in rejected/");
  });

  await t.step(
    "once copied into trusted/certs, values arrive and writes land without a restart",
    async () => {
      // Copied, as the README says, not moved: the copy node-opcua left in rejected/ must not keep it rejected.
      await Deno.copyFile(
        `${server.pkiDir}/own/certs/certificate.pem`,
        `${secure.pkiDir}/trusted/certs/server.pem`,
      );
      await until(plc, "connected", () => plc.status().state === "connected");
      await until(plc, "a value", () => plc.getSample("count")?.quality === "good");
      await plc.write("valve", 1);
      await server.waitForWrite("WRITE Valve true");
      assert.equal(plc.status().reconnects, 0, "the first session is not a reconnect");
      assert.deepEqual(await Array.fromAsync(Deno.readDir(`${secure.pkiDir}/rejected`)), []);
    },
  );
});

Deno.test("the client connects with Sign&Encrypt under Kiln's narrow permissions, writing only its PKI folder", async () => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  const data = `${dir.path}/data`;
  const pki = `${data}/pki/opcua`;
  await Deno.mkdir(`${pki}/trusted/certs`, { recursive: true });
  await Deno.copyFile(`${server.pkiDir}/own/certs/certificate.pem`, `${pki}/trusted/certs/server.pem`);
  // The probe's process must exit by itself once the connector is closed: runProbe kills it otherwise.
  const probe = await runProbe({
    dir: dir.path,
    dataDir: data,
    args: [server.url, data],
    body: `const config = OpcuaEndpointSchema.parse({
  url: Deno.args[0],
  security_mode: "sign_and_encrypt",
  nodes: [{ id: "count", node_id: "ns=1;s=Count", sampling_ms: 50 }],
});
await using plc = createOpcuaConnector(toOpcuaEndpoint("plc1", config, { dataDir: Deno.args[1] }));
plc.start();
for (let i = 0; i < 400 && !plc.getSample("count"); i++) await new Promise((r) => setTimeout(r, 50));
console.log("RESULT " + JSON.stringify({ status: plc.status(), sample: plc.getSample("count") }));`,
  });
  assert.ok(!probe.killed && probe.code === 0, `${probe.stdout}\n${probe.stderr}`);
  const result = probe.results[0] as {
    status: { state: string; errors: number };
    sample: { value: number; quality: string };
  };
  assert.equal(result.status.state, "connected", JSON.stringify(result.status));
  assert.equal(result.status.errors, 0);
  assert.equal(result.sample.value, 7);
  assert.equal(result.sample.quality, "good");
  assert.ok((await Deno.stat(`${pki}/own/certs/client_certificate.pem`)).isFile);
});

Deno.test("each node's capabilities parse, and an endpoint grant covers them", () => {
  const plant = endpoint("opc.tcp://plc:4840", "/tmp/unused");
  const grant = parseCapability("read:opcua:plc1/*");
  for (const node of plant.nodes) {
    const read = parseCapability(opcuaCapability("read", "plc1", node));
    assert.equal(read.type, "opcua");
    assert.ok(covers(grant, read));
  }
  const valve = plant.nodes.find((n) => n.id === "valve")!;
  const write = parseCapability(opcuaCapability("write", "plc1", valve));
  assert.equal(write.text, "write:opcua:plc1/ns=1;s=Valve");
  assert.ok(covers(parseCapability("write:opcua:plc1/ns=1;s=Valve"), write));
  assert.ok(!covers(parseCapability("write:opcua:plc1/ns=1;s=Setpoint"), write));
  assert.throws(() => opcuaCapability("write", "plc1", plant.nodes[0]!), TypeError);
  assert.equal(
    opcuaCapability("read", "plc1", { nodeId: "ns=0;i=2258", writable: false }),
    "read:opcua:plc1/i=2258",
  );
});
