/**
 * `GET /api/v1/modules/:name/history` (issue #21): a module's recent numeric outputs for the dashboard's
 * charts, through a real runtime and the Hono app with viewer, operator and admin tokens from the store.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp, historyJson } from "../../api/mod.ts";
import { OutputHistory } from "../../runtime/history/mod.ts";
import { createRuntime } from "../../runtime/mod.ts";
import { openStore, verifyToken } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";
import { roleTokens } from "./_tokens.ts";

/** Every 20 ms: a rising `level`, a non-finite `bad` (NaN), and a two-bin `spectrum` [0.5, -2]. */
const LEVEL = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "output_array" (func $output_array (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $calls (mut f64) (f64.const 0))
  (data (i32.const 16) "level")
  (data (i32.const 32) "bad")
  (data (i32.const 48) "spectrum")
  (data (i32.const 64) "\\00\\00\\00\\3f\\00\\00\\00\\c0")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $calls (f64.add (global.get $calls) (f64.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (global.get $calls)))
    (drop (call $output (i32.const 32) (i32.const 3) (f64.const nan)))
    (drop (call $output_array (i32.const 48) (i32.const 8) (i32.const 64) (i32.const 2)))
    (i32.const 0)))`;

Deno.test("a viewer reads a module's recent outputs by key and time, arrays included; bad queries are 400s naming the parameter", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    using store = openStore(`${dir}/kiln.db`);
    const tokens = roleTokens(store.db);
    const wasm = await writeFixture(dir, "level.wasm", wat(LEVEL));
    await using runtime = await createRuntime({
      plan: deploymentPlan([
        modulePlan({ name: "level", wasm, schedule: { mode: "periodic", periodUs: 20_000, priority: 50 } }),
      ]),
      version: "test",
      log: () => {},
    });
    await runtime.start();
    const app = createApp({
      ...apiPorts(runtime),
      auth: { verify: (token) => verifyToken(store.db, token) },
    });
    const get = (path: string, token: string | null = tokens.viewer) =>
      app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    await t.step("every role may read it; no token is a 401", async () => {
      assert.equal((await get("/api/v1/modules/level/history", null)).status, 401);
      for (const token of Object.values(tokens)) {
        const res = await get("/api/v1/modules/level/history", token);
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
    });

    await t.step("the whole history: each key's points, each array's latest value", async () => {
      const body = await waitFor("four points of level", async () => {
        const body = await (await get("/api/v1/modules/level/history")).json();
        return body.outputs.level?.t.length >= 4 && body;
      }, 30_000);
      assert.equal(body.module, "level");
      assert.equal(body.bucket_ms, 250);
      assert.equal(typeof body.now, "number");
      assert.equal(body.dropped_keys, 0);
      assert.deepEqual(Object.keys(body.outputs).sort(), ["bad", "level"]);
      const level = body.outputs.level;
      assert.equal(level.t.length, level.v.length);
      for (let i = 1; i < level.t.length; i++) {
        assert.ok(Math.floor(level.t[i] / 250) > Math.floor(level.t[i - 1] / 250), "one point per bucket");
        assert.ok(level.v[i] > level.v[i - 1]);
      }
      assert.ok(level.t.at(-1) <= body.now && level.t[0] >= body.now - 300_000);
      assert.ok(body.outputs.bad.v.every((v: unknown) => v === null), "non-finite values are null");
      assert.deepEqual(body.arrays.spectrum.v, [0.5, -2]);
      assert.ok(body.arrays.spectrum.t <= body.now);
    });

    await t.step("keys and seconds narrow it", async () => {
      const res = await get("/api/v1/modules/level/history?keys=level,nope&seconds=1");
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.deepEqual(Object.keys(body.outputs), ["level"], "unknown keys are left out");
      assert.deepEqual(body.arrays, {}, "arrays are selected by key too");
      assert.ok(body.outputs.level.t.every((t: number) => t >= body.now - 1000));
      assert.ok(body.outputs.level.t.length <= 5, "a second holds at most five 250 ms buckets");
      const spectrum = await (await get("/api/v1/modules/level/history?keys=spectrum")).json();
      assert.deepEqual(Object.keys(spectrum.outputs), []);
      assert.deepEqual(spectrum.arrays.spectrum.v, [0.5, -2]);
    });

    await t.step("an unknown module is a 404, a bad query a 400 naming its parameter", async () => {
      const missing = await get("/api/v1/modules/nope/history");
      assert.equal(missing.status, 404);
      assert.equal((await missing.json()).error.code, "module_unknown");
      const bad: [string, string][] = [
        ["seconds=0", "seconds"],
        ["seconds=301", "seconds"],
        ["seconds=1.5", "seconds"],
        ["seconds=abc", "seconds"],
        ["seconds=", "seconds"],
        ["keys=", "keys"],
        ["keys=,,", "keys"],
        [`keys=${Array.from({ length: 81 }, (_, i) => `k${i}`).join(",")}`, "keys"],
      ];
      for (const [query, parameter] of bad) {
        const res = await get(`/api/v1/modules/level/history?${query}`);
        assert.equal(res.status, 400, query);
        const error = (await res.json()).error;
        assert.equal(error.code, "bad_request");
        assert.ok(error.message.includes(`"${parameter}"`), `${query}: ${error.message}`);
      }
    });

    await t.step("a removed module's history goes with it", async () => {
      await runtime.removeModule("level");
      assert.equal(runtime.history.has("level"), false);
      assert.equal((await get("/api/v1/modules/level/history")).status, 404);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a runtime that keeps no history answers 404 history_unavailable", async () => {
  const app = createApp({
    modules: { getModule: () => ({ name: "m" }) } as never,
    observability: { health: () => ({ version: "test" }) } as never,
    plant: {} as never,
  });
  const res = await app.request("/api/v1/modules/m/history");
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, "history_unavailable");
});

Deno.test("a module's own keys such as __proto__ come out as ordinary keys of the history's JSON", () => {
  const history = new OutputHistory();
  const outputs = Object.create(null) as Record<string, number>;
  outputs["__proto__"] = 1;
  outputs["constructor"] = 2;
  history.recordOutputs("m", 1_000, outputs);
  const arrays = Object.create(null) as Record<string, Float32Array>;
  arrays["__proto__"] = new Float32Array([NaN, 3]);
  history.recordArrays("m", 1_000, arrays);
  const body = JSON.parse(JSON.stringify(historyJson("m", history.query("m", { nowMs: 2_000 }))));
  assert.deepEqual(Object.keys(body.outputs), ["__proto__", "constructor"]);
  assert.deepEqual(Object.getOwnPropertyDescriptor(body.outputs, "__proto__")!.value, { t: [1_000], v: [1] });
  assert.deepEqual(Object.getOwnPropertyDescriptor(body.arrays, "__proto__")!.value, {
    t: 1_000,
    v: [null, 3],
  });
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
});
