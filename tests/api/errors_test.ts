/**
 * The API's error boundary: every error kind has a status in one exhaustive table, a Kiln error without a kind
 * does not compile, every refusal has one body `{ "error": { "code", "message", "issues"? } }`, and a refused
 * deploy lists its issues with the path, the line in the uploaded spec and the message.
 */
import assert from "node:assert/strict";
import { apiPorts, createApp } from "../../api/mod.ts";
import {
  BadRequestError,
  ForbiddenError,
  InternalError,
  STATUS_BY_KIND,
  UnauthorizedError,
  UpgradeRequiredError,
} from "../../api/errors.ts";
import { ERROR_KINDS, type ErrorKind, KilnError } from "../../errors.ts";
import { GpioDirectionError } from "../../hal/gpio/mod.ts";
import { ModbusExceptionError, ModbusTimeoutError } from "../../hal/modbus/mod.ts";
import { loadManifest } from "../../runtime/manifest/mod.ts";
import {
  ChecksumMismatchError,
  createDeployer,
  createRuntime,
  EventTooLargeError,
  ExecutorError,
  ModuleUnknownError,
  planDeployment,
} from "../../runtime/mod.ts";
import { StreamHub, type StreamSocket } from "../../api/stream/mod.ts";
import { createFakeSysfsGpio } from "../fakes/fake_sysfs_gpio.ts";
import type { Role } from "../../snapshots/mod.ts";
import { wat } from "../_helpers.ts";

// @ts-expect-error: a concrete Kiln error must declare its kind (TS2515): this class does not compile.
class Kindless extends KilnError {
  readonly code = "kindless";
}

Deno.test("every error kind has an error status, and a Kiln error class without a kind fails type checking", () => {
  assert.deepEqual(Object.keys(STATUS_BY_KIND).sort(), [...ERROR_KINDS].sort());
  for (const kind of ERROR_KINDS) {
    const status = STATUS_BY_KIND[kind];
    assert.ok(status >= 400 && status <= 599, `${kind}: ${status}`);
  }
  assert.equal(new Set(Object.values(STATUS_BY_KIND)).size, ERROR_KINDS.length, "one status per kind");
  // The class above exists only because the compiler's error is expected; it has no kind at run time.
  assert.equal((new Kindless("x") as { kind?: unknown }).kind, undefined);
});

/** One error of each kind, from the layers that raise them; a new kind does not compile until it has one. */
const SAMPLES: Record<ErrorKind, KilnError> = {
  invalid: new BadRequestError("Request body is not valid JSON"),
  unauthorized: new UnauthorizedError("The token is unknown or revoked"),
  forbidden: new ForbiddenError("admin", "viewer", "POST /api/v1/modules needs the admin role"),
  not_found: new ModuleUnknownError("nope"),
  conflict: new GpioDirectionError("linux-sysfs", 3, "it is a hardware line"),
  too_large: new EventTooLargeError("ev", 5000, 4096),
  rejected: new ChecksumMismatchError("m", "m.wasm", "aa", "bb"),
  wrong_protocol: new UpgradeRequiredError("This is a WebSocket endpoint"),
  internal: new InternalError(),
  failed: new ModbusExceptionError("plc1", 3, 2, "read register 40001"),
  unavailable: new ExecutorError("normal", "the worker stopped answering"),
  timeout: new ModbusTimeoutError("plc1", 500, "read register 40001"),
};

Deno.test("an error of each kind thrown below the API is answered with its kind's status and the one error body", async (t) => {
  let next: Error = new Error("unset");
  const runtime = {
    getModule() {
      throw next;
    },
  };
  const app = createApp({ modules: runtime as never, observability: {} as never, plant: {} as never });
  for (const kind of ERROR_KINDS) {
    await t.step(kind, async () => {
      const err = SAMPLES[kind];
      assert.equal(err.kind, kind);
      next = err;
      const res = await app.request("/api/v1/modules/x");
      assert.equal(res.status, STATUS_BY_KIND[kind]);
      assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
      assert.deepEqual(await res.json(), { error: { code: err.code, message: err.message } });
    });
  }
  await t.step("an unexpected error is internal, and its text stays in the log", async () => {
    next = new TypeError("secret detail");
    const logged: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => logged.push(args);
    try {
      const res = await app.request("/api/v1/modules/x");
      assert.equal(res.status, 500);
      const body = await res.json();
      assert.equal(body.error.code, "internal");
      assert.doesNotMatch(JSON.stringify(body), /secret detail/);
    } finally {
      console.error = consoleError;
    }
    assert.equal(logged.length, 1);
  });
});

const TICK = `(module (memory (export "memory") 1)
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32) (i32.const 0)))`;
const EVENT = `(module (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_event") (param i32 i32 i32) (result i32) (i32.const 0)))`;

/**
 * A gateway in process: a periodic module, an API-triggered event module, a simulated vibration sensor and a
 * Linux GPIO bank on a fake sysfs folder (pin 3 an input line, pin 8 an output line); its API with tokens
 * `admin` and `viewer`, deploys, a stream hub that takes one connection, and an 8 KiB body limit.
 */
async function gateway() {
  const dir = await Deno.makeTempDir();
  const fake = await createFakeSysfsGpio();
  await Deno.writeFile(`${dir}/tick.wasm`, wat(TICK));
  await Deno.writeFile(`${dir}/event.wasm`, wat(EVENT));
  await Deno.writeTextFile(
    `${dir}/kiln.yaml`,
    `version: 1
device: { id: gw-errors }
policy: { allow: ["read:gpio:*", "use:executor:realtime"] }
connectors:
  sim:
    vibration_1: { kind: vibration, rate_hz: 1000, seed: 1 }
  gpio:
    backend: linux-sysfs
    root: ${fake.root}
    poll_ms: 50
    pins:
      3: { line: 17, direction: in }
      8: { line: 27, direction: out }
modules:
  tick:
    wasm: tick.wasm
    limits: { max_memory_mb: 1 }
    schedule: { mode: periodic, period_us: 50000 }
  on_api:
    wasm: event.wasm
    limits: { max_memory_mb: 1 }
    capabilities: [use:executor:realtime]
    schedule: { mode: event, trigger: api, priority: 90 }
`,
  );
  const runtime = await createRuntime({
    plan: planDeployment(await loadManifest(`${dir}/kiln.yaml`)),
    version: "test",
    log: () => {},
  });
  const hub = new StreamHub({ maxConnections: 1 });
  try {
    await runtime.start();
  } catch (err) {
    runtime.close();
    throw err;
  }
  const roles = new Map<string, Role>([["admin", "admin"], ["viewer", "viewer"]]);
  const app = createApp({
    ...apiPorts(runtime),
    deployer: createDeployer({ manifestFile: `${dir}/kiln.yaml`, dataDir: `${dir}/data`, runtime }),
    auth: { verify: (token) => roles.has(token) ? { name: token, role: roles.get(token)! } : null },
    stream: hub,
    maxBodyBytes: 8192,
  });
  const ask = async (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const { token = "admin", ...rest } = init;
    const res = await app.request(path, {
      ...rest,
      headers: { ...(token !== null && { authorization: `Bearer ${token}` }), ...rest.headers },
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    hub,
    ask,
    async [Symbol.asyncDispose]() {
      await hub[Symbol.asyncDispose]();
      await runtime[Symbol.asyncDispose]();
      await fake[Symbol.asyncDispose]();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The one error body: `error` alone, with a string `code` and `message`, and `issues` at most. */
function assertErrorBody(body: unknown, code: string): void {
  assert.deepEqual(Object.keys(body as object), ["error"]);
  const error = (body as { error: Record<string, unknown> }).error;
  assert.equal(error.code, code);
  assert.equal(typeof error.message, "string");
  assert.ok((error.message as string).length > 0);
  for (const key of Object.keys(error)) assert.ok(["code", "message", "issues"].includes(key), key);
}

/** A socket that stays open: it holds the hub's one connection slot. */
const idleSocket = {
  readyState: WebSocket.OPEN,
  bufferedAmount: 0,
  send() {},
  close() {},
  addEventListener() {},
} as unknown as StreamSocket;

Deno.test("a running gateway answers each kind of refusal it can produce with that kind's status and the one error body", async (t) => {
  await using gw = await gateway();
  const json = (value: unknown) => ({ method: "POST", body: JSON.stringify(value) });
  const cases: [ErrorKind, string, string, RequestInit & { token?: string | null }][] = [
    ["invalid", "bad_request", "/api/v1/sim/sensors/vibration_1/fault", { method: "POST", body: "{" }],
    ["invalid", "fault_not_applicable", "/api/v1/sim/sensors/vibration_1/fault", json({ fault: "overheat" })],
    ["unauthorized", "unauthorized", "/api/v1/modules", { token: null }],
    ["unauthorized", "unauthorized", "/api/v1/modules", { token: "stolen" }],
    ["forbidden", "forbidden", "/api/v1/modules/tick/stop", { method: "POST", token: "viewer" }],
    ["not_found", "module_unknown", "/api/v1/modules/nope", {}],
    ["not_found", "sensor_unknown", "/api/v1/sim/sensors/nope/fault", json({ fault: "none" })],
    ["not_found", "pin_unknown", "/api/v1/sim/gpio/5", json({ value: 1 })],
    ["not_found", "uplink_unavailable", "/api/v1/uplink", {}],
    ["not_found", "not_found", "/api/v1/nothing", {}],
    ["conflict", "module_state", "/api/v1/modules/tick/start", { method: "POST" }],
    // A refused write to a pin that exists is no 404: the line is the wire's, and the answer says so.
    ["conflict", "gpio_direction", "/api/v1/sim/gpio/3", json({ value: 1 })],
    ["conflict", "gpio_direction", "/api/v1/sim/gpio/8", json({ value: 1 })],
    ["too_large", "event_too_large", "/api/v1/modules/on_api/events", {
      method: "POST",
      body: "x".repeat(5000),
    }],
    ["too_large", "payload_too_large", "/api/v1/sim/gpio/8", { method: "POST", body: "x".repeat(10_000) }],
    ["wrong_protocol", "upgrade_required", "/api/v1/stream", { token: null }],
  ];
  for (const [kind, code, path, init] of cases) {
    await t.step(`${kind}: ${code} (${init.method ?? "GET"} ${path})`, async () => {
      const { status, body } = await gw.ask(path, init);
      assert.equal(status, STATUS_BY_KIND[kind], JSON.stringify(body));
      assertErrorBody(body, code);
    });
  }
  await t.step("the GPIO refusal names the pin and why", async () => {
    const { body } = await gw.ask("/api/v1/sim/gpio/3", json({ value: 1 }));
    assert.match(body.error.message, /GPIO pin 3: it is a hardware line/);
  });
  await t.step("unavailable: too_many_connections (GET /api/v1/stream past its one connection)", async () => {
    gw.hub.attach(idleSocket);
    const { status, body } = await gw.ask("/api/v1/stream", {
      token: null,
      headers: { upgrade: "websocket", connection: "Upgrade" },
    });
    assert.equal(status, STATUS_BY_KIND.unavailable);
    assertErrorBody(body, "too_many_connections");
  });
  await t.step("rejected: manifest_invalid (a deploy the device policy refuses)", async () => {
    const form = new FormData();
    form.set("name", "extra");
    form.set("spec", "schedule: { mode: periodic, period_us: 20000 }\ncapabilities: [write:gpio:pin_8]\n");
    form.set("wasm", new File([wat(TICK) as Uint8Array<ArrayBuffer>], "extra.wasm"));
    const { status, body } = await gw.ask("/api/v1/modules", { method: "POST", body: form });
    assert.equal(status, STATUS_BY_KIND.rejected);
    assertErrorBody(body, "manifest_invalid");
  });
});

Deno.test("a refused deploy lists each issue with its path, its line in the uploaded spec and its message", async () => {
  await using gw = await gateway();
  const spec = [
    "schedule: { mode: periodic, period_us: 20000 }", // line 1
    "limits:",
    "  max_memory_mb: 1",
    "  budget_us: 150000", // line 4: past the policy's max_budget_us (100 ms)
    "capabilities:",
    "  - read:gpio:pin_3",
    "  - write:gpio:pin_8", // line 7: outside the policy
  ].join("\n");
  const form = new FormData();
  form.set("name", "extra");
  form.set("spec", spec);
  form.set("wasm", new File([wat(TICK) as Uint8Array<ArrayBuffer>], "extra.wasm"));
  const { status, body } = await gw.ask("/api/v1/modules", { method: "POST", body: form });
  assert.equal(status, 422);
  assertErrorBody(body, "manifest_invalid");
  const issues = body.error.issues as Record<string, unknown>[];
  assert.deepEqual(
    issues.map((i) => [i.path, i.line]).sort(),
    [["modules.extra.capabilities[1]", 7], ["modules.extra.limits.budget_us", 4]],
  );
  for (const issue of issues) {
    assert.equal(typeof issue.message, "string");
    assert.ok((issue.message as string).length > 0);
  }
  const budget = issues.find((i) => i.path === "modules.extra.limits.budget_us")!;
  assert.equal(budget.code, "policy_limit_exceeded");
  assert.equal(budget.limit, "policy.max_budget_us");
  assert.equal(budget.requested, 150_000);
  assert.equal(budget.allowed, 100_000);
  // The message says the same, for people: each issue on its line, with the spec's line.
  assert.match(body.error.message, /modules\.extra\.capabilities\[1\]: .* \(line 7\)/);
});
