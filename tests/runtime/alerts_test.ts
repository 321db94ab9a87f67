/**
 * The runtime's own alerts (issue 21): a module that crashes raises a warning, one that fails a critical
 * alert, kept in the store with source `runtime`; crash alerts are bounded to one per module per 10 s.
 */
import assert from "node:assert/strict";
import { createRuntime } from "../../runtime/runtime.ts";
import { CRASH_ALERT_INTERVAL_MS, RuntimeAlerts } from "../../runtime/_deploys.ts";
import { Journal } from "../../runtime/persistence/journal.ts";
import { Telemetry } from "../../runtime/telemetry.ts";
import { AlertLog, openStore } from "../../snapshots/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";

const quiet = () => {};
const fault = { kind: "unreachable", message: "wasm trap: unreachable in explode" };

Deno.test("a module that traps until it fails raises one crash warning and a critical failure alert, in the store", async () => {
  const dir = await Deno.makeTempDir();
  const bad = await writeFixture(dir, "bad.wasm", wat(streamModuleWat(`(unreachable)`)));
  using store = openStore(`${dir}/kiln.db`);
  const alerts = new AlertLog(store);
  await using rt = await createRuntime({
    plan: deploymentPlan([
      modulePlan({
        name: "bad",
        wasm: bad,
        restart: { policy: "on-failure", maxRestarts: 3, backoffMs: 5, maxBackoffMs: 10 },
      }),
    ]),
    version: "test",
    log: quiet,
    alerts,
  });
  const streamed: number[] = [];
  using _sub = rt.telemetry.subscribe((e) => {
    if (e.type === "alert") streamed.push(e.alert.seq);
  });
  await rt.start();
  await waitFor("failed", () => rt.getModule("bad")!.state === "failed");
  const raised = rt.listAlerts().filter((a) => a.module === "bad");
  // Four crashes within 10 s: the first one alerted, the next two held back, the fourth is the failure.
  assert.deepEqual(raised.map((a) => [a.severity, a.source]), [["warning", "runtime"], [
    "critical",
    "runtime",
  ]]);
  assert.match(raised[0]!.message, /^Module crashed, restarting: unreachable: /);
  assert.match(
    raised[1]!.message,
    /^Module failed, not restarted \(restarts exhausted\): unreachable: .*\(2 more crashes since the last alert\)$/,
  );
  assert.deepEqual(streamed, raised.map((a) => a.seq));
  // In the store, not only in memory.
  assert.deepEqual(new AlertLog(store).list({ module: "bad" }).map((a) => a.seq), raised.map((a) => a.seq));
});

Deno.test("crash alerts of one module are held back for 10 s and counted in the next one; a failure always alerts", () => {
  let now = 1_000_000;
  const journal = new Journal();
  const alerts = new RuntimeAlerts({
    journal,
    telemetry: new Telemetry(),
    uplink: () => null,
    log: quiet,
    now: () => now,
  });
  alerts.moduleFaulted("m", "crashed", fault);
  now += 1_000;
  alerts.moduleFaulted("m", "crashed", fault);
  alerts.moduleFaulted("other", "crashed", fault); // another module has its own allowance
  now += CRASH_ALERT_INTERVAL_MS - 1_000 - 1;
  alerts.moduleFaulted("m", "crashed", fault);
  now += 1;
  alerts.moduleFaulted("m", "crashed", fault);
  alerts.moduleFaulted("m", "failed", fault);
  const kept = journal.listAlerts();
  assert.deepEqual(kept.map((a) => [a.module, a.severity]), [
    ["m", "warning"],
    ["other", "warning"],
    ["m", "warning"],
    ["m", "critical"],
  ]);
  const messages = kept.map((a) => a.message);
  assert.doesNotMatch(messages[0]!, /more crash/);
  assert.match(messages[2]!, /\(2 more crashes since the last alert\)$/);
  assert.doesNotMatch(messages[3]!, /more crash/);
});

Deno.test("an acknowledgement stays with the first operator, in the store and in memory; an unknown alert is null", async () => {
  const dir = await Deno.makeTempDir();
  using store = openStore(`${dir}/kiln.db`);
  const journal = new Journal(new AlertLog(store));
  const seq = journal.addAlert({ module: "m", severity: "warning", message: "hot", at: Date.now() }).seq;
  assert.equal(journal.ackAlert(seq, "alice")?.ackedBy, "alice");
  assert.equal(journal.queryAlerts({ acked: true }).length, 1);
  assert.equal(journal.ackAlert(seq + 1, "alice"), null);
  // Without a store: the same behaviour in memory.
  const memory = new Journal();
  const s2 = memory.addAlert({ module: "m", severity: "critical", message: "x", at: 1 }).seq;
  assert.equal(memory.ackAlert(s2, "bob")?.ackedBy, "bob");
  assert.equal(memory.ackAlert(s2, "carol")?.ackedBy, "bob");
  assert.deepEqual(memory.queryAlerts({ acked: false }), []);
});
