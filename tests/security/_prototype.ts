/**
 * What the prototype-pollution suite (`prototype_test.ts`) shares: the names, a check that `Object` is
 * untouched, the hostile module's WAT, and a gateway with a neighbour in each executor and its API.
 *
 * @module
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import { REALTIME_CAPABILITY } from "../../runtime/capabilities.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import { createDeployer, createRuntime, planDeployment, type Runtime } from "../../runtime/mod.ts";
import { AuditLog, listSnapshots, openStore } from "../../snapshots/mod.ts";
import { streamModuleWat, waitFor, wat } from "../_helpers.ts";

/** `constructor`, `__proto__`, `toString`, `hasOwnProperty`, ... as this engine has them. */
export const NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);
/** The one of them a manifest accepts as a name (lowercase letters only): it must work like any other. */
export const VALID = NAMES.filter((n) => /^[a-z][a-z0-9_-]{0,62}$/.test(n));

/** `Object` and `Object.prototype`, property by property: what a pollution would change. */
export function objectSnapshot(): Map<string, PropertyDescriptor> {
  const all = new Map<string, PropertyDescriptor>();
  for (const [prefix, target] of [["Object.", Object], ["Object.prototype.", Object.prototype]] as const) {
    for (const key of Reflect.ownKeys(target)) {
      all.set(prefix + String(key), Object.getOwnPropertyDescriptor(target, key)!);
    }
  }
  return all;
}

/** Asserts that every property of `Object` and `Object.prototype` is as `before` found it. */
export function assertObjectUnchanged(before: Map<string, PropertyDescriptor>): void {
  const after = objectSnapshot();
  assert.deepEqual([...after.keys()], [...before.keys()], "no property of Object was added or removed");
  for (const [key, d] of before) {
    const now = after.get(key)!;
    for (const field of ["value", "get", "set", "writable", "enumerable", "configurable"] as const) {
      assert.ok(Object.is(now[field], d[field]), `${key} (${field}) is unchanged`);
    }
  }
  assert.equal(Object.getPrototypeOf(Object.prototype), null);
}

export const enc = new TextEncoder();

/** A WAT string literal of `text` (the names are plain ASCII; escape anyway). */
function lit(text: string): string {
  return `"${[...enc.encode(text)].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("")}"`;
}

/** Lays strings out in memory from `base`: a data segment per string, and each one's `offset length`. */
function layout(texts: string[], base: number): { data: string; at: (text: string) => string } {
  const where = new Map<string, string>();
  let data = "";
  let offset = base;
  for (const t of texts) {
    if (where.has(t)) continue;
    data += `(data (i32.const ${offset}) ${lit(t)})\n`;
    where.set(t, `(i32.const ${offset}) (i32.const ${enc.encode(t).length})`);
    offset += enc.encode(t).length + 1;
  }
  return { data, at: (t) => where.get(t)! };
}

/**
 * The hostile module: every tick it writes an output and an array under each name, reads a param and a data
 * blob by each name (outputs `p<i>` and `d<i>`: the value, or -1 when there is none), and on its first tick
 * publishes to each name (granted) and to `x/<name>` (denied). It exports a function under each name too.
 */
export function hostileWat(): string {
  const texts = NAMES.flatMap((n, i) => [n, `p${i}`, `d${i}`, `x/${n}`]);
  const { data, at } = layout(texts, 1024);
  const floats = [...new Uint8Array(new Float32Array([1.5, 2.5]).buffer)];
  const perName = NAMES.map((n, i) => `
    (drop (call $output ${at(n)} (f64.const ${i})))
    (drop (call $output_array ${at(n)} (i32.const 64) (i32.const 2)))
    (drop (call $output ${at(`p${i}`)} (call $param ${at(n)} (f64.const -1))))
    (drop (call $output ${at(`d${i}`)}
      (if (result f64) (i32.eqz (call $data ${at(n)} (i32.const 8)))
        (then (f64.const -1))
        (else (f64.convert_i32_u (i32.load (i32.const 8)))))))`).join("");
  const publishes = NAMES.map((n) => `
      (drop (call $publish ${at(n)} (i32.const 16) (i32.const 1)))
      (drop (call $publish ${at(`x/${n}`)} (i32.const 16) (i32.const 1)))`).join("");
  return `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (import "kiln" "output_array" (func $output_array (param i32 i32 i32 i32) (result i32)))
  (import "kiln" "param_f64" (func $param (param i32 i32 f64) (result f64)))
  (import "kiln" "data" (func $data (param i32 i32 i32) (result i32)))
  (import "kiln" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 8192))
  (global $published (mut i32) (i32.const 0))
  (data (i32.const 16) "x")
  (data (i32.const 64) "${floats.map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("")}")
  ${data}
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "kiln_on_tick") (param $now i64) (result i32)
    ${perName}
    (if (i32.eqz (global.get $published))
      (then ${publishes}
        (global.set $published (i32.const 1))))
    (i32.const 0))
  ${NAMES.map((n) => `(func (export ${lit(n)}) (result i32) (i32.const 7))`).join("\n  ")})`;
}

/** A periodic module that counts its ticks in the output `ticks`. */
export const TICK_WAT = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $n (mut f64) (f64.const 0))
  (data (i32.const 16) "ticks")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param $now i64) (result i32)
    (global.set $n (f64.add (global.get $n) (f64.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (global.get $n)))
    (i32.const 0)))`;

/** A module importing `module.name` with no parameters, otherwise fine. */
export function importWat(module: string, name: string): string {
  return `(module (import ${lit(module)} ${lit(name)} (func))
  (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;
}

export const MANIFEST = {
  version: 1,
  device: { id: "proto-gw" },
  policy: { allow: ["read:sim:*", "write:mqtt:#", REALTIME_CAPABILITY] },
  connectors: {
    sim: { vib: { kind: "vibration", rate_hz: 25_600, seed: 1 }, temp: { kind: "temperature", seed: 2 } },
  },
  modules: {
    good: {
      wasm: "good.wasm",
      capabilities: ["read:sim:vib"],
      schedule: { mode: "stream", source: "sim:vib", window: 256 },
      limits: { max_memory_mb: 1 },
    },
    rt: {
      wasm: "tick.wasm",
      capabilities: [REALTIME_CAPABILITY],
      schedule: { mode: "periodic", period_us: 5_000, priority: 80 },
      limits: { max_memory_mb: 1 },
    },
  },
};

/** A gateway started from a manifest, with a neighbour in each executor, its API, deployer and store. */
export async function gateway() {
  const dir = await Deno.makeTempDir();
  const file = await writeTinyPlant(dir);
  const store = openStore(`${dir}/kiln.db`);
  const plan = planDeployment(await loadManifest(file), { dataDir: dir });
  const runtime = await createRuntime({ plan, version: "proto", log: () => {}, audit: new AuditLog(store) });
  await runtime.start();
  const deployer = createDeployer({ manifestFile: file, dataDir: dir, runtime });
  const app = createApp({ ...apiPorts(runtime), deployer, listSnapshots: (m) => listSnapshots(store.db, m) });
  await waitFor("both neighbours to run", () => neighbours(runtime).every((m) => m.invocations > 3));
  return {
    dir,
    runtime,
    app,
    store,
    async [Symbol.asyncDispose]() {
      await runtime.shutdown();
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The neighbours' statuses: `good` (a stream module, normal executor) and `rt` (realtime executor). */
export function neighbours(runtime: Runtime) {
  return ["good", "rt"].map((n) => runtime.getModule(n)!);
}

/** The neighbours ran on, in both executors, with no fault and no restart, and the gateway is healthy. */
export async function assertNeighboursRun(runtime: Runtime, before: number[]): Promise<void> {
  await waitFor(
    "the neighbours to keep running",
    () => neighbours(runtime).every((m, i) => m.state === "running" && m.invocations > before[i]! + 3),
  );
  for (const m of neighbours(runtime)) {
    assert.equal(m.restarts, 0, `${m.name} was never restarted`);
    assert.equal(m.traps, 0, `${m.name} never faulted (its executor never died)`);
  }
  assert.deepEqual((await runtime.listExecutors()).map((e) => e.name).sort(), ["normal", "realtime"]);
  assert.equal(runtime.health().status, "ok");
}

/** A multipart deploy as `POST /api/v1/modules` takes it. */
export function deployForm(
  name: string,
  spec: unknown,
  wasm: Uint8Array,
  files: [string, Uint8Array][] = [],
) {
  const form = new FormData();
  form.set("name", name);
  form.set("spec", JSON.stringify(spec));
  form.set("wasm", new File([wasm as Uint8Array<ArrayBuffer>], "module.wasm"));
  for (const [file, bytes] of files) form.append("blob", new File([bytes as Uint8Array<ArrayBuffer>], file));
  return { method: "POST", body: form };
}

/** Asks the API and asserts no 5xx: returns the status and the JSON body. */
export async function ask(app: ReturnType<typeof createApp>, path: string, init?: RequestInit) {
  const res = await app.request(path, init);
  const body = await res.json();
  assert.ok(res.status < 500, `${init?.method ?? "GET"} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return { status: res.status, body };
}

/** The gateway's manifest and its modules in `dir`; returns the manifest's path. */
export async function writeTinyPlant(dir: string): Promise<string> {
  await Deno.writeFile(`${dir}/good.wasm`, wat(streamModuleWat()));
  await Deno.writeFile(`${dir}/tick.wasm`, wat(TICK_WAT));
  await Deno.writeTextFile(`${dir}/manifest.yaml`, JSON.stringify(MANIFEST));
  return `${dir}/manifest.yaml`;
}

/** A valid manifest with one module, `good`, to put each name into. */
export function manifest(): Record<string, unknown> {
  return structuredClone({
    ...MANIFEST,
    policy: { allow: [...MANIFEST.policy.allow, "write:channel:*"] },
    channels: { feed: { writer: "good", readers: [] } },
    modules: { good: { ...MANIFEST.modules.good, capabilities: ["read:sim:vib", "write:channel:*"] } },
  }) as Record<string, unknown>;
}

/** `path` into `doc` (created on the way), set to `value`; a computed key makes "__proto__" an own key. */
export function put(doc: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  let at = doc;
  for (const key of path.slice(0, -1)) {
    if (!Object.hasOwn(at, key)) {
      Object.defineProperty(at, key, { value: {}, enumerable: true, writable: true });
    }
    at = at[key] as Record<string, unknown>;
  }
  Object.defineProperty(at, path.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
  return doc;
}
