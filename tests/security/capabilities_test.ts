import assert from "node:assert/strict";
import { createRuntime, ModuleRejectedError } from "../../runtime/mod.ts";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/** A periodic module that calls `body` every tick and outputs the i32 it leaves as "rc". */
function gatedModule(imports: string, body: string, data = ""): string {
  return `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  ${imports}
  (memory (export "memory") 1)
  (data (i32.const 0) "rc")
  ${data}
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (drop (call $output (i32.const 0) (i32.const 2) (f64.convert_i32_s ${body})))
    (i32.const 0)))`;
}

const tick = { mode: "periodic" as const, periodUs: 5_000, priority: 50 };

async function withAudit() {
  const dir = await Deno.makeTempDir();
  const store = openStore(`${dir}/kiln.db`);
  return { store, audit: new AuditLog(store) };
}

Deno.test("a module importing a host function it was not granted is refused at deploy, naming the import and capability", async () => {
  const dir = await Deno.makeTempDir();
  const wasm = await writeFixture(
    dir,
    "m.wasm",
    wat(gatedModule(
      `(import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))`,
      `(call $w (i32.const 8) (i32.const 1))`,
    )),
  );
  await assert.rejects(
    createRuntime({
      plan: deploymentPlan([
        modulePlan({ name: "m", wasm, schedule: tick, capabilities: ["read:gpio:pin_3"] }),
      ]),
      version: "t",
    }),
    (err: unknown) =>
      err instanceof ModuleRejectedError &&
      err.reasons.some((r) => r.includes(`"kiln.gpio_write"`) && r.includes("write:gpio:<resource>")),
  );
});

Deno.test("a call with an ungranted pin is denied to the module and recorded in the audit log", async () => {
  const dir = await Deno.makeTempDir();
  const { store, audit } = await withAudit();
  using _ = store;
  const wasm = await writeFixture(
    dir,
    "m.wasm",
    wat(
      gatedModule(
        `(import "kiln" "gpio_read" (func $r (param i32) (result i32)))`,
        `(call $r (i32.const 4))`,
      ),
    ),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({ name: "m", wasm, schedule: tick, capabilities: ["read:gpio:pin_3"] }),
    ]),
    version: "t",
    log: () => {},
    audit,
  });
  await rt.start();
  const m = await waitFor(
    "the denial to be seen",
    () => rt.getModule("m")!.outputs.rc === -3 && rt.getModule("m")!,
  );
  assert.equal(m.state, "running", "a denial is an error code, not a crash");
  const denials = await waitFor("the audit record", () => {
    const d = audit.listEvents({ module: "m", kind: "denial" });
    return d.length > 0 && d;
  });
  assert.equal(denials[0]!.capability, "read:gpio:pin_4");
  assert.match(denials[0]!.detail ?? "", /^gpio_read\(4\)/);
  assert.deepEqual(
    audit.listEvents({ module: "m", kind: "grant" }).map((e) => e.capability),
    ["read:gpio:pin_3"],
  );
  await waitFor(
    "denial counts",
    () => audit.listUses("m").some((u) => u.capability === "read:gpio:pin_4" && u.denials > 1),
  );
  assert.ok(rt.getModule("m")!.denials > 0);
});

Deno.test("granted calls work, are counted per capability, and grants are revoked when the module stops", async () => {
  const dir = await Deno.makeTempDir();
  const { store, audit } = await withAudit();
  using _ = store;
  const wasm = await writeFixture(
    dir,
    "m.wasm",
    wat(gatedModule(
      `(import "kiln" "gpio_read" (func $r (param i32) (result i32)))
       (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))`,
      `(i32.add (call $w (i32.const 8) (call $r (i32.const 3))) (i32.const 0))`,
    )),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({ name: "m", wasm, schedule: tick, capabilities: ["read:gpio:pin_3", "write:gpio:pin_8"] }),
    ]),
    version: "t",
    log: () => {},
    audit,
  });
  await rt.start();
  await waitFor("a tick", () => rt.getModule("m")!.outputs.rc === 0);
  assert.equal(rt.plant.listGpio()[8]!.value, 0);
  assert.ok(rt.plant.setGpioInput(3, 1));
  await waitFor(
    "pin 8 to follow pin 3",
    () => rt.plant.listGpio()[8]!.value === 1 && rt.plant.listGpio()[8]!.setBy === "output",
  );
  await waitFor("use counts", () => {
    const uses = Object.fromEntries(audit.listUses("m").map((u) => [u.capability, u.uses]));
    return (uses["read:gpio:pin_3"] ?? 0) > 0 && (uses["write:gpio:pin_8"] ?? 0) > 0;
  });
  assert.equal(audit.listEvents({ kind: "denial" }).length, 0);
  await rt.stopModule("m");
  assert.deepEqual(
    audit.listEvents({ module: "m", kind: "revoke" }).map((e) => e.capability).sort(),
    ["read:gpio:pin_3", "write:gpio:pin_8"],
  );
});

Deno.test("publishing is allowed inside the granted topic filter and denied outside it", async () => {
  const dir = await Deno.makeTempDir();
  const { store, audit } = await withAudit();
  using _ = store;
  // Publishes "hi" to plant/line1/alerts (granted by plant/+/alerts) and to plant/line1/secrets (not granted).
  const wasm = await writeFixture(
    dir,
    "m.wasm",
    wat(gatedModule(
      `(import "kiln" "publish" (func $p (param i32 i32 i32 i32) (result i32)))`,
      `(i32.add
         (i32.mul (call $p (i32.const 16) (i32.const 18) (i32.const 96) (i32.const 2)) (i32.const 10))
         (call $p (i32.const 48) (i32.const 19) (i32.const 96) (i32.const 2)))`,
      `(data (i32.const 16) "plant/line1/alerts") (data (i32.const 48) "plant/line1/secrets") (data (i32.const 96) "hi")`,
    )),
  );
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({ name: "m", wasm, schedule: tick, capabilities: ["write:mqtt:plant/+/alerts"] }),
    ]),
    version: "t",
    log: () => {},
    audit,
  });
  await rt.start();
  // 0 * 10 + (-3): the first publish succeeded, the second was denied.
  await waitFor("both publishes", () => rt.getModule("m")!.outputs.rc === -3, 2000).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(rt.getModule("m"))}`);
  });
  const messages = await waitFor("a message", () => rt.listMessages().length > 0 && rt.listMessages());
  assert.ok(messages.every((m) => m.topic === "plant/line1/alerts" && m.payload === "hi"));
  const denial = await waitFor("the audit record", () => audit.listEvents({ kind: "denial" })[0]);
  assert.equal(denial.capability, "write:mqtt:plant/line1/secrets");
});
