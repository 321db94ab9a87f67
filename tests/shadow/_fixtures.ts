/**
 * A small gateway for the shadow tests: `w`, a periodic module that writes a channel, GPIO pin 8 and three
 * outputs each tick, and `r`, its channel's reader, which counts records and the gaps in their sequence
 * numbers (a record a candidate leaked into the channel would show as a gap); with `gauges`, two more periodic
 * modules whose builds can differ in memory layout (`gaugeWasm`), for candidates started from their own
 * `kiln_init`.
 */
import { type ChannelPlan, createRuntime, type Runtime } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, wat, writeFixture } from "../_helpers.ts";

/** What a build of `w` does differently: the `k` output, the pin level it writes, the record's offset. */
export interface WriterVariant {
  /** Publishes each record to `shadow/<topic>` (needs `write:mqtt:shadow/#`). @default no publish */
  topic?: string;
  k?: number;
  pinLevel?: number;
  recordOffset?: number;
  /** Traps (`unreachable`) on every tick. */
  trap?: boolean;
  /** Loops forever on every tick. */
  loop?: boolean;
  /**
   * Exports a `kiln_init` that writes pin 8 high, writes channel record 5000, outputs `init` and, with
   * `topic`, publishes record 5000 to `shadow/<topic>`: effects a shadow candidate's own start must swallow.
   */
  initEffects?: boolean;
}

/** The `.wasm` of a build of `w`. */
export function writerWasm(v: WriterVariant = {}): Uint8Array {
  return wat(`(module
  (import "kiln" "channel_write" (func $cw (param i32 i32 i32) (result i32)))
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (import "kiln" "gpio_write" (func $gw (param i32 i32) (result i32)))
  (import "kiln" "now_us" (func $now (result i64)))
  ${v.topic ? '(import "kiln" "publish" (func $pub (param i32 i32 i32 i32) (result i32)))' : ""}
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 0) "rc")
  (data (i32.const 8) "k")
  (data (i32.const 16) "t")
  (data (i32.const 128) "shadow/${v.topic ?? ""}")
  (data (i32.const 24) "init")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  ${
    v.initEffects
      ? `(func (export "kiln_init") (result i32)
    (i32.store (i32.const 64) (i32.const 5000))
    (drop (call $gw (i32.const 8) (i32.const 1)))
    (drop (call $cw (i32.const 0) (i32.const 64) (i32.const 4)))
    (drop (call $out (i32.const 24) (i32.const 4) (f64.const 1)))
    ${
        v.topic
          ? `(drop (call $pub (i32.const 128) (i32.const ${
            7 + v.topic.length
          }) (i32.const 64) (i32.const 4)))`
          : ""
      }
    (i32.const 0))`
      : ""
  }
  (func (export "kiln_on_tick") (param i64) (result i32)
    ${v.trap ? "(unreachable)" : ""}
    ${v.loop ? "(loop $forever (br $forever))" : ""}
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store (i32.const 64) (i32.add (global.get $n) (i32.const ${v.recordOffset ?? 0})))
    (drop (call $out (i32.const 0) (i32.const 2)
      (f64.convert_i32_s (call $cw (i32.const 0) (i32.const 64) (i32.const 4)))))
    (drop (call $out (i32.const 8) (i32.const 1) (f64.const ${v.k ?? 1})))
    (drop (call $out (i32.const 16) (i32.const 1) (f64.convert_i64_s (call $now))))
    (drop (call $gw (i32.const 8) (i32.const ${v.pinLevel ?? 0})))
    ${
    v.topic
      ? `(drop (call $pub (i32.const 128) (i32.const ${7 + v.topic.length}) (i32.const 64) (i32.const 4)))`
      : ""
  }
    (i32.const 0)))`);
}

/** What a build of a gauge module does differently (`gaugeWasm`). */
export interface GaugeVariant {
  /**
   * Another memory layout: an extra mutable global first, another stack pointer value, and the state
   * `kiln_init` sets up at 2048 instead of 1024 (as a rebuild with more static data would place it).
   */
  moved?: boolean;
  /** Outputs `level`, the handler calls it has made, saturating at this many (a state that warms up). */
  warm?: number;
  /** `kiln_init` traps (`unreachable`) after setting up its state. */
  initTrap?: boolean;
  /** `kiln_init` loops forever. */
  initLoop?: boolean;
}

/**
 * The `.wasm` of a gauge build: `kiln_init` reads the `gain` param (default 1), the clock and 8 random bytes
 * into its state; each tick outputs `k`, the gain read back from that state, and with `warm`, `level`.
 */
export function gaugeWasm(v: GaugeVariant = {}): Uint8Array {
  const state = v.moved ? 2048 : 1024;
  return wat(`(module
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (import "kiln" "now_us" (func $now (result i64)))
  (import "kiln" "param_f64" (func $param (param i32 i32 f64) (result f64)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ${v.moved ? "(global $pad (mut i32) (i32.const 7))" : ""}
  (global $sp (mut i32) (i32.const ${v.moved ? 49152 : 32768}))
  (global $count (mut i32) (i32.const 0))
  (data (i32.const 0) "k")
  (data (i32.const 8) "level")
  (data (i32.const 16) "gain")
  ${v.moved ? '(data (i32.const 512) "more static data")' : ""}
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_init") (result i32)
    (f64.store (i32.const ${state}) (call $param (i32.const 16) (i32.const 4) (f64.const 1)))
    (i64.store (i32.const ${state + 8}) (call $now))
    (drop (call $random (i32.const ${state + 16}) (i32.const 8)))
    ${v.initTrap ? "(unreachable)" : ""}
    ${v.initLoop ? "(loop $forever (br $forever))" : ""}
    (i32.const 0))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $sp (i32.sub (global.get $sp) (i32.const 16)))
    (drop (call $out (i32.const 0) (i32.const 1) (f64.load (i32.const ${state}))))
    ${
    v.warm === undefined ? "" : `(if (i32.lt_s (global.get $count) (i32.const ${v.warm}))
      (then (global.set $count (i32.add (global.get $count) (i32.const 1)))))
    (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_s (global.get $count))))`
  }
    (global.set $sp (i32.add (global.get $sp) (i32.const 16)))
    (i32.const 0)))`);
}

/** The channel reader's source. */
export const READER = `(module
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (global $prev (mut i32) (i32.const 0))
  (global $count (mut i32) (i32.const 0))
  (global $gaps (mut i32) (i32.const 0))
  (data (i32.const 0) "last")
  (data (i32.const 8) "count")
  (data (i32.const 16) "gaps")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_record") (param $ptr i32) (param $len i32) (result i32)
    (local $v i32)
    (local.set $v (i32.load (local.get $ptr)))
    (if (i32.ne (local.get $v) (i32.add (global.get $prev) (i32.const 1)))
      (then (global.set $gaps (i32.add (global.get $gaps) (i32.const 1)))))
    (global.set $prev (local.get $v))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (drop (call $out (i32.const 0) (i32.const 4) (f64.convert_i32_s (local.get $v))))
    (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_s (global.get $count))))
    (drop (call $out (i32.const 16) (i32.const 4) (f64.convert_i32_s (global.get $gaps))))
    (i32.const 0)))`;

/**
 * Starts the gateway (`w` ticking every 2 ms); with `gauges`, also `g` (`gaugeWasm()`, param `gain` 2.5) and
 * `s` (`gaugeWasm({ warm: 10 })`), ticking every 5 ms with a 5 ms budget. Dispose it with `await using`.
 */
export async function shadowGateway(
  options: { gauges?: boolean } = {},
): Promise<{ rt: Runtime; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kiln_shadow_test_" });
  const channel: ChannelPlan = {
    id: "features",
    writer: "w",
    readers: ["r"],
    sizeBytes: 4096,
    overflow: "drop-newest",
    blockTimeoutUs: null,
  };
  const plan = deploymentPlan([
    modulePlan({
      name: "w",
      wasm: await writeFixture(dir, "w.wasm", writerWasm()),
      schedule: { mode: "periodic", periodUs: 2_000, priority: 50 },
      capabilities: ["write:channel:features", "write:gpio:pin_8"],
      budgetUs: 100_000,
    }),
    modulePlan({
      name: "r",
      wasm: await writeFixture(dir, "r.wasm", wat(READER)),
      schedule: { mode: "stream", source: "channel:features", window: 16, hop: 16, priority: 50 },
      capabilities: ["read:channel:features"],
      budgetUs: 1_000_000,
    }),
  ]);
  if (options.gauges) {
    for (const [name, wasm] of [["g", gaugeWasm()], ["s", gaugeWasm({ warm: 10 })]] as const) {
      plan.modules.push(modulePlan({
        name,
        wasm: await writeFixture(dir, `${name}.wasm`, wasm),
        schedule: { mode: "periodic", periodUs: 5_000, priority: 50 },
        params: { gain: 2.5 },
        budgetUs: 5_000,
      }));
    }
  }
  plan.channels = [channel];
  const rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  return { rt, dir };
}
