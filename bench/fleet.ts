/**
 * Fleet rollouts at scale (issue 18): simulated devices (`bench/fleet/agents.ts`: each its own MQTT
 * connection speaking the gateway's fleet protocol, spread over agent processes) against one Mosquitto on
 * this machine, steered by the real controller (`kiln fleet run` in its own process) through one rollout
 * (`kiln fleet rollout create`, phases 1 device, 10%, 100%, each observed 2 s). For 100, 1,000 and 10,000
 * devices: the time from the rollout's creation until every device runs the new image and the rollout is
 * `completed`, the controller's CPU time and peak RSS during it, the broker's messages per second
 * (`$SYS`), and the agents' and broker's CPU (3,000 devices too, to place the limit between the two larger
 * sizes). A size that fails or overruns its budget is recorded with what stopped it and the controller's
 * view at that moment; the other sizes still run. Then one controller step is profiled in process.
 *
 * Run: `deno run -A bench/fleet.ts [--sizes 100,1000,3000,10000] [--budget-s 300] [--out DIR]`; writes
 * `fleet.json`, `fleet_scale.svg` and `scaling_fleet.csv` to `bench/results/` (or DIR). Exits 1 when no size
 * completed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { machine } from "./_plan.ts";
import { fleetCsv, fleetSvg } from "./fleet/_chart.ts";
import { profileController } from "./fleet/_profile.ts";
import { runSize, SETTINGS_NOTE, type SizeResult } from "./fleet/_run.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "100,1000,3000,10000" },
    "budget-s": { type: "string", default: "300" },
    out: { type: "string" },
    "devices-per-process": { type: "string", default: "2500" },
    "report-every-s": { type: "string", default: "10" },
    "converge-ms": { type: "string", default: "500" },
    phases: { type: "string", default: "1:2s,10%:2s,100%:2s" },
    "profile-sizes": { type: "string", default: "100,1000,10000" },
  },
});
const int = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`--${name} is a whole number above 0, not "${text}"`);
  }
  return n;
};
const list = (name: string, text: string) => text.split(",").filter(Boolean).map((t) => int(name, t));
const sizes = list("sizes", values.sizes).sort((a, b) => a - b);
const budgetMs = int("budget-s", values["budget-s"]) * 1000;
const devicesPerProcess = int("devices-per-process", values["devices-per-process"]);
const reportEveryS = int("report-every-s", values["report-every-s"]);
const convergeMs = int("converge-ms", values["converge-ms"]);
const outDir = values.out ?? new URL("results/", import.meta.url).pathname;
await Deno.mkdir(outDir, { recursive: true });

const work = await Deno.makeTempDir({ prefix: "kiln-bench-fleet-" });
console.log(`work: ${work}`);
const results: SizeResult[] = [];
let stopped: { devices: number; reason: string } | null = null;
for (const devices of sizes) {
  // Every size runs even after a smaller one failed: how far a larger one gets is a result too.
  console.log(`== ${devices} devices`);
  const dir = `${work}/${devices}`;
  await Deno.mkdir(dir);
  const r = await runSize({
    devices,
    devicesPerProcess,
    budgetMs,
    phases: values.phases,
    reportEveryS,
    convergeMs,
    dir,
    log: (line) => console.log(line),
  });
  results.push(r);
  console.log(JSON.stringify(r));
  if (r.outcome === "completed") await Deno.remove(dir, { recursive: true }).catch(() => {});
  else stopped ??= { devices, reason: r.reason ?? "unknown" };
}
const completed = results.filter((r) => r.outcome === "completed");

console.log("== controller step profile (in process)");
const profile = await profileController(list("profile-sizes", values["profile-sizes"]));
console.log(JSON.stringify(profile));

const report = {
  machine: await machine(),
  method: [
    `per size: a fresh Mosquitto (${SETTINGS_NOTE}), the controller as \`deno run -A main.ts fleet run\`, and`,
    `the devices in agent processes of at most ${devicesPerProcess} (bench/fleet/agents.ts: one MQTT connection`,
    `each, last will offline, retained reported state QoS 1 at connect, on every desired document and every`,
    `${reportEveryS} s, a simulated pull of ${convergeMs} ms +-50%); once the controller has recorded every`,
    `device, \`kiln fleet rollout create --phases ${values.phases}\`; times from the rollout's created_ms until`,
    `every device reported the new image running (all_devices_converged_ms) and until the controller recorded`,
    `it completed (rollout_completed_ms, its updated_ms); controller CPU from /proc/<pid>/stat over that span,`,
    `peak RSS from VmHWM reset at the rollout's creation; broker rates from $SYS/broker/messages/{received,sent}`,
    `every second (sys_interval 1). Sizes run smallest first, each with a budget of ${
      budgetMs / 1000
    } s; a size`,
    `that fails is recorded with what stopped it and the controller's view (its store) at that moment`,
  ].join(" "),
  settings: {
    phases: values.phases,
    report_every_s: reportEveryS,
    converge_ms: convergeMs,
    devices_per_process_count: devicesPerProcess,
    budget_s: budgetMs / 1000,
  },
  sizes: results,
  largest_completed_devices_count: completed.at(-1)?.devices ?? null,
  /** The smallest size that did not complete, and what stopped it; null when every size completed. */
  stopped,
  controller_step_profile: profile,
};
await Deno.writeTextFile(`${outDir}/fleet.json`, JSON.stringify(report, null, 2) + "\n");
await Deno.writeTextFile(`${outDir}/scaling_fleet.csv`, fleetCsv(results));
if (completed.length > 0) await Deno.writeTextFile(`${outDir}/fleet_scale.svg`, fleetSvg(results));
if (stopped === null) await Deno.remove(work, { recursive: true }).catch(() => {});
console.log(`Wrote ${outDir}/fleet.json${stopped === null ? "" : `; the failed size's logs are in ${work}`}`);
Deno.exit(completed.length > 0 ? 0 : 1);
