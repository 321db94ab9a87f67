/**
 * The soak harness (`bench/soak/`): its arithmetic, and a short soak (90 s, a compressed schedule with at
 * least one fault of each kind) run as `deno task soak` runs it, under a hard timeout. Only what does not
 * depend on timing is asserted: the report and charts are written with every check, every process the soak
 * started is gone, every sequence number is accounted for, no request got a 5xx, every fault took effect and
 * recovered eventually, and the crashed module was restarted. Whether recoveries met their bounds and
 * latency stayed stable is the soak's verdict, not this test's.
 */
import assert from "node:assert/strict";
import { parseDuration, parseSoakArgs, SoakUsageError } from "../../bench/soak/_options.ts";
import { descendants, isAlive, type ProcessId } from "../../bench/soak/_procs.ts";
import { accountKind, leastSquares, percentile, SeqTracker } from "../../bench/soak/_stats.ts";
import { lowerEnvelope, memoryCheck } from "../../bench/soak/_checks.ts";

const MAIN = new URL("../../bench/soak/main.ts", import.meta.url).pathname;
/** The short soak's hard limit: its 90 s, starting the peers and the gateway, the drain and the teardown. */
const LIMIT_MS = 8 * 60_000;

Deno.test("soak durations read as the command line writes them, and bad ones are refused", () => {
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("60m"), 3_600_000);
  assert.equal(parseDuration("24h"), 86_400_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1500ms"), 1500);
  assert.throws(() => parseDuration("90"), SyntaxError);
  assert.throws(() => parseDuration("1x"), SyntaxError);
  assert.throws(() => parseSoakArgs(["--duration", "soon"], "/tmp"), SoakUsageError);
  try {
    parseSoakArgs(["--events-per-s", "0"], "/tmp");
    assert.fail("an event rate of 0 was accepted");
  } catch (err) {
    assert.ok(err instanceof SoakUsageError);
    assert.equal(err.code, "soak_usage");
    assert.equal(err.option, "--events-per-s");
  }
});

Deno.test("the fault schedule scales with the duration unless it is set", () => {
  const hour = parseSoakArgs(["--duration", "60m"], "/tmp");
  const day = parseSoakArgs(["--duration", "24h"], "/tmp");
  const set = parseSoakArgs(["--duration", "24h", "--fault-every", "30s"], "/tmp");
  assert.ok(hour !== "help" && day !== "help" && set !== "help");
  assert.ok(day.faultEveryMs > hour.faultEveryMs);
  assert.ok(day.crashEveryMs >= hour.crashEveryMs);
  assert.equal(set.faultEveryMs, 30_000);
});

Deno.test("percentiles, least squares and the memory check compute what they say", () => {
  assert.equal(percentile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.99), 10);
  assert.equal(percentile([], 0.5), null);
  const fit = leastSquares([[0, 1], [1, 3], [2, 5]]);
  assert.deepEqual(fit, { slope: 2, intercept: 1 });
  assert.equal(leastSquares([[1, 1], [1, 2]]), null);
  // 1 MiB more every 10 minutes is 6 MiB/h: over a bound of 4, under one of 8.
  const samples = Array.from({ length: 61 }, (_, i) => ({ t_s: i * 10, rss_mib: 200 + i * 10 / 600 }));
  assert.equal(memoryCheck(samples, 0, 4).status, "fail");
  assert.equal(memoryCheck(samples, 0, 8).status, "pass");
  assert.equal(memoryCheck(samples.slice(0, 10), 0, 8).status, "skipped", "90 s is too short to judge");
  // A sawtooth (a collector's) judged by its floor: flat floors pass however high the run ends on a tooth,
  // floors rising 12 MiB/h fail.
  const tooth = (t: number) => 40 * ((t % 600) / 600);
  const flat = Array.from({ length: 361 }, (_, i) => ({ t_s: i * 10, rss_mib: 260 + tooth(i * 10 + 300) }));
  const flatCheck = memoryCheck(flat, 0, 16);
  assert.equal(flatCheck.status, "pass");
  assert.ok(Math.abs(flatCheck.slope_mib_per_h!) < 1, `floor slope ${flatCheck.slope_mib_per_h}`);
  assert.notEqual(flatCheck.all_samples_slope_mib_per_h, null);
  const rising = flat.map((s) => ({ t_s: s.t_s, rss_mib: s.rss_mib + 12 * s.t_s / 3600 }));
  const risingCheck = memoryCheck(rising, 0, 8);
  assert.equal(risingCheck.status, "fail");
  assert.ok(Math.abs(risingCheck.slope_mib_per_h! - 12) < 2, `floor slope ${risingCheck.slope_mib_per_h}`);
  assert.deepEqual(lowerEnvelope(flat).map((s) => s.rss_mib), Array(4).fill(260));
  // A run that ends a little way up a tooth: the short tail joins the last whole window, whose floor is a
  // trough, instead of standing as a floor of its own at the tooth's height.
  const tail = flat.concat(
    Array.from({ length: 20 }, (_, i) => ({ t_s: 3600 + (i + 1) * 10, rss_mib: 260 + 40 * (i + 1) / 60 })),
  );
  assert.equal(lowerEnvelope(tail).length, 4);
  assert.ok(lowerEnvelope(tail).every((s) => s.rss_mib === 260));
  assert.equal(memoryCheck(tail, 0, 16).status, "pass");
});

Deno.test("the ledger counts gaps, duplicates and late arrivals, and a kind's gaps are explained by its drops", () => {
  const t = new SeqTracker();
  for (const seq of [1, 2, 2, 4, 3, 7, 9000]) t.add(seq);
  const l = t.ledger();
  assert.equal(l.distinct, 6);
  assert.equal(l.first, 1);
  assert.equal(l.last, 9000);
  assert.equal(l.duplicates, 1);
  assert.equal(l.outOfOrder, 1);
  assert.equal(l.gaps, 9000 - 6);
  assert.ok(t.has(9000) && !t.has(5));
  assert.throws(() => t.add(0), RangeError);
  const a = new SeqTracker();
  for (let s = 1; s <= 10; s++) if (s !== 4 && s !== 5) a.add(s);
  const explained = accountKind({ enqueued: 10, dropped: 3 }, [a.ledger()]);
  assert.equal(explained.missing, 2);
  assert.equal(explained.unexplained, 0);
  assert.equal(explained.droppedYetReceived, 1);
  assert.equal(accountKind({ enqueued: 10, dropped: 1 }, [a.ledger()]).unexplained, 1);
});

interface Report {
  checks: Record<string, { status: string; [k: string]: unknown }> & {
    accounting: { status: string; unexplained: number; drained: boolean };
    api: { server_errors: number; no_response: number; requests: number };
    processes: { started: ProcessId[]; left_running: ProcessId[] };
  };
  faults: { kind: string; applied: boolean; recovery_ms: number | null; error: string | null }[];
  error: string | null;
}

Deno.test("a short soak writes its report and charts, accounts for every message and leaves nothing running", async () => {
  const out = await Deno.makeTempDir({ prefix: "kiln-soak-test-" });
  const limit = AbortSignal.timeout(LIMIT_MS);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "--duration",
      "90s",
      "--warm-up",
      "15s",
      "--fault-every",
      "10s",
      "--crash-every",
      "15s",
      "--down",
      "2s",
      "--disk-budget-kib",
      "48",
      "--window",
      "10s",
      "--sample-every",
      "2s",
      "--out-dir",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
    // The hard limit: Deno sends SIGTERM then (the soak cleans up and still writes its report)...
    signal: limit,
  }).spawn();
  // ...and a minute later the soak and everything under it get SIGKILL.
  const kill = setTimeout(() => {
    for (const p of descendants(child.pid)) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch { /* exited */ }
    }
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, LIMIT_MS + 60_000);
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(kill);
  const timedOut = limit.aborted;
  const context = `exit ${status.code}\n${stdout}\n${stderr}`;
  try {
    assert.ok(!timedOut, `the soak ran past ${LIMIT_MS} ms:\n${context}`);
    assert.ok(status.code === 0 || status.code === 1, context);
    const report = JSON.parse(await Deno.readTextFile(`${out}/soak.json`)) as Report;
    assert.equal(report.error, null, context);
    for (const name of ["memory", "accounting", "recovery", "api", "latency", "processes"]) {
      assert.ok(["pass", "fail", "skipped"].includes(report.checks[name]?.status ?? ""), `check ${name}`);
    }
    for (const chart of ["soak_memory.svg", "soak_latency.svg"]) {
      assert.match(await Deno.readTextFile(`${out}/${chart}`), /^<svg [^>]*>[\s\S]*<polyline/);
    }

    // Nothing left running: the soak says so, and so does /proc.
    assert.ok(report.checks.processes.started.length >= 5, "mosquitto, PLC, OPC UA, gateway, sandbox");
    assert.deepEqual(report.checks.processes.left_running, []);
    assert.deepEqual(report.checks.processes.started.filter(isAlive), []);

    // Every message accounted for, and no server error.
    assert.equal(report.checks.accounting.drained, true, context);
    assert.equal(report.checks.accounting.unexplained, 0);
    assert.equal(report.checks.accounting.status, "pass", JSON.stringify(report.checks.accounting));
    assert.ok(report.checks.api.requests > 0);
    assert.equal(report.checks.api.server_errors, 0);
    assert.equal(report.checks.api.no_response, 0);

    // At least one fault of each kind, each took effect and recovered (however long it took).
    for (const kind of ["broker_restart", "plc_kill", "opcua_restart", "disk_pressure", "module_crash"]) {
      assert.ok(report.faults.some((f) => f.kind === kind), `no ${kind} in ${JSON.stringify(report.faults)}`);
    }
    for (const f of report.faults) {
      assert.equal(f.error, null, JSON.stringify(f));
      assert.equal(f.applied, true, JSON.stringify(f));
      assert.notEqual(f.recovery_ms, null, `${f.kind} never recovered`);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
