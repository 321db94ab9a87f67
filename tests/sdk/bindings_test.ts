/**
 * The C, Rust and AssemblyScript bindings end to end: the same probe module in each language
 * (`fixtures/bindings/probe.{c,rs,ts}`), built with `modules/sdk/toolchains.ts` and run in a real runtime,
 * calls every `kiln` import on an API event and reports a GPIO event; the gateway must see each call's effect (outputs, an array, logs,
 * an alert, a GPIO write, a channel record, a published message) and the three must report the same statuses.
 */
import assert from "node:assert/strict";
import { createRuntime, type ModulePlan } from "../../runtime/mod.ts";
import type { DeploymentPlan } from "../../runtime/plan.ts";
import { buildAssemblyScriptModule, buildCModule, buildRustModule } from "../../modules/sdk/toolchains.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

const FIXTURES = new URL("./fixtures/bindings/", import.meta.url).pathname;
/** A cold rustc or asc on the shared machine; a backstop, not a measure. */
const BUILD_TIMEOUT_MS = 240_000;
const LANGS = ["c", "rust", "as"] as const;
type Lang = typeof LANGS[number];

/** Reads channel records: outputs how many arrived and the first byte of the last. */
const SINK = `(module
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 0) "count")
  (data (i32.const 8) "first")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_record") (param $ptr i32) (param $len i32) (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (drop (call $out (i32.const 0) (i32.const 5) (f64.convert_i32_s (global.get $count))))
    (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_u (i32.load8_u (local.get $ptr)))))
    (i32.const 0)))`;

async function buildProbe(lang: Lang, dir: string): Promise<string> {
  const output = `${dir}/probe_${lang}.wasm`;
  if (lang === "c") await buildCModule([`${FIXTURES}probe.c`], output, { timeoutMs: BUILD_TIMEOUT_MS });
  else if (lang === "rust") {
    await buildRustModule(`${FIXTURES}probe.rs`, output, { timeoutMs: BUILD_TIMEOUT_MS });
  } else await buildAssemblyScriptModule(`${FIXTURES}probe.ts`, output, { timeoutMs: BUILD_TIMEOUT_MS });
  return output;
}

async function probePlan(dir: string): Promise<DeploymentPlan> {
  const blob = await writeFixture(dir, "blob.bin", new Uint8Array([7, 8, 9]));
  const sink = await writeFixture(dir, "sink.wasm", wat(SINK));
  const modules: ModulePlan[] = [];
  for (const lang of LANGS) {
    modules.push(
      modulePlan({
        name: `probe_${lang}`,
        wasm: await buildProbe(lang, dir),
        maxMemoryMb: 4,
        // A GPIO trigger; API events (kind 1) reach an event module whatever its trigger.
        schedule: { mode: "event", trigger: "gpio:pin_3", priority: 50 },
        capabilities: [
          "write:gpio:pin_8",
          "read:gpio:pin_3",
          "read:sim:temp",
          `write:channel:probe_${lang}`,
          "write:mqtt:probe/#",
        ],
        inputs: ["sim:temp"],
        params: { gain: 2.5 },
        data: [{ name: "blob", path: blob, sha256: null }],
        restart: { policy: "never", maxRestarts: 0, backoffMs: 10, maxBackoffMs: 10 },
      }),
      modulePlan({
        name: `sink_${lang}`,
        wasm: sink,
        schedule: { mode: "stream", source: `channel:probe_${lang}`, window: 16, hop: 16, priority: 50 },
        capabilities: [`read:channel:probe_${lang}`],
      }),
    );
  }
  const plan = deploymentPlan(modules);
  plan.channels = LANGS.map((lang) => ({
    id: `probe_${lang}`,
    writer: `probe_${lang}`,
    readers: [`sink_${lang}`],
    sizeBytes: 4096,
    overflow: "drop-oldest" as const,
    blockTimeoutUs: null,
  }));
  return plan;
}

/** What every probe outputs after kiln_init and one API event with payload [1, 2, 3]. */
const EXPECTED_OUTPUTS = {
  gain: 2.5,
  blob_len: 3,
  blob_first: 7,
  missing_blob: 0,
  kind: 1,
  len: 3,
  alert_rc: 0,
  gpio_write_rc: 0,
  input_rc: 0,
  input_missing_rc: -2,
  cw_rc: 0,
  pub_rc: 0,
  pub_bad_rc: -5,
  act_rc: -2,
  now_pos: 1,
};

Deno.test({
  name: "a probe in C, Rust and AssemblyScript reaches every kiln import, and the gateway sees each effect",
  sanitizeResources: true,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "kiln_bindings_" });
    try {
      const plan = await probePlan(dir);
      await using rt = await createRuntime({ plan, version: "test", log: () => {} });
      await rt.start();
      for (const lang of LANGS) {
        await t.step(
          `${lang}: init, one event, its outputs, array, logs, alert, GPIO, channel, message`,
          async () => {
            const name = `probe_${lang}`;
            await waitFor(`${name} running`, () => rt.getModule(name)?.state === "running");
            assert.equal(rt.getModule(name)!.outputs.gain, 2.5);
            rt.triggerEvent(name, new Uint8Array([1, 2, 3]));
            const m = await waitFor(`${name}'s event outputs`, () => {
              const s = rt.getModule(name)!;
              return s.outputs.now_pos === 1 && s;
            });
            const outputs = Object.fromEntries(
              Object.keys(EXPECTED_OUTPUTS).map((k) => [k, m.outputs[k]]),
            );
            assert.deepEqual(outputs, EXPECTED_OUTPUTS);
            assert.ok(m.outputs.pin3 === 0 || m.outputs.pin3 === 1, `pin3 is ${m.outputs.pin3}`);
            assert.deepEqual(rt.getModuleArrays(name)!.arr, [1.5, 2.5, 3]);
            const logs = rt.getModuleLogs(name)!.map((l) => `${l.level} ${l.message}`);
            assert.ok(logs.includes("info probe init"), logs.join("\n"));
            assert.ok(logs.includes("info event 1 3"), logs.join("\n"));
            await waitFor(
              `${name}'s alert`,
              () => rt.listAlerts().some((a) => a.module === name && a.message === "probe alert"),
            );
            assert.equal(rt.plant.listGpio()[8]!.value, 1);
            await waitFor(`${name}'s record`, () => rt.getModule(`sink_${lang}`)!.outputs.count === 1);
            assert.equal(rt.getModule(`sink_${lang}`)!.outputs.first, 1);
            await waitFor(
              `${name}'s message`,
              () => rt.listMessages().some((msg) => msg.module === name && msg.topic === `probe/${lang}`),
            );
            assert.equal(rt.getModule(name)!.errors, 0);
          },
        );
      }
      await t.step("a GPIO edge reaches the three as a GPIO event with its pin and level", async () => {
        rt.plant.setGpioInput(3, 1);
        for (const lang of LANGS) {
          const m = await waitFor(`probe_${lang}'s GPIO event`, () => {
            const s = rt.getModule(`probe_${lang}`)!;
            return s.outputs.gpio_level === 1 && s;
          });
          assert.equal(m.outputs.gpio_pin, 3);
          assert.equal(m.errors, 0);
        }
      });
      for (const lang of LANGS) {
        await t.step(
          `${lang}: a failure (panic, abort, kiln_fail) logs an error and crashes the module`,
          async () => {
            const name = `probe_${lang}`;
            rt.triggerEvent(name, new Uint8Array([0xff]));
            const m = await waitFor(`${name} crashed`, () => {
              const s = rt.getModule(name)!;
              return s.state !== "running" && s;
            });
            assert.notEqual(m.state, "running");
            const errors = rt.getModuleLogs(name)!.filter((l) => l.level === "error").map((l) => l.message);
            assert.equal(errors.length, 1, errors.join("\n"));
            if (lang === "rust") assert.match(errors[0]!, /^panic at probe\.rs:\d+$/);
            else assert.match(errors[0]!, /probe fails on purpose/);
          },
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
