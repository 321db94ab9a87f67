/**
 * The gateway's own figures (`GET /api/v1/gateway`, the stream's `gateway` topic) and who a token is
 * (`GET /api/v1/me`), issue #21: through a real runtime and the Hono app with viewer, operator and admin
 * tokens, and through a real server's WebSocket for the stream.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp, StreamFeed, StreamHub } from "../../api/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import { ProcessSampler } from "../../runtime/history/mod.ts";
import { createOutbox, openStore, verifyToken } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { AUTH, getJson, ROOT, startKiln } from "../_process.ts";
import { Client } from "./_stream_client.ts";
import { roleTokens } from "./_tokens.ts";

const TICK = `(module (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;

const FIELDS = [
  "version",
  "uptime_s",
  "rss_bytes",
  "heap_used_bytes",
  "cpu_percent",
  "load_avg",
  "modules",
  "outbox",
  "connectors",
];

Deno.test("the gateway's figures and each token's name, role and rights, by the routes' real roles", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    using store = openStore(`${dir}/kiln.db`);
    const tokens = roleTokens(store.db);
    const wasm = await writeFixture(dir, "tick.wasm", wat(TICK));
    await using runtime = await createRuntime({
      plan: deploymentPlan([
        modulePlan({ name: "tick", wasm, schedule: { mode: "periodic", periodUs: 100_000, priority: 50 } }),
        modulePlan({
          name: "off",
          wasm,
          schedule: { mode: "periodic", periodUs: 100_000, priority: 50 },
          enabled: false,
        }),
      ]),
      version: "9.9.9-test",
      log: () => {},
    });
    await runtime.start();
    const app = createApp({
      ...apiPorts(runtime),
      auth: { verify: (token) => verifyToken(store.db, token) },
    });
    const req = (path: string, token: string | null, method = "GET") =>
      app.request(path, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });

    await t.step("a viewer reads the figures; without a token it is a 401", async () => {
      assert.equal((await req("/api/v1/gateway", null)).status, 401);
      const res = await req("/api/v1/gateway", tokens.viewer);
      assert.equal(res.status, 200);
      const g = await res.json();
      assert.deepEqual(Object.keys(g), FIELDS);
      assert.equal(g.version, "9.9.9-test");
      assert.equal(typeof g.uptime_s, "number");
      assert.ok(g.rss_bytes > g.heap_used_bytes && g.heap_used_bytes > 0);
      assert.deepEqual(g.modules, { running: 1, total: 2 });
      assert.equal(g.outbox, null, "no MQTT uplink, no outbox");
      const connectors = runtime.listConnectors();
      assert.deepEqual(g.connectors, {
        ok: connectors.filter((c) => c.state === "connected").length,
        total: connectors.length,
      });
      assert.ok(g.connectors.ok >= 1, "the simulated plant is connected");
      // The tests run with --allow-sys: the load average is there exactly when the permission is.
      const sys = Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state === "granted";
      if (sys) assert.ok(g.load_avg.length === 3 && g.load_avg.every((x: number) => x >= 0));
      else assert.equal(g.load_avg, null);
    });

    await t.step("the CPU share is known once the process has been sampled for a second", async () => {
      const g = await waitFor("a CPU share", async () => {
        const g = await (await req("/api/v1/gateway", tokens.viewer)).json();
        return g.cpu_percent !== null && g;
      }, 30_000);
      assert.ok(typeof g.cpu_percent === "number" && g.cpu_percent >= 0);
    });

    await t.step("/me answers each token's name and role, and what the routes would let it do", async () => {
      assert.equal((await req("/api/v1/me", null)).status, 401);
      const expected = {
        viewer: { control: false, deploy: false, ack: false, gpio: false, shadow: false },
        operator: { control: true, deploy: false, ack: true, gpio: true, shadow: false },
        admin: { control: true, deploy: true, ack: true, gpio: true, shadow: true },
      };
      const names = { viewer: "wall", operator: "shift", admin: "root" };
      const needs = {
        control: "operator",
        deploy: "admin",
        ack: "operator",
        gpio: "operator",
        shadow: "admin",
      };
      for (const role of ["viewer", "operator", "admin"] as const) {
        const me = await (await req("/api/v1/me", tokens[role])).json();
        assert.deepEqual(me, { name: names[role], role, can: expected[role], needs });
      }
    });

    await t.step("each `can` agrees with what the route answers that role", async () => {
      // A start of a running module is a 409 past the role check, a 403 before it.
      const control = async (token: string) =>
        (await req("/api/v1/modules/tick/start", token, "POST")).status;
      assert.equal(await control(tokens.viewer), 403);
      assert.notEqual(await control(tokens.operator), 403);
      const ack = async (token: string) => (await req("/api/v1/alerts/99/ack", token, "POST")).status;
      assert.equal(await ack(tokens.viewer), 403);
      assert.equal(await ack(tokens.operator), 404, "past the role check: no alert #99");
      const promote = async (token: string) =>
        (await req("/api/v1/modules/tick/shadow/promote", token, "POST")).status;
      assert.equal(await promote(tokens.operator), 403);
      assert.notEqual(await promote(tokens.admin), 403);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "without the sys permission the load average is null and the other figures are still there",
  permissions: "none",
  fn() {
    using sampler = new ProcessSampler();
    sampler.start();
    const figures = sampler.figures();
    assert.equal(figures.loadAvg, null);
    assert.ok(figures.rssBytes > 0 && figures.heapUsedBytes > 0);
  },
});

Deno.test("an open API (no authentication) answers /me as the name api with every right", async () => {
  const app = createApp({
    modules: {} as never,
    observability: { health: () => ({ version: "test" }) } as never,
    plant: {} as never,
  });
  const me = await (await app.request("/api/v1/me")).json();
  assert.equal(me.name, "api");
  assert.equal(me.role, "admin");
  assert.deepEqual(me.can, { control: true, deploy: true, ack: true, gpio: true, shadow: true });
});

Deno.test("the demo's outbox is in the figures, and the stream publishes them on `gateway` while subscribed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plan = planDeployment(await loadManifest(`${ROOT}examples/demo.yaml`));
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1 << 20 });
    await using runtime = await createRuntime({ plan, version: "test", log: () => {}, outbox });
    await runtime.start();
    const ports = apiPorts(runtime);
    await using hub = new StreamHub();
    await using feed = new StreamFeed(ports, hub);
    feed.start();
    const app = createApp({ ...ports, stream: hub });
    const g = await (await app.request("/api/v1/gateway")).json();
    assert.deepEqual(Object.keys(g.outbox), ["depth", "bytes", "oldest_age_s"]);
    assert.ok(Number.isInteger(g.outbox.depth) && g.outbox.depth >= 0);
    assert.ok(g.outbox.bytes >= 0);
    assert.ok(g.outbox.oldest_age_s === null || g.outbox.oldest_age_s >= 0);
    assert.equal(g.modules.total, 5);

    await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
    await using client = await Client.open(`ws://127.0.0.1:${server.addr.port}/api/v1/stream`);
    await client.subscribe("gateway");
    await client.until("two gateway frames", () => client.of("gateway").length >= 2, 30_000);
    const [first, second] = client.of("gateway");
    assert.deepEqual(Object.keys(first!.data), FIELDS);
    assert.ok(second!.seq > first!.seq);
    assert.ok(Date.parse(second!.at) > Date.parse(first!.at), "a fresh frame each time");
    assert.equal(second!.data.version, "test");
    assert.equal(second!.data.modules.total, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a kiln run without the sys permission answers its figures: CPU share known, load average null", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using kiln = await startKiln(["--data", dir]);
    const g = await waitFor("a CPU share", async () => {
      const g = await getJson(`${kiln.base}/api/v1/gateway`);
      return g.cpu_percent !== null && g;
    }, 30_000);
    assert.equal(typeof g.cpu_percent, "number");
    assert.equal(g.load_avg, null, "kiln run is not granted --allow-sys=loadavg");
    assert.ok((g.rss_bytes as number) > 0);
    const me = await (await fetch(`${kiln.base}/api/v1/me`, { headers: AUTH })).json();
    assert.equal(me.role, "admin");
    assert.equal(me.can.deploy, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
