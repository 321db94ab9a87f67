/**
 * `GET /api/v1/modules` and `GET /api/v1/modules/:name` serialise a module's outputs (a null-prototype record
 * keyed by the module's own names) from a plain copy (`api/routes/modules.ts`, for V8's fast JSON path): the
 * names a module chose, `__proto__` and `constructor` included, come out as its own keys with their values.
 */
import assert from "node:assert/strict";
import { type ApiDeps, createApp } from "../../api/mod.ts";
import type { ModuleStatus } from "../../runtime/mod.ts";

function statusWith(outputs: Record<string, number>): ModuleStatus {
  return { name: "hostile", state: "running", outputs } as unknown as ModuleStatus;
}

Deno.test("the module list and a module's status keep every output key a module chose, as its own", async () => {
  const outputs: Record<string, number> = Object.create(null);
  outputs["__proto__"] = 1;
  outputs["constructor"] = 2;
  outputs["rms_g"] = 0.1 + 0.2;
  const status = statusWith(outputs);
  const deps = {
    modules: { listModules: () => [status], getModule: (n: string) => (n === "hostile" ? status : null) },
    observability: { health: () => ({ version: "test" }) },
  } as unknown as ApiDeps;
  const app = createApp(deps);
  for (const path of ["/api/v1/modules", "/api/v1/modules/hostile"]) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    const text = await res.text();
    assert.ok(text.includes('"outputs":{"__proto__":1,"constructor":2,"rms_g":0.30000000000000004}'), text);
    const body = JSON.parse(text) as { modules?: ModuleStatus[] } & ModuleStatus;
    const m = body.modules?.[0] ?? body;
    assert.ok(Object.hasOwn(m.outputs, "__proto__") && Object.hasOwn(m.outputs, "constructor"));
    assert.equal(Object.getPrototypeOf(m.outputs), Object.prototype, "JSON.parse's own object, unpolluted");
    assert.equal(m.name, "hostile");
  }
  assert.equal(Object.getPrototypeOf(status.outputs), null, "the status itself is left as it was");
});
