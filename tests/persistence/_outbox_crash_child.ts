/**
 * Child of `outbox_crash_test.ts`: opens the store and writes to the outbox as fast as it can until it is
 * killed: single and batched enqueues, single and batched acks. It prints `E <id> <stream> <seq>` for each
 * message as soon as its enqueue returned and `A <id>` as soon as its ack returned, with one unbuffered
 * write per call, so everything printed was committed.
 *
 * Run: `deno run --allow-read --allow-write _outbox_crash_child.ts <db path> <disk budget bytes> <seed>`.
 *
 * @module
 */
import { openStore } from "../../snapshots/store.ts";
import { createOutbox, type OutboxKind } from "../../snapshots/outbox.ts";

const [path, budget, seedArg] = Deno.args;
if (!path || !budget || !seedArg) throw new Error("usage: _outbox_crash_child.ts <db> <budget> <seed>");
let seed = Number(seedArg) >>> 0 || 1;
const random = () => {
  // xorshift32: reproducible from the seed the parent prints.
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
};

const STREAMS: readonly { stream: string; kind: OutboxKind }[] = [
  { stream: "alerts", kind: "alert" },
  { stream: "temperature", kind: "telemetry" },
  { stream: "vibration", kind: "telemetry" },
  { stream: "batch", kind: "batch" },
];

const store = openStore(path);
const outbox = createOutbox(store, { diskBudgetBytes: Number(budget) });
const enc = new TextEncoder();
const out = (line: string) => {
  const bytes = enc.encode(line + "\n");
  let at = 0;
  while (at < bytes.length) at += Deno.stdout.writeSync(bytes.subarray(at));
};

function entry() {
  const { stream, kind } = STREAMS[Math.floor(random() * STREAMS.length)]!;
  const sizeBytes = 16 + Math.floor(random() * random() * 4000);
  return {
    stream,
    kind,
    topic: `kiln/${stream}`,
    // The payload names its stream and seq, so the parent can check each row is whole.
    payload: (seq: number) => {
      const payload = new Uint8Array(sizeBytes).fill(seq % 251);
      payload.set(enc.encode(`${stream} ${seq} `).subarray(0, sizeBytes));
      return payload;
    },
  };
}

for (;;) {
  const x = random();
  if (x < 0.6) {
    const m = outbox.enqueue(entry());
    out(`E ${m.id} ${m.stream} ${m.seq}`);
  } else if (x < 0.75) {
    const ms = outbox.enqueueMany(Array.from({ length: 2 + Math.floor(random() * 10) }, entry));
    out(ms.map((m) => `E ${m.id} ${m.stream} ${m.seq}`).join("\n"));
  } else if (x < 0.9) {
    const oldest = outbox.peek(1 + Math.floor(random() * 8));
    const victim = oldest[Math.floor(random() * oldest.length)];
    // "P" before the ack, "A" after: a kill between them leaves an ack that may or may not have committed.
    if (victim) out(`P ${victim.id}`);
    if (victim && outbox.ack(victim.id)) out(`A ${victim.id}`);
  } else {
    // This process is the only writer: every message it peeked is still there.
    const ids = outbox.peek(1 + Math.floor(random() * 16)).map((m) => m.id);
    if (ids.length > 0) out(ids.map((id) => `P ${id}`).join("\n"));
    if (outbox.ackMany(ids) !== ids.length) throw new Error("ackMany missed a message");
    if (ids.length > 0) out(ids.map((id) => `A ${id}`).join("\n"));
  }
}
