/**
 * The store-and-forward outbox on a real SQLite file (WAL, synchronous=NORMAL, as `openStore` opens it):
 *
 * - written msgs/s: telemetry enqueued one message per call (one transaction each, as in production);
 * - drained msgs/s: the forwarder sending that backlog through the FAKE publisher (acknowledging at once,
 *   no rate limit, 32 in flight) and acking the messages, until the outbox is empty: the outbox and forwarder
 *   cost, not a network's;
 * - disk bytes per message: the database's pages (after a WAL checkpoint) over an empty store's, divided by
 *   the messages, next to what the budget counts per message (`sizeBytes`, from `estimateDiskBytes`);
 * - write() bytes per message (the WAL and checkpoint traffic a flash card sees), one message per transaction
 *   and 100 per transaction (`enqueueMany`);
 * - the same writes with synchronous=FULL (an fsync per commit: what surviving a power cut would cost);
 * - a Mode C batch of 60 s of outputs (5 modules x 4 values at 10 Hz) as raw JSON, zstd and gzip.
 *
 * Run: `deno run -A bench/outbox.ts [--messages N]`; writes bench/results/outbox.json.
 *
 * @module
 */
import { gzipSync, zstdCompressSync } from "node:zlib";
import { openStore, type Store } from "../snapshots/store.ts";
import { createOutbox } from "../snapshots/outbox.ts";
import { createForwarder } from "../runtime/uplink/forwarder.ts";
import { createBatcher, decodeBatch } from "../runtime/uplink/batcher.ts";
import { FakePublisher } from "../tests/fakes/fake_publisher.ts";
import { machine, writeResult } from "./_plan.ts";

const MESSAGES = Number(Deno.args[Deno.args.indexOf("--messages") + 1] || 20_000);
const ROUNDS = 3;

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A JSON telemetry payload of `sizeBytes` (at least its JSON head), different per message. */
function payload(i: number, sizeBytes: number): Uint8Array {
  const head = JSON.stringify({
    sensor: "temperature_1",
    value: 45 + (i % 100) / 10,
    at: 1_764_085_200_000 + i,
  });
  return new TextEncoder().encode(head.padEnd(sizeBytes, " "));
}

function pagesBytes(store: Store): number {
  store.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const n = (pragma: string) => Number(Object.values(store.db.prepare(`PRAGMA ${pragma}`).get()!)[0]);
  return (n("page_count") - n("freelist_count")) * n("page_size");
}

async function fileBytes(path: string): Promise<number> {
  let total = 0;
  for (const suffix of ["", "-wal"]) total += await Deno.stat(path + suffix).then((s) => s.size, () => 0);
  return total;
}

/** Bytes this process passed to write() so far (Linux `wchar`): the WAL and checkpoint traffic. */
async function writtenBytes(): Promise<number> {
  const io = await Deno.readTextFile("/proc/self/io").catch(() => "");
  return Number(/wchar:\s*(\d+)/.exec(io)?.[1] ?? NaN);
}

async function round(
  sizeOf: (i: number) => number,
  options: { synchronous: "NORMAL" | "FULL"; perTransaction: number; drain: boolean },
) {
  const { synchronous, perTransaction, drain } = options;
  const dir = await Deno.makeTempDir({ prefix: "kiln-bench-outbox-" });
  const path = `${dir}/kiln.db`;
  using store = openStore(path);
  store.db.exec(`PRAGMA synchronous = ${synchronous}`);
  const outbox = createOutbox(store, { diskBudgetBytes: 1024 * 1024 * 1024 });
  const emptyBytes = pagesBytes(store);
  const count = synchronous === "FULL" ? Math.min(MESSAGES, 2000) : MESSAGES;
  const entries = Array.from({ length: count }, (_, i) => ({
    stream: "temperature_1",
    kind: "telemetry" as const,
    topic: "kiln/gw/t",
    payload: payload(i, sizeOf(i)),
  }));

  const w0 = await writtenBytes();
  const t0 = performance.now();
  let budgetBytes = 0;
  if (perTransaction === 1) {
    for (const e of entries) budgetBytes += outbox.enqueue(e).sizeBytes;
  } else {
    for (let i = 0; i < count; i += perTransaction) {
      for (const m of outbox.enqueueMany(entries.slice(i, i + perTransaction))) budgetBytes += m.sizeBytes;
    }
  }
  const writeS = (performance.now() - t0) / 1000;
  const writeSyscallBytes = (await writtenBytes()) - w0;
  const diskBytes = pagesBytes(store) - emptyBytes;
  const filesBytes = await fileBytes(path);

  let drainS = NaN;
  if (drain) {
    const fake = new FakePublisher();
    const t1 = performance.now();
    await using _forwarder = createForwarder(outbox, fake, { rateMsgsPerS: Infinity, maxInFlight: 32 });
    while (outbox.stats().depth > 0) await new Promise((r) => setTimeout(r, 1));
    drainS = (performance.now() - t1) / 1000;
    if (fake.delivered.length !== count) throw new Error(`Drained ${fake.delivered.length} of ${count}`);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  return {
    count,
    written_per_s: count / writeS,
    drained_per_s: count / drainS,
    disk_bytes_per_msg: diskBytes / count,
    budget_bytes_per_msg: budgetBytes / count,
    write_syscall_bytes_per_msg: writeSyscallBytes / count,
    files_bytes: filesBytes,
  };
}

const SIZES: Record<string, (i: number) => number> = {
  "100B": () => 100,
  "1000B": () => 1000,
  // 50 to 2000 bytes, spread evenly: rows of different sizes share pages.
  "mixed_50_2000B": (i) => 50 + ((i * 7919) % 1951),
};
const cases: Record<string, unknown> = {};
for (const [name, sizeOf] of Object.entries(SIZES)) {
  const runs: Awaited<ReturnType<typeof round>>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    runs.push(await round(sizeOf, { synchronous: "NORMAL", perTransaction: 1, drain: true }));
  }
  const batched = await round(sizeOf, { synchronous: "NORMAL", perTransaction: 100, drain: false });
  const full = await round(sizeOf, { synchronous: "FULL", perTransaction: 1, drain: false });
  const m = (f: (r: (typeof runs)[number]) => number) => Math.round(median(runs.map(f)));
  cases[name] = {
    messages: MESSAGES,
    written_msgs_per_s: m((r) => r.written_per_s),
    drained_msgs_per_s: m((r) => r.drained_per_s),
    disk_bytes_per_msg: m((r) => r.disk_bytes_per_msg),
    budget_bytes_per_msg: m((r) => r.budget_bytes_per_msg),
    write_syscall_bytes_per_msg: m((r) => r.write_syscall_bytes_per_msg),
    db_and_wal_file_bytes: runs[0]!.files_bytes,
    batched_100_per_transaction: {
      written_msgs_per_s: Math.round(batched.written_per_s),
      write_syscall_bytes_per_msg: Math.round(batched.write_syscall_bytes_per_msg),
    },
    synchronous_full: {
      messages: full.count,
      written_msgs_per_s: Math.round(full.written_per_s),
    },
    runs: runs.map((r) => ({
      written_per_s: Math.round(r.written_per_s),
      drained_per_s: Math.round(r.drained_per_s),
    })),
  };
}

/** 60 s of 5 modules x 4 scalar outputs at 10 Hz through the batcher, in both codecs. */
async function batchSizes() {
  const outputs = [];
  for (let tick = 0; tick < 600; tick++) {
    for (let m = 0; m < 5; m++) {
      for (let k = 0; k < 4; k++) {
        const value = Math.round((20 + m * 5 + k + Math.sin(tick / 50 + k) * 2) * 100) / 100;
        outputs.push({
          module: `module_${m}`,
          name: `value_${k}`,
          value,
          atMs: 1_764_085_200_000 + tick * 100,
        });
      }
    }
  }
  const result: Record<string, number> = { outputs: outputs.length };
  for (const codec of ["zstd", "gzip"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "kiln-bench-outbox-" });
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1024 * 1024 * 1024 });
    using batcher = createBatcher(outbox, { topic: "kiln/gw/batch", codec, maxOutputs: 100_000 });
    for (const o of outputs) batcher.add(o);
    const message = batcher.flush()!;
    const decoded = decodeBatch(message.payload);
    if (decoded.outputs.length !== outputs.length) throw new Error("The batch did not decode whole");
    result[`${codec}_bytes`] = message.payload.byteLength;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  const json = new TextEncoder().encode(JSON.stringify(outputs));
  result.one_json_object_per_output_bytes = json.byteLength;
  result.one_json_object_per_output_zstd_bytes = zstdCompressSync(json).byteLength;
  result.one_json_object_per_output_gzip_bytes = gzipSync(json).byteLength;
  return result;
}

const report = {
  machine: await machine(),
  method: [
    `${MESSAGES} telemetry messages per round, ${ROUNDS} rounds per payload size, medians;`,
    `one enqueue per transaction on a temporary file (WAL, synchronous=NORMAL);`,
    `drained by the forwarder through a fake publisher that acknowledges at once`,
    `(no rate limit, 32 in flight);`,
    `disk bytes = (page_count - freelist_count) * page_size after a TRUNCATE checkpoint,`,
    `over an empty store;`,
    `write_syscall_bytes = /proc/self/io wchar over the writes (WAL frames and checkpoints);`,
    `batched and synchronous=FULL writes: one round (FULL on ${Math.min(MESSAGES, 2000)} messages)`,
  ].join(" "),
  cases,
  mode_c_batch_60s: await batchSizes(),
};
await writeResult("outbox", report);
console.log(JSON.stringify(report, null, 2));
