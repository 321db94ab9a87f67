/**
 * Alerts kept in the store (issue 21), against a real `kiln run` of the demo with a bearing fault: they
 * survive a restart of the gateway with their sequence numbers (new ones continue after them), an operator
 * acknowledges one (by the API and by `kiln alerts --ack`), every stream client sees it, a viewer is refused,
 * and the acknowledgement is audited.
 */
import assert from "node:assert/strict";
import { AuditLog, openStore } from "../../snapshots/mod.ts";
import { waitFor } from "../_helpers.ts";
import { AUTH, getJson, runKiln, startKiln, TEST_ADMIN_TOKEN } from "../_process.ts";

interface Alert {
  seq: number;
  module: string;
  severity: string;
  at: string;
  at_ms: number;
  source: string;
  acked_at: string | null;
  acked_by: string | null;
}
type Frame = { topic: string; data: Alert & { event?: string } };

async function makeToken(dir: string, role: string, name: string): Promise<string> {
  const made = await runKiln(["token", "create", "--role", role, "--name", name, "--data", dir, "--json"]);
  assert.equal(made.code, 0, made.stderr);
  return (JSON.parse(made.stdout) as { token: string }).token;
}

async function ack(
  base: string,
  seq: number | string,
  token: string,
): Promise<{ status: number; body: { alert: Alert; error: { code: string } } }> {
  const res = await fetch(`${base}/api/v1/alerts/${seq}/ack`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("alerts survive a gateway restart with their numbers; an operator's acknowledgement is streamed, audited and kept", async () => {
  const dir = await Deno.makeTempDir();
  const viewer = await makeToken(dir, "viewer", "hmi");
  const operator = await makeToken(dir, "operator", "shift");
  let before: Alert[];
  let acked: number;
  {
    await using kiln = await startKiln(["--data", dir, "--fault", "vibration_1=bearing"]);
    const ws = new WebSocket(`${kiln.base.replace(/^http/, "ws")}/api/v1/stream`);
    const frames: Frame[] = [];
    ws.onmessage = (e) => frames.push(JSON.parse(e.data));
    await new Promise((resolve) => ws.onopen = resolve);
    ws.send(JSON.stringify({ type: "auth", token: TEST_ADMIN_TOKEN }));
    ws.send(JSON.stringify({ type: "subscribe", topics: ["alerts"] }));
    try {
      before = await waitFor("an anomaly alert", async () => {
        const body = await getJson<{ alerts: Alert[] }>(`${kiln.base}/api/v1/alerts?module=anomaly`);
        return body.alerts.length >= 1 && body.alerts;
      }, 60_000);
      const first = before[0]!;
      assert.equal(first.source, "module");
      assert.equal(new Date(first.at).getTime(), first.at_ms);
      assert.equal(first.acked_at, null);
      acked = first.seq;

      const refused = await ack(kiln.base, acked, viewer);
      assert.equal(refused.status, 403);
      assert.equal(refused.body.error.code, "forbidden");
      const done = await ack(kiln.base, acked, operator);
      assert.equal(done.status, 200);
      assert.equal(done.body.alert.acked_by, "shift");
      assert.match(done.body.alert.acked_at ?? "", /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
      const again = await ack(kiln.base, acked, TEST_ADMIN_TOKEN);
      assert.equal(again.status, 200, "idempotent");
      assert.equal(again.body.alert.acked_by, "shift", "the first acknowledgement stays");
      assert.equal((await ack(kiln.base, 99_999_999, operator)).body.error.code, "alert_not_found");
      assert.equal((await ack(kiln.base, "x1", operator)).status, 400);

      const streamed = await waitFor(
        "the acknowledgement on the stream",
        () =>
          frames.find((f) => f.topic === "alerts" && f.data.event === "alert_ack" && f.data.seq === acked),
      );
      assert.equal(streamed.data.acked_by, "shift");
      const ackedOnly = await getJson<{ alerts: Alert[] }>(`${kiln.base}/api/v1/alerts?acked=true`);
      assert.deepEqual(ackedOnly.alerts.map((a) => a.seq), [acked]);
      const bad = await fetch(`${kiln.base}/api/v1/alerts?severity=fatal`, { headers: AUTH });
      assert.equal(bad.status, 400);
      await bad.body?.cancel();

      // The CLI: `kiln alerts --ack SEQ` as the operator (already acknowledged: the first one stays), then
      // the listing shows who acknowledged it and `--unacked` leaves it out.
      const cli = await runKiln(["alerts", "--ack", String(acked), "--url", kiln.base], {
        env: { KILN_TOKEN: operator },
      });
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, new RegExp(`^Alert #${acked} acknowledged by shift at `));
      const listed = await runKiln(["alerts", "--module", "anomaly", "--url", kiln.base]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(
        listed.stdout,
        new RegExp(`^#${acked}\\s+\\S+\\s+\\w+\\s+anomaly\\s+acked by shift\\s`, "m"),
      );
      const unacked = await runKiln(["alerts", "--unacked", "--json", "--url", kiln.base]);
      assert.equal(unacked.code, 0, unacked.stderr);
      const seqs = unacked.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).seq);
      assert.ok(!seqs.includes(acked), `${seqs} has no acknowledged alert`);
      const unknown = await runKiln(["alerts", "--ack", "99999999", "--url", kiln.base]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /alert_not_found/);
    } finally {
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.close();
      await closed;
    }
    assert.equal(await kiln.stop(), 0);
  }

  // Audited: who acknowledged which alert (once, though acknowledged twice).
  {
    using store = openStore(`${dir}/kiln.db`);
    const rows = new AuditLog(store).listEvents({ module: "anomaly", limit: 1000 })
      .filter((e) => (e.kind as string) === "alert_ack");
    assert.deepEqual(rows.map((r) => [r.capability, r.detail]), [[
      `alert:${acked}`,
      "acknowledged by shift",
    ]]);
  }

  // After a restart: the same alerts, the acknowledgement kept, and new ones numbered after them (the fault
  // set again once the anomaly module has seen a healthy signal).
  await using kiln = await startKiln(["--data", dir]);
  const kept = await getJson<{ alerts: Alert[] }>(`${kiln.base}/api/v1/alerts?module=anomaly`);
  const keptSeqs = kept.alerts.map((a) => a.seq);
  for (const a of before) assert.ok(keptSeqs.includes(a.seq), `alert #${a.seq} kept`);
  assert.equal(kept.alerts.find((a) => a.seq === acked)?.acked_by, "shift");
  const last = Math.max(...keptSeqs);
  const start = (await getJson<{ invocations: number }>(`${kiln.base}/api/v1/modules/anomaly`)).invocations;
  await waitFor("the anomaly module to see a healthy signal", async () => {
    const m = await getJson<{ invocations: number }>(`${kiln.base}/api/v1/modules/anomaly`);
    return m.invocations > start + 200;
  }, 60_000);
  const set = await fetch(`${kiln.base}/api/v1/sim/sensors/vibration_1/fault`, {
    method: "POST",
    headers: { ...AUTH, "content-type": "application/json" },
    body: JSON.stringify({ fault: "bearing" }),
  });
  assert.equal(set.status, 200);
  await set.body?.cancel();
  const fresh = await waitFor("a new alert after the restart", async () => {
    const body = await getJson<{ alerts: Alert[] }>(`${kiln.base}/api/v1/alerts?after=${last}`);
    return body.alerts.length > 0 && body.alerts;
  }, 60_000);
  assert.ok(fresh.every((a) => a.seq > last && a.acked_at === null));
});
