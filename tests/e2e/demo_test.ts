import assert from "node:assert/strict";
import { getJson, runKiln, startKiln, TEST_ADMIN_TOKEN } from "../_process.ts";
import { waitFor } from "../_helpers.ts";

interface Modules {
  modules: { name: string; state: string; mode: string; invocations: number }[];
}

Deno.test("kiln run serves the demo: health, running modules, rising invocations, alerts after --fault, clean SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir, "--fault", "vibration_1=bearing"]);
  const health = await getJson<{ status: string; modules: Record<string, number> }>(`${kiln.base}/health`);
  assert.equal(health.modules.running, 5);
  const first = await getJson<Modules>(`${kiln.base}/api/v1/modules`);
  assert.ok(first.modules.every((m) => m.state === "running"));
  await waitFor("invocations to rise", async () => {
    const later = await getJson<Modules>(`${kiln.base}/api/v1/modules`);
    // Event modules run only when triggered; every other module keeps running.
    return later.modules.every((m, i) => m.mode === "event" || m.invocations > first.modules[i]!.invocations);
  });
  const alerts = await waitFor("an alert", async () => {
    const body = await getJson<{ alerts: { module: string }[] }>(`${kiln.base}/api/v1/alerts`);
    return body.alerts.length > 0 && body.alerts;
  });
  assert.equal(alerts[0]!.module, "anomaly");
  assert.match(kiln.output(), /^module=anomaly kind=alert level=critical msg="/m);
  assert.equal(await kiln.stop(), 0);
  assert.match(kiln.output(), /kiln: stopping/);

  // The audit log outlives the runtime: grants at start, revocations at stop.
  const audit = await runKiln(["audit", "--data", dir, "--module", "fft"]);
  assert.equal(audit.code, 0, audit.stderr);
  assert.match(audit.stdout, /\tfft\tgrant\tread:sim:vibration_1/);
  assert.match(audit.stdout, /\tfft\trevoke\tread:sim:vibration_1/);
  const missing = await runKiln(["audit", "--data", `${dir}/nothing`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /No Kiln store/);
});

interface SnapshotView {
  restored_from: number | null;
  last: { seq: number; reason: string } | null;
}

Deno.test("the demo resumes from snapshots after a restart, and kiln snapshot takes and lists them", async () => {
  const dir = await Deno.makeTempDir();
  let stopSeq: number;
  {
    await using kiln = await startKiln(["--data", dir]);
    const anomaly = () => getJson<{ snapshot: SnapshotView }>(`${kiln.base}/api/v1/modules/anomaly`);
    assert.equal((await anomaly()).snapshot.restored_from, null);
    // 100 scored windows (about 2 s of machine 1) make the warm-up snapshot.
    await waitFor(
      "the warm-up snapshot",
      async () => (await anomaly()).snapshot.last?.reason === "warm_up",
      20_000,
    );
    const taken = await runKiln(["snapshot", "anomaly", "--url", kiln.base]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stdout, /^snapshot 2 of module "anomaly": \d+ KiB of memory, \d+ KiB stored/);
    const refused = await runKiln(["snapshot", "fft", "--url", kiln.base]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused the snapshot of "fft": .*persistence\.snapshot/);
    assert.equal(await kiln.stop(), 0);
    const listed = await runKiln(["snapshot", "--list", "--data", dir, "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const snaps = JSON.parse(listed.stdout) as { module: string; seq: number; reason: string }[];
    assert.deepEqual(snaps.map((s) => `${s.module}:${s.seq}:${s.reason}`), [
      "anomaly:3:stop",
      "anomaly:2:demand",
      "anomaly:1:warm_up",
    ]);
    stopSeq = snaps[0]!.seq;
  }
  await using kiln = await startKiln(["--data", dir]);
  const m = await getJson<{ state: string; start_ms: number; snapshot: SnapshotView }>(
    `${kiln.base}/api/v1/modules/anomaly`,
  );
  assert.equal(m.state, "running");
  assert.equal(m.snapshot.restored_from, stopSeq);
  assert.ok(typeof m.start_ms === "number");
  assert.match(kiln.output(), new RegExp(`module anomaly: restored from snapshot ${stopSeq} in [\\d.]+ ms`));
  const api = await getJson<{ snapshots: { module: string }[] }>(
    `${kiln.base}/api/v1/snapshots?module=anomaly`,
  );
  assert.equal(api.snapshots.length, 3);
});

Deno.test("kiln run streams live outputs over a WebSocket to a client with a token, and refuses one without", async () => {
  const dir = await Deno.makeTempDir();
  await using kiln = await startKiln(["--data", dir]);
  const url = `${kiln.base.replace(/^http/, "ws")}/api/v1/stream`;
  const ws = new WebSocket(url);
  const frames: { topic: string; seq: number; data: Record<string, unknown> }[] = [];
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  await new Promise((resolve) => ws.onopen = resolve);
  ws.send(JSON.stringify({ type: "auth", token: TEST_ADMIN_TOKEN }));
  ws.send(JSON.stringify({ type: "subscribe", topics: ["outputs/fft", "status"] }));
  const out = await waitFor(
    "fft outputs",
    () => frames.find((f) => f.topic === "outputs/fft" && typeof f.data.rms_g === "number"),
  );
  assert.ok((out.data.rms_g as number) > 0);
  assert.ok(frames.some((f) => f.topic === "status"));
  assert.deepEqual(frames.map((f) => f.seq), frames.map((_, i) => i + 1), "per-connection sequence numbers");
  const closed = new Promise((resolve) => ws.onclose = resolve);
  ws.close();
  await closed;

  const bad = new WebSocket(url);
  const refused = new Promise<CloseEvent>((resolve) => bad.onclose = resolve);
  await new Promise((resolve) => bad.onopen = resolve);
  bad.send(JSON.stringify({ type: "auth", token: "kiln_wrong" }));
  assert.equal((await refused).code, 1008);
});
