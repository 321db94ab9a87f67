import assert from "node:assert/strict";
import { getJson, runKiln, startKiln } from "../_process.ts";
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
  assert.match(kiln.output(), /ALERT critical anomaly/);
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
