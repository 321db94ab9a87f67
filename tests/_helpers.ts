/**
 * Test helpers: assemble WAT with wabt (npm), build deployment plans, wait for a condition.
 *
 * @module
 */
import type { DeploymentPlan, ModulePlan, MqttPlan } from "../runtime/plan.ts";
import { wat as assemble } from "./fixtures/wasm/wat.ts";

/** Assembles WAT text into a binary (the features V8 ships on), with a name section as toolchains write. */
export function wat(source: string, name = "fixture.wat"): Uint8Array {
  return assemble(source, { debugNames: true, name });
}

/** Writes `bytes` to `dir/name` and returns the path. */
export async function writeFixture(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeFile(path, bytes);
  return path;
}

/** A module plan with test defaults: stream from `sim:vib`, window 256, 1 MiB, on-failure restarts quickly. */
export function modulePlan(over: Partial<ModulePlan> & Pick<ModulePlan, "name" | "wasm">): ModulePlan {
  return {
    sha256: null,
    maxMemoryMb: 1,
    budgetUs: 10_000,
    fuel: null,
    capabilities: [],
    schedule: { mode: "stream", source: "sim:vib", window: 256, hop: 256, priority: 50 },
    inputs: [],
    actuators: [],
    params: {},
    data: [],
    restart: { policy: "on-failure", maxRestarts: 100, backoffMs: 10, maxBackoffMs: 50 },
    persistence: null,
    enabled: true,
    ...over,
  };
}

/** A deployment of `modules` over a simulated plant with one vibration and one temperature sensor. */
export function deploymentPlan(modules: ModulePlan[]): DeploymentPlan {
  return {
    device: { id: "test-gw", location: null },
    policy: ["read:sim:*"],
    sim: [
      { id: "vib", kind: "vibration", rateHz: 25_600, seed: 1 },
      { id: "temp", kind: "temperature", seed: 2 },
    ],
    modbus: [],
    mqtt: null,
    opcua: [],
    modules,
    channels: [],
    listen: "127.0.0.1:0",
    metricsPublic: false,
    tls: null,
  };
}

/** `T` without its falsy members. */
export type Truthy<T> = Exclude<T, false | 0 | "" | null | undefined>;

/** Polls `check` every 20 ms until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as Truthy<T>;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** WAT for a stream module that counts windows and outputs the count; `body` runs in each call. */
export function streamModuleWat(body = "", extra = ""): string {
  return `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (global $calls (mut f64) (f64.const 0))
  (data (i32.const 16) "windows")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  (func (export "kiln_on_samples") (param $ptr i32) (param $n i32) (result i32)
    (global.set $calls (f64.add (global.get $calls) (f64.const 1)))
    (drop (call $output (i32.const 16) (i32.const 7) (global.get $calls)))
    ${body}
    (i32.const 0))
  ${extra})`;
}

/**
 * An uplink's plan to a broker at `over.url` (or the embedded one, with `embeddedPort`): a clean session,
 * QoS 1, no batches, the default topics, a 1 MiB outbox; `over` replaces any of it.
 */
export function mqttPlan(over: Partial<MqttPlan>): MqttPlan {
  return {
    url: null,
    embeddedPort: null,
    embeddedCredentialsFile: null,
    clientId: "kiln-test",
    username: null,
    passwordFile: null,
    tls: null,
    keepaliveS: 30,
    connectTimeoutMs: 10_000,
    backoffMs: 100,
    maxBackoffMs: 1_000,
    qos: 1,
    persistentSession: false,
    topics: {
      alerts: "kiln/{device}/{module}/alerts",
      batch: "kiln/{device}/batch",
      status: "kiln/{device}/status",
    },
    batchIntervalS: 0,
    outbox: { diskBudgetBytes: 1 << 20, drainRatePerS: 100 },
    ...over,
  };
}
