/**
 * Test-only worker for `runtime/executor/ring_test.ts`: either streams numbered records into a ring or reads them back and
 * checks every byte. Record `seq` has a length and a byte pattern derived from `seq`, so a torn or misplaced
 * record cannot pass as a good one.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { RingReader, RingWriter } from "../../runtime/executor/ring.ts";

/** What the test posts to this worker. */
export type RingTestJob =
  | { role: "write"; buffer: SharedArrayBuffer; records: number; retry: boolean }
  | { role: "read"; buffer: SharedArrayBuffer; index: number; records: number };

/** What a writer posts back when it has written every record and the end record. */
export interface RingTestWriterResult {
  role: "write";
  dropped: number;
}

/** What a reader posts back when it has seen the end record. */
export interface RingTestReaderResult {
  role: "read";
  received: number;
  /** Records missing before, between and after those received (the writer writes `records`). */
  gaps: number;
  /** Records whose sequence did not increase. */
  outOfOrder: number;
  /** Records whose length or bytes did not match their sequence number. */
  corrupted: number;
  lost: number;
}

const END = 0xffffffff;

/** Payload length of record `seq`: 4 to 203 bytes, so records wrap at many offsets. */
export const recordLength = (seq: number) => (seq === END ? 4 : 4 + ((seq * 7919) % 200));

const patternByte = (seq: number, k: number) => (seq * 31 + k * 7) & 0xff;

function fill(bytes: Uint8Array, seq: number): Uint8Array {
  const record = bytes.subarray(0, recordLength(seq));
  new DataView(record.buffer, record.byteOffset).setUint32(0, seq, true);
  for (let k = 4; k < record.length; k++) record[k] = patternByte(seq, k);
  return record;
}

function check(record: Uint8Array, length: number): { seq: number; ok: boolean } {
  if (length < 4) return { seq: -1, ok: false };
  const seq = new DataView(record.buffer, record.byteOffset).getUint32(0, true);
  if (length !== recordLength(seq)) return { seq, ok: false };
  for (let k = 4; k < length; k++) if (record[k] !== patternByte(seq, k)) return { seq, ok: false };
  return { seq, ok: true };
}

function write(buffer: SharedArrayBuffer, records: number, retry: boolean): RingTestWriterResult {
  const writer = new RingWriter(buffer);
  const scratch = new Uint8Array(256);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let dropped = 0;
  for (let seq = 0; seq <= records; seq++) {
    const record = fill(scratch, seq === records ? END : seq);
    while (writer.write(record) === "dropped") {
      dropped++;
      // The end record must arrive whatever the policy; with `retry` every record must.
      if (!retry && seq < records) break;
      Atomics.wait(pause, 0, 0, 0.02); // give the CPU to a reader
    }
  }
  return { role: "write", dropped };
}

function read(buffer: SharedArrayBuffer, index: number, records: number): RingTestReaderResult {
  const reader = new RingReader(buffer, index);
  const target = new Uint8Array(512);
  const result = { role: "read" as const, received: 0, gaps: 0, outOfOrder: 0, corrupted: 0, lost: 0 };
  let next = 0;
  for (;;) {
    // At an offset, as host glue copies into a module's memory.
    const length = reader.readInto(target, 100);
    if (length === -1) {
      reader.wait(100);
      continue;
    }
    const { seq, ok } = check(target.subarray(100), length);
    if (!ok) {
      result.corrupted++;
      continue;
    }
    if (seq === END) {
      result.gaps += records - next;
      break;
    }
    result.received++;
    if (seq < next) result.outOfOrder++;
    else result.gaps += seq - next;
    next = seq + 1;
  }
  result.lost = reader.lost();
  return result;
}

self.onmessage = (event: MessageEvent<RingTestJob>) => {
  const job = event.data;
  self.postMessage(
    job.role === "write"
      ? write(job.buffer, job.records, job.retry)
      : read(job.buffer, job.index, job.records),
  );
};
