/**
 * One size of the fleet benchmark: a Mosquitto, the real controller (`kiln fleet run`, its own process),
 * `devices` simulated devices spread over agent processes, and one rollout created with `kiln fleet rollout
 * create`; measured from the rollout's creation until every device reports the new image running and the
 * rollout is `completed`. Every process is bounded by the run's budget and stopped at the end, even on
 * failure.
 *
 * @module
 */
import { FleetStore } from "../../fleet/mod.ts";
import { ROOT } from "../_plan.ts";
import { type Broker, BROKER_SETTINGS, startBroker } from "./_broker.ts";
import { type Child, cpuMs, memoryKb, openFilesLimit, resetPeak, spawn } from "./_procs.ts";
import type { AgentsConfig } from "./agents.ts";

/** Options of {@linkcode runSize}. */
export interface SizeOptions {
  readonly devices: number;
  /** The most devices one agents process simulates. */
  readonly devicesPerProcess: number;
  /** The whole size (start, connect, rollout, stop) must end within this, ms. */
  readonly budgetMs: number;
  /** `--phases` of the rollout. */
  readonly phases: string;
  readonly reportEveryS: number;
  readonly convergeMs: number;
  /** Where logs, the store and the broker's configuration go (kept for a failed size). */
  readonly dir: string;
  readonly log: (line: string) => void;
}

/** What one size measured, or how far it got. */
export interface SizeResult {
  devices: number;
  agent_processes: number;
  /** "completed", or what stopped it. */
  outcome: "completed" | "failed";
  /** Why it failed (an error, a limit, the time budget), null when completed. */
  reason: string | null;
  /** The reason in a few words, for the README table; null when completed. */
  summary: string | null;
  /** Connecting every device (connected, subscribed, first report acknowledged), ms. */
  connect_ms: number | null;
  /** Rollout creation (its `created_ms`) until every device reports the new image running, ms. */
  all_devices_converged_ms: number | null;
  /** Rollout creation until the controller recorded it `completed`, ms. */
  rollout_completed_ms: number | null;
  /** Rollout creation until each device converged, ms. */
  device_converged_ms: { p50: number; p99: number; max: number; n: number } | null;
  /** Devices that reported the new image running at the end. */
  converged_devices_count: number;
  rollout_state: string | null;
  /** The controller during the rollout: CPU time, and CPU time / wall time. */
  controller_cpu_ms: number | null;
  controller_cpu_percent: number | null;
  /** Its peak resident memory during the rollout (VmHWM reset at creation), and before it (ingesting the reports), KiB. */
  controller_peak_rss_kb: number | null;
  controller_rss_before_rollout_kb: number | null;
  /** Every agents process together during the rollout, and the broker. */
  agents_cpu_ms: number | null;
  broker_cpu_ms: number | null;
  broker_peak_rss_kb: number | null;
  /** From `$SYS/broker/messages/{received,sent}`: the average over the rollout and the highest 1 s rate. */
  broker_received_msgs_per_s: number | null;
  broker_sent_msgs_per_s: number | null;
  broker_peak_received_msgs_per_s: number | null;
  broker_peak_sent_msgs_per_s: number | null;
  /** `$SYS/broker/publish/messages/dropped` during the rollout. */
  broker_dropped_msgs_count: number | null;
  broker_open_files_limit: number | null;
  agents_open_files_limit: number | null;
  /**
   * The controller's own view when the size ended (its store): how far behind the devices it was. Reports
   * older than the engine's `staleAfterMs` (30 s) do not count as healthy, so a controller that falls that
   * far behind its reports cannot finish a phase.
   */
  controller_view: ControllerView | null;
}

/** What the controller's store said at the end of a size. */
export interface ControllerView {
  /** Devices whose last stored report shows the new image. */
  devices_reporting_new_image_count: number;
  members_count: number;
  members_running_count: number;
  /** How long ago the controller stored each device's last report, ms. */
  report_age_p50_ms: number;
  report_age_max_ms: number;
  /** Distinct devices whose report it stored in the last 10 s, per second. */
  stored_reports_per_s: number;
  /** The rollout's phase (1-based) and state. */
  phase: number;
}

const FLEET = "bench";
const MODULE = "app";
const DIGEST = (c: string) => `sha256:${c.repeat(64)}`;
/** The images: only their references travel (the devices simulate the pull). */
export const OLD_IMAGE = `registry.plant.local/bench/app:1.0.0@${DIGEST("a")}`;
export const NEW_IMAGE = `registry.plant.local/bench/app:2.0.0@${DIGEST("b")}`;
const SPEC = { schedule: { mode: "periodic", period_ms: 1000 }, limits: { max_memory_mb: 4 } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Waits for `check`, polling every `everyMs`; throws with `what` after `deadlineMs` (epoch). */
async function until(what: string, check: () => boolean, deadlineMs: number, everyMs = 250): Promise<void> {
  while (!check()) {
    if (Date.now() > deadlineMs) throw new Error(`Timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface AgentsProcess {
  child: Child;
  ready: boolean;
  connected: number;
  converged: number;
  convergedAt: number[];
}

/** Runs one size; never throws for the system under test's failures (they are the result's `reason`). */
export async function runSize(o: SizeOptions): Promise<SizeResult> {
  const started = Date.now();
  const deadline = started + o.budgetMs;
  const lifetimeMs = o.budgetMs + 60_000;
  const processes = Math.max(1, Math.ceil(o.devices / o.devicesPerProcess));
  const r: SizeResult = {
    devices: o.devices,
    agent_processes: processes,
    outcome: "failed",
    reason: null,
    summary: null,
    connect_ms: null,
    all_devices_converged_ms: null,
    rollout_completed_ms: null,
    device_converged_ms: null,
    converged_devices_count: 0,
    rollout_state: null,
    controller_cpu_ms: null,
    controller_cpu_percent: null,
    controller_peak_rss_kb: null,
    controller_rss_before_rollout_kb: null,
    agents_cpu_ms: null,
    broker_cpu_ms: null,
    broker_peak_rss_kb: null,
    broker_received_msgs_per_s: null,
    broker_sent_msgs_per_s: null,
    broker_peak_received_msgs_per_s: null,
    broker_peak_sent_msgs_per_s: null,
    broker_dropped_msgs_count: null,
    broker_open_files_limit: null,
    agents_open_files_limit: null,
    controller_view: null,
  };
  const data = `${o.dir}/controller`;
  let controllerUp = false;
  const children: Child[] = [];
  let broker: Broker | null = null;
  let store: FleetStore | null = null;
  const agents: AgentsProcess[] = [];
  const sum = (f: (a: AgentsProcess) => number) => agents.reduce((s, a) => s + f(a), 0);
  try {
    broker = await startBroker(o.dir, lifetimeMs);
    r.broker_open_files_limit = broker.openFilesLimit;
    const controller = spawn(
      "controller",
      Deno.execPath(),
      [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "fleet",
        "run",
        "--broker",
        broker.url,
        "--data",
        data,
        "--fleet",
        FLEET,
      ],
      `${o.dir}/controller.log`,
      {
        lifetimeMs,
        cwd: ROOT,
        onLine: (line) => controllerUp ||= line.startsWith("kiln fleet: controller connected"),
      },
    );
    children.push(controller);
    // Connect the devices.
    const t0 = Date.now();
    for (let p = 0; p < processes; p++) {
      const from = p * o.devicesPerProcess;
      const count = Math.min(o.devicesPerProcess, o.devices - from);
      const config: AgentsConfig = {
        broker: broker.url,
        fleet: FLEET,
        prefix: "dev-",
        from,
        count,
        group: "line-1",
        hardware: "x86_64-sim",
        module: MODULE,
        initialImage: OLD_IMAGE,
        targetImage: NEW_IMAGE,
        reportEveryS: o.reportEveryS,
        convergeMs: o.convergeMs,
        connectConcurrency: 50,
      };
      const a: AgentsProcess = { child: null!, ready: false, connected: 0, converged: 0, convergedAt: [] };
      a.child = spawn(
        `agents-${p}`,
        Deno.execPath(),
        // The directory rides along (unread) so every process of the run shows it on its command line.
        ["run", "-A", new URL("agents.ts", import.meta.url).pathname, JSON.stringify(config), o.dir],
        `${o.dir}/agents-${p}.log`,
        {
          lifetimeMs,
          onLine: (line) => {
            if (!line.startsWith("{")) return;
            const msg = JSON.parse(line) as {
              kind: string;
              connected?: number;
              converged?: number;
              converged_at_ms?: number[];
            };
            if (msg.kind === "ready") a.ready = true;
            if (msg.kind === "progress") {
              a.connected = msg.connected!;
              a.converged = msg.converged!;
              a.convergedAt.push(...msg.converged_at_ms!);
            }
          },
        },
      );
      agents.push(a);
      children.push(a.child);
    }
    r.agents_open_files_limit = openFilesLimit(agents[0]!.child.pid);
    const exited = () => children.find((c) => c.pid > 0 && exitedPids.has(c.pid)) ?? null;
    const exitedPids = new Set<number>();
    for (const c of children) c.status.then(() => exitedPids.add(c.pid));
    const alive = () => {
      const gone = exited();
      if (gone !== null) throw new Error(`${gone.name} exited early (log ${gone.log}):\n${gone.tail()}`);
      return true;
    };
    await until(`${o.devices} devices to connect`, () => alive() && agents.every((a) => a.ready), deadline);
    r.connect_ms = Date.now() - t0;
    o.log(`  ${o.devices} devices connected in ${r.connect_ms} ms`);
    // The controller must know every device before the rollout starts, or its percentages count fewer. Its
    // store is opened here only once the controller has opened (and migrated) it: two processes creating it
    // at once can both run the first migration.
    await until("the controller to connect", () => alive() && controllerUp, deadline);
    store = FleetStore.open(data);
    await until(
      `the controller to record ${o.devices} devices`,
      () => alive() && store!.listDevices(FLEET).length >= o.devices,
      deadline,
      1000,
    );
    const specFile = `${o.dir}/spec.json`;
    await Deno.writeTextFile(specFile, JSON.stringify(SPEC));
    // Baselines, then the rollout.
    r.controller_rss_before_rollout_kb = memoryKb(controller.pid)?.peakKb ?? null;
    resetPeak(controller.pid);
    resetPeak(broker.pid);
    const cpu0 = {
      controller: cpuMs(controller.pid),
      broker: cpuMs(broker.pid),
      agents: agents.map((a) => cpuMs(a.child.pid) ?? 0).reduce((x, y) => x + y, 0),
    };
    const sys0 = broker.latest()!;
    const create = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "fleet",
        "rollout",
        "create",
        "--data",
        data,
        "--fleet",
        FLEET,
        "--module",
        MODULE,
        "--image",
        NEW_IMAGE,
        "--spec",
        specFile,
        "--phases",
        o.phases,
        "--target-groups",
        "line-1",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const out = new TextDecoder().decode(create.stdout).trim();
    if (!create.success) {
      throw new Error(`kiln fleet rollout create failed: ${new TextDecoder().decode(create.stderr)}`);
    }
    const id = out.split("\n").at(-1)!;
    const rollout0 = store.getRollout(id);
    if (rollout0 === null) throw new Error(`Rollout ${id} is not in the store`);
    const created = rollout0.created_ms;
    o.log(`  rollout ${id} created (${o.phases})`);
    let state: string = rollout0.state;
    let completedAt: number | null = null;
    let convergedAt: number | null = null;
    let peakKb = 0;
    const failedState = new Set(["rolled_back", "aborted"]);
    try {
      await until(
        "the rollout to complete on every device",
        () => {
          alive();
          const now = Date.now();
          const m = memoryKb(controller.pid);
          if (m !== null) peakKb = Math.max(peakKb, m.peakKb);
          const rollout = store!.getRollout(id);
          state = rollout?.state ?? "missing";
          if (state === "completed" && completedAt === null) completedAt = rollout!.updated_ms;
          if (failedState.has(state)) throw new Error(`The rollout ended ${state}: ${rollout?.reason}`);
          if (sum((a) => a.converged) >= o.devices && convergedAt === null) convergedAt = now;
          return completedAt !== null && convergedAt !== null;
        },
        deadline,
      );
    } finally {
      const end = Date.now();
      r.rollout_state = state;
      r.converged_devices_count = sum((a) => a.converged);
      const wallMs = end - created;
      const c1 = cpuMs(controller.pid);
      if (c1 !== null && cpu0.controller !== null) {
        r.controller_cpu_ms = round(c1 - cpu0.controller, 0);
        r.controller_cpu_percent = round((100 * (c1 - cpu0.controller)) / wallMs);
      }
      r.controller_peak_rss_kb = Math.max(peakKb, memoryKb(controller.pid)?.peakKb ?? 0) || null;
      const b1 = cpuMs(broker.pid);
      if (b1 !== null && cpu0.broker !== null) r.broker_cpu_ms = round(b1 - cpu0.broker, 0);
      r.broker_peak_rss_kb = memoryKb(broker.pid)?.peakKb ?? null;
      r.agents_cpu_ms = round(
        agents.map((a) => cpuMs(a.child.pid) ?? 0).reduce((x, y) => x + y, 0) - cpu0.agents,
        0,
      );
      const during = broker.samples.filter((s) => s.atMs >= sys0.atMs);
      const last = during.at(-1) ?? sys0;
      const spanS = (last.atMs - sys0.atMs) / 1000;
      if (spanS > 0) {
        r.broker_received_msgs_per_s = round((last.received - sys0.received) / spanS, 0);
        r.broker_sent_msgs_per_s = round((last.sent - sys0.sent) / spanS, 0);
        let peakIn = 0, peakOut = 0;
        for (let i = 1; i < during.length; i++) {
          const dt = (during[i]!.atMs - during[i - 1]!.atMs) / 1000;
          if (dt <= 0) continue;
          peakIn = Math.max(peakIn, (during[i]!.received - during[i - 1]!.received) / dt);
          peakOut = Math.max(peakOut, (during[i]!.sent - during[i - 1]!.sent) / dt);
        }
        r.broker_peak_received_msgs_per_s = round(peakIn, 0);
        r.broker_peak_sent_msgs_per_s = round(peakOut, 0);
        r.broker_dropped_msgs_count = last.dropped - sys0.dropped;
      }
      r.controller_view = viewOf(store, id, end);
      const times = agents.flatMap((a) => a.convergedAt).map((t) => t - created).sort((x, y) => x - y);
      if (times.length > 0) {
        r.device_converged_ms = {
          p50: percentile(times, 0.5),
          p99: percentile(times, 0.99),
          max: times.at(-1)!,
          n: times.length,
        };
      }
    }
    // The last device's own timestamp (the polling above only sees it up to 750 ms later).
    r.all_devices_converged_ms = r.device_converged_ms?.max ?? convergedAt! - created;
    r.rollout_completed_ms = completedAt! - created;
    r.outcome = "completed";
  } catch (err) {
    const v = r.controller_view;
    const view = v === null
      ? ""
      : `; the controller's store then: phase ${v.phase}, ${v.members_running_count}/` +
        `${v.members_count} devices touched seen running, ${v.devices_reporting_new_image_count} reports of the ` +
        `new image stored, reports stored ${
          Math.round(v.report_age_p50_ms / 1000)
        } s ago (median; stale after ` +
        `30 s), ${v.stored_reports_per_s} devices/s stored`;
    r.summary = v !== null && v.report_age_p50_ms > 10_000
      ? `controller ${Math.round(v.report_age_p50_ms / 1000)} s behind its reports (stale after 30 s), ` +
        `${v.members_running_count}/${v.members_count} seen running in ${Math.round(o.budgetMs / 1000)} s`
      : (err as Error).message;
    r.reason = `${(err as Error).message} (after ${
      Math.round((Date.now() - started) / 1000)
    } s)${view}; ${r.converged_devices_count}/${o.devices} devices ran the new image; logs in ${o.dir}`;
  } finally {
    store?.close();
    // Agents first (their last wills fire at the broker), then the controller, then the broker.
    await Promise.all(agents.map((a) => a.child.stop()));
    await Promise.all(children.map((c) => c.stop()));
    await broker?.stop();
  }
  return r;
}

function viewOf(store: FleetStore, id: string, nowMs: number): ControllerView | null {
  const rollout = store.getRollout(id);
  if (rollout === null) return null;
  const devices = store.listDevices(FLEET);
  const members = store.listMembers(id);
  const ages = devices.map((d) => nowMs - d.last_seen_ms).sort((a, b) => a - b);
  return {
    devices_reporting_new_image_count:
      devices.filter((d) =>
        Object.hasOwn(d.reported.modules, MODULE) && d.reported.modules[MODULE]!.image === NEW_IMAGE
      ).length,
    members_count: members.length,
    members_running_count: members.filter((m) => m.status === "running").length,
    report_age_p50_ms: ages.length === 0 ? 0 : percentile(ages, 0.5),
    report_age_max_ms: ages.at(-1) ?? 0,
    stored_reports_per_s: round(ages.filter((a) => a < 10_000).length / 10),
    phase: rollout.phase + 1,
  };
}

/** The broker settings and limits a size ran under, for the result's method. */
export const SETTINGS_NOTE = `Mosquitto settings written by the bench: ${BROKER_SETTINGS.join(", ")}`;
