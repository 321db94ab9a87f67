/**
 * One soak run: start the peers, the receiver and the gateway; drive API events at the probe module; sample
 * memory and status; close a latency window every `windowMs`; inject faults on their schedules until the
 * duration is over; then stop the producers, let the outbox drain, count, stop everything, and check that
 * nothing is left running. Whatever happens, every process started is stopped (and killed if it hangs).
 *
 * @module
 */
import { SoakApi } from "./_api.ts";
import {
  accountingCheck,
  apiCheck,
  latencyCheck,
  type LatencyWindow,
  memoryCheck,
  recoveryCheck,
  round,
} from "./_checks.ts";
import { type FaultContext, faultLoop, type FaultRecord, INFRA_FAULTS } from "./_faults.ts";
import { type Gateway, startGateway } from "./_gateway.ts";
import { type Ledger, startLedger } from "./_ledger.ts";
import { CRASHER_RESTART, type SoakManifest, writeSoakManifest } from "./_manifest.ts";
import { OVERHEAD_MS, type SoakOptions } from "./_options.ts";
import { type Peers, startPeers } from "./_peers.ts";
import {
  bounded,
  cpuTicks,
  ProcessCensus,
  residentKib,
  residentParts,
  sleep,
  TICKS_PER_S,
} from "./_procs.ts";
import { type Checks, type GatewaySample, latencyChart, memoryChart } from "./_report.ts";
import { percentile } from "./_stats.ts";

const TOKEN = "kiln_soak_admin_token_0123456789abcdef";
const MIB = 1024;

/** What a run hands back: the report for `soak.json` and the two charts. */
export interface SoakResult {
  readonly report: Record<string, unknown> & { checks: Checks; duration_s: number; error: string | null };
  readonly charts: { memory: string; latency: string };
}

/**
 * Runs the soak; `outer` (Ctrl-C, SIGTERM, the harness's own deadline) ends it early, and so does the gateway
 * exiting by itself; either way everything started is stopped and the report still made.
 */
export async function runSoak(
  options: SoakOptions,
  outer: AbortSignal,
  log: (line: string) => void,
): Promise<SoakResult> {
  const census = new ProcessCensus();
  // The run also ends early when the gateway exits on its own: nothing after that would mean anything.
  const broken = new AbortController();
  let brokenBy: string | null = null;
  let stoppingGateway = false;
  const signal = AbortSignal.any([outer, broken.signal]);
  const work = await Deno.makeTempDir({ prefix: "kiln-soak-" });
  const t0 = Date.now();
  const since = () => round((Date.now() - t0) / 1000, 2);
  const faults: FaultRecord[] = [];
  const samples: GatewaySample[] = [];
  const windows: LatencyWindow[] = [];
  let error: string | null = null;
  let peers: Peers | null = null;
  let ledger: Ledger | null = null;
  let gateway: Gateway | null = null;
  let api: SoakApi | null = null;
  let manifest: SoakManifest | null = null;
  let final: Record<string, unknown> | null = null;
  let accounting: ReturnType<typeof accountingCheck> | null = null;
  let exit: { code: number; killed: boolean } | null = null;
  const presenceAfterStop: string[] = [];
  /** When the load started, s since t0: warm-up counts from there. */
  let loadStartS = 0;
  const tasks: Promise<void>[] = [];
  const stopLoad = new AbortController();
  const stopBoth = AbortSignal.any([signal, stopLoad.signal]);
  const stuck = () => census.killAll(); // a peer that will not stop: kill everything the harness started
  try {
    log(`soak: working in ${work}`);
    const lifetimeMs = options.durationMs + OVERHEAD_MS;
    peers = await startPeers(work, { lifetimeMs, onStuck: stuck });
    census.take();
    log(`soak: mosquitto :${peers.broker.port}, PLC :${peers.plc.port}, OPC UA :${peers.opcua.port}`);
    manifest = await writeSoakManifest({
      dir: work,
      brokerPort: peers.broker.port,
      plcPort: peers.plc.port,
      opcuaPort: peers.opcua.port,
      diskBudgetKib: options.diskBudgetKib,
    });
    // The receiver subscribes before the gateway starts, so it sees every stream from seq 1.
    ledger = await startLedger({
      url: peers.broker.url,
      clientId: "kiln-soak-receiver",
      topics: manifest.topics,
    });
    gateway = await startGateway({
      manifest: manifest.path,
      dataDir: `${work}/data`,
      logPath: `${work}/gateway.log`,
      token: TOKEN,
      lifetimeMs,
    });
    census.take();
    gateway.exited.then((code) => {
      if (stoppingGateway) return;
      brokenBy = `The gateway exited by itself with code ${code} (its log: ${gateway!.logPath})`;
      broken.abort();
    });
    log(`soak: gateway ${gateway.base} (runtime pid ${gateway.runtime.pid}), log ${gateway.logPath}`);
    api = new SoakApi(gateway.base, TOKEN);
    const a = api;
    const ready = await waitReady(a, signal);
    if (!ready) throw new Error("The gateway's modules and connectors were not all up within 120 s");
    const start = Date.now();
    const end = start + options.durationMs;
    loadStartS = since();
    log(
      `soak: running for ${options.durationMs / 1000} s (warm-up until ${
        Math.round(loadStartS + options.warmUpMs / 1000)
      } s)`,
    );

    // Events at the probe: each sets a pin (timed by the runtime) and publishes one telemetry message.
    tasks.push((async () => {
      const every = 1000 / options.eventsPerS;
      for (let i = 0; !stopBoth.aborted; i++) {
        const due = start + i * every;
        if (Date.now() > due + every) continue; // behind: skip, never burst
        await sleep(due - Date.now(), stopBoth);
        if (stopBoth.aborted) break;
        await a.request("POST", "/api/v1/modules/soak_probe/events", `${i & 1} ${i}`).catch(() => {});
      }
    })());
    // Samples: resident memory and CPU of the runtime process, the outbox.
    tasks.push((async () => {
      let last = { at: performance.now(), ticks: cpuTicks(gateway!.runtime.pid) };
      while (!stopBoth.aborted) {
        const rss = residentKib(gateway!.runtime.pid);
        const ticks = cpuTicks(gateway!.runtime.pid);
        const now = performance.now();
        const cpu = ticks !== null && last.ticks !== null
          ? round(((ticks - last.ticks) / TICKS_PER_S) / ((now - last.at) / 1000) * 100, 1)
          : null;
        last = { at: now, ticks };
        const u = await a.uplink().catch(() => null);
        census.take();
        if (rss !== null) {
          const launcher = residentKib(gateway!.launcher.pid);
          const parts = residentParts(gateway!.runtime.pid);
          samples.push({
            t_s: since(),
            rss_mib: round(rss / MIB, 2),
            rss_anon_mib: parts === null ? null : round(parts.anonKib / MIB, 2),
            rss_file_mib: parts === null ? null : round(parts.fileKib / MIB, 2),
            launcher_rss_mib: launcher === null ? null : round(launcher / MIB, 2),
            cpu_pct: cpu,
            outbox_depth: u?.outbox.depth ?? null,
            outbox_bytes: u?.outbox.sizeBytes ?? null,
          });
        }
        await sleep(options.sampleEveryMs, stopBoth);
      }
    })());
    // Latency windows.
    tasks.push((async () => {
      a.takeLatencies();
      let from = since();
      let eventsBefore = 0;
      while (!stopBoth.aborted) {
        await sleep(options.windowMs, stopBoth);
        const probe = (await a.modules().catch(() => [])).find((m) => m.name === "soak_probe");
        const l = a.takeLatencies();
        const to = since();
        windows.push({
          start_s: from,
          end_s: to,
          api: {
            count: l.length,
            p50_ms: round3(percentile(l, 0.5)),
            p99_ms: round3(percentile(l, 0.99)),
            max_ms: round3(l.length > 0 ? Math.max(...l) : null),
          },
          event: {
            events: (probe?.events ?? eventsBefore) - eventsBefore,
            p50_us: probe?.event_latency_us?.p50 ?? null,
            p99_us: probe?.event_latency_us?.p99 ?? null,
          },
        });
        eventsBefore = probe?.events ?? eventsBefore;
        from = to;
      }
    })());
    // Faults: the infrastructure in turn, and module crashes on their own clock.
    const ctx: FaultContext = {
      api: a,
      peers,
      t0,
      downMs: options.downMs,
      pressureMaxMs: options.pressureMaxMs,
      maxBackoffMs: { ...manifest.maxBackoffMs, soak_crasher: CRASHER_RESTART.max_backoff_ms },
      marginMs: options.recoveryMarginMs,
      signal,
    };
    const onRecord = (r: FaultRecord) => {
      faults.push({
        ...r,
        at_s: round(r.at_s, 2),
        ended_at_s: r.ended_at_s === null ? null : round(r.ended_at_s, 2),
      });
      log(
        `soak: ${r.kind} at ${Math.round(r.at_s)} s: ${
          r.recovery_ms === null ? "NOT recovered" : `recovered in ${r.recovery_ms} ms`
        } (bound ${r.bound_ms} ms)${r.error ? `: ${r.error}` : ""}`,
      );
    };
    await Promise.all([
      faultLoop(INFRA_FAULTS, { everyMs: options.faultEveryMs, startMs: start, endMs: end }, ctx, onRecord),
      faultLoop(
        ["module_crash"],
        { everyMs: options.crashEveryMs, startMs: start, endMs: end },
        ctx,
        onRecord,
      ),
      sleep(Math.max(0, end - Date.now()), signal),
    ]);
    if (signal.aborted) {
      throw new Error(brokenBy ?? "Stopped before the end (a signal or the harness's deadline)");
    }

    // The count: every peer up, the producers stopped, the outbox drained, the receiver quiet.
    log("soak: duration over; stopping the producers and draining the outbox");
    for (const p of [peers.broker, peers.plc, peers.opcua]) if (!p.up) await p.start();
    stopLoad.abort();
    await Promise.all(tasks.splice(0));
    for (const m of await a.modules()) {
      await a.request("POST", `/api/v1/modules/${m.name}/stop`).catch(() => {});
    }
    const drained = await drain(a, ledger, signal);
    if (signal.aborted) {
      throw new Error(brokenBy ?? "Stopped while draining (a signal or the harness's deadline)");
    }
    const u = await a.uplink();
    final = { outbox: u.outbox, forwarder: u.forwarder, refused_by_outbox: u.refused_by_outbox };
    accounting = accountingCheck(u.outbox.kinds, ledger.streams(), drained, ledger.unreadable);
  } catch (err) {
    error = brokenBy ?? (err as Error).message;
    log(`soak: ${error}`);
  } finally {
    stopLoad.abort();
    await Promise.allSettled(tasks);
    if (gateway) {
      const before = ledger?.presence.length ?? 0;
      stoppingGateway = true;
      exit = await gateway.stop(30_000).catch(() => null);
      // The retained presence a graceful stop leaves behind (issue 15: "offline" on every stop).
      if (ledger && peers?.broker.up) {
        await sleep(2000);
        presenceAfterStop.push(...ledger.presence.slice(before).map((p) => p.payload));
      }
    }
    if (ledger) await bounded(ledger[Symbol.asyncDispose](), "Closing the receiver", 10_000).catch(() => {});
    if (peers) {
      await bounded(peers[Symbol.asyncDispose](), "Stopping the peers", 60_000, stuck).catch(() => {});
    }
    census.take();
  }
  // Anything still running now was left behind: say so, then kill it.
  await sleep(500);
  const leftRunning = census.alive();
  census.killAll();
  // Kept when something broke: the gateway's log and the manifest are what to look at.
  if (!options.keep && error === null) await Deno.remove(work, { recursive: true }).catch(() => {});
  else log(`soak: kept ${work}`);

  const memory = memoryCheck(
    samples,
    round(loadStartS + options.warmUpMs / 1000, 2),
    options.slopeBoundMibPerH,
  );
  const checks = {
    memory,
    accounting: accounting ?? { status: "fail" as const, reason: "the run ended before the count" },
    recovery: recoveryCheck(faults),
    api: api ? apiCheck(api.counts()) : { status: "fail" as const, reason: "the gateway never answered" },
    latency: latencyCheck(windows, memory.warm_up_s, options.latencyFactor),
    processes: {
      status: (leftRunning.length === 0 && census.seen.length > 0 ? "pass" : "fail") as "pass" | "fail",
      ...(leftRunning.length > 0 &&
        { reason: `${leftRunning.length} process(es) still running at the end, killed` }),
      started: census.seen,
      left_running: leftRunning,
    },
  };
  const report = {
    name: "soak",
    started_at: new Date(t0).toISOString(),
    duration_s: round((Date.now() - t0) / 1000, 1),
    options: { ...options, outDir: undefined },
    manifest: manifest &&
      { max_backoff_ms: manifest.maxBackoffMs, mqtt_backoff_configurable: manifest.mqttBackoffConfigurable },
    gateway: gateway && {
      launcher_pid: gateway.launcher.pid,
      runtime_pid: gateway.runtime.pid,
      exit_code: exit?.code ?? null,
      killed: exit?.killed ?? null,
    },
    checks,
    error,
    final,
    presence: {
      received: ledger?.presence.map((p) => p.payload) ?? [],
      after_graceful_stop: presenceAfterStop,
    },
    faults,
    windows,
    samples,
  };
  return {
    report,
    charts: {
      memory: memoryChart(samples, {
        warmUpS: memory.warm_up_s,
        envelope: memory.envelope,
        slopeMibPerH: memory.slope_mib_per_h,
        interceptMib: memory.intercept_mib,
      }),
      latency: latencyChart(windows),
    },
  };
}

const round3 = (v: number | null) => v === null ? null : round(v, 3);

/** Waits until every module runs and every connector is connected; false after 120 s. */
async function waitReady(api: SoakApi, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const [modules, connectors] = await Promise.all([api.modules(), api.connectors()]);
      if (modules.every((m) => m.state === "running") && connectors.every((c) => c.state === "connected")) {
        return true;
      }
    } catch { /* starting */ }
    await sleep(250, signal);
  }
  return false;
}

/**
 * Waits until the outbox is empty with nothing in flight, nothing new enqueued for longer than a batch
 * interval (the batcher's last flush), and the receiver quiet for 3 s; false after 180 s.
 */
async function drain(api: SoakApi, ledger: Ledger, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + 180_000;
  let lastEnqueued = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline && !signal.aborted) {
    const u = await api.uplink().catch(() => null);
    if (u) {
      const enqueued = Object.values(u.outbox.kinds).reduce((s, k) => s + k.enqueued, 0);
      if (enqueued !== lastEnqueued) (lastEnqueued = enqueued, stableSince = Date.now());
      const quiet = Date.now() - Math.max(stableSince, ledger.lastMessageAtMs) > 3000;
      if (u.outbox.depth === 0 && u.forwarder.inFlight === 0 && Date.now() - stableSince > 12_000 && quiet) {
        return true;
      }
    }
    await sleep(500, signal);
  }
  return false;
}
