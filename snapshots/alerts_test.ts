import assert from "node:assert/strict";
import { AlertLog, type NewAlert } from "./alerts.ts";
import { AuditLog } from "./audit.ts";
import { openStore, type Store } from "./store.ts";

async function tempDb(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kiln-alerts-" });
  return `${dir}/kiln.db`;
}

const alert = (i: number, over: Partial<NewAlert> = {}): NewAlert => ({
  module: i % 2 === 0 ? "fft" : "anomaly",
  severity: i % 3 === 0 ? "critical" : "warning",
  message: `alert ${i}`,
  at: Date.UTC(2026, 0, 1) + i,
  ...over,
});

/** Counts the transactions `store` begins while `f` and the microtasks after it run. */
async function transactionsDuring(store: Store, f: () => void): Promise<number> {
  const exec = store.db.exec.bind(store.db);
  let begins = 0;
  store.db.exec = (sql: string) => {
    if (/^\s*BEGIN/i.test(sql)) begins++;
    return exec(sql);
  };
  try {
    f();
    await Promise.resolve(); // the batch is written on the next microtask
    await Promise.resolve();
    return begins;
  } finally {
    store.db.exec = exec;
  }
}

Deno.test("alerts keep their sequence numbers across a reopen of the store, and numbering continues", async () => {
  const path = await tempDb();
  {
    using store = openStore(path);
    const log = new AlertLog(store);
    assert.deepEqual([1, 2, 3].map((i) => log.add(alert(i), "module").seq), [1, 2, 3]);
    log.add(alert(4), "runtime");
    log.flush();
  }
  using store = openStore(path);
  const log = new AlertLog(store);
  assert.equal(log.lastSeq, 4);
  assert.deepEqual(log.list({ after: 2 }).map((a) => [a.seq, a.message, a.source]), [
    [3, "alert 3", "module"],
    [4, "alert 4", "runtime"],
  ]);
  assert.equal(log.add(alert(5), "module").seq, 5);
  assert.deepEqual(log.list({ after: 4 }).map((a) => a.seq), [5]);
});

Deno.test("the table keeps only the newest alerts past its bound, deleting older ones as it inserts", async () => {
  using store = openStore(await tempDb());
  const log = new AlertLog(store, { maxKept: 5 });
  for (let i = 1; i <= 12; i++) log.add(alert(i), "module");
  const kept = log.list();
  assert.deepEqual(kept.map((a) => a.seq), [8, 9, 10, 11, 12]);
  const count = store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number };
  assert.equal(count.n, 5);
});

Deno.test("a burst of 1,000 alerts from one report is written in one transaction, the bound applied", async () => {
  using store = openStore(await tempDb());
  const log = new AlertLog(store);
  const t0 = performance.now();
  const begins = await transactionsDuring(store, () => {
    for (let i = 1; i <= 1000; i++) log.add(alert(i), "module");
  });
  // Measured, not asserted (a shared machine): printed for the record.
  console.log(`1,000 alerts written in ${(performance.now() - t0).toFixed(1)} ms`);
  assert.equal(begins, 1);
  const count = store.db.prepare("SELECT COUNT(*) AS n FROM alerts").get() as { n: number };
  assert.equal(count.n, 1000);
});

Deno.test("alerts are filtered by module, severity and acknowledgement", async () => {
  using store = openStore(await tempDb());
  const log = new AlertLog(store);
  for (let i = 1; i <= 6; i++) log.add(alert(i), "module");
  log.ack(2, "alice");
  assert.deepEqual(log.list({ module: "fft" }).map((a) => a.seq), [2, 4, 6]);
  assert.deepEqual(log.list({ severity: "critical" }).map((a) => a.seq), [3, 6]);
  assert.deepEqual(log.list({ module: "fft", acked: false }).map((a) => a.seq), [4, 6]);
  assert.deepEqual(log.list({ acked: true }).map((a) => a.seq), [2]);
});

Deno.test("an acknowledgement is kept, audited once, and idempotent; an unknown alert is null", async () => {
  using store = openStore(await tempDb());
  const log = new AlertLog(store);
  const seq = log.add(alert(1), "module").seq;
  const first = log.ack(seq, "alice", Date.UTC(2026, 0, 2));
  assert.equal(first?.ackedBy, "alice");
  assert.equal(first?.ackedAtMs, Date.UTC(2026, 0, 2));
  const again = log.ack(seq, "bob", Date.UTC(2026, 0, 3));
  assert.equal(again?.ackedBy, "alice", "the first acknowledgement stays");
  assert.equal(again?.ackedAtMs, Date.UTC(2026, 0, 2));
  assert.equal(log.ack(99, "alice"), null);
  const rows = new AuditLog(store).listEvents({ module: "anomaly" }).filter((e) =>
    (e.kind as string) === "alert_ack"
  );
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.capability, `alert:${seq}`);
  assert.match(rows[0]?.detail ?? "", /alice/);
});
