/**
 * The fleet scale benchmark (`bench/fleet.ts`) at a tiny size, as `deno task bench --only fleet` runs it:
 * 5 simulated devices, the real controller and a real Mosquitto, under a hard timeout. Only what does not
 * depend on timing is asserted: the results' shape, every device converged, the rollout completed, the
 * chart was written, and the report's section reads the results. Its figures are the benchmark's business.
 */
import assert from "node:assert/strict";
import { FLEET_SIZES } from "../../bench/report_schema.ts";

const FLEET_BENCH = new URL("../../bench/fleet.ts", import.meta.url).pathname;
/** The run's hard limit: starting Deno, the broker and the controller, a rollout of 5 devices, the teardown. */
const LIMIT_MS = 4 * 60_000;

/** True when `pid` is still a running process. */

Deno.test("the fleet benchmark rolls a version out to 5 simulated devices and records every figure", async () => {
  const out = await Deno.makeTempDir({ prefix: "kiln_fleet_bench_" });
  let work = "";
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        FLEET_BENCH,
        "--sizes",
        "5",
        "--profile-sizes",
        "50",
        "--budget-s",
        "120",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(LIMIT_MS),
    }).spawn();
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.equal(code, 0, text);
    work = /^work: (\S+)$/m.exec(text)?.[1] ?? "";
    assert.notEqual(work, "", "the benchmark names its working directory");

    const result = JSON.parse(await Deno.readTextFile(`${out}/fleet.json`));
    assert.equal(typeof result.method, "string");
    assert.equal(result.stopped, null, JSON.stringify(result.stopped));
    assert.equal(result.largest_completed_devices_count, 5);
    assert.equal(result.sizes.length, 1);
    const size = result.sizes[0];
    assert.equal(size.devices, 5);
    assert.equal(size.outcome, "completed", size.reason);
    assert.equal(size.rollout_state, "completed");
    assert.equal(size.converged_devices_count, 5, "every device reports the new image running");
    assert.equal(size.device_converged_ms.n, 5);
    for (
      const key of [
        "connect_ms",
        "all_devices_converged_ms",
        "rollout_completed_ms",
        "controller_cpu_ms",
        "controller_peak_rss_kb",
        "agents_cpu_ms",
        "broker_cpu_ms",
        "broker_received_msgs_per_s",
        "broker_sent_msgs_per_s",
      ]
    ) {
      assert.equal(typeof size[key], "number", `${key} is a number: ${JSON.stringify(size)}`);
      assert.ok(size[key] >= 0, `${key} is not negative`);
    }
    // The controller kept every device's report: the broker carried at least one per device.
    assert.ok(size.broker_received_msgs_per_s > 0);
    assert.ok(size.controller_peak_rss_kb > 0);
    assert.equal(result.controller_step_profile.length, 1);
    assert.equal(result.controller_step_profile[0].devices, 50);
    assert.equal(typeof result.controller_step_profile[0].idle_step_ms, "number");

    const svg = await Deno.readTextFile(`${out}/fleet_scale.svg`);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /Rollout time against devices</);
    const csv = (await Deno.readTextFile(`${out}/scaling_fleet.csv`)).trim().split("\n");
    assert.equal(csv.length, 2);
    assert.match(csv[1]!, /^5,completed,/);
    // The report's sizes are the benchmark's defaults; a tiny run like this one never reaches the table.
    assert.deepEqual([...FLEET_SIZES], ["100", "1000", "3000", "10000"]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  // Nothing the benchmark started outlives it: no live process has its working directory on its command line
  // (`ps`: the test task may not read /proc itself; zombies, state Z, have exited).
  const ps = await new Deno.Command("ps", {
    args: ["-eo", "pid=,stat=,args="],
    stdout: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const leftovers = new TextDecoder().decode(ps.stdout).split("\n")
    .map((line) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m) => m !== null && !m[2]!.startsWith("Z") && m[3]!.includes(work))
    .map((m) => Number(m![1]));
  assert.deepEqual(leftovers, [], "processes of the benchmark still running");
});
