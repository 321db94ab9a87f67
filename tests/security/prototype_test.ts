/**
 * Prototype pollution, as a class: every own property name of `Object.prototype` (taken from the engine, not
 * a list) is fed through every path where a module, a manifest or a request names something: module names,
 * output keys, param keys, data blob names and file names, import and export names, capabilities and MQTT
 * topics, connector, point, channel and input ids, path and query parameters, JSON bodies, token names. Each
 * path must answer with the right value or a clear error (never a 5xx, never an internal error), leave the
 * executors and their neighbours running, and leave `Object` and `Object.prototype` as they were.
 *
 * @module
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import { loadManifest, ManifestError, parseManifest } from "../../runtime/manifest/mod.ts";
import { createRuntime, planDeployment } from "../../runtime/mod.ts";
import { createMqttConnector } from "../../hal/mqtt/mod.ts";
import { createToken, openStore, verifyToken } from "../../snapshots/mod.ts";
import { modulePlan, waitFor, wat } from "../_helpers.ts";
import { startMosquitto, tempDir } from "../hal/_mosquitto.ts";
import {
  ask,
  assertNeighboursRun,
  assertObjectUnchanged,
  deployForm,
  enc,
  gateway,
  hostileWat,
  importWat,
  manifest,
  NAMES,
  neighbours,
  objectSnapshot,
  put,
  TICK_WAT,
  VALID,
  writeTinyPlant,
} from "./_prototype.ts";

Deno.test("every Object.prototype name is a plain key on every module path, in both executors", async (t) => {
  assert.ok(NAMES.includes("__proto__") && NAMES.includes("constructor") && NAMES.length >= 12);
  const object = objectSnapshot();
  await using gw = await gateway();
  const { runtime, app } = gw;
  const before = neighbours(runtime).map((m) => m.invocations);

  await t.step("modules named after each of them run side by side (the runtime takes any name)", async () => {
    const wasm = `${gw.dir}/tick.wasm`;
    for (const name of NAMES) {
      await runtime.deployModule(modulePlan({
        name,
        wasm,
        schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
      }));
    }
    await waitFor(
      "each to report its ticks",
      () => NAMES.every((n) => (runtime.getModule(n)?.outputs.ticks ?? 0) > 2),
    );
    for (const name of NAMES) {
      const m = runtime.getModule(name)!;
      assert.equal(m.name, name);
      assert.equal(m.state, "running");
      assert.deepEqual(Object.keys(m.outputs), ["ticks"], `${name} has its own outputs only`);
      runtime.removeModule(name);
      assert.equal(runtime.getModule(name), null);
    }
  });

  await t.step(
    "a deploy over the API refuses each invalid name with a 400 and takes the valid one",
    async () => {
      for (const name of NAMES.filter((n) => !VALID.includes(n))) {
        const spec = { schedule: { mode: "periodic", period_us: 10_000 } };
        const { status, body } = await ask(app, "/api/v1/modules", deployForm(name, spec, wat(TICK_WAT)));
        assert.equal(status, 400, `${name}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, "bad_request");
        assert.equal(runtime.getModule(name), null);
      }
    },
  );

  const hostile = VALID[0]!; // "constructor": a module name, a param key and a data blob name at once
  await t.step(`"${hostile}" deploys with params, data blobs and file parts named after each`, async () => {
    const files = NAMES.map((n, i): [string, Uint8Array] => [n, new Uint8Array(i + 1)]);
    const spec = {
      schedule: { mode: "periodic", period_us: 50_000 },
      limits: { max_memory_mb: 1 },
      capabilities: NAMES.map((n) => `write:mqtt:${n}`),
      params: { [hostile]: 42 },
      // A blob named after the valid one, and one per file: the file names are all of them.
      data: Object.fromEntries([
        [hostile, `blobs/${hostile}`],
        ...NAMES.map((n, i) => [`f${i}`, `blobs/${n}`]),
      ]),
    };
    const { status, body } = await ask(
      app,
      "/api/v1/modules",
      deployForm(hostile, spec, wat(hostileWat()), files),
    );
    assert.equal(status, 201, JSON.stringify(body));
    assert.equal(body.name, hostile);

    const missing = { ...spec, data: { blob: "toString" } };
    const refused = await ask(app, "/api/v1/modules", deployForm("missing-blob", missing, wat(hostileWat())));
    assert.equal(refused.status, 400, "a blob file that was not uploaded, even one named toString, is a 400");
    assert.match(refused.body.error.message, /"toString", which was not uploaded/);
  });

  await t.step(
    "output keys, arrays, params and data blobs by those names hold exactly what was written",
    async () => {
      const { body } = await waitFor("the hostile module's outputs", async () => {
        const r = await ask(app, `/api/v1/modules/${hostile}/outputs`);
        return Object.keys(r.body.outputs ?? {}).length >= NAMES.length * 3 && r;
      });
      NAMES.forEach((n, i) => {
        assert.ok(Object.hasOwn(body.outputs, n), `output "${n}" is there`);
        assert.equal(body.outputs[n], i, `output "${n}"`);
        assert.deepEqual(body.arrays[n], [1.5, 2.5], `array "${n}"`);
        // Only the param the manifest gives exists; every other name is the fallback, not an inherited member.
        assert.equal(body.outputs[`p${i}`], n === hostile ? 42 : -1, `param "${n}"`);
        // Only the blob named "constructor" exists (1 byte + its index: the file "constructor" uploaded).
        assert.equal(body.outputs[`d${i}`], n === hostile ? NAMES.indexOf(hostile) + 1 : -1, `data "${n}"`);
      });
      const status = runtime.getModule(hostile)!;
      assert.equal(Object.getPrototypeOf(status.outputs), null, "the status's outputs have no prototype");
      assert.equal(status.outputs[NAMES[0]!], 0);
    },
  );

  await t.step(
    "MQTT topics and capabilities by those names: publishes, uses and denials are counted",
    async () => {
      const messages = await waitFor("a message on each topic", async () => {
        const r = await ask(app, "/api/v1/messages");
        const topics = new Set(r.body.messages.map((m: { topic: string }) => m.topic));
        return NAMES.every((n) => topics.has(n)) && topics;
      });
      for (const n of NAMES) assert.ok(!messages.has(`x/${n}`), `x/${n} was denied, not published`);
      const uses = await waitFor("uses of each grant", async () => {
        const r = await ask(app, `/api/v1/audit/uses?module=${hostile}`);
        const used = new Map(
          r.body.uses.map((u: { capability: string; uses: number; denials: number }) => [u.capability, u]),
        );
        return NAMES.every((n) => used.has(`write:mqtt:${n}`) && used.has(`write:mqtt:x/${n}`)) && used;
      });
      for (const n of NAMES) {
        assert.ok((uses.get(`write:mqtt:${n}`) as { uses: number }).uses >= 1);
        assert.ok((uses.get(`write:mqtt:x/${n}`) as { denials: number }).denials >= 1);
      }
    },
  );

  await t.step(
    "import names are refused with a clear reason naming the import, never an internal error",
    async () => {
      for (const [i, n] of NAMES.entries()) {
        for (
          const [ns, name, expect] of [
            ["kiln", n, `import "kiln.${n}": the host has no function "${n}"`],
            ["wasi_snapshot_preview1", n, `import "wasi_snapshot_preview1.${n}": not a function`],
            [n, "log", `unknown import namespace "${n}"`],
          ] as const
        ) {
          const spec = { schedule: { mode: "periodic", period_us: 10_000 } };
          const r = await ask(app, "/api/v1/modules", deployForm(`imp-${i}`, spec, wat(importWat(ns, name))));
          assert.equal(r.status, 422, `${ns}.${name}: ${JSON.stringify(r.body)}`);
          assert.equal(r.body.error.code, "module_rejected");
          assert.ok(r.body.error.message.includes(expect), `${ns}.${name}: ${r.body.error.message}`);
        }
      }
    },
  );

  await t.step("path and query parameters by those names get a 404 or an answer, never a 5xx", async () => {
    for (const n of NAMES) {
      const known = n === hostile;
      const m = `/api/v1/modules/${encodeURIComponent(n)}`;
      const post = { method: "POST" };
      assert.equal((await ask(app, m)).status, known ? 200 : 404);
      assert.equal((await ask(app, `${m}/outputs`)).status, known ? 200 : 404);
      assert.equal((await ask(app, `${m}/logs`)).status, known ? 200 : 404);
      assert.equal((await ask(app, `${m}/events`, { method: "POST", body: "x" })).status, known ? 409 : 404);
      assert.equal((await ask(app, `${m}/snapshot`, post)).status, known ? 409 : 404);
      assert.equal((await ask(app, `${m}/stop`, post)).status, known ? 200 : 404);
      assert.equal((await ask(app, `${m}/start`, post)).status, known ? 200 : 404);
      assert.equal((await ask(app, `${m}/restart`, post)).status, known ? 200 : 404);
      const fault = { method: "POST", body: JSON.stringify({ fault: "none" }) };
      assert.equal((await ask(app, `/api/v1/sim/sensors/${encodeURIComponent(n)}/fault`, fault)).status, 404);
      const pin = { method: "POST", body: JSON.stringify({ value: 1 }) };
      assert.equal((await ask(app, `/api/v1/sim/gpio/${encodeURIComponent(n)}`, pin)).status, 404);
      const q = encodeURIComponent(n);
      assert.equal((await ask(app, `/api/v1/audit?module=${q}`)).status, 200);
      assert.equal((await ask(app, `/api/v1/audit?kind=${q}`)).status, 400);
      assert.equal((await ask(app, `/api/v1/audit/uses?module=${q}`)).status, 200);
      assert.equal((await ask(app, `/api/v1/snapshots?module=${q}`)).status, 200);
      assert.equal((await ask(app, `/api/v1/alerts?after=${q}`)).status, 400);
      assert.equal((await ask(app, `/api/v1/messages?${q}=1&after=${q}`)).status, 400);
      assert.equal((await ask(app, `/api/v1/modules?${q}=1`)).status, 200);
      assert.equal((await ask(app, `/api/v1/${q}`)).status, 404);
      // JSON bodies whose keys are these names: a missing field stays missing.
      const body = JSON.stringify({ [n]: { fault: "bearing", value: 1 } });
      const r = await ask(app, "/api/v1/sim/sensors/vib/fault", { method: "POST", body });
      assert.equal(r.status, 400, `{"${n}": ...} has no "fault"`);
    }
    assert.equal((await ask(app, `/api/v1/modules/${hostile}`, { method: "DELETE" })).status, 200);
    for (const n of NAMES) {
      assert.equal((await ask(app, `/api/v1/modules/${n}`, { method: "DELETE" })).status, 404);
    }
  });

  await t.step(
    "the executors, the neighbours and Object survive, and a fresh module still deploys",
    async () => {
      await assertNeighboursRun(runtime, before);
      const r = await ask(
        app,
        "/api/v1/modules",
        deployForm("fresh", {
          schedule: { mode: "periodic", period_us: 10_000 },
          limits: { max_memory_mb: 1 },
        }, wat(TICK_WAT)),
      );
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await waitFor("the fresh module to tick", () => (runtime.getModule("fresh")?.outputs.ticks ?? 0) > 2);
      assertObjectUnchanged(object);
    },
  );
});

Deno.test("every Object.prototype name in a manifest is a valid name or a clear issue, never lost or a crash", async (t) => {
  const object = objectSnapshot();
  const module = {
    wasm: "m.wasm",
    capabilities: ["read:sim:vib"],
    schedule: { mode: "stream", source: "sim:vib" },
  };
  const cases: [string, (n: string) => Record<string, unknown>, boolean][] = [
    ["a module name", (n) => put(manifest(), ["modules", n], module), true],
    ["a channel id", (n) => put(manifest(), ["channels", n], { writer: "good" }), true],
    ["a sim sensor id", (n) => put(manifest(), ["connectors", "sim", n], { kind: "temperature" }), true],
    [
      "a modbus device",
      (n) => put(manifest(), ["connectors", "modbus", n], { host: "127.0.0.1", points: [] }),
      false,
    ],
    [
      "an opcua endpoint",
      (n) => put(manifest(), ["connectors", "opcua", n], { url: "opc.tcp://x:4840", nodes: [] }),
      false,
    ],
    ["a param key", (n) => put(manifest(), ["modules", "good", "params", n], 1), true],
    ["a data blob name", (n) => put(manifest(), ["modules", "good", "data", n], "good.wasm"), true],
    ["a top-level key", (n) => put(manifest(), [n], 1), false],
    ["a module key", (n) => put(manifest(), ["modules", "good", n], 1), false],
    ["a sim sensor kind", (n) => put(manifest(), ["connectors", "sim", "vib", "kind"], n), false],
    [
      "a stream source",
      (n) => put(manifest(), ["modules", "good", "schedule", "source"], `channel:${n}`),
      false,
    ],
    [
      "an input",
      (n) => put(manifest(), ["modules", "good", "inputs"], [`sim:${n}`, `modbus:${n}/${n}`]),
      false,
    ],
    [
      "a trigger",
      (n) => put(manifest(), ["modules", "good", "schedule"], { mode: "event", trigger: `channel:${n}` }),
      false,
    ],
    [
      "an mqtt trigger",
      (n) => put(manifest(), ["modules", "good", "schedule"], { mode: "event", trigger: `mqtt:${n}` }),
      false,
    ],
    [
      "a channel writer and reader",
      (n) => put(manifest(), ["channels", "feed"], { writer: n, readers: [n] }),
      false,
    ],
    [
      "a capability",
      (n) => put(manifest(), ["modules", "good", "capabilities"], [n, `read:channel:${n}`]),
      false,
    ],
  ];
  for (const [what, make, named] of cases) {
    await t.step(`as ${what}`, () => {
      for (const n of NAMES) {
        const text = JSON.stringify(make(n));
        let issues: { path: string; message: string }[] = [];
        try {
          const parsed = parseManifest(text);
          assert.ok(named && VALID.includes(n), `"${n}" as ${what} was accepted`);
          // Accepted: it is there as an own key, not lost and not inherited.
          assert.ok(JSON.stringify(parsed).includes(`"${n}"`), `"${n}" as ${what} is kept`);
        } catch (err) {
          if (!(err instanceof ManifestError)) throw err;
          issues = err.issues.map((i) => ({ path: i.path, message: i.message }));
        }
        if (named && VALID.includes(n)) assert.deepEqual(issues, [], `"${n}" as ${what} is valid`);
        for (const i of issues) {
          assert.ok(
            !i.message.includes(`is a ${n} sensor`),
            `no inherited member is taken for a value: ${i.message}`,
          );
        }
        if (issues.length > 0 && named) {
          const at = issues.filter((i) => i.path.includes(n));
          assert.equal(at.length, 1, `one issue names "${n}" as ${what}: ${JSON.stringify(issues)}`);
        }
      }
    });
  }
  assertObjectUnchanged(object);
});

Deno.test({
  name: "MQTT filters and topics named after each Object.prototype member are subscribed and delivered",
  permissions: {
    net: ["127.0.0.1"],
    env: true,
    read: true,
    write: true,
    run: ["mosquitto", "stdbuf"],
    sys: ["uid"],
  },
}, async () => {
  const object = objectSnapshot();
  await using dir = await tempDir();
  await using broker = await startMosquitto(dir.path);
  await using mqtt = createMqttConnector("proto", {
    url: broker.url,
    clientId: "kiln-proto",
    reconnect: { initialMs: 20, maxMs: 200 },
  });
  // And "resubscribe", which mqtt.js reads as an option when filters are the keys of an object.
  const filters = [...NAMES, "resubscribe"];
  const got = new Map<string, string>();
  for (const f of filters) {
    await mqtt.subscribe(f, (topic, payload) => void got.set(topic, new TextDecoder().decode(payload)));
  }
  await waitFor("the connector to connect", () => mqtt.connected);
  await waitFor("every message to come back", async () => {
    for (const f of filters.filter((x) => !got.has(x))) {
      await mqtt.publish(f, enc.encode(`to ${f}`), { qos: 1 });
    }
    return filters.every((f) => got.get(f) === `to ${f}`);
  }, 5_000);
  assertObjectUnchanged(object);
});

Deno.test("API tokens named after each Object.prototype member authenticate, and a refusal names them", async () => {
  const object = objectSnapshot();
  const dir = await Deno.makeTempDir();
  try {
    using store = openStore(`${dir}/kiln.db`);
    const runtime = await createRuntime({
      plan: planDeployment(await loadManifest(`${await writeTinyPlant(dir)}`), { dataDir: dir }),
      version: "proto",
      log: () => {},
    });
    const auth = {
      verify(token: string) {
        const t = verifyToken(store.db, token);
        return t && { name: t.name, role: t.role };
      },
    };
    const app = createApp({ ...apiPorts(runtime), auth });
    for (const n of NAMES) {
      const { token } = createToken(store.db, { role: "viewer", name: n });
      const headers = { authorization: `Bearer ${token}` };
      assert.equal((await ask(app, "/api/v1/modules", { headers })).status, 200, `token "${n}" reads`);
      const refused = await ask(app, "/api/v1/modules/good/stop", { method: "POST", headers });
      assert.equal(refused.status, 403);
      assert.ok(
        refused.body.error.message.includes(`the token "${n}" has viewer`),
        refused.body.error.message,
      );
    }
    runtime.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertObjectUnchanged(object);
});
