import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/mod.ts";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor } from "../_helpers.ts";
import { ROOT } from "../_process.ts";

Deno.test("a C program built with wasi-libc runs as a Kiln module: printf reaches its log, fopen is denied and audited", async () => {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  const audit = new AuditLog(store);
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "wasi_demo",
        wasm: `${ROOT}modules/wasi_demo/wasi_demo.wasm`,
        schedule: { mode: "periodic", periodUs: 2_000, priority: 50 },
      }),
    ]),
    version: "test",
    log: () => {},
    audit,
  });
  await rt.start();
  assert.equal(rt.getModule("wasi_demo")!.state, "running");
  const logs = await waitFor("a tick line", () => {
    const l = rt.getModuleLogs("wasi_demo")!;
    return l.some((x) => /tick 10 after/.test(x.message)) && l;
  });
  assert.ok(logs.some((l) => l.level === "info" && l.message.startsWith("wasi_demo: hello from wasi-libc")));
  assert.ok(
    logs.some((l) => l.level === "warn" && /fopen \/etc\/passwd: Capabilities insufficient/.test(l.message)),
  );
  const denials = await waitFor("the audit records", () => {
    const d = audit.listEvents({ module: "wasi_demo", kind: "denial" });
    return d.length >= 2 && d;
  });
  assert.ok(denials.every((d) => d.capability === "wasi:path_open"));
  assert.ok(denials.some((d) => (d.detail ?? "").includes('path "etc/passwd"')), "the fopen");
  assert.ok(denials.some((d) => (d.detail ?? "").includes('path "/etc/passwd"')), "the direct call");
});
