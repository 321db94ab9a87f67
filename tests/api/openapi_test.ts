import assert from "node:assert/strict";
import { createApp, OPERATIONS } from "../../api/mod.ts";
import { StreamHub } from "../../api/mod.ts";
import { STATUS_BY_KIND } from "../../api/errors.ts";

Deno.test("/openapi.json describes every route the app has, and nothing else, with the role each needs", async () => {
  await using hub = new StreamHub();
  const ports = {
    modules: {} as never,
    observability: { health: () => ({ version: "9.9.9" }) } as never,
    plant: {} as never,
  };
  const app = createApp({ ...ports, deployer: {} as never, stream: hub });
  const real = new Set(
    app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method.toLowerCase()} ${r.path}`),
  );
  const documented = new Set(OPERATIONS.map((o) => `${o.method} ${o.path}`));
  real.delete("get /"); // the index and the dashboard are pages, not API operations
  for (const r of [...real]) if (r.startsWith("get /ui")) real.delete(r);
  assert.deepEqual([...documented].filter((r) => !real.has(r)), [], "documented but not routed");
  assert.deepEqual([...real].filter((r) => !documented.has(r)), [], "routed but not documented");

  const doc = await (await app.request("/openapi.json")).json();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.info.version, "9.9.9");
  assert.equal(doc.paths["/api/v1/modules"].post["x-kiln-role"], "admin");
  assert.equal(doc.paths["/api/v1/modules/{name}/restart"].post["x-kiln-role"], "operator");
  assert.equal(doc.paths["/api/v1/modules/{name}"].get["x-kiln-role"], "viewer");
  assert.deepEqual(doc.paths["/health"].get.security, []);
  assert.equal(doc.paths["/api/v1/modules/{name}"].get.parameters[0].name, "name");
});

Deno.test("/openapi.json documents the one error body, the status of each error kind and the JSON conventions", async () => {
  const ports = {
    modules: {} as never,
    observability: { health: () => ({ version: "9.9.9" }) } as never,
    plant: {} as never,
  };
  const doc = await (await createApp(ports).request("/openapi.json")).json();
  const error = doc.components.schemas.Error;
  assert.deepEqual(error.required, ["error"]);
  assert.deepEqual(error.properties.error.required, ["code", "message"]);
  assert.equal(error.properties.error.properties.issues.items.$ref, "#/components/schemas/Issue");
  assert.deepEqual(doc.components.schemas.Issue.required, ["path", "line", "message"]);
  assert.deepEqual(error["x-kiln-status-by-kind"], STATUS_BY_KIND);
  assert.equal(doc.paths["/api/v1/modules"].post.responses["4XX"].$ref, "#/components/responses/Error");
  assert.match(doc.info.description, /snake_case/);
  assert.match(doc.info.description, /RFC 3339/);
});
