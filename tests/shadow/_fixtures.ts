/**
 * A small gateway for the shadow tests: `w`, a periodic module that writes a channel, GPIO pin 8 and three
 * outputs each tick, and `r`, its channel's reader, which counts records and the gaps in their sequence
 * numbers (a record a candidate leaked into the channel would show as a gap).
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
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
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

/** Starts the gateway (`w` ticking every 2 ms); dispose it with `await using`. */
export async function shadowGateway(): Promise<{ rt: Runtime; dir: string }> {
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
  plan.channels = [channel];
  const rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  return { rt, dir };
}
