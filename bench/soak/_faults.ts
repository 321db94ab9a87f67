/**
 * The soak's faults and how each one's recovery is measured:
 *
 * - `broker_restart`: Mosquitto stopped for `downMs`, started again on its port; recovered when the uplink
 *   connector (`mqtt`) is `connected` again.
 * - `plc_kill`: the PLC killed with SIGKILL, started again after `downMs`; recovered when the Modbus device
 *   (`plc`) is `connected`.
 * - `opcua_restart`: the OPC UA server killed, started again after `downMs`; recovered when the endpoint
 *   (`ua`) is `connected`.
 * - `disk_pressure`: Mosquitto stopped until the outbox reaches its disk budget (its budget policy drops a
 *   message) and 2 s more, at most `pressureMaxMs`; then as a broker restart.
 * - `module_crash`: an API event makes `soak_crasher` trap; recovered when it is `running` again with one
 *   restart more.
 *
 * Recovery time counts from the moment the peer listens again (or the crash), and is held against the
 * connector's or the module's `max_backoff_ms` plus a margin: the keeper's next attempt comes at most one
 * capped backoff after the peer is back, and the margin covers the attempt itself on a loaded machine.
 *
 * @module
 */
import type { SoakApi } from "./_api.ts";
import type { Peer, Peers } from "./_peers.ts";
import { sleep } from "./_procs.ts";

/** The kinds of fault. */
export type FaultKind = "broker_restart" | "plc_kill" | "opcua_restart" | "disk_pressure" | "module_crash";

/** The infrastructure faults, in the order they take turns. */
export const INFRA_FAULTS: readonly FaultKind[] = [
  "broker_restart",
  "plc_kill",
  "opcua_restart",
  "disk_pressure",
];

/** One fault, as `soak.json` records it; times in seconds since the soak started, durations in ms. */
export interface FaultRecord {
  readonly kind: FaultKind;
  /** The connector or module that must recover. */
  readonly target: string;
  readonly at_s: number;
  /** How long the peer was down (0 for a module crash). */
  down_ms: number;
  /** When the fault ended: the peer listened again, or the crash event was answered. */
  ended_at_s: number | null;
  /** From the end of the fault to the target's recovery; null when it did not recover. */
  recovery_ms: number | null;
  readonly bound_ms: number;
  within_bound: boolean;
  /** Whether the fault took effect (the module trapped; the outbox reached its budget). */
  applied: boolean;
  /** Disk pressure: the outbox's figures during the outage. */
  outbox?: {
    budget_bytes: number;
    peak_size_bytes: number;
    dropped_during: number;
    reached_after_ms: number | null;
    drained_after_ms: number | null;
  };
  error: string | null;
}

/** What a fault needs. */
export interface FaultContext {
  readonly api: SoakApi;
  readonly peers: Peers;
  /** ms since the epoch when the soak started, for `at_s`. */
  readonly t0: number;
  readonly downMs: number;
  readonly pressureMaxMs: number;
  /** Each connector's `max_backoff_ms`, and the crasher's as `soak_crasher`. */
  readonly maxBackoffMs: Readonly<Record<string, number>>;
  readonly marginMs: number;
  /** Ends the waits early when the soak is being stopped. */
  readonly signal: AbortSignal;
}

/** How long past its bound a target is still watched, so "recovered eventually" can be told from "never". */
const WATCH_PAST_BOUND_MS = 60_000;

/** Polls `ready` every `everyMs` until it is true or `limitMs` passed; the ms it took, or null. */
async function pollUntil(
  ready: () => Promise<boolean>,
  limitMs: number,
  everyMs: number,
  signal: AbortSignal,
): Promise<number | null> {
  const t0 = Date.now();
  while (Date.now() - t0 <= limitMs && !signal.aborted) {
    try {
      if (await ready()) return Date.now() - t0;
    } catch { /* the API was busy or restarting: counted by the client, try again */ }
    await sleep(everyMs);
  }
  return null;
}

/** Starts a peer again, retrying a few times (a port still held by the kernel for a moment). */
async function restart(peer: Peer): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      return await peer.start();
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(1000 * attempt);
    }
  }
}

const connectorIs = (api: SoakApi, name: string, state: string) => async () =>
  (await api.connectors()).find((c) => c.name === name)?.state === state;

/** Runs one fault and measures its recovery. Never throws: a failure is recorded in the record's `error`. */
export async function runFault(kind: FaultKind, ctx: FaultContext): Promise<FaultRecord> {
  const target = {
    broker_restart: "mqtt",
    disk_pressure: "mqtt",
    plc_kill: "plc",
    opcua_restart: "ua",
    module_crash: "soak_crasher",
  }[kind];
  const bound = (ctx.maxBackoffMs[target] ?? 30_000) + ctx.marginMs;
  const record: FaultRecord = {
    kind,
    target,
    at_s: (Date.now() - ctx.t0) / 1000,
    down_ms: 0,
    ended_at_s: null,
    recovery_ms: null,
    bound_ms: bound,
    within_bound: false,
    applied: true,
    error: null,
  };
  try {
    if (kind === "module_crash") await crash(record, ctx);
    else await outage(kind, record, ctx);
  } catch (err) {
    record.error = (err as Error).message;
  }
  if (ctx.signal.aborted && record.recovery_ms === null) {
    record.error ??= "the soak was stopped before it recovered";
  }
  record.within_bound = record.recovery_ms !== null && record.recovery_ms <= bound && record.applied;
  return record;
}

async function crash(record: FaultRecord, ctx: FaultContext): Promise<void> {
  const { api } = ctx;
  const before = (await api.modules()).find((m) => m.name === record.target);
  if (!before) throw new Error(`No module "${record.target}"`);
  const res = await api.request("POST", `/api/v1/modules/${record.target}/events`, "trap");
  const ended = Date.now();
  record.ended_at_s = (ended - ctx.t0) / 1000;
  if (res.status !== 200) throw new Error(`The crash event was answered ${res.status}`);
  let trapped = false;
  const took = await pollUntil(
    async () => {
      const m = (await api.modules()).find((x) => x.name === record.target);
      trapped ||= m !== undefined && m.traps > before.traps;
      return m !== undefined && m.restarts > before.restarts && m.state === "running";
    },
    record.bound_ms + WATCH_PAST_BOUND_MS,
    100,
    ctx.signal,
  );
  record.applied = trapped;
  record.recovery_ms = took === null ? null : Date.now() - ended;
}

async function outage(kind: FaultKind, record: FaultRecord, ctx: FaultContext): Promise<void> {
  const { api, peers } = ctx;
  const peer = kind === "plc_kill" ? peers.plc : kind === "opcua_restart" ? peers.opcua : peers.broker;
  const down = Date.now();
  let before: Awaited<ReturnType<SoakApi["uplink"]>> | null = null;
  if (kind === "disk_pressure") before = await api.uplink();
  await peer.down();
  if (before !== null) {
    const dropped = (u: typeof before) => u.outbox.kinds.telemetry.dropped + u.outbox.kinds.batch.dropped;
    const outbox = {
      budget_bytes: before.outbox.diskBudgetBytes,
      peak_size_bytes: before.outbox.sizeBytes,
      dropped_during: 0,
      reached_after_ms: null as number | null,
      drained_after_ms: null as number | null,
    };
    record.outbox = outbox;
    const reached = await pollUntil(
      async () => {
        const u = await api.uplink();
        outbox.peak_size_bytes = Math.max(outbox.peak_size_bytes, u.outbox.sizeBytes);
        outbox.dropped_during = dropped(u) - dropped(before!);
        return outbox.dropped_during > 0;
      },
      ctx.pressureMaxMs,
      500,
      ctx.signal,
    );
    outbox.reached_after_ms = reached;
    record.applied = reached !== null;
    await sleep(2000, ctx.signal); // a little past the budget: more drops, all of them to be counted
  } else {
    await sleep(ctx.downMs, ctx.signal);
  }
  await restart(peer);
  const ended = Date.now();
  record.down_ms = ended - down;
  record.ended_at_s = (ended - ctx.t0) / 1000;
  const took = await pollUntil(
    connectorIs(api, record.target, "connected"),
    record.bound_ms + WATCH_PAST_BOUND_MS,
    200,
    ctx.signal,
  );
  record.recovery_ms = took === null ? null : Date.now() - ended;
  if (record.outbox && took !== null) {
    const drained = await pollUntil(
      async () => (await api.uplink()).outbox.depth === 0,
      120_000,
      500,
      ctx.signal,
    );
    record.outbox.drained_after_ms = drained === null ? null : Date.now() - ended;
  }
}

/**
 * Runs faults of `kinds` in turn, one every `everyMs` from `startMs`, until `endMs` (ms since the epoch) or
 * `signal`; each record is passed to `onRecord`. A fault that runs past its slot (a disk-pressure outage)
 * makes the next one wait for the next slot: missed slots are skipped, never caught up in a burst.
 */
export async function faultLoop(
  kinds: readonly FaultKind[],
  schedule: { readonly everyMs: number; readonly startMs: number; readonly endMs: number },
  ctx: FaultContext,
  onRecord: (r: FaultRecord) => void,
): Promise<void> {
  const { everyMs, startMs, endMs } = schedule;
  for (let slot = 1, n = 0;; slot++, n++) {
    slot = Math.max(slot, Math.ceil((Date.now() - startMs) / everyMs));
    const due = startMs + slot * everyMs;
    if (due >= endMs || ctx.signal.aborted) return;
    await sleep(due - Date.now(), ctx.signal);
    if (ctx.signal.aborted) return;
    onRecord(await runFault(kinds[n % kinds.length]!, ctx));
  }
}
