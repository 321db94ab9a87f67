/**
 * What the policy ceiling tests share (`ceilings_limits_test.ts`, `ceilings_realtime_test.ts`,
 * `ceilings_api_test.ts`): a gateway manifest with a policy, a periodic module entry, the issues a refused
 * manifest lists and the checks on them, and a running gateway with its API in process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import {
  loadManifest,
  ManifestError,
  type ManifestIssue,
  parseManifest,
} from "../../runtime/manifest/mod.ts";
import { createDeployer, createRuntime, planDeployment } from "../../runtime/mod.ts";
import { wat } from "../_helpers.ts";

/** The capabilities the test gateways' policy allows unless a test says otherwise. */
const ALLOW = "[read:sim:*, write:channel:*, read:channel:*, use:executor:realtime]";

/**
 * A gateway with one vibration sensor and the modules `modules` (YAML under `modules:`), whose policy allows
 * `allow` and has the extra keys `policy`; `extra` goes before `modules:`.
 */
export function gateway(modules: string, policy = "", extra = "", allow = ALLOW): string {
  return `version: 1
device: { id: gw-limits }
policy:
  allow: ${allow}
${policy}connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 25600 }
${extra}modules:
${modules}`;
}

/** A periodic module named `name` with extra keys (YAML, 4-space indented). */
export const ticker = (name: string, keys = "") =>
  `  ${name}:
    wasm: ${name}.wasm
    schedule: { mode: periodic, period_us: 20000 }
${keys}`;

/** The issues `parseManifest` refuses `text` with. */
export function refusal(text: string): readonly ManifestIssue[] {
  try {
    parseManifest(text);
  } catch (err) {
    assert.ok(err instanceof ManifestError, `expected a ManifestError, got ${err}`);
    assert.equal(err.code, "manifest_invalid");
    return err.issues;
  }
  assert.fail("expected the manifest to be refused");
}

/** The one issue of a refused manifest, checked to name the limit, the value asked for and the value allowed. */
export function assertOverLimit(
  text: string,
  expected: { path: string; limit: string; requested: number; allowed: number },
): ManifestIssue {
  const issues = refusal(text);
  assert.equal(issues.length, 1, issues.map((i) => `${i.path}: ${i.message}`).join("\n"));
  const [issue] = issues;
  assert.ok(issue);
  assert.deepEqual(
    {
      path: issue.path,
      code: issue.code,
      limit: issue.limit,
      requested: issue.requested,
      allowed: issue.allowed,
    },
    { ...expected, code: "policy_limit_exceeded" },
  );
  // The message a user reads names the same three things.
  assert.ok(issue.message.includes(expected.limit), issue.message);
  assert.ok(issue.message.includes(String(expected.requested)), issue.message);
  assert.ok(issue.message.includes(String(expected.allowed)), issue.message);
  assert.equal(typeof issue.line, "number");
  return issue;
}

/** Asserts two lists hold the same rows, in any order (issues come in source order). */
export function assertSameRows(actual: unknown[][], expected: unknown[][]): void {
  const text = (rows: unknown[][]) => rows.map((row) => JSON.stringify(row)).sort();
  assert.deepEqual(text(actual), text(expected));
}

/** A periodic module that counts its ticks into the output `count`. */
const COUNTER = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const 1)))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (i32.const 0)))`;

/** A running gateway from a manifest file (one healthy module, `base`), its deployer, and its API in process. */
export async function apiGateway(policy: string) {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/base.wasm`, wat(COUNTER));
  const file = `${dir}/kiln.yaml`;
  await Deno.writeTextFile(
    file,
    `version: 1\ndevice: { id: gw-api }\npolicy:\n${policy}modules:\n  base:\n    wasm: base.wasm\n` +
      `    limits: { max_memory_mb: 1 }\n    schedule: { mode: periodic, period_us: 10000 }\n`,
  );
  const runtime = await createRuntime({
    plan: planDeployment(await loadManifest(file)),
    version: "test",
    log: () => {},
  });
  await runtime.start();
  const deployer = createDeployer({ manifestFile: file, dataDir: `${dir}/data`, runtime });
  const app = createApp({ ...apiPorts(runtime), deployer });
  const deploy = async (name: string, spec: string, source = COUNTER) => {
    const form = new FormData();
    form.set("name", name);
    form.set("spec", spec);
    form.set("wasm", new File([wat(source) as Uint8Array<ArrayBuffer>], `${name}.wasm`));
    const res = await app.request("/api/v1/modules", { method: "POST", body: form });
    return { status: res.status, body: await res.json() };
  };
  const ticks = () => runtime.getModule("base")!.invocations;
  return {
    runtime,
    deploy,
    ticks,
    async [Symbol.asyncDispose]() {
      await runtime[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
