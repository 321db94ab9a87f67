import assert from "node:assert/strict";
import { apiPorts } from "../../api/mod.ts";
import { StreamFeed, type StreamFeedSource, StreamHub, type StreamSocket } from "../../api/stream/mod.ts";
import {
  createRuntime,
  type Health,
  type LogEvent,
  type ModuleStatus,
  Telemetry,
} from "../../runtime/mod.ts";
import { deploymentPlan, modulePlan, streamModuleWat, waitFor, wat, writeFixture } from "../_helpers.ts";
import { assertSeqFromOne, Client, RecordingSocket, serve } from "./_stream_client.ts";

/** A runtime that changes only when the test says so, with the real telemetry bus. */
class FakeRuntime implements StreamFeedSource {
  statuses: ModuleStatus[] = [status("fft"), status("temp")];
  state: Health = {
    status: "ok",
    version: "test",
    device: { id: "gw", location: null },
    uptime_s: 1,
    modules: { starting: 0, running: 2, stopped: 0, crashed: 0, failed: 0 },
  };
  readonly telemetry = new Telemetry();
  readonly modules = { listModules: () => this.statuses.map((m) => ({ ...m })) };
  readonly observability = { health: () => ({ ...this.state }), telemetry: this.telemetry };
}

/** A module's status with the fields the feed reads; the rest do not matter here. */
function status(name: string, over: Partial<ModuleStatus> = {}): ModuleStatus {
  return {
    name,
    state: "running",
    last_error: null,
    restarts: 0,
    outputs: { value: 1 },
    invocations: 10,
    errors: 0,
    traps: 0,
    avg_us: 5,
    max_us: 9,
    memory_bytes: 65536,
    samples_in: 0,
    dropped_samples: 0,
    behind: null,
    deadline_misses: 0,
    budget_overruns: 0,
    denials: 0,
    ...over,
  } as ModuleStatus;
}

function log(module: string, message: string, at: number): LogEvent {
  return { module, level: "info", message, at };
}

Deno.test("the feed publishes the runtime's state at its start, then each event as it happens, once", async (t) => {
  const rt = new FakeRuntime();
  await using hub = new StreamHub();
  const feed = new StreamFeed(rt, hub);
  const socket = new RecordingSocket();
  hub.attach(socket as unknown as StreamSocket);
  feed.start();
  const bus = rt.telemetry;

  await t.step("a subscriber gets the retained state at once, and no old events", async () => {
    await socket.receive({
      type: "subscribe",
      topics: ["status", "health", "outputs/*", "alerts", "logs/*"],
    });
    assert.deepEqual(socket.frames.map((f) => f.topic), [
      "hello",
      "subscriptions",
      "status",
      "health",
      "outputs/fft",
      "outputs/temp",
    ]);
    assert.deepEqual(socket.frames[2]!.data.modules[0], {
      name: "fft",
      state: "running",
      last_error: null,
      restarts: 0,
    });
    assert.deepEqual(socket.frames[4]!.data, { value: 1 });
  });

  await t.step("every output is a frame with its call's time; unchanged state is not sent again", () => {
    const n = socket.frames.length;
    const outputs = (value: number) => Object.assign(Object.create(null), { value });
    bus.emit({
      type: "outputs",
      module: "fft",
      at: Date.parse("2025-01-01T00:00:00.010Z"),
      outputs: outputs(2),
    });
    bus.emit({
      type: "outputs",
      module: "fft",
      at: Date.parse("2025-01-01T00:00:00.050Z"),
      outputs: outputs(2),
    });
    // A report: fft's counters changed (nobody subscribed to them), its state did not; uptime alone is no change.
    bus.emit({
      type: "module",
      module: "fft",
      at: 1,
      cause: "report",
      status: status("fft", { invocations: 11 }),
    });
    rt.state.uptime_s = 2;
    bus.emit({ type: "health", at: 2, health: rt.observability.health() });
    assert.deepEqual(socket.since(n), [["outputs/fft", { value: 2 }], ["outputs/fft", { value: 2 }]]);
    assert.deepEqual(socket.frames.slice(n).map((f) => f.at), [
      "2025-01-01T00:00:00.010Z",
      "2025-01-01T00:00:00.050Z",
    ]);
  });

  await t.step("a transition, an alert and log lines are published once each", () => {
    const n = socket.frames.length;
    rt.state.status = "degraded";
    const crashed = status("temp", { state: "crashed", last_error: "unreachable", restarts: 1 });
    bus.emit({ type: "module", module: "temp", at: 3, cause: "transition", status: crashed });
    bus.emit({ type: "module", module: "temp", at: 4, cause: "report", status: crashed });
    const at = Date.parse("2025-01-02");
    bus.emit({ type: "alert", alert: { seq: 2, module: "temp", severity: "critical", message: "trip", at } });
    bus.emit({ type: "log", seq: 1, line: log("fft", "line 2", 2) });
    bus.emit({ type: "log", seq: 2, line: log("fft", "line 3", 3) });
    const frames = socket.since(n);
    assert.deepEqual(frames.map(([topic]) => topic), ["status", "health", "alerts", "logs/fft", "logs/fft"]);
    assert.deepEqual((frames[0]![1] as { modules: unknown[] }).modules[1], {
      name: "temp",
      state: "crashed",
      last_error: "unreachable",
      restarts: 1,
    });
    assert.equal((frames[1]![1] as Health).status, "degraded");
    assert.deepEqual(frames.slice(2).map(([, d]) => (d as { message: string }).message), [
      "trip",
      "line 2",
      "line 3",
    ]);
    assert.equal(socket.frames[n + 2]!.at, "2025-01-02T00:00:00.000Z", "an event's frame has its time");
  });

  await t.step(
    "arrays are published only while subscribed to; metrics and messages once subscribed",
    async () => {
      const arrays = (values: number[]) =>
        Object.assign(Object.create(null), { spectrum: new Float32Array(values) }) as Record<
          string,
          Float32Array
        >;
      bus.emit({ type: "arrays", module: "fft", at: 5, arrays: arrays([1, 2, 3]) }); // nobody reads them: not kept
      await socket.receive({ type: "subscribe", topics: ["arrays/fft", "metrics/temp", "messages/*"] });
      const n = socket.frames.length;
      assert.equal(socket.frames.at(-1)!.topic, "metrics/temp", "metrics are retained, arrays were not");
      bus.emit({ type: "arrays", module: "fft", at: 6, arrays: arrays([4, 5, 6]) });
      const message = {
        seq: 1,
        module: "temp",
        topic: "kiln/t",
        payload: "{}",
        encoding: "utf-8" as const,
        at: 5,
      };
      bus.emit({ type: "message", message });
      assert.deepEqual(socket.since(n), [
        ["arrays/fft", { spectrum: [4, 5, 6] }],
        ["messages/temp", { ...message, at: "1970-01-01T00:00:00.005Z" }], // the API's time format
      ]);
    },
  );

  await t.step("a removed module is forgotten; a deployed one's outputs are published", async () => {
    bus.emit({ type: "removed", module: "temp", at: 7 });
    bus.emit({
      type: "module",
      module: "fresh",
      at: 8,
      cause: "deployed",
      status: status("fresh", { outputs: {} }),
    });
    assert.deepEqual(
      socket.frames.findLast((f) => f.topic === "status")!.data.modules.map((m: { name: string }) => m.name),
      ["fft", "fresh"],
    );
    const late = new RecordingSocket();
    hub.attach(late as unknown as StreamSocket);
    await late.receive({ type: "subscribe", topics: ["outputs/*", "metrics/*"] });
    assert.deepEqual(late.frames.map((f) => f.topic).slice(2), [
      "outputs/fft",
      "metrics/fft",
      "outputs/fresh",
      "metrics/fresh",
    ]);
  });

  await t.step("once disposed, the feed no longer listens", async () => {
    await feed[Symbol.asyncDispose]();
    const n = socket.frames.length;
    assert.equal(bus.active, false);
    bus.emit({ type: "log", seq: 3, line: log("fft", "unheard", 9) });
    assert.equal(socket.frames.length, n);
  });
});

Deno.test("a real runtime's module outputs and state reach a WebSocket subscriber", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wasm = await writeFixture(dir, "count.wasm", wat(streamModuleWat()));
    await using rt = await createRuntime({
      plan: deploymentPlan([modulePlan({ name: "count", wasm })]),
      version: "test",
      log: () => {},
    });
    await rt.start();
    await using hub = new StreamHub();
    await using feed = new StreamFeed(apiPorts(rt), hub);
    feed.start();
    await using srv = serve(hub);
    await using c = await Client.open(srv.url);
    await c.subscribe("outputs/count", "status", "metrics/count");
    const state = await c.until("status", () => c.of("status")[0]);
    assert.deepEqual(state.data.modules.map((m: { name: string; state: string }) => [m.name, m.state]), [[
      "count",
      "running",
    ]]);
    // The first frame may be the module's outputs before its first window: `{}`.
    const counted = () => c.of("outputs/count").filter((f) => f.data.windows !== undefined);
    await c.until("three outputs", () => counted().length >= 3);
    const windows = counted().map((f) => f.data.windows as number);
    assert.ok(windows.every((w, i) => i === 0 || w > windows[i - 1]!), `windows rise: ${windows}`);
    await c.until("metrics", () => c.of("metrics/count").some((f) => f.data.invocations > 0));
    await rt.stopModule("count");
    await c.until("the stop", () => c.of("status").some((f) => f.data.modules[0].state === "stopped"));
    assertSeqFromOne(c.frames);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Outputs a 25 Hz module sets: one per tick, its tick count as `count`, for its first {@linkcode TICKS} ticks. */
const TICKS = 50;
const COUNTER = `(module
  (import "kiln" "output" (func $output (param i32 i32 f64) (result i32)))
  (memory (export "memory") 1)
  (global $ticks (mut f64) (f64.const 0))
  (data (i32.const 16) "count")
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $ticks (f64.add (global.get $ticks) (f64.const 1)))
    (if (f64.le (global.get $ticks) (f64.const ${TICKS}))
      (then (drop (call $output (i32.const 16) (i32.const 5) (global.get $ticks)))))
    (i32.const 0)))`;

Deno.test("every output of a 25 Hz module reaches a WebSocket subscriber, once and in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const wasm = await writeFixture(dir, "counter.wasm", wat(COUNTER));
    await using rt = await createRuntime({
      plan: deploymentPlan([
        modulePlan({
          name: "counter",
          wasm,
          schedule: { mode: "periodic", periodUs: 40_000, priority: 50 },
          enabled: false, // started once the subscriber listens, so that it sees the first tick's output too
        }),
      ]),
      version: "test",
      log: () => {},
    });
    await rt.start();
    await using hub = new StreamHub();
    await using feed = new StreamFeed(apiPorts(rt), hub);
    feed.start();
    await using srv = serve(hub);
    await using c = await Client.open(srv.url);
    await c.subscribe("outputs/counter");
    const counts = () => c.of("outputs/counter").map((f) => f.data.count).filter((n) => n !== undefined);

    await rt.startModule("counter");
    await c.until(`the output ${TICKS}`, () => counts().includes(TICKS), 30_000);
    assert.deepEqual(
      counts(),
      Array.from({ length: TICKS }, (_, i) => i + 1),
      "every output the module set, once each, in order",
    );
    await waitFor(
      "the runtime to hold the last output",
      () => rt.getModule("counter")!.outputs.count === TICKS,
    );
    assert.ok(rt.getModule("counter")!.invocations >= TICKS, "one output per tick");
    assert.equal(hub.stats().connections[0]!.dropped, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
