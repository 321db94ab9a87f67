/**
 * API roles: 401 without a token, 403 for a role too small, 2xx for enough; tokens hashed in the store,
 * revocation, the first-start admin token of `kiln run`, and KILN_ADMIN_TOKEN.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import { createRuntime } from "../../runtime/mod.ts";
import { createToken, listTokens, openStore, revokeToken, verifyToken } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, wat, writeFixture } from "../_helpers.ts";
import { AUTH, getJson, runKiln, startKiln } from "../_process.ts";
import { makeTls } from "../hal/_mosquitto.ts";

const TICK = `(module (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

Deno.test("each role gets what it may and no more: 401 without a valid token, 403 above its role", async () => {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  const viewer = createToken(store.db, { role: "viewer", name: "grafana" }).token;
  const operator = createToken(store.db, { role: "operator", name: "shift" }).token;
  const admin = createToken(store.db, { role: "admin", name: "root" }).token;
  const plan = deploymentPlan([
    modulePlan({
      name: "tick",
      wasm: await writeFixture(dir, "tick.wasm", wat(TICK)),
      schedule: { mode: "periodic", periodUs: 100_000, priority: 50 },
    }),
  ]);
  await using runtime = await createRuntime({ plan, version: "test", log: () => {} });
  await runtime.start();
  const app = createApp({
    ...apiPorts(runtime),
    auth: { verify: (t) => verifyToken(store.db, t) },
  });
  const req = (path: string, token: string | null, method = "GET") =>
    app.request(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

  assert.equal((await req("/health", null)).status, 200, "health needs no token");
  const none = await req("/api/v1/modules", null);
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  assert.equal((await none.json()).error.code, "unauthorized");
  assert.equal((await req("/api/v1/modules", "kiln_not_a_token")).status, 401);
  assert.equal((await req("/metrics", null)).status, 401, "metrics are private unless configured public");

  assert.equal((await req("/api/v1/modules", viewer)).status, 200);
  const refused = await req("/api/v1/modules/tick/stop", viewer, "POST");
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "forbidden");
  assert.equal((await req("/api/v1/modules", operator, "POST")).status, 403, "deploying needs admin");
  assert.equal((await req("/api/v1/modules/tick", operator, "DELETE")).status, 403, "deleting needs admin");

  assert.equal((await req("/api/v1/modules/tick/stop", operator, "POST")).status, 200);
  assert.equal((await req("/api/v1/modules/tick/start", admin, "POST")).status, 200, "admin may all");

  // A revoked token stops working at once.
  const id = listTokens(store.db).find((t) => t.name === "shift")!.id;
  revokeToken(store.db, id);
  assert.equal((await req("/api/v1/modules", operator)).status, 401);
  // Only the hash is stored.
  const raw = store.db.prepare("SELECT * FROM api_tokens").all() as Record<string, unknown>[];
  assert.ok(raw.every((r) => !Object.values(r).includes(viewer)));
});

Deno.test("the first kiln run creates an admin token, shown once and kept in admin.token (0600); kiln token manages others", async () => {
  const dir = await Deno.makeTempDir();
  const env = { KILN_ADMIN_TOKEN: "" }; // unset for this runtime: it must make its own
  let admin: string;
  {
    await using kiln = await startKiln(["--data", dir], { env });
    admin = (await Deno.readTextFile(`${dir}/admin.token`)).trim();
    assert.match(admin, /^kiln_[A-Za-z0-9_-]{43}$/);
    assert.equal((await Deno.stat(`${dir}/admin.token`)).mode! & 0o777, 0o600);
    assert.ok(kiln.output().includes(admin), "printed once at creation");
    const res = await fetch(`${kiln.base}/api/v1/modules`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const anon = await fetch(`${kiln.base}/api/v1/modules`);
    assert.equal(anon.status, 401);
    await anon.body?.cancel();

    const made = await runKiln([
      "token",
      "create",
      "--role",
      "viewer",
      "--name",
      "hmi",
      "--data",
      dir,
      "--json",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const viewer = JSON.parse(made.stdout) as { id: number; token: string };
    const ok = await fetch(`${kiln.base}/api/v1/modules`, {
      headers: { authorization: `Bearer ${viewer.token}` },
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const revoked = await runKiln(["token", "revoke", String(viewer.id), "--data", dir]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const gone = await fetch(`${kiln.base}/api/v1/modules`, {
      headers: { authorization: `Bearer ${viewer.token}` },
    });
    assert.equal(gone.status, 401);
    await gone.body?.cancel();
    const bad = await runKiln(["token", "create", "--role", "root", "--data", dir]);
    assert.equal(bad.code, 2);
  }
  // A second start keeps the same admin token and prints none.
  await using again = await startKiln(["--data", dir], { env });
  assert.equal((await Deno.readTextFile(`${dir}/admin.token`)).trim(), admin);
  assert.ok(!again.output().includes("created the admin token"));
  const listed = await runKiln(["token", "list", "--data", dir, "--json"]);
  assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 2);
});

Deno.test("KILN_ADMIN_TOKEN is the admin token, and no token file is made", async () => {
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir]); // the helpers set KILN_ADMIN_TOKEN
  const health = await getJson<{ status: string }>(`${kiln.base}/api/v1/modules`);
  assert.ok(health);
  await assert.rejects(() => Deno.stat(`${dir}/admin.token`), Deno.errors.NotFound);
});

Deno.test("with api.tls the API is served over HTTPS with the configured certificate", async () => {
  const dir = await Deno.makeTempDir();
  const pki = await makeTls(dir); // a test CA and a server certificate for 127.0.0.1
  await Deno.writeFile(`${dir}/tick.wasm`, wat(TICK));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-tls }
api: { tls: { cert_file: ${pki.serverCert}, key_file: ${pki.serverKey} } }
modules:
  tick: { wasm: tick.wasm, schedule: { mode: periodic, period_us: 100000 } }
`,
  );
  await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  assert.match(kiln.base, /^https:/);
  using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.caCert)] });
  const res = await fetch(`${kiln.base}/api/v1/modules/tick`, { client, headers: AUTH });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).state, "running");
});
