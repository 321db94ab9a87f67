/**
 * Closing the OPC UA connector in every state: while an attempt is in its handshake (the server accepted the
 * TCP connection and answers nothing), while it fetches the server's certificate for Sign&Encrypt, while it
 * waits to reconnect after failed attempts. `close()` must settle, and nothing the connector made may keep
 * its process alive afterwards (a probe process must exit by itself).
 */
import assert from "node:assert/strict";
import { createOpcuaConnector } from "../../hal/opcua/mod.ts";
import { freePort } from "./_modbus_server.ts";
import { NODES, runProbe, settles, tempDir, testEndpoint, until } from "./_opcua_helpers.ts";
import { startOpcuaServer } from "./_opcua_server.ts";

/** No handshake times out during these tests: only `close()` can end an attempt. */
const NEVER_MS = 600_000;

Deno.test("close() cuts an attempt in its handshake, with security None and Sign&Encrypt", async (t) => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  const secure = { security_mode: "sign_and_encrypt", connect_timeout_ms: NEVER_MS };

  await t.step("the client's certificate is made first, by an attempt at a closed port", async () => {
    const down = testEndpoint(`opc.tcp://127.0.0.1:${freePort()}/UA/Kiln`, dir.path, secure);
    await using plc = createOpcuaConnector(down);
    plc.start();
    await until(plc, "a failed attempt", () => plc.status().errors >= 1);
  });

  server.pause();
  try {
    for (const over of [{ connect_timeout_ms: NEVER_MS }, secure]) {
      const mode = over === secure ? "Sign&Encrypt, fetching the server's certificate" : "None";
      await t.step(`${mode}: close() settles, and the cut attempt is not an error`, async () => {
        const plc = createOpcuaConnector(testEndpoint(server.url, dir.path, { ...over, timeout_ms: 500 }));
        plc.start();
        // Time for the attempt to reach the paused server; the server accepts and answers nothing.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        assert.equal(plc.status().state, "connecting");
        await settles(plc.close(), "close()");
        assert.deepEqual(plc.status(), {
          name: "plc1",
          kind: "opcua",
          state: "closed",
          lastError: null,
          errors: 0,
          reconnects: 0,
          failures: 0,
          nextAttemptAtMs: null,
          backoffMs: 50,
          maxBackoffMs: 400,
          points: NODES.map((n) => ({ id: n.id, state: "waiting", error: null })),
        });
        await settles(plc.close(), "a second close()");
      });
    }
  } finally {
    server.resume();
  }
});

/** The probe: a connector to `Deno.args[0]`, closed after failed attempts or once a handshake started. */
const PROBE = `const [url, dataDir, securityMode, waitFor] = Deno.args;
const config = OpcuaEndpointSchema.parse({
  url,
  security_mode: securityMode,
  timeout_ms: 500,
  connect_timeout_ms: ${NEVER_MS},
  backoff_ms: 50,
  max_backoff_ms: 200,
  nodes: [{ id: "count", node_id: "ns=1;s=Count", sampling_ms: 50 }],
});
const plc = createOpcuaConnector(toOpcuaEndpoint("plc1", config, { dataDir }));
plc.start();
const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
if (waitFor === "errors") for (let i = 0; i < 600 && plc.status().errors < 3; i++) await wait(50);
else await wait(1500);
const before = plc.status();
await plc.close();
console.log("RESULT " + JSON.stringify({ before, after: plc.status() }));`;

Deno.test("a connector closed while reconnecting or in a handshake lets its process exit", async (t) => {
  await using dir = await tempDir();
  await using server = await startOpcuaServer({ pkiDir: `${dir.path}/server` });
  const cases = [
    [
      "Sign&Encrypt, reconnecting after failed attempts",
      `opc.tcp://127.0.0.1:${freePort()}/UA/Kiln`,
      "errors",
    ],
    ["None, in its handshake", server.url, "handshake"],
    ["Sign&Encrypt, fetching the server's certificate", server.url, "handshake"],
  ] as const;
  for (const [name, url, waitFor] of cases) {
    await t.step(name, async () => {
      const data = `${dir.path}/data`;
      await Deno.mkdir(data, { recursive: true });
      const securityMode = name.startsWith("None") ? "none" : "sign_and_encrypt";
      if (waitFor === "handshake") server.pause();
      let probe;
      try {
        probe = await runProbe({
          dir: dir.path,
          dataDir: data,
          body: PROBE,
          args: [url, data, securityMode, waitFor],
        });
      } finally {
        if (waitFor === "handshake") server.resume();
      }
      assert.ok(!probe.killed, `the probe did not exit after close(): ${probe.stdout}\n${probe.stderr}`);
      assert.equal(probe.code, 0, `${probe.stdout}\n${probe.stderr}`);
      const result = probe.results[0] as {
        before: { state: string; errors: number };
        after: { state: string };
      };
      if (waitFor === "errors") {
        assert.equal(result.before.state, "reconnecting");
        assert.ok(result.before.errors >= 3, JSON.stringify(result.before));
      } else {
        assert.equal(result.before.state, "connecting", JSON.stringify(result.before));
      }
      assert.equal(result.after.state, "closed");
    });
  }
});
