import { formatLogLine } from "../log_text.ts";
import assert from "node:assert/strict";
import { AuditLog, openStore } from "../snapshots/mod.ts";
import { modulePlan } from "../tests/_helpers.ts";
import { DEFAULT_ACCOUNT_LIMITS, SUPPRESSED_DENIALS } from "./executor/account.ts";
import { Journal } from "./persistence/journal.ts";
import type { FromExecutor } from "./executor/protocol.ts";
import { applyReport, type OutputPoint, type ReportContext } from "./_reports.ts";
import { Telemetry, type TelemetryEvent } from "./telemetry.ts";
import { ModuleSlot as Slot } from "./_slot.ts";
import type { LoadedModule } from "./loader.ts";

type Report = Extract<FromExecutor, { type: "report" }>;

/** A running slot for a module named `name`, with `limits` over the defaults. */
function slotFor(name: string, limits: Partial<typeof DEFAULT_ACCOUNT_LIMITS> = {}): Slot {
  const plan = modulePlan({ name, wasm: "/dev/null", account: { ...DEFAULT_ACCOUNT_LIMITS, ...limits } });
  const slot = new Slot({ plan, sha256: "0".repeat(64), sizeBytes: 0 } as LoadedModule);
  slot.starting();
  slot.running(0);
  return slot;
}

function report(over: Partial<Report>): Report {
  return {
    type: "report",
    stats: {},
    outputs: {},
    arrays: {},
    alerts: [],
    logs: [],
    denials: [],
    uses: {},
    writes: [],
    messages: [],
    ...over,
  };
}

function context(slots: Slot[], over: Partial<ReportContext> = {}): ReportContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    slot: (name) => slots.find((s) => s.plan.name === name),
    journal: new Journal(),
    uplink: null,
    audit: null,
    actuators: {
      slot: () => undefined,
      sources: { gpioDriven: () => {}, setGpio: () => false },
      connectors: { driver: () => null },
      log: () => {},
    },
    log: (entry) => lines.push(formatLogLine(entry, { format: "text" })),
    lines,
    ...over,
  };
}

Deno.test("the runtime keeps a bounded number of a module's output keys and array bytes, whatever a report holds", () => {
  const slot = slotFor("flood");
  const ctx = context([slot]);
  const outputs: Record<string, number> = {};
  for (let i = 0; i < 1000; i++) outputs[`k${i}`] = i;
  const arrays: Record<string, Float32Array> = {};
  for (let i = 0; i < 100; i++) arrays[`a${i}`] = new Float32Array(4096);
  applyReport(report({ outputs: { flood: outputs }, arrays: { flood: arrays } }), ctx);
  applyReport(report({ outputs: { flood: { k0: -1, fresh: 1 } } }), ctx);

  const status = slot.status(null);
  assert.equal(Object.keys(status.outputs).length, DEFAULT_ACCOUNT_LIMITS.maxOutputKeys);
  assert.equal(status.outputs.k0, -1, "a key it holds still updates");
  assert.equal(status.throttled.outputs, 1000 - DEFAULT_ACCOUNT_LIMITS.maxOutputKeys + 1);
  const bytes = Object.values(slot.arrays).reduce((n, a) => n + a.byteLength, 0);
  assert.ok(bytes <= DEFAULT_ACCOUNT_LIMITS.maxArrayBytes);
  assert.equal(Object.keys(slot.arrays).length, DEFAULT_ACCOUNT_LIMITS.maxArrayBytes / (4096 * 4));
  assert.equal(status.throttled.arrays, 100 - Object.keys(slot.arrays).length);
  assert.deepEqual(status.account.held, {
    output_keys: DEFAULT_ACCOUNT_LIMITS.maxOutputKeys,
    array_keys: 16,
    array_bytes: DEFAULT_ACCOUNT_LIMITS.maxArrayBytes,
    topics: 0,
  });
});

Deno.test("log lines, alerts and messages over a module's rates are dropped and counted, not kept", () => {
  const slot = slotFor("flood");
  const neighbour = slotFor("good");
  const ctx = context([slot, neighbour]);
  const at = Date.now();
  const n = 5000;
  applyReport(
    report({
      logs: Array.from(
        { length: n },
        (_, i) => ({ module: "flood", level: "info" as const, message: `${i}`, at }),
      ),
      alerts: Array.from(
        { length: n },
        () => ({ module: "flood", severity: "critical" as const, message: "x", at }),
      ),
      messages: Array.from({ length: n }, (_, i) => ({
        module: "flood",
        topic: `t/${i % 100}`,
        payload: new Uint8Array(8),
        at,
      })),
    }),
    ctx,
  );
  applyReport(
    report({ logs: [{ module: "good", level: "info", message: "still here", at }] }),
    ctx,
  );
  const t = slot.status(null).throttled;
  // The runtime allows twice the executor's burst; a second of refill is margin for a slow machine.
  const within = (kept: number, perS: number) => kept >= 2 * perS && kept <= 3 * perS;
  assert.ok(within(n - t.logs, DEFAULT_ACCOUNT_LIMITS.logLinesPerS), `${n - t.logs} lines kept`);
  assert.ok(within(n - t.alerts, DEFAULT_ACCOUNT_LIMITS.alertsPerS), `${n - t.alerts} alerts kept`);
  assert.equal(ctx.journal.listAlerts().length, n - t.alerts);
  assert.equal(ctx.journal.listMessages().length, n - t.publish);
  assert.ok(within(n - t.publish, DEFAULT_ACCOUNT_LIMITS.publishPerS), `${n - t.publish} messages kept`);
  assert.equal(slot.account.held().topics, DEFAULT_ACCOUNT_LIMITS.maxPublishTopics);
  assert.deepEqual(neighbour.logs.map((l) => l.message), ["still here"], "the neighbour's line is kept");
  assert.equal(ctx.lines.filter((l) => l.startsWith("module=flood kind=log ")).length, n - t.logs);
});

Deno.test("denials are counted exactly and written at most the module's audit rows a minute", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln-reports-" });
  using store = openStore(`${dir}/kiln.db`);
  const audit = new AuditLog(store);
  const slot = slotFor("flood", { auditRowsPerMin: 5 });
  const ctx = context([slot], { audit });
  let total = 0;
  for (let r = 0; r < 10; r++) {
    const denials = Array.from({ length: 30 }, (_, i) => ({
      module: "flood",
      capability: `write:mqtt:t/${r}/${i}`,
      detail: `publish("t/${r}/${i}", 1 bytes)`,
      count: 2,
    }));
    denials.push({ module: "flood", capability: SUPPRESSED_DENIALS, detail: "suppressed", count: 7 });
    total += 30 * 2 + 7;
    applyReport(report({ denials }), ctx);
  }
  const status = slot.status(null);
  assert.equal(status.denials, total);
  assert.equal(audit.listEvents({ module: "flood", kind: "denial" }).length, 5);
  assert.equal(
    status.throttled.audit,
    (300 - 5) * 2,
    "the runtime counts what it folded (the executor its own)",
  );
  const counted = audit.listUses("flood").reduce((n, u) => n + u.denials, 0);
  assert.equal(
    counted + audit.pendingSuppressed("flood"),
    total,
    "written and pending add up to every denial",
  );
  assert.equal(
    ctx.lines.filter((l) => l.startsWith("module=flood kind=denial ")).length,
    5,
    "and the log has as many lines",
  );
});

Deno.test("without an audit log, denial lines are limited to the module's audit rows a minute", () => {
  const slot = slotFor("flood", { auditRowsPerMin: 4 });
  const ctx = context([slot]);
  const denials = Array.from({ length: 100 }, (_, i) => ({
    module: "flood",
    capability: `read:gpio:pin_${i}`,
    detail: `gpio_read(${i})`,
    count: 1,
  }));
  applyReport(report({ denials }), ctx);
  assert.equal(slot.status(null).denials, 100);
  assert.equal(ctx.lines.length, 4);
});

/** A context whose telemetry records every event. */
function listening(slots: Slot[]): { ctx: ReportContext; events: TelemetryEvent[] } {
  const telemetry = new Telemetry();
  const events: TelemetryEvent[] = [];
  telemetry.subscribe((e) => events.push(e));
  return { ctx: context(slots, { telemetry }), events };
}

Deno.test("every output a report carries in order is emitted, one event per call with the call's time", () => {
  const slot = slotFor("m");
  const { ctx, events } = listening([slot]);
  const outputSeries: Record<string, OutputPoint[]> = {
    m: [["a", 1, 100], ["b", 10, 100], ["a", 2, 140], ["a", 3, 140], ["b", 30, 180]],
  };
  applyReport({ ...report({ outputs: { m: { a: 3, b: 30 } } }), outputSeries }, ctx);
  const outputs = events.filter((e) => e.type === "outputs");
  assert.deepEqual(outputs.map((e) => [e.at, { ...e.outputs }]), [
    [100, { a: 1, b: 10 }],
    [140, { a: 2, b: 10 }],
    [140, { a: 3, b: 10 }], // the same key twice in one millisecond: two values, two events
    [180, { a: 3, b: 30 }],
  ]);
  assert.deepEqual({ ...slot.outputs }, { a: 3, b: 30 });
});

Deno.test("outputs past an executor's cap on points still end at the report's latest values", () => {
  const slot = slotFor("m");
  const { ctx, events } = listening([slot]);
  applyReport({ ...report({ outputs: { m: { a: 9, c: 1 } } }), outputSeries: { m: [["a", 1, 100]] } }, ctx);
  const outputs = events.filter((e) => e.type === "outputs");
  assert.equal(outputs.length, 2);
  assert.deepEqual({ ...outputs[1]!.outputs }, { a: 9, c: 1 });
  assert.deepEqual({ ...slot.outputs }, { a: 9, c: 1 });
});

Deno.test("a report without the order of its outputs is emitted as one set of outputs per module", () => {
  const slot = slotFor("m");
  const { ctx, events } = listening([slot]);
  applyReport(report({ outputs: { m: { a: 3 } }, arrays: { m: { s: new Float32Array([1, 2]) } } }), ctx);
  assert.deepEqual(events.map((e) => e.type), ["outputs", "arrays"]);
});

Deno.test("alerts, log lines and messages are emitted with their sequence numbers as they are kept", () => {
  const slot = slotFor("m");
  const { ctx, events } = listening([slot]);
  const at = Date.now();
  applyReport(
    report({
      alerts: [{ module: "m", severity: "warning", message: "hot", at }],
      logs: [
        { module: "m", level: "info", message: "one", at },
        { module: "m", level: "debug", message: "two", at },
      ],
      messages: [{ module: "m", topic: "t", payload: new TextEncoder().encode("hi"), at }],
    }),
    ctx,
  );
  const numbered = events.map((e) => {
    if (e.type === "alert") return [e.type, e.alert.seq];
    if (e.type === "message") return [e.type, e.message.seq];
    return [e.type, e.type === "log" ? e.seq : null];
  });
  assert.deepEqual(numbered, [["alert", 1], ["message", 1], ["log", 1], ["log", 2]]);
});
