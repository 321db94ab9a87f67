/**
 * Helpers for the lifecycle tests: a counting module whose memory survives only through snapshots, a
 * manifest around it, deploys over the API, and a SIGKILL of a whole `kiln run` (the launcher and the
 * sandboxed child it relaunched).
 *
 * @module
 */
import { AUTH, getJson, KILN_FLAGS, type RunningKiln, startKiln } from "../_process.ts";
import { waitFor, wat } from "../_helpers.ts";

/**
 * A periodic module that adds `step` to a count in its memory on every tick, and counts its own `kiln_init`
 * runs: outputs `count`, `inits` and `step`. A restored instance shows `inits` 1 and a count that went on.
 * A non-empty `build` is a string in a data segment no code reads: other bytes, the same behaviour (a rebuild).
 */
export function counterWasm(step: number, build = ""): Uint8Array {
  return wat(`(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)${build === "" ? "" : `\n  (data (i32.const 512) "${build}")`}
  (data (i32.const 16) "count")
  (data (i32.const 24) "inits")
  (data (i32.const 32) "step")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32)
    (i32.store (i32.const 68) (i32.add (i32.load (i32.const 68)) (i32.const 1)))
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (i32.const ${step})))
    (drop (call $output (i32.const 16) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 64)))))
    (drop (call $output (i32.const 24) (i32.const 5) (f64.convert_i32_u (i32.load (i32.const 68)))))
    (drop (call $output (i32.const 32) (i32.const 4) (f64.const ${step})))
    (i32.const 0)))`);
}

/** The manifest entry of a snapshotted counter (YAML, one mapping on one line per key). */
export const COUNTER_SPEC = "schedule: { mode: periodic, period_us: 20000 }\n" +
  "limits: { max_memory_mb: 1 }\n" +
  "persistence: { snapshot: true, snapshot_interval_s: 1 }\n";

/** The outputs of a counter. */
export interface CounterOutputs {
  count?: number;
  inits?: number;
  step?: number;
}

/** A module's status, the fields these tests read. */
export interface Status {
  name: string;
  state: string;
  sha256: string;
  outputs: CounterOutputs;
  snapshot: { restored_from: number | null; taken: number; last: { seq: number } | null } | null;
}

/**
 * Writes `<dir>/kiln.yaml` with counters named in `modules` (each `name: step`), their binaries beside it,
 * and returns its path.
 */
export async function writeManifest(
  dir: string,
  modules: Record<string, number>,
  extra: Record<string, string> = {},
): Promise<string> {
  let text = `version: 1\ndevice: { id: gw-lifecycle }\npolicy: { allow: ["read:sim:*"] }\nmodules:\n`;
  for (const [name, step] of Object.entries(modules)) {
    await Deno.writeFile(`${dir}/${name}.wasm`, counterWasm(step));
    text += `  ${name}:\n    wasm: ${name}.wasm\n    ${COUNTER_SPEC.trim().replaceAll("\n", "\n    ")}\n`;
    if (extra[name]) text += `    ${extra[name]}\n`;
  }
  await Deno.writeTextFile(`${dir}/kiln.yaml`, text);
  return `${dir}/kiln.yaml`;
}

/**
 * The flags of a sandboxed `kiln run`, as `deno task start` gives them: the launcher may exec into its
 * narrowed self (FFI to libc's `execv`) or, without FFI, run it as a child (`--allow-run`).
 */
export const SANDBOXED_FLAGS: readonly string[] = [...KILN_FLAGS, "--allow-run", "--allow-ffi"];

/** Starts `kiln run` on a manifest and data directory; `sandboxed` lets it relaunch itself narrowed. */
export function startGateway(manifest: string, data: string, sandboxed = false): Promise<RunningKiln> {
  return startKiln([manifest, "--data", data], sandboxed ? { flags: [...SANDBOXED_FLAGS] } : {});
}

/** Deploys a counter over the API; returns the answer's status and body. */
export async function deploy(
  base: string,
  name: string,
  wasm: Uint8Array,
  options: { spec?: string; token?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.set("name", name);
  form.set("spec", options.spec ?? COUNTER_SPEC);
  form.set("wasm", new File([wasm as Uint8Array<ArrayBuffer>], `${name}.wasm`));
  const res = await fetch(`${base}/api/v1/modules`, {
    method: "POST",
    body: form,
    headers: options.token ? { authorization: `Bearer ${options.token}` } : AUTH,
  });
  return { status: res.status, body: await res.json() };
}

/** A module's status, or null when the runtime has none by that name (404). */
export async function moduleStatus(base: string, name: string): Promise<Status | null> {
  const res = await fetch(`${base}/api/v1/modules/${name}`, { headers: AUTH });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw new Error(`GET ${name}: ${res.status} ${await res.text()}`);
  return await res.json() as Status;
}

/** Waits until module `name` counts past `count`; returns its status. */
export function countsPast(base: string, name: string, count: number, timeoutMs = 20_000): Promise<Status> {
  return waitFor(`${name} counting past ${count}`, async () => {
    const s = await moduleStatus(base, name);
    return s && s.state === "running" && (s.outputs.count ?? 0) > count ? s : null;
  }, timeoutMs);
}

/**
 * Waits until module `name` has taken a snapshot after now (so its memory at this moment, or later, is
 * stored); returns its count when this was called.
 */
export async function snapshotAfterNow(base: string, name: string): Promise<number> {
  const now = await getJson<Status>(`${base}/api/v1/modules/${name}`);
  const taken = now.snapshot?.taken ?? 0;
  await waitFor(
    `a snapshot of ${name} after count ${now.outputs.count}`,
    async () => ((await getJson<Status>(`${base}/api/v1/modules/${name}`)).snapshot?.taken ?? 0) > taken,
    20_000,
  );
  return now.outputs.count ?? 0;
}

/** The pid written into the data directory's lock by the process holding it. */
export async function lockHolder(data: string): Promise<number> {
  return Number((await Deno.readTextFile(`${data}/kiln.lock`)).trim());
}

/** Whether no process holds the data directory's lock now. */
export function lockFree(data: string): boolean {
  using f = Deno.openSync(`${data}/kiln.lock`, { read: true, write: true });
  const free = f.tryLockSync(true);
  if (free) f.unlockSync();
  return free;
}

/**
 * SIGKILLs a running `kiln run` as a power cut would end it: the sandboxed child that holds the data
 * directory (its pid from the lock file) and the launcher, with no chance to snapshot or close anything;
 * resolves once the launcher has exited and the lock is free (the child is gone).
 */
export async function killHard(kiln: RunningKiln, data: string): Promise<void> {
  const holder = await lockHolder(data);
  // Only a live holder keeps the lock: the pid is the runtime's, never a stale number.
  if (holder !== kiln.child.pid && !lockFree(data)) Deno.kill(holder, "SIGKILL");
  kiln.child.kill("SIGKILL");
  await kiln.child.status;
  await waitFor("the killed runtime's lock to be released", () => lockFree(data), 20_000);
  await kiln.stop(); // reads the rest of its output; it has exited
}
