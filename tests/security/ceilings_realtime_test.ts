/**
 * The realtime executor is a grant of its own (issue #14): `use:executor:realtime`, in the module and in the
 * device policy, for an event module or a priority of at least 70, in a manifest and over the API.
 */
import assert from "node:assert/strict";
import {
  type ManifestIssue,
  parseManifest,
  REALTIME_PRIORITY as MANIFEST_REALTIME_PRIORITY,
} from "../../runtime/manifest/mod.ts";
import { REALTIME_PRIORITY } from "../../runtime/mod.ts";
import { apiGateway, gateway, refusal, ticker } from "./_ceilings.ts";

Deno.test("the realtime executor is a grant of its own: use:executor:realtime, in the module and the policy", async (t) => {
  const event = (capabilities: string) =>
    `  ev:\n    wasm: ev.wasm\n    capabilities: [${capabilities}]\n    schedule: { mode: event, trigger: api }\n`;
  const high = (capabilities: string) =>
    ticker("hi", `    capabilities: [${capabilities}]\n`).replace("20000 }", "20000, priority: 80 }");
  const withPolicy = (modules: string, allow: string) => gateway(modules, "", "", allow);
  const allowed = "[read:sim:*, use:executor:realtime]";

  await t.step("an event module without the grant is refused at schedule.mode", () => {
    const [issue, ...rest] = refusal(withPolicy(event(""), allowed));
    assert.deepEqual(rest, []);
    assert.deepEqual(
      [issue?.path, issue?.code, issue?.limit, issue?.requested, issue?.allowed],
      ["modules.ev.schedule.mode", "realtime_not_granted", "use:executor:realtime", "realtime", "normal"],
    );
    assert.match(issue?.message ?? "", /add "use:executor:realtime" to modules\.ev\.capabilities/);
  });
  await t.step("a priority-80 module without the grant is refused at schedule.priority", () => {
    const [issue, ...rest] = refusal(withPolicy(high(""), allowed));
    assert.deepEqual(rest, []);
    assert.deepEqual([issue?.path, issue?.code], ["modules.hi.schedule.priority", "realtime_not_granted"]);
    assert.match(issue?.message ?? "", new RegExp(`priority 80, at least ${REALTIME_PRIORITY}`));
  });
  await t.step(
    "asking for it outside the policy is refused as any capability the policy does not allow",
    () => {
      for (
        const [name, modules] of [["ev", event("use:executor:realtime")], [
          "hi",
          high("use:executor:realtime"),
        ]]
      ) {
        const issues = refusal(withPolicy(modules!, "[read:sim:*]"));
        assert.deepEqual(issues.map((i) => i.path), [`modules.${name}.capabilities[0]`]);
        assert.match(issues[0]?.message ?? "", /"use:executor:realtime" is not allowed by the device policy/);
      }
    },
  );
  await t.step("with the grant, both are accepted", () => {
    const manifest = parseManifest(
      withPolicy(event("use:executor:realtime") + high("use:executor:realtime"), allowed),
    );
    assert.deepEqual(Object.keys(manifest.modules), ["ev", "hi"]);
  });
  await t.step("a priority of 69 stays on the normal executor and needs no grant", () => {
    parseManifest(withPolicy(ticker("lo").replace("20000 }", "20000, priority: 69 }"), allowed));
  });
  await t.step("the manifest's threshold is the runtime's", () => {
    assert.equal(MANIFEST_REALTIME_PRIORITY, REALTIME_PRIORITY);
  });
});

/** An event module that does nothing. */
const EVENT = `(module
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "kiln_on_event") (param i32 i32 i32) (result i32) (i32.const 0)))`;

Deno.test("over the API, an event module needs the realtime grant, and with it runs on the realtime executor", async () => {
  const spec = (capabilities: string) =>
    `schedule: { mode: event, trigger: api }\nlimits: { max_memory_mb: 1 }\ncapabilities: [${capabilities}]\n`;
  {
    await using gw = await apiGateway("  allow: [use:executor:realtime]\n");
    const refused = await gw.deploy("ev", spec(""), EVENT);
    assert.equal(refused.status, 422);
    assert.deepEqual(
      (refused.body.error.issues as ManifestIssue[]).map((i) => [i.path, i.code]),
      [["modules.ev.schedule.mode", "realtime_not_granted"]],
    );
    const granted = await gw.deploy("ev", spec("use:executor:realtime"), EVENT);
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    assert.equal(granted.body.executor, "realtime");
  }
  {
    // The module asks, but this gateway's policy does not allow it.
    await using gw = await apiGateway("  allow: []\n");
    const denied = await gw.deploy("ev", spec("use:executor:realtime"), EVENT);
    assert.equal(denied.status, 422);
    assert.deepEqual(
      (denied.body.error.issues as ManifestIssue[]).map((i) => i.path),
      ["modules.ev.capabilities[0]"],
    );
  }
});
