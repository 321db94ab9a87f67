import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  METRICS_CONTENT_TYPE,
  type MetricsModule,
  metricsRoute,
  type MetricsSource,
  renderMetrics,
} from "./metrics.ts";
import type { ConnectorStatus } from "../hal/mod.ts";
import { type ChannelPlan, createRuntime } from "../runtime/mod.ts";
import {
  createOutbox,
  openStore,
  type OutboxKind,
  type OutboxKindStats,
  type OutboxStats,
} from "../snapshots/mod.ts";
import {
  deploymentPlan,
  modulePlan,
  streamModuleWat,
  waitFor,
  wat,
  writeFixture,
} from "../tests/_helpers.ts";

const BOUNDS_US = [10, 100, 1_000];

function fakeModule(over: Partial<MetricsModule> & Pick<MetricsModule, "name">): MetricsModule {
  return {
    state: "running",
    mode: "stream",
    executor: "normal",
    limits: { max_memory_mb: 1, budget_us: 10_000, fuel: null },
    invocations: 0,
    errors: 0,
    budget_overruns: 0,
    deadline_misses: 0,
    traps: 0,
    restarts: 0,
    memory_bytes: 65536,
    instructions: null,
    latency_histogram: { bounds_us: BOUNDS_US, counts: [0, 0, 0, 0], sum_us: 0 },
    lateness_us: null,
    event_latency_us: null,
    events: 0,
    samples_in: 0,
    dropped_samples: 0,
    logs_dropped: 0,
    denials: 0,
    ...over,
  };
}

function fakeSource(over: Partial<MetricsSource> = {}): MetricsSource {
  return {
    health: () => ({
      status: "ok",
      version: "1.2.3",
      device: { id: "gw-1", location: null },
      uptime_s: 12.5,
    }),
    listModules: () => [
      fakeModule({
        name: "fft",
        invocations: 7,
        errors: 1,
        budget_overruns: 2,
        traps: 3,
        restarts: 4,
        memory_bytes: 131072,
        latency_histogram: { bounds_us: BOUNDS_US, counts: [1, 2, 3, 1], sum_us: 2_500_000 },
        dropped_samples: 5,
        behind: { samples: 2560, ms: 100 },
      }),
      fakeModule({
        name: "temperature",
        mode: "periodic",
        state: "crashed",
        limits: { max_memory_mb: 2, budget_us: 500, fuel: 100_000 },
        instructions: { total: 123456, last: 789 },
        deadline_misses: 6,
        lateness_us: { p50: 4, p99: 300, max: 3275 },
      }),
    ],
    listChannels: () => [{
      id: "features",
      writer: "fft",
      overflow: "drop-oldest",
      size_bytes: 4096,
      written: 4294967295,
      dropped: 0,
      evicted: 11,
      blocked: 0,
      timeouts: 0,
      readers: [{ module: "anomaly", lost: 11, pending_bytes: 256 }],
    }],
    listConnectors: () => [
      { name: "sim", kind: "sim", state: "connected", lastError: null, errors: 0, reconnects: 0 },
      {
        name: "plc1",
        kind: "modbus",
        state: "reconnecting",
        lastError: "timed out",
        errors: 9,
        reconnects: 2,
      },
    ],
    processMemory: () => ({ rssBytes: 144 * 1024 * 1024, heapUsedBytes: 30 * 1024 * 1024 }),
    ...over,
  };
}

function kindStats(over: Partial<OutboxKindStats> = {}): OutboxKindStats {
  return {
    depth: 0,
    sizeBytes: 0,
    enqueued: 0,
    delivered: 0,
    dropped: 0,
    droppedBytes: 0,
    overBudget: 0,
    ...over,
  };
}

/** The sample lines of `text` (no comments), by family name as declared by the `# TYPE` line above them. */
function families(text: string): Map<string, { type: string; samples: string[] }> {
  const out = new Map<string, { type: string; samples: string[] }>();
  let current: { type: string; samples: string[] } | null = null;
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      assert.ok(!out.has(type[1]!), `family ${type[1]} is declared once`);
      current = { type: type[2]!, samples: [] };
      out.set(type[1]!, current);
    } else if (line !== "" && !line.startsWith("#")) {
      assert.ok(current, `sample "${line}" follows a TYPE line`);
      current.samples.push(line);
    }
  }
  return out;
}

/** Runs `promtool check metrics` on `text`; fails the test when promtool is not installed. */
async function promtool(text: string): Promise<{ code: number; output: string }> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      assert.fail(
        "promtool is not installed; run `apt-get install -y prometheus` (Debian's package ships it)",
      );
    }
    throw err;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, output: (dec.decode(stdout) + dec.decode(stderr)).trim() };
}

Deno.test("renderMetrics writes known figures as exact Prometheus lines", () => {
  const text = renderMetrics(fakeSource());
  const lines = text.split("\n");
  for (
    const expected of [
      "# HELP kiln_build_info Kiln's version and device id; always 1",
      "# TYPE kiln_build_info gauge",
      'kiln_build_info{version="1.2.3",device="gw-1"} 1',
      "kiln_uptime_seconds 12.5",
      "# TYPE kiln_process_resident_memory_bytes gauge",
      "kiln_process_resident_memory_bytes 150994944",
      "kiln_process_heap_used_bytes 31457280",
      'kiln_health_status{status="ok"} 1',
      'kiln_health_status{status="degraded"} 0',
      "# TYPE kiln_module_invocations_total counter",
      'kiln_module_invocations_total{module="fft"} 7',
      'kiln_module_invocations_total{module="temperature"} 0',
      'kiln_module_errors_total{module="fft"} 1',
      'kiln_module_budget_overruns_total{module="fft"} 2',
      'kiln_module_deadline_misses_total{module="temperature"} 6',
      'kiln_module_traps_total{module="fft"} 3',
      'kiln_module_restarts_total{module="fft"} 4',
      'kiln_module_memory_bytes{module="fft"} 131072',
      'kiln_module_memory_limit_bytes{module="temperature"} 2097152',
      'kiln_module_budget_seconds{module="temperature"} 0.0005',
      'kiln_module_dropped_samples_total{module="fft"} 5',
      'kiln_module_backlog_seconds{module="fft"} 0.1',
      'kiln_module_state{module="temperature",state="crashed"} 1',
      'kiln_module_state{module="temperature",state="running"} 0',
      'kiln_module_info{module="temperature",mode="periodic",executor="normal"} 1',
      'kiln_module_tick_lateness_seconds{module="temperature",stat="p99"} 0.0003',
      'kiln_module_tick_lateness_seconds{module="temperature",stat="max"} 0.003275',
      'kiln_channel_info{channel="features",writer="fft",overflow="drop-oldest"} 1',
      'kiln_channel_written_total{channel="features"} 4294967295',
      'kiln_channel_evicted_total{channel="features"} 11',
      'kiln_channel_reader_lost_total{channel="features",reader="anomaly"} 11',
      'kiln_channel_reader_pending_bytes{channel="features",reader="anomaly"} 256',
      'kiln_connector_state{connector="plc1",kind="modbus",state="reconnecting"} 1',
      'kiln_connector_state{connector="plc1",kind="modbus",state="connected"} 0',
      'kiln_connector_state{connector="sim",kind="sim",state="connected"} 1',
      'kiln_connector_errors_total{connector="plc1",kind="modbus"} 9',
      'kiln_connector_reconnects_total{connector="plc1",kind="modbus"} 2',
    ]
  ) {
    assert.ok(lines.includes(expected), `expected the line ${expected}\n---\n${text}`);
  }
  assert.ok(text.endsWith("\n") && !text.endsWith("\n\n"), "the text ends with one line feed");
});

Deno.test("every sample follows its family's HELP and TYPE, each family once, with no duplicate series", () => {
  const text = renderMetrics(fakeSource());
  const lines = text.split("\n");
  const fams = families(text);
  for (const [name, { type, samples }] of fams) {
    const typeAt = lines.indexOf(`# TYPE ${name} ${type}`);
    assert.ok(lines[typeAt - 1]?.startsWith(`# HELP ${name} `), `${name} has HELP right before TYPE`);
    assert.ok(samples.length > 0, `${name} has samples`);
    const allowed = type === "histogram" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name];
    for (const s of samples) assert.ok(allowed.includes(s.split(/[{ ]/)[0]!), `${s} belongs to ${name}`);
    const series = samples.map((s) => s.slice(0, s.lastIndexOf(" ")));
    assert.equal(new Set(series).size, series.length, `${name} has no duplicate series`);
    if (type === "counter") assert.match(name, /_total$/);
  }
});

Deno.test("a latency histogram has cumulative buckets with le in seconds, +Inf equal to _count, and _sum in seconds", () => {
  const samples = families(renderMetrics(fakeSource())).get("kiln_module_handler_duration_seconds");
  assert.equal(samples?.type, "histogram");
  const fft = samples!.samples.filter((s) => s.includes('module="fft"'));
  assert.deepEqual(fft, [
    'kiln_module_handler_duration_seconds_bucket{module="fft",le="0.00001"} 1',
    'kiln_module_handler_duration_seconds_bucket{module="fft",le="0.0001"} 3',
    'kiln_module_handler_duration_seconds_bucket{module="fft",le="0.001"} 6',
    'kiln_module_handler_duration_seconds_bucket{module="fft",le="+Inf"} 7',
    'kiln_module_handler_duration_seconds_sum{module="fft"} 2.5',
    'kiln_module_handler_duration_seconds_count{module="fft"} 7',
  ]);
  const idle = samples!.samples.filter((s) => s.includes('module="temperature"'));
  assert.equal(idle.length, BOUNDS_US.length + 3, "a module with no calls still has every bucket, at 0");
  assert.ok(idle.every((s) => s.endsWith(" 0")));
});

Deno.test("a histogram whose counts do not match its bounds is refused", () => {
  const source = fakeSource({
    listModules:
      () => [fakeModule({ name: "m", latency_histogram: { bounds_us: [10], counts: [1], sum_us: 1 } })],
  });
  assert.throws(() => renderMetrics(source), RangeError);
});

Deno.test("label values escape backslash, double quote and line feed", async (t) => {
  const name = 'we"ird\\mod\nule';
  const source = fakeSource({
    listModules: () => [fakeModule({ name })],
    listConnectors:
      () => [{ name: "a\\b", kind: 'k"', state: "error", lastError: "x", errors: 1, reconnects: 0 }],
  });
  const text = renderMetrics(source);
  await t.step("in the text", () => {
    const lines = text.split("\n");
    assert.ok(lines.includes('kiln_module_invocations_total{module="we\\"ird\\\\mod\\nule"} 0'), text);
    assert.ok(lines.includes('kiln_connector_state{connector="a\\\\b",kind="k\\"",state="error"} 1'), text);
    assert.ok(!text.includes("mod\nule"), "no raw line feed inside a label");
  });
  await t.step("and promtool parses them", async () => {
    const { code, output } = await promtool(text);
    assert.equal(output, "", output);
    assert.equal(code, 0);
  });
});

Deno.test("a metered module has instruction counts and an unmetered one has none", () => {
  const fams = families(renderMetrics(fakeSource()));
  assert.deepEqual(fams.get("kiln_module_instructions_total")?.samples, [
    'kiln_module_instructions_total{module="temperature"} 123456',
  ]);
  assert.deepEqual(fams.get("kiln_module_last_call_instructions")?.samples, [
    'kiln_module_last_call_instructions{module="temperature"} 789',
  ]);
  const none = renderMetrics(fakeSource({ listModules: () => [fakeModule({ name: "fft" })] }));
  assert.ok(!none.includes("kiln_module_instructions_total"), "no family at all without a metered module");
});

Deno.test("outbox families appear only when the source has outbox stats, per kind", () => {
  assert.ok(!renderMetrics(fakeSource()).includes("kiln_outbox_"));
  const kinds: Record<OutboxKind, OutboxKindStats> = {
    alert: kindStats({ depth: 1, sizeBytes: 300, enqueued: 4, delivered: 3 }),
    telemetry: kindStats({ dropped: 8, droppedBytes: 2400 }),
    batch: kindStats({ overBudget: 1 }),
  };
  const stats: OutboxStats = {
    depth: 1,
    sizeBytes: 300,
    diskBudgetBytes: 1_000_000,
    oldestAgeMs: 1500,
    kinds,
  };
  const lines = renderMetrics(fakeSource({ outboxStats: () => stats })).split("\n");
  for (
    const expected of [
      'kiln_outbox_messages{kind="alert"} 1',
      'kiln_outbox_messages{kind="telemetry"} 0',
      'kiln_outbox_size_bytes{kind="alert"} 300',
      "kiln_outbox_disk_budget_bytes 1000000",
      "kiln_outbox_oldest_age_seconds 1.5",
      'kiln_outbox_enqueued_total{kind="alert"} 4',
      'kiln_outbox_delivered_total{kind="alert"} 3',
      'kiln_outbox_dropped_total{kind="telemetry"} 8',
      'kiln_outbox_dropped_bytes_total{kind="telemetry"} 2400',
      'kiln_outbox_over_budget_total{kind="batch"} 1',
    ]
  ) {
    assert.ok(lines.includes(expected), `expected the line ${expected}`);
  }
  const empty = renderMetrics(fakeSource({ outboxStats: () => ({ ...stats, depth: 0, oldestAgeMs: null }) }));
  assert.ok(empty.split("\n").includes("kiln_outbox_oldest_age_seconds 0"));
});

Deno.test("two connectors with one name and kind are refused rather than exported as duplicate series", () => {
  const sim: ConnectorStatus = {
    name: "sim",
    kind: "sim",
    state: "connected",
    lastError: null,
    errors: 0,
    reconnects: 0,
  };
  assert.throws(() => renderMetrics(fakeSource({ listConnectors: () => [sim, sim] })), TypeError);
});

Deno.test("metricsRoute answers GET with the text format, reading the source at each request", async () => {
  let version = "1";
  const app = new Hono();
  app.route(
    "/metrics",
    metricsRoute(() => fakeSource({ health: () => ({ ...fakeSource().health(), version }) })),
  );
  const first = await app.request("/metrics");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), METRICS_CONTENT_TYPE);
  assert.match(await first.text(), /^kiln_build_info\{version="1",/m);
  version = "2";
  assert.match(await (await app.request("/metrics")).text(), /^kiln_build_info\{version="2",/m);
  const plain = await metricsRoute(fakeSource()).request("/");
  assert.equal(await plain.text(), renderMetrics(fakeSource()));
});

/** Writes its tick count to channel 0 each tick. */
const WRITER = `(module
  (import "kiln" "channel_write" (func $cw (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_on_tick") (param i64) (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i32.store (i32.const 64) (global.get $n))
    (drop (call $cw (i32.const 0) (i32.const 64) (i32.const 4)))
    (i32.const 0)))`;

/** Reads channel records and does nothing with them. */
const READER = `(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (func (export "kiln_abi_version") (result i32) (i32.const 1))
  (func (export "kiln_alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n))) (local.get $p))
  (func (export "kiln_on_record") (param i32 i32) (result i32) (i32.const 0)))`;

Deno.test("the metrics of a running runtime pass promtool check metrics without a lint complaint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plan = deploymentPlan([
      modulePlan({
        name: "writer",
        wasm: await writeFixture(dir, "writer.wasm", wat(WRITER)),
        schedule: { mode: "periodic", periodUs: 5_000, priority: 80 },
        capabilities: ["write:channel:features"],
        fuel: 100_000,
      }),
      modulePlan({
        name: "reader",
        wasm: await writeFixture(dir, "reader.wasm", wat(READER)),
        schedule: { mode: "stream", source: "channel:features", window: 16, hop: 16, priority: 50 },
        capabilities: ["read:channel:features"],
      }),
      modulePlan({ name: "count", wasm: await writeFixture(dir, "count.wasm", wat(streamModuleWat())) }),
      // Traps on every window: crashed, restarted, counted.
      modulePlan({
        name: "trap",
        wasm: await writeFixture(dir, "trap.wasm", wat(streamModuleWat("(unreachable)"))),
        restart: { policy: "on-failure", maxRestarts: 100, backoffMs: 5, maxBackoffMs: 10 },
      }),
    ]);
    const channel: ChannelPlan = {
      id: "features",
      writer: "writer",
      readers: ["reader"],
      sizeBytes: 4096,
      overflow: "drop-oldest",
      blockTimeoutUs: null,
    };
    plan.channels = [channel];
    using store = openStore(`${dir}/kiln.db`);
    const outbox = createOutbox(store, { diskBudgetBytes: 1_000_000 });
    const sent = outbox.enqueue({
      stream: "a",
      kind: "alert",
      topic: "kiln/alerts",
      payload: new Uint8Array(10),
    });
    outbox.enqueue({ stream: "t", kind: "telemetry", topic: "kiln/t", payload: new Uint8Array(100) });
    outbox.ack(sent.id);
    await using rt = await createRuntime({ plan, version: "0.1.0-test", log: () => {} });
    await rt.start();
    await waitFor("the modules to run, the channel to carry records and a trap to restart", () => {
      const m = Object.fromEntries(rt.listModules().map((s) => [s.name, s]));
      return m.writer!.invocations >= 5 && m.reader!.invocations >= 1 && m.count!.invocations >= 5 &&
        m.trap!.restarts >= 1 && rt.listChannels()[0]!.written >= 5;
    });
    const runtimeOnly: MetricsSource = rt; // the runtime is a source as it is
    const app = new Hono();
    app.route("/metrics", metricsRoute(() => ({ ...bind(runtimeOnly), outboxStats: () => outbox.stats() })));
    const res = await app.request("/metrics");
    const text = await res.text();
    const fams = families(text);
    for (
      const name of [
        "kiln_module_handler_duration_seconds",
        "kiln_module_instructions_total",
        "kiln_channel_written_total",
        "kiln_channel_reader_pending_bytes",
        "kiln_connector_state",
        "kiln_outbox_messages",
        "kiln_build_info",
      ]
    ) {
      assert.ok(fams.has(name), `the runtime's metrics have ${name}`);
    }
    assert.deepEqual(fams.get("kiln_module_instructions_total")!.samples.map((s) => s.split(" ")[0]), [
      'kiln_module_instructions_total{module="writer"}',
    ]);
    assert.ok(text.split("\n").includes('kiln_outbox_delivered_total{kind="alert"} 1'));
    const { code, output } = await promtool(text);
    assert.equal(output, "", `promtool complained:\n${output}\n---\n${text}`);
    assert.equal(code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A source's methods bound to it, so they can be spread into another object. */
function bind(source: MetricsSource): MetricsSource {
  return {
    listModules: () => source.listModules(),
    listChannels: () => source.listChannels(),
    listConnectors: () => source.listConnectors(),
    health: () => source.health(),
  };
}
