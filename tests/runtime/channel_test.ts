import assert from "node:assert/strict";
import { type ChannelPlan, createRuntime, type ModulePlan } from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, waitFor, wat, writeFixture } from "../_helpers.ts";

/** Writes its tick count as a 4-byte record (padded to `size` bytes) to channel 0 each tick; outputs `rc`. */
const writer = (size = 4) =>
  `(module
  (import "kiln" "channel_write" (func $cw (param i32 i32 i32) (result i32)))
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 0) "rc")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store (i32.const 64) (global.get $n))
    (drop (call $out (i32.const 0) (i32.const 2)
      (f64.convert_i32_s (call $cw (i32.const 0) (i32.const 64) (i32.const ${size})))))
    (i32.const 0)))`;

/**
 * Reads records: outputs the last sequence number, the count and the gaps (a record that is not the previous
 * one plus one); spins `spinUs` per record to be slow on purpose.
 */
const reader = (spinUs = 0) =>
  `(module
  (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
  (import "kiln" "now_us" (func $now (result i64)))
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
    (local $v i32) (local $end i64)
    (local.set $v (i32.load (local.get $ptr)))
    (if (i32.ne (local.get $v) (i32.add (global.get $prev) (i32.const 1)))
      (then (global.set $gaps (i32.add (global.get $gaps) (i32.const 1)))))
    (global.set $prev (local.get $v))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (drop (call $out (i32.const 0) (i32.const 4) (f64.convert_i32_s (local.get $v))))
    (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_s (global.get $count))))
    (drop (call $out (i32.const 16) (i32.const 4) (f64.convert_i32_s (global.get $gaps))))
    (local.set $end (i64.add (call $now) (i64.const ${spinUs})))
    (block $d (loop $l (br_if $d (i64.ge_s (call $now) (local.get $end))) (br $l)))
    (i32.const 0)))`;

async function pipeline(options: {
  channel?: Partial<ChannelPlan>;
  readerSpinUs?: number;
  writerPeriodUs?: number;
  recordBytes?: number;
  writer?: Partial<ModulePlan>;
}) {
  const dir = await Deno.makeTempDir();
  const channel: ChannelPlan = {
    id: "features",
    writer: "w",
    readers: ["r"],
    sizeBytes: 4096,
    overflow: "drop-newest",
    blockTimeoutUs: null,
    ...options.channel,
  };
  const plan = deploymentPlan([
    modulePlan({
      name: "w",
      wasm: await writeFixture(dir, "w.wasm", wat(writer(options.recordBytes))),
      // Priority 80: the writer runs in the realtime executor, so a slow reader cannot slow it down.
      schedule: { mode: "periodic", periodUs: options.writerPeriodUs ?? 1_000, priority: 80 },
      capabilities: ["write:channel:features"],
      ...options.writer,
    }),
    modulePlan({
      name: "r",
      wasm: await writeFixture(dir, "r.wasm", wat(reader(options.readerSpinUs))),
      schedule: { mode: "stream", source: "channel:features", window: 16, hop: 16, priority: 50 },
      capabilities: ["read:channel:features"],
      budgetUs: 1_000_000,
    }),
  ]);
  plan.channels = [channel];
  const rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  return rt;
}

Deno.test("records written to a channel reach its reader in order, each once", async () => {
  await using rt = await pipeline({});
  const r = await waitFor(
    "100 records",
    () => (rt.getModule("r")!.outputs.count ?? 0) >= 100 && rt.getModule("r")!,
  );
  assert.equal(r.outputs.gaps, 0);
  // The writer reports from another executor, on its own 100 ms schedule.
  await waitFor("the writer's report", () => rt.getModule("w")!.outputs.rc === 0);
  const [ch] = rt.listChannels();
  assert.equal(ch!.id, "features");
  assert.ok(ch!.written >= 100);
  assert.equal(ch!.dropped, 0);
  assert.deepEqual(ch!.readers.map((x) => [x.module, x.lost]), [["r", 0]]);
});

Deno.test("drop-newest: a slow reader loses the newest records, counted for the channel and the reader", async () => {
  // 4 records of 4 bytes fit a 64-byte ring at most; the reader takes 20 ms per record, the writer writes every 1 ms.
  await using rt = await pipeline({
    channel: { sizeBytes: 64, overflow: "drop-newest" },
    readerSpinUs: 20_000,
  });
  const ch = await waitFor("drops", () => rt.listChannels()[0]!.dropped > 20 && rt.listChannels()[0]!);
  assert.ok(ch.readers[0]!.lost > 0);
  assert.equal(rt.getModule("w")!.state, "running");
  // The writer sees KILN_ELIMIT (-4) for a dropped record.
  await waitFor("a dropped write", () => rt.getModule("w")!.outputs.rc === -4);
});

Deno.test("drop-oldest: the reader loses the oldest records, counted, and sees the gaps they leave", async () => {
  await using rt = await pipeline({
    channel: { sizeBytes: 64, overflow: "drop-oldest" },
    readerSpinUs: 20_000,
  });
  const ch = await waitFor("evictions", () => rt.listChannels()[0]!.evicted > 20 && rt.listChannels()[0]!);
  assert.ok(ch.readers[0]!.lost > 0);
  assert.equal(ch.dropped, 0, "drop-oldest never refuses the writer");
  await waitFor("the reader to see gaps", () => (rt.getModule("r")!.outputs.gaps ?? 0) > 0);
});

Deno.test("block-writer: the writer waits for room and drops after its timeout", async () => {
  await using rt = await pipeline({
    channel: { sizeBytes: 64, overflow: "block-writer", blockTimeoutUs: 500 },
    readerSpinUs: 20_000,
    writerPeriodUs: 2_000,
  });
  const ch = await waitFor("timeouts", () => rt.listChannels()[0]!.timeouts > 3 && rt.listChannels()[0]!);
  assert.ok(ch.blocked >= ch.timeouts);
  assert.equal(rt.getModule("w")!.state, "running");
});

Deno.test("a record larger than the channel allows is refused to the writer with KILN_EINVAL", async () => {
  await using rt = await pipeline({ channel: { sizeBytes: 64 }, recordBytes: 60 });
  await waitFor("the refusal", () => rt.getModule("w")!.outputs.rc === -5);
  assert.equal(rt.listChannels()[0]!.written, 0);
});

Deno.test("a channel can trigger an event module: each record runs kiln_on_event with kind 3", async () => {
  const dir = await Deno.makeTempDir();
  // On each event: outputs the kind and the record's first word, and sets GPIO pin 8 to its low bit.
  const handler = `(module
    (import "kiln" "output" (func $out (param i32 i32 f64) (result i32)))
    (import "kiln" "gpio_write" (func $w (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (data (i32.const 0) "kind") (data (i32.const 8) "value")
    (func (export "kiln_abi_version") (result i32) (i32.const 1))
    (func (export "kiln_alloc") (param $n i32) (result i32)
      (local $p i32) (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
    (func (export "kiln_on_event") (param $kind i32) (param $ptr i32) (param $len i32) (result i32)
      (drop (call $out (i32.const 0) (i32.const 4) (f64.convert_i32_s (local.get $kind))))
      (drop (call $out (i32.const 8) (i32.const 5) (f64.convert_i32_s (i32.load (local.get $ptr)))))
      (drop (call $w (i32.const 8) (i32.and (i32.load (local.get $ptr)) (i32.const 1))))
      (i32.const 0)))`;
  const plan = deploymentPlan([
    modulePlan({
      name: "w",
      wasm: await writeFixture(dir, "w.wasm", wat(writer())),
      schedule: { mode: "periodic", periodUs: 10_000, priority: 50 },
      capabilities: ["write:channel:trips"],
    }),
    modulePlan({
      name: "trip",
      wasm: await writeFixture(dir, "trip.wasm", wat(handler)),
      schedule: { mode: "event", trigger: "channel:trips", priority: 90 },
      capabilities: ["read:channel:trips", "write:gpio:pin_8"],
    }),
  ]);
  plan.channels = [{
    id: "trips",
    writer: "w",
    readers: ["trip"],
    sizeBytes: 1024,
    overflow: "drop-oldest",
    blockTimeoutUs: null,
  }];
  await using rt = await createRuntime({ plan, version: "test", log: () => {} });
  await rt.start();
  const m = await waitFor(
    "events",
    () => (rt.getModule("trip")!.outputs.value ?? 0) >= 5 && rt.getModule("trip")!,
  );
  assert.equal(m.outputs.kind, 3);
  assert.equal(m.executor, "realtime");
  await waitFor("pin 8 to toggle with the records", () => rt.plant.listGpio()[8]!.writes >= 3);
});
