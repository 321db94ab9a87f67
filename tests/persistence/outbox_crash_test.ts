/**
 * Crash safety of the outbox: a child process writes to it (enqueues and acks) as fast as it can and is
 * killed with SIGKILL at a random point, many times over the same database. After each kill the database
 * must open, pass SQLite's integrity check, and hold everything the child reported as enqueued and not
 * acknowledged (alerts always; telemetry and batches unless the budget policy dropped them, which its
 * counters must account for), hold nothing it reported as acknowledged, and its sequence numbers must
 * continue without a duplicate in the next run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { openStore } from "../../snapshots/store.ts";
import { createOutbox, OUTBOX_KINDS, type OutboxKind } from "../../snapshots/outbox.ts";
import { BUILD_TIMEOUT_MS } from "../_timeouts.ts";

const CHILD = new URL("./_outbox_crash_child.ts", import.meta.url).pathname;
const ROUNDS = 18;
/** Every third round runs with a budget small enough that the policy drops telemetry and batches. */
const TIGHT_BUDGET_BYTES = 256 * 1024;
const LARGE_BUDGET_BYTES = 1024 * 1024 * 1024;
const KIND_OF: Record<string, OutboxKind> = {
  alerts: "alert",
  temperature: "telemetry",
  vibration: "telemetry",
  batch: "batch",
};

/** A seeded generator, so a failing run can be repeated from the seed in the assertion message. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Runs the child until it has printed a first line, lets it write `delayMs` longer, kills it; returns its lines. */
async function runAndKill(path: string, budget: number, seed: number, delayMs: number): Promise<string[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", CHILD, path, String(budget), String(seed)],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    // A child that never prints its first line is ended here, and the test fails on its exit signal.
    signal: AbortSignal.timeout(BUILD_TIMEOUT_MS),
  }).spawn();
  let text = "";
  let firstLine = () => {};
  const started = new Promise<void>((resolve) => (firstLine = resolve));
  const stdout = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes("\n")) firstLine();
    }
  })();
  const stderr = new Response(child.stderr).text();
  const exited = child.status.then((s) => {
    firstLine();
    return s;
  });
  await started;
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  try {
    child.kill("SIGKILL");
  } catch { /* it already exited: the status below says how */ }
  const status = await exited;
  await stdout;
  const err = await stderr;
  assert.equal(
    status.signal,
    "SIGKILL",
    `the child should have been killed, but exited ${status.code}:\n${err}`,
  );
  // A line cut by the kill has no newline; only whole lines were printed after their commit.
  return text.split("\n").slice(0, -1);
}

Deno.test({
  name:
    "after SIGKILL at random points during outbox writes, the store opens and nothing enqueued or acknowledged is lost",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "kiln-outbox-crash-" });
    const path = `${dir}/kiln.db`;
    const seed = Date.now() % 1_000_000;
    const random = prng(seed);
    const where = (round: number) => `(seed ${seed}, round ${round})`;

    /** Every message the children reported enqueued: id -> [stream, seq]. */
    const enqueued = new Map<number, [string, number]>();
    const acked = new Set<number>();
    /** Acks the children reported starting: a kill may have come before or after their commit. */
    const pending = new Set<number>();
    /** The last seq per stream as the database had it after the previous round. */
    let lastSeqBefore = new Map<string, number>();
    let totalLines = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const budget = round % 3 === 2 ? TIGHT_BUDGET_BYTES : LARGE_BUDGET_BYTES;
      const lines = await runAndKill(
        path,
        budget,
        Math.floor(random() * 2 ** 31),
        Math.floor(random() * 250),
      );
      totalLines += lines.length;
      const printedSeqs = new Map<string, number[]>();
      for (const line of lines) {
        const [op, id, stream, seq] = line.split(" ");
        if (op === "E") {
          enqueued.set(Number(id), [stream!, Number(seq)]);
          printedSeqs.set(stream!, [...(printedSeqs.get(stream!) ?? []), Number(seq)]);
        } else if (op === "A") {
          acked.add(Number(id));
        } else if (op === "P") {
          pending.add(Number(id)); // an ack under way when the kill came: it may have committed or not
        } else {
          assert.fail(`unexpected line ${JSON.stringify(line)} ${where(round)}`);
        }
      }

      using store = openStore(path);
      const integrity = store.db.prepare("PRAGMA integrity_check").get() as { integrity_check: string };
      assert.equal(integrity.integrity_check, "ok", where(round));
      const outbox = createOutbox(store, { diskBudgetBytes: LARGE_BUDGET_BYTES });
      const rows = store.db.prepare("SELECT id, stream, seq, kind, payload, bytes FROM outbox ORDER BY id")
        .all() as {
          id: number;
          stream: string;
          seq: number;
          kind: OutboxKind;
          payload: Uint8Array;
          bytes: number;
        }[];
      const present = new Map(rows.map((r) => [r.id, r]));

      // Each row is whole: its payload names its own stream and seq.
      for (const r of rows) {
        const head = new TextDecoder().decode(r.payload.subarray(0, 40)).split(" ");
        assert.deepEqual([head[0], Number(head[1])], [r.stream, r.seq], `row ${r.id} ${where(round)}`);
      }
      // Nothing acknowledged is back; everything enqueued and not acknowledged is there, or was dropped.
      for (const id of acked) assert.ok(!present.has(id), `acknowledged ${id} is back ${where(round)}`);
      const missing = { alert: 0, telemetry: 0, batch: 0 };
      for (const [id, [stream, seq]] of enqueued) {
        if (acked.has(id) || (pending.has(id) && !present.has(id))) continue;
        const row = present.get(id);
        if (row) assert.deepEqual([row.stream, row.seq], [stream, seq], `${id} ${where(round)}`);
        else missing[KIND_OF[stream]!]++;
      }
      const stats = outbox.stats();
      assert.equal(missing.alert, 0, `an alert was lost ${where(round)}`);
      for (const kind of OUTBOX_KINDS) {
        const k = stats.kinds[kind];
        assert.ok(
          missing[kind] <= k.dropped,
          `${missing[kind]} ${kind} lost, ${k.dropped} dropped ${where(round)}`,
        );
        // The counters agree with the rows: they were written in the same transactions.
        const mine = rows.filter((r) => r.kind === kind);
        assert.equal(k.depth, mine.length, `${kind} depth ${where(round)}`);
        assert.equal(k.sizeBytes, mine.reduce((n, r) => n + r.bytes, 0), `${kind} bytes ${where(round)}`);
        assert.equal(k.enqueued, k.depth + k.delivered + k.dropped, `${kind} counters ${where(round)}`);
      }
      assert.ok(
        stats.kinds.alert.delivered + stats.kinds.telemetry.delivered + stats.kinds.batch.delivered >=
          acked.size,
      );

      // Sequence numbers: no duplicate in the database, and this run continued after the last one, in order.
      const lastSeq = new Map(outbox.listStreams().map((s) => [s.stream, s.lastSeq]));
      const seen = new Set(rows.map((r) => `${r.stream} ${r.seq}`));
      assert.equal(seen.size, rows.length, `duplicate (stream, seq) ${where(round)}`);
      for (const [stream, seqs] of printedSeqs) {
        const before = lastSeqBefore.get(stream) ?? 0;
        assert.equal(
          seqs[0],
          before + 1,
          `${stream} restarted at ${seqs[0]} after ${before} ${where(round)}`,
        );
        for (let i = 1; i < seqs.length; i++) {
          assert.equal(seqs[i], seqs[i - 1]! + 1, `${stream} ${where(round)}`);
        }
        assert.ok(lastSeq.get(stream)! >= seqs.at(-1)!, `${stream} last seq ${where(round)}`);
      }
      for (const r of rows) assert.ok(r.seq <= lastSeq.get(r.stream)!, where(round));
      lastSeqBefore = lastSeq;
    }
    assert.ok(totalLines > ROUNDS, "the children wrote something before they were killed");
    using store = openStore(path);
    const { kinds } = createOutbox(store, { diskBudgetBytes: LARGE_BUDGET_BYTES }).stats();
    assert.ok(
      kinds.telemetry.dropped + kinds.batch.dropped > 0,
      "the tight rounds exercised the budget policy",
    );
  },
});
