/**
 * Deploying over the API to a running `kiln run`: a new module; a new version that fails its trial start
 * (the old one keeps serving); one the policy refuses (validated like the CLI); a good new version replacing
 * the old; deletion; role and size limits.
 */
import assert from "node:assert/strict";
import { AUTH, getJson, runKiln, startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";

/** A periodic module; `init` is what kiln_init returns, `step` what each tick adds to its output. */
const counter = (init: number, step: number) =>
  wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32) (i32.const ${init}))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const ${step})))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (i32.const 0)))`);

const SPEC = `schedule: { mode: periodic, period_us: 20000 }\nlimits: { max_memory_mb: 1 }\n`;

/** The API's error body. */
interface ErrorBody {
  error: { code: string; message: string; issues?: { path: string; line: number | null; message: string }[] };
}

function form(name: string, spec: string, wasm: Uint8Array): FormData {
  const f = new FormData();
  f.set("name", name);
  f.set("spec", spec);
  f.set("wasm", new File([wasm as Uint8Array<ArrayBuffer>], `${name}.wasm`));
  return f;
}

Deno.test("modules are deployed, refused, replaced and deleted over the API, never leaving a bad version running", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/base.wasm`, counter(0, 1));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1\ndevice: { id: gw-deploy }\npolicy: { allow: ["read:sim:*"] }\nmodules:\n  base:\n    wasm: base.wasm\n    ${
      SPEC.trim().replaceAll("\n", "\n    ")
    }\n`,
  );
  await using kiln = await startKiln([`${dir}/kiln.yaml`, "--data", `${dir}/data`]);
  const url = `${kiln.base}/api/v1/modules`;
  const post = (f: FormData, headers: Record<string, string> = AUTH) =>
    fetch(url, { method: "POST", body: f, headers });

  const operator = JSON.parse(
    (await runKiln(["token", "create", "--role", "operator", "--data", `${dir}/data`, "--json"])).stdout,
  ).token;
  const refused = await post(form("extra", SPEC, counter(0, 1)), { authorization: `Bearer ${operator}` });
  assert.equal(refused.status, 403, "an operator may not deploy");
  await refused.body?.cancel();

  const created = await post(form("extra", SPEC, counter(0, 1)));
  assert.equal(created.status, 201, await created.clone().text());
  const v1 = await created.json() as { state: string; sha256: string; replaced_sha256: string | null };
  assert.equal(v1.state, "running");
  assert.equal(v1.replaced_sha256, null);
  await waitFor(
    "v1 ticking",
    async () => (await getJson<{ outputs: { count?: number } }>(`${url}/extra`)).outputs.count! > 2,
  );

  // A version whose kiln_init fails is refused on its trial start; v1 keeps running untouched.
  const bad = await post(form("extra", SPEC, counter(7, 100)));
  assert.equal(bad.status, 422);
  const badBody = await bad.json() as ErrorBody;
  assert.equal(badBody.error.code, "deploy_failed");
  assert.match(badBody.error.message, /kiln_init returned 7/);
  const still = await getJson<{ state: string; sha256: string; restarts: number }>(`${url}/extra`);
  assert.deepEqual([still.state, still.sha256, still.restarts], ["running", v1.sha256, 0]);

  // A capability outside the device policy is refused as `kiln validate` refuses it.
  const denied = await post(form("extra", `${SPEC}capabilities: ["write:gpio:pin_8"]\n`, counter(0, 100)));
  assert.equal(denied.status, 422);
  const deniedBody = await denied.json() as ErrorBody;
  assert.equal(deniedBody.error.code, "manifest_invalid");
  assert.match(
    deniedBody.error.message,
    /modules\.extra\.capabilities\[0\]: "write:gpio:pin_8" is not allowed by the device policy/,
  );
  // Each issue structurally, as `kiln validate` gives it: the line is the spec's (its third line here).
  assert.deepEqual(deniedBody.error.issues?.map(({ path, line }) => [path, line]), [
    ["modules.extra.capabilities[0]", 3],
  ]);
  assert.match(deniedBody.error.issues![0]!.message, /is not allowed by the device policy/);

  // A good new version replaces v1.
  const replaced = await post(form("extra", SPEC, counter(0, 100)));
  assert.equal(replaced.status, 200, await replaced.clone().text());
  const v2 = await replaced.json() as { sha256: string; replaced_sha256: string };
  assert.equal(v2.replaced_sha256, v1.sha256);
  assert.notEqual(v2.sha256, v1.sha256);
  await waitFor(
    "v2 counting by 100",
    async () => ((await getJson<{ outputs: { count?: number } }>(`${url}/extra`)).outputs.count ?? 0) >= 200,
  );

  // A version that starts but faults in its first tick is rolled back: v2 is started again.
  const trapping = wat(`(module (memory (export "memory") 1)
    (func (export "kiln_abi_version") (result i32) (i32.const 1))
    (func (export "kiln_on_tick") (param i64) (result i32) unreachable))`);
  const rolled = await post(form("extra", SPEC, trapping));
  assert.equal(rolled.status, 422);
  const rolledBody = await rolled.json() as ErrorBody;
  assert.equal(rolledBody.error.code, "deploy_failed");
  assert.match(rolledBody.error.message, /unreachable.*the previous version was started again/s);
  const back = await getJson<{ state: string; sha256: string }>(`${url}/extra`);
  assert.deepEqual([back.state, back.sha256], ["running", v2.sha256]);

  // Bad requests: no wasm, not multipart, too large.
  const noWasm = new FormData();
  noWasm.set("name", "x");
  noWasm.set("spec", SPEC);
  assert.equal((await (await post(noWasm)).json()).error.code, "bad_request");
  const big = await fetch(`${kiln.base}/api/v1/sim/gpio/1`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/json" },
    body: "x".repeat(2 * 1024 * 1024),
  });
  assert.equal(big.status, 413);
  await big.body?.cancel();

  const deleted = await fetch(`${url}/extra`, { method: "DELETE", headers: AUTH });
  assert.equal(deleted.status, 200);
  await deleted.body?.cancel();
  const gone = await fetch(`${url}/extra`, { headers: AUTH });
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  assert.equal((await getJson<{ state: string }>(`${url}/base`)).state, "running");
});
