/**
 * `GET /api/v1/modules` and `GET /api/v1/modules/:name` serialise a module's outputs (a null-prototype record
 * keyed by the module's own names) from a plain copy (`api/routes/modules.ts`, for V8's fast JSON path): the
 * names a module chose, `__proto__` and `constructor` included, come out as its own keys with their values.
 */
import assert from "node:assert/strict";
import { type ApiDeps, createApp } from "../../api/mod.ts";
import type { ModuleStatus } from "../../runtime/mod.ts";
import { MODULE_LIST_REUSE_MS } from "../../api/routes/modules.ts";

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

Deno.test("requests for the module list share one computation, and a change through the API shows at once", async () => {
  let computed = 0;
  let state = "running";
  const status = () => ({ name: "fft", state, outputs: Object.create(null) }) as unknown as ModuleStatus;
  const deps = {
    modules: {
      listModules: () => (computed++, [status()]),
      getModule: (n: string) => (n === "fft" ? status() : null),
      stopModule: (n: string) => {
        if (n !== "fft") throw new Error(n);
        // The change lands after the request began: a list computed meanwhile must not outlive it.
        return new Promise<ModuleStatus>((resolve) =>
          setTimeout(() => (state = "stopped", resolve(status())), 0)
        );
      },
    },
    observability: { health: () => ({ version: "test" }) },
  } as unknown as ApiDeps;
  const app = createApp(deps);
  const list = async () => {
    const res = await app.request("/api/v1/modules");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    return ((await res.json()) as { modules: ModuleStatus[] }).modules.map((m) => m.state);
  };

  const reads = await Promise.all(Array.from({ length: 20 }, list));
  assert.deepEqual(reads, Array(20).fill(["running"]));
  assert.ok(computed < 20, `${computed} computations for 20 concurrent reads`);

  const stop = app.request("/api/v1/modules/fft/stop", { method: "POST" });
  assert.deepEqual(await list(), ["running"]); // read while the stop is under way
  assert.equal((await stop).status, 200);
  assert.deepEqual(await list(), ["stopped"]);

  // A read later than the reuse window computes again, whatever changed without the API.
  const before = computed;
  await new Promise((r) => setTimeout(r, 2 * MODULE_LIST_REUSE_MS));
  await list();
  assert.equal(computed, before + 1);
});
