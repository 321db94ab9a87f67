/**
 * An executor's 10 Hz report, taken in by the runtime: module statistics, outputs and arrays into their
 * slots; alerts, published messages and logs into the journal, the uplink and the log; capability denials
 * and uses into the audit log; actuator writes carried out. As each is taken in, it is emitted on the
 * runtime's telemetry (`telemetry.ts`): every output a call set (with the call's time, when the executor sends
 * the period's outputs in order), the arrays, each alert, log line and message. Private to `runtime/`.
 *
 * Everything a module sent is charged to its slot's `HeldAccount` (`_held_account.ts`) first, defence in
 * depth behind the executor's account (`executor/account.ts`): what is over a limit is dropped and counted in the
 * module's `throttled`, so the runtime keeps a bounded amount per module whatever an executor sends. A module's
 * denials are written to the audit log at most `audit_rows_per_min` rows a minute, the rest counted in a
 * summary row; a module whose share of the outbox is full is told to its executor, whose `kiln.publish`
 * then returns `KILN_ELIMIT` until the broker has acknowledged half of it.
 *
 * @module
 */
import type { AuditLog } from "../snapshots/mod.ts";
import type { LogEntry } from "../log_text.ts";
import { type ActuatorContext, carryOut } from "./io/actuators.ts";
import { DEFAULT_ACCOUNT_LIMITS, SUPPRESSED_DENIALS } from "./executor/account.ts";
import type { Journal } from "./persistence/journal.ts";
import type { AlertEvent, FromExecutor, OutboundMessage, OutputPoint } from "./executor/protocol.ts";
export type { OutputPoint };
import type { ModuleSlot as Slot } from "./_slot.ts";
import type { Telemetry } from "./telemetry.ts";
import type { Uplink, UplinkResult } from "./uplink/uplink.ts";
import { markFirstOutput } from "./_startup_marks.ts";

/** The longest log line kept, in characters (a WASI line is cut at 4 KiB, a `kiln.log` line at 1 KiB). */
const MAX_LOG_CHARS = 4096;
const utf8 = new TextEncoder();

/** Where a report goes. */
export interface ReportContext {
  slot(module: string): Slot | undefined;
  /**
   * The slot whose instance the report's figures (stats, outputs, arrays) come from: undefined when they
   * are a replaced instance's (a swapped-out version's last report). Without it, `slot`.
   */
  current?(module: string): Slot | undefined;
  journal: Journal;
  uplink: Uplink | null;
  audit: AuditLog | null;
  actuators: ActuatorContext;
  /** Kiln's own lines as strings; what a module caused as a record (its text escaped, marked its own). */
  log(entry: LogEntry): void;
  /**
   * Tells the executor that sent the report which of its modules have a full share of the outbox (every
   * one of them, each time the set changes): `{ type: "outbox", full }`. Without it, their messages are
   * still refused here, but their `kiln.publish` returns `KILN_OK`.
   */
  setOutboxFull?(full: string[]): void;
  /** Where what the report brings is emitted as it is taken in; nothing is emitted without it. */
  telemetry?: Telemetry;
}

/**
 * A report. `outputSeries`, when the executor sends it, holds every scalar output its modules' calls set in
 * the period, in order, per module (`outputs` holds only the latest of each key): with it, telemetry carries
 * every value, without it one set of outputs per module per report.
 */
type Report = Extract<FromExecutor, { type: "report" }>;
type DenialRecord = Parameters<AuditLog["recordDenials"]>[0][number];

/** Takes in one report. A module that is not running keeps its last statistics. */
export function applyReport(r: Report, ctx: ReportContext): void {
  const current = ctx.current ?? ctx.slot;
  for (const [name, stats] of Object.entries(r.stats)) {
    const slot = current(name);
    slot?.reported(stats);
  }
  const at = Date.now();
  for (const [name, values] of Object.entries(r.outputs)) {
    const slot = current(name);
    markFirstOutput(name, r.outputSeries?.[name] ?? [], at);
    if (slot) takeOutputs(slot, values, r.outputSeries?.[name] ?? [], at, ctx);
  }
  const telemetry = ctx.telemetry?.active ? ctx.telemetry : null;
  for (const [name, values] of Object.entries(r.arrays)) {
    const slot = current(name);
    if (!slot) continue;
    for (const [key, v] of Object.entries(values)) slot.account.setArray(key, v);
    telemetry?.emit({
      type: "arrays",
      module: name,
      at,
      arrays: Object.assign(Object.create(null) as Record<string, Float32Array>, slot.arrays),
    });
  }
  for (const a of r.alerts) takeAlert(a, ctx);
  takeDenials(r, ctx);
  for (const [module, uses] of Object.entries(r.uses)) ctx.audit?.addUses(module, uses);
  carryOut(r.writes, ctx.actuators);
  for (const m of r.messages) takeMessage(m, ctx);
  for (const l of r.logs) {
    const slot = ctx.slot(l.module);
    if (!slot || !slot.account.allowLog(l.message.length)) continue;
    const line = l.message.length > MAX_LOG_CHARS ? { ...l, message: l.message.slice(0, MAX_LOG_CHARS) } : l;
    slot.logged(line);
    const seq = ctx.journal.numberLog();
    if (ctx.telemetry?.active) ctx.telemetry.emit({ type: "log", seq, line });
    if (line.level !== "debug") {
      ctx.log({ module: line.module, kind: "log", level: line.level, message: line.message, at: line.at });
    }
  }
  updateOutboxFull(r, ctx);
}

/**
 * A module's scalar outputs of one report. With `points` (its calls' outputs in order), each is kept in turn
 * with one telemetry event per call (points of one call share their time; a key set twice starts another
 * event), then the report's latest `values` wherever the points fell short (an executor caps them); without,
 * the latest `values`, in one event as of `at`. The uplink gets the latest kept values, as of `at`, once.
 */
function takeOutputs(
  slot: Slot,
  values: Readonly<Record<string, number>>,
  points: readonly OutputPoint[],
  at: number,
  ctx: ReportContext,
): void {
  const telemetry = ctx.telemetry?.active ? ctx.telemetry : null;
  const emit = (when: number) =>
    telemetry?.emit({
      type: "outputs",
      module: slot.plan.name,
      at: when,
      outputs: Object.assign(Object.create(null) as Record<string, number>, slot.outputs),
    });
  const kept: Record<string, number> = Object.create(null);
  let latest = false;
  if (points.length > 0) {
    let call: { at: number; keys: Set<string> } | null = null;
    for (const [key, value, when] of points) {
      if (call && (call.at !== when || call.keys.has(key))) {
        emit(call.at);
        call = null;
      }
      if (!slot.account.setOutput(key, value)) continue;
      call ??= { at: when, keys: new Set() };
      call.keys.add(key);
    }
    if (call) emit(call.at);
  }
  for (const [key, value] of Object.entries(values)) {
    const held = Object.hasOwn(slot.outputs, key);
    if (points.length > 0 && held && Object.is(slot.outputs[key], value)) kept[key] = value;
    else if (points.length > 0 && !held && points.some(([k]) => k === key)) continue; // refused above
    else if (slot.account.setOutput(key, value)) {
      kept[key] = value;
      latest = true;
    }
  }
  if (latest) emit(at);
  ctx.uplink?.addOutputs(slot.plan.name, kept, at);
}

/** An alert within the module's alert rate: to the journal, the uplink (within its share) and the log. */
function takeAlert(a: AlertEvent, ctx: ReportContext): void {
  const slot = ctx.slot(a.module);
  if (!slot || !slot.account.allowAlert()) return;
  const alert = a.message.length > MAX_LOG_CHARS ? { ...a, message: a.message.slice(0, MAX_LOG_CHARS) } : a;
  const numbered = ctx.journal.addAlert(alert);
  if (ctx.telemetry?.active) ctx.telemetry.emit({ type: "alert", alert: numbered });
  const sent = ctx.uplink?.publishAlert(alert, { outboxShare: slot.account.limits.outboxShare });
  if (sent !== undefined) chargeOutbox(slot, sent);
  ctx.log({
    module: alert.module,
    kind: "alert",
    level: alert.severity,
    message: alert.message,
    at: alert.at,
  });
}

/** A message within the module's publish rates and topics: to the uplink (within its share) and the journal. */
function takeMessage(m: OutboundMessage, ctx: ReportContext): void {
  const slot = ctx.slot(m.module);
  if (!slot || !slot.account.allowPublish(m.topic, utf8.encode(m.topic).length + m.payload.length)) return;
  const sent = ctx.uplink?.publishMessage(m, { outboxShare: slot.account.limits.outboxShare });
  if (sent !== undefined && !chargeOutbox(slot, sent)) return;
  const kept = ctx.journal.addMessage(m);
  if (ctx.telemetry?.active) ctx.telemetry.emit({ type: "message", message: kept });
}

/** Counts a message refused for the module's outbox share, and marks the share full; false for one. */
function chargeOutbox(slot: Slot, result: UplinkResult): boolean {
  if (result !== "over_share") return true;
  slot.account.count("outbox");
  slot.account.outboxFull = true;
  return false;
}

/**
 * A module's share stays full until the broker has acknowledged half of it (so the executor is not told
 * on every message); the reporting executor hears of every change among its modules.
 */
function updateOutboxFull(r: Report, ctx: ReportContext): void {
  const uplink = ctx.uplink;
  if (!uplink) return;
  let changed = false;
  const full: string[] = [];
  for (const name of Object.keys(r.stats)) {
    const account = ctx.slot(name)?.account;
    if (!account) continue;
    if (account.outboxFull) {
      const share = uplink.shareBytes(account.limits.outboxShare);
      if (uplink.outboxBytes(name) <= share / 2) account.outboxFull = false;
    }
    if (account.outboxFull) full.push(name);
    if (account.outboxFull !== account.outboxFullSent) {
      account.outboxFullSent = account.outboxFull;
      changed = true;
    }
  }
  if (changed) ctx.setOutboxFull?.(full);
}

/**
 * Counts every denial for its module, writes at most the module's `audit_rows_per_min` a minute to the
 * audit log (the rest in summary rows), and logs what was written.
 */
function takeDenials(r: Report, ctx: ReportContext): void {
  const records: DenialRecord[] = [];
  for (const d of r.denials) {
    const slot = ctx.slot(d.module);
    slot?.denied(d.count);
    // Folded by the executor's account: counted (there), never a row of its own.
    records.push(d.capability === SUPPRESSED_DENIALS ? { ...d, suppressed: true } : { ...d });
  }
  const audit = ctx.audit;
  if (!audit) {
    // No audit log: only the log line, as many a minute as the audit log would have rows.
    for (const d of records) {
      if (!d.suppressed && (ctx.slot(d.module)?.account.allowDenialLine() ?? false)) logDenial(d, ctx);
    }
    return;
  }
  const rowsPerMin = (module: string) =>
    ctx.slot(module)?.account.limits.auditRowsPerMin ?? DEFAULT_ACCOUNT_LIMITS.auditRowsPerMin;
  const { written, summaries } = records.length > 0
    ? audit.recordDenials(records, { rowsPerMin })
    : { written: [], summaries: audit.flushSuppressed() };
  const kept = new Set(written);
  for (const d of records) {
    if (kept.has(d)) logDenial(d, ctx);
    else if (!d.suppressed) ctx.slot(d.module)?.account.count("audit", d.count);
  }
  for (const s of summaries) {
    ctx.log({
      module: s.module,
      kind: "denial",
      level: "warn",
      message: "more denials suppressed",
      count: s.count,
    });
  }
}

function logDenial(d: DenialRecord, ctx: ReportContext): void {
  ctx.log({
    module: d.module,
    kind: "denial",
    level: "warn",
    message: `${d.detail} needs "${d.capability}"`,
    count: d.count,
  });
}
