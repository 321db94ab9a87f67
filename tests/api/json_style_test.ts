/**
 * One API style: every operation the OpenAPI document lists is called against the demo plant running in
 * process (with its store, snapshots, audit, uplink, deploys, desired state and stream), and every JSON body
 * it answers, and every frame of the WebSocket stream, is walked: a camelCase key anywhere fails, and so does
 * a time that is not an RFC 3339 string.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { apiPorts, createApp, OPERATIONS, StreamFeed, StreamHub } from "../../api/mod.ts";
import { probe } from "../../cli/sandbox.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import {
  BlobStore,
  createDeployer,
  createRuntime,
  Lifecycle,
  planDeployment,
  resolveDesiredState,
  Snapshotter,
} from "../../runtime/mod.ts";
import { AuditLog, createOutbox, listSnapshots, openStore } from "../../snapshots/mod.ts";
import { ROOT } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";

const CAMEL = /[a-z0-9][A-Z]/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * Where `value` breaks the style: camelCase keys, and instants (`at`, `*_at`) that are neither null nor an
 * RFC 3339 string. Keys a module chose are data, but the demo's modules chose snake_case ones too, so nothing
 * is skipped.
 */
function styleProblems(value: unknown, path = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => styleProblems(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, v]) => {
    const here = `${path}.${key}`;
    const problems = styleProblems(v, here);
    // The sandbox's probes are keyed by what each probe tried ("write /tmp/.../outside"): text with paths,
    // whose case is the machine's (a TMPDIR with capitals), not a field name.
    const freeText = path.endsWith(".probes");
    if (!freeText && CAMEL.test(key)) problems.unshift(`${here}: camelCase key`);
    if ((key === "at" || key.endsWith("_at")) && v !== null && !(typeof v === "string" && RFC3339.test(v))) {
      problems.unshift(`${here}: ${JSON.stringify(v)} is not an RFC 3339 time`);
    }
    return problems;
  });
}

/** A periodic module that counts its ticks in the output "count". */
const COUNTER = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (i32.const 0)))`;

function deployForm(): FormData {
  const form = new FormData();
  form.set("name", "extra");
  form.set("spec", "schedule: { mode: periodic, period_us: 20000 }\nlimits: { max_memory_mb: 1 }\n");
  form.set("wasm", new File([wat(COUNTER) as Uint8Array<ArrayBuffer>], "extra.wasm"));
  return form;
}

/** A shadow candidate of "extra": the same build, with the entry a promotion deploys it with. */
function shadowForm(): FormData {
  const form = deployForm();
  form.delete("name");
  return form;
}

/** The request that exercises each operation, by `method path` as OPERATIONS lists it; in this order. */
const CALLS: [string, string, (() => RequestInit)?, ((app: Hono) => Promise<unknown>)?][] = [
  ["post /api/v1/sim/sensors/:id/fault", "/api/v1/sim/sensors/vibration_1/fault", () => ({
    method: "POST",
    body: JSON.stringify({ fault: "bearing" }),
  })],
  ["post /api/v1/sim/gpio/:pin", "/api/v1/sim/gpio/3", () => ({ method: "POST", body: '{"value":1}' })],
  ["get /health", "/health"],
  ["get /api/v1/modules", "/api/v1/modules"],
  ["get /api/v1/modules/:name", "/api/v1/modules/anomaly"],
  ["get /api/v1/modules/:name/outputs", "/api/v1/modules/fft/outputs"],
  ["get /api/v1/modules/:name/logs", "/api/v1/modules/aggregator/logs"],
  ["get /api/v1/modules/:name/history", "/api/v1/modules/fft/history?seconds=60"],
  ["get /api/v1/modules/:name/traces", "/api/v1/modules/anomaly/traces"],
  ["post /api/v1/modules/:name/record", "/api/v1/modules/anomaly/record", () => ({
    method: "POST",
    body: JSON.stringify({ invocations: 5 }),
  })],
  ["get /api/v1/modules/:name/record", "/api/v1/modules/anomaly/record"],
  ["post /api/v1/modules/:name/stop", "/api/v1/modules/temperature/stop", () => ({ method: "POST" })],
  ["post /api/v1/modules/:name/start", "/api/v1/modules/temperature/start", () => ({ method: "POST" })],
  ["post /api/v1/modules/:name/restart", "/api/v1/modules/temperature/restart", () => ({ method: "POST" })],
  ["post /api/v1/modules/:name/snapshot", "/api/v1/modules/anomaly/snapshot", () => ({ method: "POST" })],
  [
    "post /api/v1/modules/:name/events",
    "/api/v1/modules/safety/events",
    () => ({ method: "POST", body: "x" }),
  ],
  ["post /api/v1/modules", "/api/v1/modules", () => ({ method: "POST", body: deployForm() })],
  // A shadow of the module just deployed: attached, read, dropped, attached again and promoted.
  ["post /api/v1/modules/:name/shadow", "/api/v1/modules/extra/shadow", () => ({
    method: "POST",
    body: shadowForm(),
  })],
  ["get /api/v1/modules/:name/shadow", "/api/v1/modules/extra/shadow"],
  ["delete /api/v1/modules/:name/shadow", "/api/v1/modules/extra/shadow", () => ({ method: "DELETE" })],
  ["post /api/v1/modules/:name/shadow", "/api/v1/modules/extra/shadow", () => ({
    method: "POST",
    body: shadowForm(),
  })],
  ["post /api/v1/modules/:name/shadow/promote", "/api/v1/modules/extra/shadow/promote", () => ({
    method: "POST",
  })],
  ["delete /api/v1/modules/:name", "/api/v1/modules/extra", () => ({ method: "DELETE" })],
  // Back to the version it kept (it was removed: the newest), then its versions and the record.
  ["post /api/v1/modules/:name/rollback", "/api/v1/modules/extra/rollback", () => ({ method: "POST" })],
  ["get /api/v1/modules/:name/versions", "/api/v1/modules/extra/versions"],
  ["get /api/v1/deployments", "/api/v1/deployments"],
  ["get /api/v1/alerts", "/api/v1/alerts"],
  // The anomaly module's alert on the bearing fault set first (#1: the runtime keeps no older one here),
  // acknowledged once it has come (it takes a few windows).
  [
    "post /api/v1/alerts/:seq/ack",
    "/api/v1/alerts/1/ack",
    () => ({ method: "POST" }),
    (app) =>
      waitFor("the bearing fault's alert", async () => {
        const listed = await (await app.request("/api/v1/alerts")).json() as { alerts: unknown[] };
        return listed.alerts.length > 0;
      }, 30_000),
  ],
  ["get /api/v1/messages", "/api/v1/messages"],
  ["get /api/v1/channels", "/api/v1/channels"],
  ["get /api/v1/connectors", "/api/v1/connectors"],
  ["get /api/v1/uplink", "/api/v1/uplink"],
  ["get /api/v1/snapshots", "/api/v1/snapshots"],
  ["get /api/v1/audit", "/api/v1/audit"],
  ["get /api/v1/audit/uses", "/api/v1/audit/uses"],
  ["get /api/v1/executors", "/api/v1/executors"],
  ["get /api/v1/gateway", "/api/v1/gateway"],
  ["get /api/v1/me", "/api/v1/me"],
  ["get /api/v1/sandbox", "/api/v1/sandbox"],
  ["get /api/v1/sim/sensors", "/api/v1/sim/sensors"],
  ["get /api/v1/sim/gpio", "/api/v1/sim/gpio"],
];

/**
 * Operations whose bodies are not the API's JSON: Prometheus text, OpenAPI's own keys, the WebSocket, a trace
 * file (`tests/record/live_test.ts` downloads one).
 */
const NOT_JSON = new Set([
  "get /metrics",
  "get /openapi.json",
  "get /api/v1/stream",
  "get /api/v1/modules/:name/record/trace",
]);

Deno.test("every route's JSON and every stream frame has snake_case keys and RFC 3339 times", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await walkTheDemo(t, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function walkTheDemo(t: Deno.TestContext, dir: string): Promise<void> {
  const manifestFile = `${ROOT}examples/demo.yaml`;
  using store = openStore(`${dir}/kiln.db`);
  await using snapshots = new Snapshotter(store.path);
  const manifest = await loadManifest(manifestFile);
  const blobs = new BlobStore(`${dir}/data`);
  const desired = await resolveDesiredState({
    manifest,
    db: store.db,
    blobs,
    dataDir: `${dir}/data`,
    log: () => {},
  });
  await using runtime = await createRuntime({
    plan: planDeployment(desired.manifest),
    version: "test",
    log: () => {},
    audit: new AuditLog(store),
    snapshots,
    outbox: createOutbox(store, { diskBudgetBytes: 1 << 20 }),
  });
  runtime.traces.configure({ every: 1 }); // so trace events are walked too
  await runtime.start();
  const ports = apiPorts(runtime);
  const lifecycle = new Lifecycle({
    db: store.db,
    dataDir: `${dir}/data`,
    blobs,
    desired,
    keepVersions: 5,
    runtime,
    log: () => {},
  });
  await using hub = new StreamHub();
  await using feed = new StreamFeed(ports, hub);
  feed.start();
  const app = createApp({
    ...ports,
    stream: hub,
    deployer: createDeployer({ manifestFile, dataDir: `${dir}/data`, runtime, lifecycle }),
    deployments: lifecycle,
    sandbox: () => ({ narrowed: false, reason: "in process", grants: null, probes: probe(dir) }),
    listSnapshots: (module) => listSnapshots(store.db, module),
  });
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/api/v1/stream`);
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
  try {
    const frames: { topic: string }[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(e.data));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    ws.send(JSON.stringify({ type: "subscribe", topics: ["#"] }));
    // The snapshot below needs the anomaly detector's warm-up to be over.
    await waitFor("anomaly's warm-up snapshot", async () => {
      const m = await (await app.request("/api/v1/modules/anomaly")).json();
      return m.snapshot?.taken > 0;
    }, 20_000);

    await t.step("every operation the OpenAPI document lists is called here", () => {
      const called = new Set(CALLS.map(([op]) => op));
      const listed = OPERATIONS.map((o) => `${o.method} ${o.path}`).filter((op) => !NOT_JSON.has(op));
      assert.deepEqual(listed.filter((op) => !called.has(op)), [], "operations this test does not call");
      assert.deepEqual([...called].filter((op) => !listed.includes(op)), [], "calls of no listed operation");
    });

    for (const [op, path, init, ready] of CALLS) {
      await t.step(`${op}: ${path}`, async () => {
        await ready?.(app);
        const res = await app.request(path, init?.());
        const body = await res.json();
        assert.ok(res.status < 300, `${res.status}: ${JSON.stringify(body)}`);
        assert.deepEqual(styleProblems(body), [], JSON.stringify(body).slice(0, 2000));
      });
    }

    await t.step("an error answer", async () => {
      const res = await app.request("/api/v1/modules/nope");
      assert.equal(res.status, 404);
      assert.deepEqual(styleProblems(await res.json()), []);
    });

    await t.step("the stream's frames of every topic", async () => {
      // Alerts come from the bearing fault injected above, messages from the aggregator once a second.
      const roots = [
        "hello",
        "subscriptions",
        "status",
        "health",
        "outputs",
        "metrics",
        "alerts",
        "messages",
      ];
      await waitFor(
        `frames of ${roots.join(", ")}`,
        () => roots.every((r) => frames.some((f) => f.topic.split("/")[0] === r)),
        20_000,
      );
      assert.deepEqual(frames.flatMap((f, i) => styleProblems(f, `frame ${i} (${f.topic})`)), []);
    });
  } finally {
    ws.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000))]);
  }
}
