/**
 * `kiln fleet serve`: the controller's HTTP API. In process (`app.request`) over a real SQLite store: roles,
 * validation, the error body, rollout commands. Then the command itself in a child process with a real
 * Mosquitto: a simulated device's retained report shows in `GET /devices`, a rollout created over HTTP is
 * published by the loop, a `kiln fleet pause` from another process lands, and SIGTERM stops it cleanly.
 */
import assert from "node:assert/strict";
import mqtt, { type MqttClient } from "mqtt";
import { FleetStore } from "../../fleet/mod.ts";
import { createFleetApp, fleetAuthenticator, FleetTokens } from "../../fleet/http/mod.ts";
import type { ReportedState } from "../../runtime/fleet/mod.ts";
import { waitFor } from "../_helpers.ts";
import { runKiln } from "../_process.ts";
import { createMosquitto } from "../hal/_mosquitto.ts";
import { type ControllerProcess, startFleetCommand } from "./_rollout.ts";

const IMAGE = `127.0.0.1:5000/plant/counter:1.0.0@sha256:${"a".repeat(64)}`;
const SPEC = { schedule: { mode: "periodic", period_us: 20000 } };
const BODY = { fleet: "plant-a", module: "counter", image: IMAGE, spec: SPEC, phases: "1:60s,100%" };

interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; message: string }[] };
}

/** A store, a token file and the app over them in a temporary directory; disposing closes and removes them. */
async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "kiln-fleet-serve-" });
  const store = FleetStore.open(dir);
  const tokens = FleetTokens.open(dir);
  const viewer = tokens.create("viewer", "grafana").token;
  const operator = tokens.create("operator", "shift").token;
  const changes = { count: 0 };
  const app = createFleetApp({ store, auth: tokens, version: "test", onChange: () => changes.count++ });
  const req = (path: string, token: string | null, init: { method?: string; body?: unknown } = {}) =>
    app.request(path, {
      method: init.method ?? "GET",
      headers: {
        ...(token !== null && { authorization: `Bearer ${token}` }),
        ...(init.body !== undefined && { "content-type": "application/json" }),
      },
      ...(init.body !== undefined &&
        { body: typeof init.body === "string" ? init.body : JSON.stringify(init.body) }),
    });
  return {
    store,
    changes,
    viewer,
    operator,
    req,
    [Symbol.asyncDispose]: async () => {
      tokens.close();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("the fleet API answers 401 without a valid token and 403 to a viewer's POST, and /health needs none", async () => {
  await using f = await fixture();
  const health = await f.req("/health", null);
  assert.equal(health.status, 200);
  assert.equal(((await health.json()) as { status: string }).status, "ok");

  const none = await f.req("/api/v1/rollouts", null);
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as ErrorBody).error.code, "unauthorized");
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  const unknown = await f.req("/api/v1/rollouts", "kiln_nope");
  assert.equal(unknown.status, 401);

  assert.equal((await f.req("/api/v1/rollouts", f.viewer)).status, 200);
  const post = await f.req("/api/v1/rollouts", f.viewer, { method: "POST", body: BODY });
  assert.equal(post.status, 403);
  const body = (await post.json()) as ErrorBody;
  assert.equal(body.error.code, "forbidden");
  assert.equal(f.store.listRollouts().length, 0, "nothing was created");
  assert.equal((await f.req("/api/v1/tokens", f.operator)).status, 403, "tokens are the admin's");
});

Deno.test("a bad rollout body is a 400 whose issues name each path, an oversized one a 413, and nothing is stored", async () => {
  await using f = await fixture();
  const post = async (body: unknown) => {
    const res = await f.req("/api/v1/rollouts", f.operator, { method: "POST", body });
    const json = (await res.json()) as ErrorBody;
    assert.equal(typeof json.error.message, "string");
    assert.ok(!JSON.stringify(json).includes("    at "), "no stack trace");
    return { status: res.status, error: json.error, paths: (json.error.issues ?? []).map((i) => i.path) };
  };

  const missing = await post({ fleet: "plant-a", image: IMAGE, spec: SPEC, phases: "100%" });
  assert.equal(missing.status, 400);
  assert.equal(missing.error.code, "request_invalid");
  assert.deepEqual(missing.paths, ["module"]);

  const several = await post({
    ...BODY,
    fleet: "Plant A",
    spec: { ...SPEC, wasm: "x.wasm" },
    target: { groups: ["line-3"], hardware: [""] },
  });
  assert.equal(several.status, 400);
  assert.deepEqual(several.paths.sort(), ["fleet", "spec.wasm", "target.hardware[0]"]);

  const phases = await post({ ...BODY, phases: [{ percent: 10, count: 2 }, { percent: 100 }] });
  assert.deepEqual(phases.paths, ["phases[0]"]);
  const lastPhase = await post({ ...BODY, phases: "10%:60s" });
  assert.deepEqual(lastPhase.paths, ["phases"]);
  const condition = await post({ ...BODY, condition: "crash_rate >" });
  assert.deepEqual(condition.paths, ["condition"]);
  const unpinned = await post({ ...BODY, image: "127.0.0.1:5000/plant/counter:1.0.0" });
  assert.deepEqual(unpinned.paths, ["image"]);
  const extra = await post({ ...BODY, frobnicate: true });
  assert.equal(extra.status, 400);
  assert.equal(extra.paths.length, 1);
  const proto = await post(`{"fleet":"plant-a","module":"counter","image":"${IMAGE}",
    "spec":{"schedule":{"mode":"periodic","period_us":20000},"__proto__":{"x":1}},"phases":"100%"}`);
  assert.deepEqual(proto.paths, ["spec.__proto__"]);

  const notJson = await post("{nope");
  assert.equal(notJson.status, 400);
  assert.equal(notJson.error.code, "bad_request");
  const array = await post([BODY]);
  assert.equal(array.status, 400);

  const huge = await post({ ...BODY, spec: { ...SPEC, note: "x".repeat(100 * 1024) } });
  assert.equal(huge.status, 413);
  assert.equal(huge.error.code, "payload_too_large");

  const badQuery = await f.req("/api/v1/rollouts?state=sleepy", f.viewer);
  assert.equal(badQuery.status, 400);
  assert.deepEqual(((await badQuery.json()) as ErrorBody).error.issues?.map((i) => i.path), ["state"]);
  assert.equal(f.store.listRollouts().length, 0);
});

Deno.test("an operator creates a rollout over HTTP, sees it in the list and the store, pauses, resumes and aborts it; an unknown id is a 404", async () => {
  await using f = await fixture();
  const created = await f.req("/api/v1/rollouts", f.operator, {
    method: "POST",
    body: {
      ...BODY,
      phases: [{ count: 1, min_observe_s: 60 }, { percent: 100, min_observe_s: 60, approval: true }],
      target: { hardware: ["arm64"] },
      condition: "crash_rate > 0.1% or p99_ms > 15",
      offline_grace_s: null,
    },
  });
  assert.equal(created.status, 201);
  const r = (await created.json()) as Record<string, unknown> & { id: string };
  assert.equal(created.headers.get("location"), `/api/v1/rollouts/${r.id}`);
  assert.equal(r.state, "running");
  assert.deepEqual(r.phases, [
    { count: 1, min_observe_s: 60, approval: false },
    { percent: 100, min_observe_s: 60, approval: true },
  ]);
  assert.equal(r.offline_grace_s, null);
  assert.equal(r.observed_ms, null);
  assertWireStyle(r);

  const stored = f.store.getRollout(r.id);
  assert.ok(stored !== null);
  assert.equal(r.created_at, new Date(stored.created_ms).toISOString());
  assert.deepEqual(stored.target, { groups: [], hardware: ["arm64"] });
  assert.equal(stored.condition, "crash_rate > 0.1% or p99_ms > 15");

  const list = (await (await f.req("/api/v1/rollouts", f.viewer)).json()) as { rollouts: { id: string }[] };
  assert.deepEqual(list.rollouts.map((x) => x.id), [r.id]);
  const one = (await (await f.req(`/api/v1/rollouts/${r.id}`, f.viewer)).json()) as {
    members: unknown[];
    breach: unknown;
  };
  assertWireStyle(one);
  assert.deepEqual(one.members, []);
  assert.equal(one.breach, null);

  const twice = await f.req("/api/v1/rollouts", f.operator, { method: "POST", body: BODY });
  assert.equal(twice.status, 409, "one active rollout per module and fleet");
  assert.equal(((await twice.json()) as ErrorBody).error.code, "rollout_state");

  const act = async (command: string, token = f.operator) => {
    const res = await f.req(`/api/v1/rollouts/${r.id}/${command}`, token, { method: "POST" });
    return { status: res.status, body: (await res.json()) as { state?: string } & Partial<ErrorBody> };
  };
  assert.equal((await act("pause", f.viewer)).status, 403);
  const approve = await act("approve");
  assert.equal(approve.status, 409, "a running rollout has nothing to approve");
  assert.equal(approve.body.error?.code, "rollout_state");
  assert.equal(f.changes.count, 1, "the loop is told of the new rollout, not of refused requests");
  assert.equal((await act("pause")).body.state, "paused");
  assert.equal(f.changes.count, 2);
  assert.equal(f.store.getRollout(r.id)?.state, "paused");
  const status = (await (await f.req("/api/v1/status", f.viewer)).json()) as {
    rollouts: { id: string; state: string; phase: number; phases: number }[];
  };
  assert.deepEqual(
    status.rollouts.map((x) => [x.id, x.state, x.phase, x.phases]),
    [[r.id, "paused", 0, 2]],
  );
  assert.equal((await act("resume")).body.state, "running");
  assert.equal((await act("abort")).body.state, "aborted");
  assert.equal(f.store.getRollout(r.id)?.state, "aborted");
  assert.equal((await act("resume")).status, 409);
  const active = (await (await f.req("/api/v1/status?active=true", f.viewer)).json()) as { rollouts: [] };
  assert.deepEqual(active.rollouts, []);

  for (const path of ["/api/v1/rollouts/nope", "/api/v1/rollouts/nope/pause"]) {
    const res = await f.req(path, f.operator, { method: path.endsWith("pause") ? "POST" : "GET" });
    assert.equal(res.status, 404);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, "rollout_not_found");
    assert.match(body.error.message, /"nope"/);
  }
  const route = await f.req("/api/v1/nothing", f.viewer);
  assert.equal(route.status, 404);
  assert.equal(((await route.json()) as ErrorBody).error.code, "not_found");
});

/**
 * Fails on a key that is not snake_case or a number that looks like an epoch instant (the API writes instants
 * as RFC 3339 strings); a spec's keys and a module's figures are data, not checked.
 */
function assertWireStyle(json: unknown, path = ""): void {
  if (Array.isArray(json)) return json.forEach((v, i) => assertWireStyle(v, `${path}[${i}]`));
  if (json === null || typeof json !== "object") return;
  for (const [key, value] of Object.entries(json)) {
    assert.match(key, /^[a-z][a-z0-9_]*$/, `${path}.${key} is not snake_case`);
    if (typeof value === "number") assert.ok(value < 1e12, `${path}.${key} = ${value} looks like an epoch`);
    if (key !== "spec" && key !== "figures") assertWireStyle(value, `${path}.${key}`);
  }
}

Deno.test("the fleet API's OpenAPI document lists exactly the routes it serves, each with its role", async () => {
  await using f = await fixture();
  const res = await f.req("/openapi.json", null);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as { paths: Record<string, Record<string, { "x-kiln-role"?: string }>> };
  const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{([a-z]+)\}/g, ":$1")}`)
  ).sort();
  const app = createFleetApp({ store: f.store, version: "test" });
  const served = [
    ...new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`)),
  ]
    .sort();
  assert.deepEqual(documented, served);
  assert.equal(doc.paths["/api/v1/rollouts/{id}/abort"]?.post?.["x-kiln-role"], "operator");
  assert.equal(doc.paths["/api/v1/devices"]?.get?.["x-kiln-role"], "viewer");
});

Deno.test("a revoked token stops working at once, and KILN_ADMIN_TOKEN replaces the first-start admin token file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-fleet-tokens-" });
  try {
    using tokens = FleetTokens.open(dir);
    const lines: string[] = [];
    const withEnv = await fleetAuthenticator(tokens, {
      envToken: "kiln_env_admin",
      dataDir: dir,
      log: (l) => lines.push(l),
    });
    await assert.rejects(Deno.stat(`${dir}/admin.token`), Deno.errors.NotFound);
    assert.deepEqual(withEnv.verify("kiln_env_admin"), { name: "KILN_ADMIN_TOKEN", role: "admin" });
    assert.equal(withEnv.verify("kiln_env_admin_"), null);

    const auth = await fleetAuthenticator(tokens, {
      envToken: null,
      dataDir: dir,
      log: (l) => lines.push(l),
    });
    const admin = (await Deno.readTextFile(`${dir}/admin.token`)).trim();
    assert.deepEqual(auth.verify(admin), { name: "admin", role: "admin" });
    assert.equal(lines.length, 1);
    await fleetAuthenticator(tokens, { envToken: null, dataDir: dir, log: (l) => lines.push(l) });
    assert.equal(lines.length, 1, "an active admin token exists: no second one");

    const { token, info } = tokens.create("operator", "shift");
    assert.equal(auth.verify(token)?.role, "operator");
    tokens.revoke(info.id);
    assert.equal(auth.verify(token), null);
    assert.throws(
      () => tokens.revoke(info.id),
      (err: Error & { code?: string }) => err.code === "token_unknown",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kiln fleet token creates, lists and revokes the controller's tokens, and kiln fleet serve refuses a bad --listen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-fleet-token-cli-" });
  try {
    const kiln = (...args: string[]) => runKiln(["fleet", ...args], { timeoutMs: 60_000 });
    const created = await kiln(
      "token",
      "create",
      "--role",
      "operator",
      "--name",
      "shift",
      "--data",
      dir,
      "--json",
    );
    assert.equal(created.code, 0, created.stderr);
    const { id, token, role } = JSON.parse(created.stdout) as { id: number; token: string; role: string };
    assert.equal(role, "operator");
    {
      using tokens = FleetTokens.open(dir);
      assert.equal(tokens.verify(token)?.name, "shift");
    }
    const listed = await kiln("token", "list", "--data", dir, "--json");
    assert.deepEqual((JSON.parse(listed.stdout) as { id: number }[]).map((t) => t.id), [id]);
    assert.equal((await kiln("token", "revoke", String(id), "--data", dir)).code, 0);
    {
      using tokens = FleetTokens.open(dir);
      assert.equal(tokens.verify(token), null);
    }
    assert.equal((await kiln("token", "create", "--role", "root", "--data", dir)).code, 2);
    const badListen = await kiln(
      "serve",
      "--broker",
      "mqtt://127.0.0.1:1",
      "--data",
      dir,
      "--listen",
      "nowhere",
    );
    assert.equal(badListen.code, 2);
    assert.match(badListen.stderr, /--listen/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A reported state as a gateway publishes it, running nothing of the fleet's. */
function report(): ReportedState {
  return {
    rev_applied: null,
    rev_seen: null,
    group_revs: {},
    at: new Date().toISOString(),
    runtime_version: "0.1.0",
    report_every_s: 10,
    hardware: "arm64",
    groups: ["line-3"],
    modules: {
      local: {
        source: "manifest",
        sha256: "b".repeat(64),
        version: null,
        state: "running",
        probation: false,
        figures: { invocations: 5, errors: 0, crashes: 0, error_rate: 0, p99_us: 120, budget_overruns: 0 },
      },
    },
    errors: [],
  };
}

Deno.test("kiln fleet serve runs the loop and the API together: a device's report shows in /devices, an HTTP rollout is published to it, a pause from another process lands, SIGTERM stops it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-fleet-serve-e2e-" });
  const broker = await createMosquitto(dir);
  const deadline = AbortSignal.timeout(180_000);
  let serve: ControllerProcess | null = null;
  let device: MqttClient | null = null;
  try {
    await broker.start();
    device = await mqtt.connectAsync(broker.url, { connectTimeout: 10_000, reconnectPeriod: 500 });
    const desired: string[] = [];
    device.on("message", (_topic, payload) => desired.push(new TextDecoder().decode(payload)));
    await device.subscribeAsync("kiln/fleet/plant-a/gw-1/desired", { qos: 1 });
    await device.publishAsync("kiln/fleet/plant-a/gw-1/reported", JSON.stringify(report()), {
      qos: 1,
      retain: true,
    });

    const data = `${dir}/fleet`;
    serve = startFleetCommand(
      ["serve", "--broker", broker.url, "--data", data, "--listen", "127.0.0.1:0", "--tick-ms", "200"],
      deadline,
    );
    const out = serve.output;
    const base = await waitFor(
      "kiln fleet serve to print its health URL",
      () => /health\s+(http:\/\/\S+)\/health/.exec(out.text)?.[1],
      60_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; its output: ${out.text}`);
    });
    const admin = (await Deno.readTextFile(`${data}/admin.token`)).trim();
    assert.match(out.text, /created the admin token/);
    assert.equal((await Deno.stat(`${data}/admin.token`)).mode! & 0o777, 0o600);
    const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
    const get = async <T>(path: string) => {
      const res = await fetch(`${base}${path}`, { headers });
      assert.equal(res.status, 200, `GET ${path}`);
      return (await res.json()) as T;
    };

    type Devices = {
      devices: {
        id: string;
        fleet: string;
        online: boolean;
        hardware: string;
        modules: { name: string; state: string }[];
      }[];
    };
    const devices = await waitFor("gw-1 in GET /api/v1/devices", async () => {
      const d = await get<Devices>("/api/v1/devices");
      return d.devices.length > 0 ? d : null;
    }, 30_000);
    assert.deepEqual(
      devices.devices.map((
        d,
      ) => [d.fleet, d.id, d.online, d.hardware, d.modules.map((m) => [m.name, m.state])]),
      [["plant-a", "gw-1", true, "arm64", [["local", "running"]]]],
    );

    assertWireStyle(devices);
    const created = await fetch(`${base}/api/v1/rollouts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ ...BODY, phases: "100%:60s", target: { groups: ["line-3"] } }),
    });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    const doc = await waitFor(
      "the loop to publish gw-1's desired state",
      () =>
        desired.map((t) => JSON.parse(t) as { modules: Record<string, { image: string }> })
          .find((d) => d.modules.counter?.image === IMAGE),
      30_000,
    );
    assert.equal(doc.modules.counter!.image, IMAGE);
    const one = await get<{ members: { device: string; status: string }[] }>(`/api/v1/rollouts/${id}`);
    assert.deepEqual(one.members.map((m) => [m.device, m.status]), [["gw-1", "deployed"]]);

    // Another process writes to the same store while serve runs: its revision check keeps both consistent.
    const paused = await runKiln(["fleet", "pause", id, "--data", data], { timeoutMs: 60_000 });
    assert.equal(paused.code, 0, paused.stderr);
    const after = await get<{ state: string }>(`/api/v1/rollouts/${id}`);
    assert.equal(after.state, "paused");
    const status = await get<{ rollouts: { versions: { version: string | null; devices: string[] }[] }[] }>(
      "/api/v1/status",
    );
    assert.deepEqual(status.rollouts[0]!.versions, [{
      version: null,
      state: null,
      online: true,
      devices: ["gw-1"],
    }]);

    await serve.stop();
    assert.equal((await serve.child.status).code, 0, out.text);
    assert.match(out.text, /controller and API stopped/);
  } finally {
    await serve?.stop();
    await device?.endAsync(true);
    await broker[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
