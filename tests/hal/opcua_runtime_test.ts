/**
 * OPC UA through the runtime: a module reads a node of a node-opcua server (in another process) as a
 * `kiln.input` value with its quality, and drives a writable node with `kiln.actuate`; the manifest refuses a
 * node outside the module's grant and a write to a node not marked writable.
 */
import assert from "node:assert/strict";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { waitFor, wat } from "../_helpers.ts";
import { tempDir } from "./_opcua_helpers.ts";
import { startOpcuaServer } from "./_opcua_server.ts";

/** Each tick: input 0 to outputs v0 and q0; on an API event, actuate(0, 1) and output its code as rc. */
const MODULE = `(module
  (import "kiln" "input" (func $input (param i32 i32) (result i32)))
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "actuate" (func $actuate (param i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "v0q0rc")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param i32 i32 i32) (result i32)
    (drop (call $input (i32.const 0) (i32.const 256)))
    (drop (call $output (i32.const 16) (i32.const 2) (f64.load (i32.const 256))))
    (drop (call $output (i32.const 18) (i32.const 2) (f64.convert_i32_u (i32.load (i32.const 264)))))
    (drop (call $output (i32.const 20) (i32.const 2) (f64.convert_i32_s (call $actuate (i32.const 0) (f64.const 1)))))
    (i32.const 0)))`;

function manifest(port: number, capabilities: string[], writable = true): string {
  return `version: 1
device: { id: gw-ua }
policy: { allow: ["read:opcua:line1/*", "write:opcua:line1/*", "use:executor:realtime"] }
connectors:
  opcua:
    line1:
      url: opc.tcp://127.0.0.1:${port}/UA/Kiln
      timeout_ms: 2000
      connect_timeout_ms: 20000
      nodes:
        - { id: temperature, node_id: "ns=1;s=Temperature", sampling_ms: 50 }
        - { id: valve, node_id: "ns=1;s=Valve", sampling_ms: 50, writable: ${writable} }
modules:
  ua:
    wasm: ua.wasm
    capabilities: ${JSON.stringify([...capabilities, "use:executor:realtime"])}
    schedule: { mode: event, trigger: api }
    inputs: [opcua:line1/temperature]
    actuators: [opcua:line1/valve]
`;
}

Deno.test("a module reads an OPC UA node as an input and drives a writable node; the manifest checks both", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await using server = await startOpcuaServer({ pkiDir: `${dir}/server-pki` });
  await Deno.writeFile(`${dir}/ua.wasm`, wat(MODULE));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    manifest(server.port, ["read:opcua:line1/ns=1;s=Temperature", "write:opcua:line1/ns=1;s=Valve"]),
  );
  const plan = planDeployment(await loadManifest(`${dir}/kiln.yaml`), { dataDir: `${dir}/data` });
  assert.equal(plan.opcua[0]?.connectTimeoutMs, 20_000, "connect_timeout_ms reaches the connector");
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  await waitFor(
    "the OPC UA session",
    () => rt.listConnectors().find((c) => c.name === "line1")?.state === "connected",
    30_000,
  );
  const m = await waitFor("a good temperature and the valve written", () => {
    rt.triggerEvent("ua", new Uint8Array());
    const s = rt.getModule("ua")!;
    return s.outputs.q0 === 0 && s.actuators[0]?.last_result === "ok" && s;
  }, 20_000);
  assert.ok(Number.isFinite(m.outputs.v0) && m.outputs.v0! > 0, `temperature ${m.outputs.v0}`);
  assert.equal(m.outputs.rc, 0);
  await server.waitForWrite("WRITE Valve true");

  // Outside the grant, and not writable: refused when the manifest is loaded.
  await Deno.writeTextFile(
    `${dir}/bad.yaml`,
    manifest(server.port, ["read:opcua:line1/ns=1;s=Other"], false),
  );
  await assert.rejects(() => loadManifest(`${dir}/bad.yaml`), (err: Error & { code?: string }) => {
    assert.equal(err.code, "manifest_invalid");
    assert.match(
      err.message,
      /inputs\[0\]: .*"opcua:line1\/temperature" without the capability: add "read:opcua:line1\/ns=1;s=Temperature"/,
    );
    assert.match(err.message, /actuators\[0\]: "opcua:line1\/valve" is not writable/);
    return true;
  });
});
