import assert from "node:assert/strict";
import { InstanceRecording, MAX_RECORDS_PER_REPORT } from "./_worker_record.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";

const IMAGE = { memoryBytes: 65_536 } as unknown as SnapshotImage;

function tick(rec: InstanceRecording, n: number): void {
  for (let i = 0; i < n; i++) {
    rec.recorder.begin("kiln_on_tick", [BigInt(i)]);
    rec.recorder.end(0, null);
  }
}

Deno.test("an instance's recorder keeps nothing until started, then the start and every call", () => {
  const rec = new InstanceRecording();
  tick(rec, 5);
  assert.equal(rec.take("m", 1), null);
  rec.start(IMAGE, null);
  tick(rec, 3);
  const batch = rec.take("m", 1)!;
  assert.equal(batch.start, IMAGE);
  assert.deepEqual(batch.records.map((r) => [r.seq, r.entry]), [
    [0, "init"],
    [1, "kiln_on_tick"],
    [2, "kiln_on_tick"],
    [3, "kiln_on_tick"],
  ]);
  assert.equal(batch.overflowed, false);
  tick(rec, 1);
  const next = rec.take("m", 1)!;
  assert.equal(next.start, null, "the image goes out once");
  assert.deepEqual(next.records.map((r) => r.seq), [4]);
});

Deno.test("a recording over one report's cap stops in the executor and says it overflowed", () => {
  const rec = new InstanceRecording();
  rec.start(IMAGE, null);
  tick(rec, MAX_RECORDS_PER_REPORT + 10);
  assert.equal(rec.on, false);
  const batch = rec.take("m", 7)!;
  assert.equal(batch.records.length, MAX_RECORDS_PER_REPORT);
  assert.equal(batch.overflowed, true);
  assert.equal(batch.loadId, 7);
  tick(rec, 5);
  assert.equal(rec.take("m", 7), null, "nothing more is kept once stopped");
});

Deno.test("a start whose image could not be captured is reported as an error, and records nothing", () => {
  const rec = new InstanceRecording();
  rec.start(null, "capture failed");
  tick(rec, 3);
  const batch = rec.take("m", 2)!;
  assert.equal(batch.error, "capture failed");
  assert.equal(batch.records.length, 0);
  assert.equal(rec.on, false);
});

Deno.test("a shadow following an instance gets every call and nothing goes to the reports", () => {
  const rec = new InstanceRecording();
  const seen: number[] = [];
  assert.equal(rec.follow((r) => seen.push(r.seq)), true);
  assert.equal(rec.followed, true);
  tick(rec, 3);
  rec.stop(); // a recording's "off" does not stop a shadow's feed
  tick(rec, 1);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(rec.take("m", 1), null);
  rec.follow(null);
  tick(rec, 2);
  assert.deepEqual(seen, [0, 1, 2, 3, 4], "nothing after the shadow let go");
});

Deno.test("a recording takes the recorder from a shadow, and a shadow cannot take it from a recording", () => {
  const rec = new InstanceRecording();
  const seen: number[] = [];
  rec.follow((r) => seen.push(r.seq));
  tick(rec, 2);
  rec.start(IMAGE, null);
  tick(rec, 2);
  assert.equal(rec.followed, false);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.deepEqual(rec.take("m", 1)!.records.map((r) => r.seq), [0, 1, 2]);
  assert.equal(rec.follow(() => {}), false);
  assert.equal(rec.followed, false);
});
