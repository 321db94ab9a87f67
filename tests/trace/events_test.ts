/**
 * Per-invocation trace events from a real runtime: what each handler call of a small metered module shows
 * (numbering, instructions, memory growth, capability uses, outcomes), and the main thread's ring.
 */
import assert from "node:assert/strict";
import { TraceStore } from "../../runtime/trace/mod.ts";
import { CallTracer, TraceQueue } from "../../runtime/executor/trace_collector.ts";
import { ModuleTrap } from "../../runtime/executor/traps.ts";
import { waitFor } from "../_helpers.ts";
import {
  ERROR_TICK,
  GROW_TICK,
  runtimeWith,
  STEPS_WAT,
  TICKER_WAT,
  traceEvent,
  TRAP_TICK,
} from "./_fixtures.ts";

Deno.test("each handler call of a metered module is traced in order, with its instructions, memory growth, capability uses and outcome", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, STEPS_WAT);
    await rt.start();
    await waitFor("the trap's trace event", () => rt.traces.list("steps").some((e) => e.outcome === "trap"));
    const events = rt.traces.list("steps");
    assert.equal(events.length, TRAP_TICK, "one event per call, the trapping one included");
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), "seq counts from 1 without gaps");
    assert.deepEqual(events.map((e) => e.invocation), events.map((_, i) => i + 1));
    assert.ok(events.every((e) => e.handler === "kiln_on_tick"));
    assert.ok(events.every((e, i) => i === 0 || e.startMs >= events[i - 1]!.startMs), "started in order");
    assert.ok(events.every((e) => e.durationUs >= 0));
    assert.ok(events.every((e) => e.load !== null && e.load === events[0]!.load), "one instance's calls");
    for (const e of events) {
      assert.equal(typeof e.instructions, "number", `call ${e.invocation} counts instructions (fuel mode)`);
      assert.ok(e.instructions! > 0);
      assert.deepEqual({ ...e.uses }, { "read:gpio:pin_1": 1 }, `call ${e.invocation} read the pin once`);
    }
    assert.deepEqual(
      events.map((e) => e.allocBytes),
      events.map((_, i) => i + 1 === GROW_TICK ? 65_536 : 0),
      "only the call that ran memory.grow allocated, one page",
    );
    assert.deepEqual(
      events.map((e) => [e.outcome, e.code]),
      events.map((_, i) =>
        i + 1 === ERROR_TICK ? ["error", "7"] : i + 1 === TRAP_TICK ? ["trap", "unreachable"] : ["ok", null]
      ),
    );
    assert.equal(rt.getModule("steps")!.state, "failed", "restart policy never: the trap ended it");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without fuel a trace event has no instruction count, and sampling traces every Nth call", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, TICKER_WAT, { name: "ticker", fuel: null, periodUs: 2_000 });
    rt.traces.configure({ every: 3 });
    await rt.start();
    await waitFor("four traced calls", () => rt.traces.list("ticker").length >= 4);
    const events = rt.traces.list("ticker").slice(0, 4);
    assert.deepEqual(events.map((e) => e.invocation), [3, 6, 9, 12], "every third call of the instance");
    assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4], "numbered without gaps all the same");
    assert.ok(events.every((e) => e.instructions === null));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with tracing off (every: 0) no call is traced", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using rt = await runtimeWith(dir, TICKER_WAT, { name: "ticker", periodUs: 2_000 });
    rt.traces.configure({ every: 0 });
    await rt.start();
    await waitFor("twenty calls", () => rt.getModule("ticker")!.invocations >= 20);
    await waitFor("a report after them", () => rt.getModule("ticker")!.invocations >= 40);
    assert.deepEqual(rt.traces.list("ticker"), []);
    assert.equal(rt.traces.stats().received, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a call interrupted at its fuel limit is traced as budget_exceeded", () => {
  const queue = new TraceQueue();
  const tracer = new CallTracer(queue, "m", 1);
  const start = tracer.begin(1, 65_536)!;
  const trap = new ModuleTrap({ kind: "fuel_exhausted", function: "f", message: "fuel exhausted" });
  tracer.end("kiln_on_tick", start, { rc: 0, thrown: trap, instructions: 1001, memoryBytes: 65_536 });
  const [e] = queue.take().traces;
  assert.equal(e?.outcome, "budget_exceeded");
  assert.equal(e?.code, "fuel_exhausted");
  assert.equal(e?.instructions, 1001);
});

Deno.test("an executor's trace queue is bounded per report and counts what it drops", () => {
  const queue = new TraceQueue(3);
  const tracer = new CallTracer(queue, "m", 1);
  for (let i = 1; i <= 5; i++) {
    tracer.end("kiln_on_tick", tracer.begin(i, 0)!, {
      rc: 0,
      thrown: null,
      instructions: null,
      memoryBytes: 0,
    });
  }
  const taken = queue.take();
  assert.deepEqual(taken.traces.map((e) => e.invocation), [1, 2, 3]);
  assert.equal(taken.dropped, 2);
  assert.deepEqual(queue.take(), { traces: [], dropped: 0 }, "a take empties it");
});

Deno.test("the store keeps the last N events per module, numbered per module, and lists them since a seq", () => {
  const store = new TraceStore({ ringSize: 4 });
  const raw = (module: string, invocation: number) => {
    const { seq: _seq, load: _load, ...t } = traceEvent(module, invocation);
    return t;
  };
  store.take({ traces: [1, 2, 3].map((i) => raw("a", i)), loads: { a: 7 } });
  store.take({ traces: [raw("b", 1), ...[4, 5, 6].map((i) => raw("a", i))], tracesDropped: 2 });
  assert.deepEqual(store.list("a").map((e) => e.seq), [3, 4, 5, 6], "the ring holds the newest four");
  assert.deepEqual(store.list("b").map((e) => e.seq), [1], "each module numbers from 1");
  assert.deepEqual(store.list("a", { sinceSeq: 4, limit: 1 }).map((e) => e.seq), [5]);
  assert.equal(store.list("a")[0]!.load, 7, "the load id of the report that carried it");
  assert.equal(store.list("a")[3]!.load, null);
  assert.equal(store.nextSeq("a"), 7);
  assert.deepEqual(store.list("nobody"), []);
  assert.deepEqual(store.stats(), { received: 7, droppedByExecutors: 2, evicted: 2, modules: 2 });
  assert.equal(new TraceStore().every, 0, "tracing is off by default");
  assert.throws(() => store.configure({ ringSize: 0 }), RangeError);
  assert.throws(() => store.configure({ every: -1 }), RangeError);
});
