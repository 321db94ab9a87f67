/**
 * An executor's 10 Hz report, taken in by the runtime: module statistics, outputs and arrays into their
 * slots; alerts, published messages and logs into the journal, the uplink and the log; capability denials
 * and uses into the audit log; actuator writes carried out. Private to `runtime/`.
 *
 * @module
 */
import type { AuditLog } from "../snapshots/mod.ts";
import { type ActuatorContext, carryOut } from "./_actuators.ts";
import type { Journal } from "./_journal.ts";
import type { FromExecutor } from "./_protocol.ts";
import type { Slot } from "./_slot.ts";
import type { Uplink } from "./uplink.ts";

/** Log lines kept per module for `GET /api/v1/modules/{name}/logs`. */
const MAX_LOGS_PER_MODULE = 200;

/** Where a report goes. */
export interface ReportContext {
  slot(module: string): Slot | undefined;
  journal: Journal;
  uplink: Uplink | null;
  audit: AuditLog | null;
  actuators: ActuatorContext;
  log(line: string): void;
}

/** Takes in one report. A module that is not running keeps its last statistics. */
export function applyReport(r: Extract<FromExecutor, { type: "report" }>, ctx: ReportContext): void {
  for (const [name, stats] of Object.entries(r.stats)) {
    const slot = ctx.slot(name);
    if (slot?.state === "running") slot.stats = stats;
  }
  const at = Date.now();
  for (const [name, values] of Object.entries(r.outputs)) {
    const slot = ctx.slot(name);
    if (slot) Object.assign(slot.outputs, values);
    ctx.uplink?.addOutputs(name, values, at);
  }
  for (const [name, values] of Object.entries(r.arrays)) {
    const slot = ctx.slot(name);
    if (slot) Object.assign(slot.arrays, values);
  }
  for (const a of r.alerts) {
    ctx.journal.addAlert(a);
    ctx.uplink?.publishAlert(a);
    ctx.log(`ALERT ${a.severity} ${a.module}: ${a.message}`);
  }
  if (r.denials.length > 0) {
    for (const d of r.denials) {
      const slot = ctx.slot(d.module);
      if (slot) slot.denials += d.count;
      ctx.log(
        `denied ${d.module}: ${d.detail} needs "${d.capability}"${d.count > 1 ? ` (x${d.count})` : ""}`,
      );
    }
    ctx.audit?.record(r.denials.map((d) => ({
      module: d.module,
      kind: "denial" as const,
      capability: d.capability,
      detail: d.count > 1 ? `${d.detail} x${d.count}` : d.detail,
      count: d.count,
    })));
  }
  for (const [module, uses] of Object.entries(r.uses)) ctx.audit?.addUses(module, uses);
  carryOut(r.writes, ctx.actuators);
  for (const m of r.messages) {
    ctx.journal.addMessage(m);
    ctx.uplink?.publishMessage(m);
  }
  for (const l of r.logs) {
    const slot = ctx.slot(l.module);
    if (!slot) continue;
    slot.logs.push(l);
    if (slot.logs.length > MAX_LOGS_PER_MODULE) slot.logs.shift();
    if (l.level !== "debug") ctx.log(`[${l.module}] ${l.level}: ${l.message}`);
  }
}
