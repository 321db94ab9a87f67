import assert from "node:assert/strict";
import { canonicalNodeId, OpcuaEndpointSchema, toOpcuaEndpoint } from "./config.ts";
import { opcuaCapability, opcuaResource } from "./capability.ts";

const NODE = { id: "temp", node_id: "ns=2;s=Temp" };

Deno.test("an endpoint gets its defaults and its camelCase form", () => {
  const config = OpcuaEndpointSchema.parse({ url: "opc.tcp://plc:4840/UA", nodes: [NODE] });
  assert.deepEqual(toOpcuaEndpoint("plc1", config, { dataDir: "/var/lib/kiln/" }), {
    name: "plc1",
    url: "opc.tcp://plc:4840/UA",
    securityMode: "none",
    securityPolicy: "None",
    username: null,
    passwordFile: null,
    pkiDir: "/var/lib/kiln/pki/opcua",
    timeoutMs: 5000,
    connectTimeoutMs: 15_000,
    backoffMs: 500,
    maxBackoffMs: 30_000,
    nodes: [{ id: "temp", nodeId: "ns=2;s=Temp", samplingMs: 1000, staleMs: 3000, writable: false }],
  });
  const secure = OpcuaEndpointSchema.parse({
    url: "opc.tcp://plc:4840",
    security_mode: "sign_and_encrypt",
    pki_dir: "/etc/kiln/pki",
    nodes: [{ ...NODE, node_id: "ns=0;i=2258", sampling_ms: 50, writable: true }],
  });
  const endpoint = toOpcuaEndpoint("plc1", secure, { dataDir: "/data" });
  assert.equal(endpoint.securityPolicy, "Basic256Sha256");
  assert.equal(endpoint.pkiDir, "/etc/kiln/pki");
  assert.deepEqual(endpoint.nodes[0], {
    id: "temp",
    nodeId: "i=2258",
    samplingMs: 50,
    staleMs: 300,
    writable: true,
  });
});

Deno.test("endpoints that cannot work are refused with the field that is wrong", async (t) => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["an http url", { url: "http://plc:4840" }, "url"],
    ["security none with a policy", { security_policy: "Basic256Sha256" }, "security_policy"],
    [
      "sign_and_encrypt without one",
      { security_mode: "sign_and_encrypt", security_policy: "None" },
      "security_policy",
    ],
    ["a user without a password file", { username: "kiln" }, "password_file"],
    ["a connect timeout of 0", { connect_timeout_ms: 0 }, "connect_timeout_ms"],
    ["a backoff past its maximum", { backoff_ms: 1000, max_backoff_ms: 10 }, "max_backoff_ms"],
    ["no nodes", { nodes: [] }, "nodes"],
    ["a point id used twice", { nodes: [NODE, NODE] }, "nodes.1.id"],
    ["a node id without a kind", { nodes: [{ id: "x", node_id: "Temp" }] }, "nodes.0.node_id"],
    ["a namespace past 65535", { nodes: [{ id: "x", node_id: "ns=65536;i=1" }] }, "nodes.0.node_id"],
    ["a numeric id past 2^32-1", { nodes: [{ id: "x", node_id: "i=4294967296" }] }, "nodes.0.node_id"],
    ["an unknown field", { host: "plc" }, ""],
  ];
  for (const [name, over, path] of cases) {
    await t.step(name, () => {
      const result = OpcuaEndpointSchema.safeParse({ url: "opc.tcp://plc:4840", nodes: [NODE], ...over });
      assert.ok(!result.success);
      assert.ok(
        result.error.issues.some((i) => i.path.join(".") === path),
        JSON.stringify(result.error.issues),
      );
    });
  }
});

Deno.test("node ids take their canonical Part 6 text, as capabilities compare them", () => {
  assert.equal(canonicalNodeId("ns=0;i=85"), "i=85");
  assert.equal(canonicalNodeId("ns=2;s=Line 1;Temp"), "ns=2;s=Line 1;Temp");
  assert.equal(
    canonicalNodeId("ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a"),
    "ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a",
  );
  assert.equal(canonicalNodeId("ns=1;b=M/RbKBsRVkePCePcx24oRA=="), "ns=1;b=M/RbKBsRVkePCePcx24oRA==");
  for (const bad of ["", "s=", "ns=01;i=1", "ns=1;x=1", "ns=1;g=not-a-guid", "ns=1;i=-1"]) {
    assert.equal(canonicalNodeId(bad), null, bad);
  }
  assert.equal(opcuaResource("plc1", "ns=0;i=85"), "plc1/i=85");
  assert.throws(() => opcuaResource("PLC 1", "i=85"), RangeError);
  assert.throws(() => opcuaResource("plc1", "Temp"), RangeError);
  assert.throws(() => opcuaCapability("write", "plc1", { nodeId: "i=85", writable: false }), TypeError);
});
