/**
 * `GET /metrics`: the runtime's counters in the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Written by hand, not with `npm:prom-client` (15.1.3 was tried on Deno 2.9.6: it loads, and renders counters
 * and gauges correctly). Kiln already keeps every figure, aggregated, in the status objects the API serves
 * (`listModules()`, `listChannels()`, ...), so a scrape only has to read them and print them. prom-client is
 * built the other way round, around a registry of metric objects that the code updates as things happen:
 * its histograms are filled one `observe()` at a time and have no public way to take the bucket counts the
 * executors already aggregate (the module status's `latency_histogram`), and a pull through its `collect()`
 * hooks means resetting and refilling every metric at each scrape. The writer here (the `Exposition` class
 * and its helpers, about a hundred lines) holds no state between scrapes and adds no dependency. The cost is
 * the format's details, kept here: HELP and TYPE once per family, the series of a family together, label
 * values escaped (`\\`, `\"`, `\n`), histogram buckets cumulative with `le` in seconds and a `+Inf` bucket
 * equal to `_count`. The tests check the output with `promtool check metrics`, lint included.
 *
 * Counters and wrapping: channel counters (`written`, `dropped`, `evicted`, `blocked`, `timeouts`, a
 * reader's `lost`) are u32 in the ring's shared memory and wrap at 2^32. They are exported as they are, as
 * counters: to Prometheus a wrap looks like a counter reset, which `rate()` and `increase()` already handle
 * (as they do a restart of Kiln); the increase between the last scrape before the wrap and 2^32 is lost, at
 * most one scrape interval's worth. That holds while fewer than 2^32 records pass between two scrapes (at
 * the 2.8 M records/s measured on small records, about 25 minutes). Module counters are JavaScript numbers that do not wrap; some of them
 * (`budget_overruns`, `deadline_misses`, the instruction count) belong to the current instance and start
 * again from 0 when a module restarts, which Prometheus also reads as a reset.
 *
 * @example
 * ```ts ignore
 * app.route("/metrics", metricsRoute(runtime)); // a Runtime is a MetricsSource, without outbox figures
 * app.route("/metrics", metricsRoute({
 *   listModules: () => runtime.listModules(),
 *   listChannels: () => runtime.listChannels(),
 *   listConnectors: () => runtime.listConnectors(),
 *   health: () => runtime.health(),
 *   outboxStats: () => outbox.stats(),
 * }));
 * // curl -s localhost:8080/metrics | grep kiln_module_invocations_total
 * ```
 *
 * @module
 */
import { Hono } from "hono";
import type { ConnectorState, ConnectorStatus } from "../hal/mod.ts";
import type { ChannelStatus, Health, ModuleState, ModuleStatus } from "../runtime/mod.ts";
import type { OutboxKind, OutboxStats } from "../snapshots/mod.ts";
import type { ProcessFigures } from "../runtime/history/mod.ts";

/** The `Content-Type` of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What {@linkcode renderMetrics} reads of a module's status. */
export type MetricsModule =
  & Pick<
    ModuleStatus,
    | "name"
    | "state"
    | "mode"
    | "executor"
    | "limits"
    | "invocations"
    | "errors"
    | "budget_overruns"
    | "deadline_misses"
    | "traps"
    | "restarts"
    | "memory_bytes"
    | "instructions"
    | "latency_histogram"
    | "lateness_us"
    | "event_latency_us"
    | "events"
    | "samples_in"
    | "dropped_samples"
    | "logs_dropped"
    | "denials"
  >
  & Partial<Pick<ModuleStatus, "behind">>;

/** What {@linkcode renderMetrics} reads of a channel's status. */
export type MetricsChannel = Pick<
  ChannelStatus,
  | "id"
  | "writer"
  | "overflow"
  | "size_bytes"
  | "written"
  | "dropped"
  | "evicted"
  | "blocked"
  | "timeouts"
  | "readers"
>;

/** Where the metrics come from, read at each scrape; the runtime is one (`outboxStats` aside). */
export interface MetricsSource {
  listModules(): readonly MetricsModule[];
  listChannels(): readonly MetricsChannel[];
  listConnectors(): readonly ConnectorStatus[];
  health(): Pick<Health, "status" | "version" | "device" | "uptime_s">;
  /** The outbox's depth and counters; its families are left out when this is omitted or null (no uplink). */
  outboxStats?(): OutboxStats | null;
  /** Every executor started, with the times the watchdog terminated it; its family is left out when omitted. */
  listExecutorCounters?(): readonly { name: string; watchdog_terminations: number }[];
  /** The process's resident memory and the main thread's JavaScript heap; left out when omitted. */
  processMemory?(): Pick<ProcessFigures, "rssBytes" | "heapUsedBytes">;
}

// Records, not arrays, so that a new state added to the union fails the type check here.
const MODULE_STATES = Object.keys(
  { starting: 0, running: 0, stopped: 0, crashed: 0, failed: 0 } satisfies Record<ModuleState, 0>,
) as ModuleState[];
const CONNECTOR_STATES = Object.keys(
  { connecting: 0, connected: 0, degraded: 0, reconnecting: 0, error: 0, closed: 0 } satisfies Record<
    ConnectorState,
    0
  >,
) as ConnectorState[];
const HEALTH_STATUSES = Object.keys(
  { ok: 0, degraded: 0, starting: 0, stopping: 0 } satisfies Record<Health["status"], 0>,
) as Health["status"][];
const OUTBOX_KINDS = Object.keys(
  { alert: 0, telemetry: 0, batch: 0 } satisfies Record<OutboxKind, 0>,
) as OutboxKind[];

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [Labels, number];

/**
 * Renders every metric family of `source` in the text exposition format 0.0.4. Families without a series
 * (no channels, no metered module, no outbox) are left out.
 *
 * @throws {RangeError} when a module's latency histogram has not one count more than it has bounds.
 * @throws {TypeError} when the source reports the same series twice (two modules, channels or connectors
 * with one name), which the runtime never does.
 */
export function renderMetrics(source: MetricsSource): string {
  const health = source.health();
  const modules = source.listModules();
  const channels = source.listChannels();
  const connectors = source.listConnectors();
  const out = new Exposition();

  out.gauge("kiln_build_info", "Kiln's version and device id; always 1", [
    [{ version: health.version, device: health.device.id }, 1],
  ]);
  out.gauge("kiln_uptime_seconds", "Time since the runtime started", [[{}, health.uptime_s]]);
  const memory = source.processMemory?.();
  if (memory) {
    out.gauge(
      "kiln_process_resident_memory_bytes",
      "Resident memory of the Kiln process, every thread's (its executors' and the snapshot worker's too)",
      [[{}, memory.rssBytes]],
    );
    out.gauge(
      "kiln_process_heap_used_bytes",
      "JavaScript heap in use on the runtime's main thread",
      [[{}, memory.heapUsedBytes]],
    );
  }
  out.gauge(
    "kiln_health_status",
    "The runtime's health (GET /health): 1 for the current status, 0 for the others",
    stateSet(HEALTH_STATUSES, health.status).map(([status, v]) => [{ status }, v]),
  );

  // Modules.
  const m = (f: (x: MetricsModule) => number): Sample[] => modules.map((x) => [{ module: x.name }, f(x)]);
  out.gauge(
    "kiln_module_info",
    "A module's schedule mode and executor; always 1",
    modules.map((x) => [{ module: x.name, mode: x.mode, executor: x.executor }, 1]),
  );
  out.gauge(
    "kiln_module_state",
    "A module's lifecycle state: 1 for the current state, 0 for the others",
    modules.flatMap((x) =>
      stateSet(MODULE_STATES, x.state).map(([state, v]) => [{ module: x.name, state }, v])
    ),
  );
  out.counter("kiln_module_invocations_total", "Handler calls completed", m((x) => x.invocations));
  out.counter("kiln_module_errors_total", "Handler calls that returned an error code", m((x) => x.errors));
  out.histogram(
    "kiln_module_handler_duration_seconds",
    "Handler call durations (latency of kiln_on_samples, kiln_on_record, kiln_on_tick, kiln_on_event)",
    modules.map((x) => [{ module: x.name }, x.latency_histogram]),
  );
  out.counter(
    "kiln_module_budget_overruns_total",
    "Handler calls longer than the module's budget_us, by the current instance",
    m((x) => x.budget_overruns),
  );
  out.counter(
    "kiln_module_deadline_misses_total",
    "Periodic ticks that missed their deadline, by the current instance",
    m((x) => x.deadline_misses),
  );
  out.counter(
    "kiln_module_traps_total",
    "Faults that ended an instance (traps, interrupts, failed starts)",
    m((x) => x.traps),
  );
  out.counter("kiln_module_restarts_total", "Restarts of the module", m((x) => x.restarts));
  out.gauge("kiln_module_memory_bytes", "Size of the module's linear memory", m((x) => x.memory_bytes));
  out.gauge(
    "kiln_module_memory_limit_bytes",
    "The module's memory cap (limits.max_memory_mb)",
    m((x) => x.limits.max_memory_mb * 1024 * 1024),
  );
  out.gauge(
    "kiln_module_budget_seconds",
    "The module's CPU budget per handler call (limits.budget_us)",
    m((x) => x.limits.budget_us / 1e6),
  );
  const metered = modules.flatMap((x) =>
    x.instructions === null ? [] : [{ name: x.name, ...x.instructions }]
  );
  out.counter(
    "kiln_module_instructions_total",
    "Instructions executed by the current instance, for modules metered with limits.fuel",
    metered.map((x) => [{ module: x.name }, x.total]),
  );
  out.gauge(
    "kiln_module_last_call_instructions",
    "Instructions executed by the last handler call, for modules metered with limits.fuel",
    metered.map((x) => [{ module: x.name }, x.last]),
  );
  out.gauge(
    "kiln_module_tick_lateness_seconds",
    "Periodic modules: how late recent ticks started, over the last 1024",
    modules.flatMap((x) =>
      x.lateness_us === null ? [] : percentiles({ module: x.name }, [
        ["p50", x.lateness_us.p50],
        ["p99", x.lateness_us.p99],
        ["max", x.lateness_us.max],
      ])
    ),
  );
  out.gauge(
    "kiln_module_event_latency_seconds",
    "Event modules: trigger to actuator write, over the last 1024 events that wrote",
    modules.flatMap((x) =>
      x.event_latency_us === null ? [] : percentiles({ module: x.name }, [
        ["p50", x.event_latency_us.p50],
        ["p99", x.event_latency_us.p99],
        ["p999", x.event_latency_us.p999],
        ["max", x.event_latency_us.max],
      ])
    ),
  );
  out.counter("kiln_module_events_total", "API and GPIO events fired at an event module", m((x) => x.events));
  out.counter("kiln_module_samples_total", "Stream samples delivered to the module", m((x) => x.samples_in));
  out.counter(
    "kiln_module_dropped_samples_total",
    "Stream samples dropped because the module's executor fell behind",
    m((x) => x.dropped_samples),
  );
  out.gauge(
    "kiln_module_backlog_seconds",
    "Sensor samples handed to a stream module's executor and not yet taken, as the time they span",
    modules.flatMap((x): Sample[] =>
      x.behind && "ms" in x.behind ? [[{ module: x.name }, x.behind.ms / 1000]] : []
    ),
  );
  out.counter(
    "kiln_module_logs_dropped_total",
    "Log lines the module wrote too fast",
    m((x) => x.logs_dropped),
  );
  out.counter("kiln_module_denials_total", "Calls refused by the capability check", m((x) => x.denials));

  // Executors.
  out.counter(
    "kiln_executor_watchdog_terminations_total",
    "Times the watchdog terminated the executor because a call held its thread past its limit",
    (source.listExecutorCounters?.() ?? []).map((x) => [{ executor: x.name }, x.watchdog_terminations]),
  );

  // Channels: u32 counters that wrap at 2^32 (see the module doc).
  const c = (f: (x: MetricsChannel) => number): Sample[] => channels.map((x) => [{ channel: x.id }, f(x)]);
  out.gauge(
    "kiln_channel_info",
    "A channel's writer and overflow policy; always 1",
    channels.map((x) => [{ channel: x.id, writer: x.writer, overflow: x.overflow }, 1]),
  );
  out.gauge("kiln_channel_size_bytes", "Capacity of the channel's ring", c((x) => x.size_bytes));
  out.counter("kiln_channel_written_total", "Records written (u32, wraps)", c((x) => x.written));
  out.counter(
    "kiln_channel_dropped_total",
    "Records refused: drop-newest with no room, or block-writer timeouts (u32, wraps)",
    c((x) => x.dropped),
  );
  out.counter(
    "kiln_channel_evicted_total",
    "drop-oldest: records overwritten before a reader read them (u32, wraps)",
    c((x) => x.evicted),
  );
  out.counter(
    "kiln_channel_blocked_total",
    "block-writer: writes that had to wait (u32, wraps)",
    c((x) => x.blocked),
  );
  out.counter(
    "kiln_channel_timeouts_total",
    "block-writer: writes that waited in vain (u32, wraps)",
    c((x) => x.timeouts),
  );
  const readers = channels.flatMap((x) => x.readers.map((r) => ({ channel: x.id, ...r })));
  out.counter(
    "kiln_channel_reader_lost_total",
    "Records a reader lost to an overflow (u32, wraps)",
    readers.map((r) => [{ channel: r.channel, reader: r.module }, r.lost]),
  );
  out.gauge(
    "kiln_channel_reader_pending_bytes",
    "Bytes waiting for a reader (the channel's depth for it)",
    readers.map((r) => [{ channel: r.channel, reader: r.module }, r.pending_bytes]),
  );

  // Connectors.
  const k = (f: (x: ConnectorStatus) => number): Sample[] =>
    connectors.map((x) => [{ connector: x.name, kind: x.kind }, f(x)]);
  out.gauge(
    "kiln_connector_state",
    "A connector's state: 1 for the current state, 0 for the others",
    connectors.flatMap((x) =>
      stateSet(CONNECTOR_STATES, x.state).map(([state, v]) => [{ connector: x.name, kind: x.kind, state }, v])
    ),
  );
  out.counter(
    "kiln_connector_errors_total",
    "Connector errors: failed connects, timeouts, protocol errors",
    k((x) => x.errors),
  );
  out.counter(
    "kiln_connector_reconnects_total",
    "Successful connects after the first",
    k((x) => x.reconnects),
  );
  out.gauge(
    "kiln_connector_failures",
    "Failed connection attempts since the connection last worked",
    connectors.flatMap((x) =>
      x.failures === undefined ? [] : [[{ connector: x.name, kind: x.kind }, x.failures]]
    ),
  );
  out.gauge(
    "kiln_connector_points_refused",
    "Points the peer refused (a Modbus exception, an OPC UA Bad status), by connector",
    connectors.flatMap((x) =>
      x.points === undefined
        ? []
        : [[{ connector: x.name, kind: x.kind }, x.points.filter((p) => p.state === "refused").length]]
    ),
  );

  // Outbox.
  const outbox = source.outboxStats?.();
  if (outbox) {
    const o = (f: (x: OutboxStats["kinds"][OutboxKind]) => number): Sample[] =>
      OUTBOX_KINDS.map((kind) => [{ kind }, f(outbox.kinds[kind])]);
    out.gauge("kiln_outbox_messages", "Messages waiting in the outbox", o((x) => x.depth));
    out.gauge(
      "kiln_outbox_size_bytes",
      "Size of the waiting messages against the disk budget",
      o((x) => x.sizeBytes),
    );
    out.gauge("kiln_outbox_disk_budget_bytes", "The outbox's disk budget", [[{}, outbox.diskBudgetBytes]]);
    out.gauge(
      "kiln_outbox_oldest_age_seconds",
      "Age of the oldest waiting message; 0 when the outbox is empty",
      [[{}, (outbox.oldestAgeMs ?? 0) / 1000]],
    );
    out.counter("kiln_outbox_enqueued_total", "Messages stored in the outbox", o((x) => x.enqueued));
    out.counter(
      "kiln_outbox_delivered_total",
      "Messages acknowledged by the transport and deleted",
      o((x) => x.delivered),
    );
    out.counter("kiln_outbox_dropped_total", "Messages deleted by the budget policy", o((x) => x.dropped));
    out.counter(
      "kiln_outbox_dropped_bytes_total",
      "Budget bytes of the messages deleted by the budget policy",
      o((x) => x.droppedBytes),
    );
    out.counter(
      "kiln_outbox_over_budget_total",
      "Messages stored although the outbox was over its budget",
      o((x) => x.overBudget),
    );
  }
  return out.text();
}

/**
 * A Hono app answering `GET /` with {@linkcode renderMetrics} of the source, read at each request; mount it
 * with `app.route("/metrics", metricsRoute(source))`, behind whatever guards the deployment wants.
 */
export function metricsRoute(source: MetricsSource | (() => MetricsSource)): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const text = renderMetrics(typeof source === "function" ? source() : source);
    return c.body(text, 200, { "Content-Type": METRICS_CONTENT_TYPE, "Cache-Control": "no-store" });
  });
  return app;
}

/** The text of metric families, written one family at a time. */
class Exposition {
  #lines: string[] = [];
  #names = new Set<string>();

  counter(name: string, help: string, samples: Iterable<Sample>): void {
    this.#family(name, "counter", help, [...samples].map(([labels, v]) => [name, labels, v]));
  }

  gauge(name: string, help: string, samples: Iterable<Sample>): void {
    this.#family(name, "gauge", help, [...samples].map(([labels, v]) => [name, labels, v]));
  }

  /** Histograms from per-bucket counts in microseconds (not cumulative, the last one above every bound). */
  histogram(
    name: string,
    help: string,
    samples: Iterable<readonly [Labels, MetricsModule["latency_histogram"]]>,
  ): void {
    const lines: [string, Labels, number][] = [];
    for (const [labels, h] of samples) {
      if (h.counts.length !== h.bounds_us.length + 1) {
        throw new RangeError(
          `Cannot export histogram "${name}" ${
            formatLabels(labels)
          }: ${h.counts.length} counts for ${h.bounds_us.length} bounds, expected ${h.bounds_us.length + 1}`,
        );
      }
      let cumulative = 0;
      h.bounds_us.forEach((bound, i) => {
        cumulative += h.counts[i]!;
        lines.push([`${name}_bucket`, { ...labels, le: formatValue(bound / 1e6) }, cumulative]);
      });
      cumulative += h.counts[h.bounds_us.length]!;
      lines.push([`${name}_bucket`, { ...labels, le: "+Inf" }, cumulative]);
      lines.push([`${name}_sum`, labels, h.sum_us / 1e6]);
      lines.push([`${name}_count`, labels, cumulative]);
    }
    this.#family(name, "histogram", help, lines);
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }

  #family(name: string, type: string, help: string, samples: [string, Labels, number][]): void {
    if (this.#names.has(name)) throw new TypeError(`Metric family "${name}" is written twice`);
    this.#names.add(name);
    if (samples.length === 0) return;
    this.#lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    const series = new Set<string>();
    for (const [sampleName, labels, value] of samples) {
      const key = sampleName + formatLabels(labels);
      if (series.has(key)) throw new TypeError(`Duplicate series ${key} in metric family "${name}"`);
      series.add(key);
      this.#lines.push(`${key} ${formatValue(value)}`);
    }
  }
}

/** A state set (OpenMetrics' StateSet as gauges): every state with 1 for `current` and 0 for the others. */
function stateSet<S extends string>(states: readonly S[], current: S): [S, number][] {
  return states.map((s) => [s, s === current ? 1 : 0]);
}

/**
 * Percentiles in microseconds as gauge samples in seconds, labelled `stat` with the API's names (`p50`,
 * `p99`, `max`). Not `quantile`: that label belongs to summaries, which also need `_sum` and `_count` that a
 * window of recent values does not have (promtool's lint refuses `quantile` on a gauge).
 */
function percentiles(labels: Labels, values: [string, number][]): Sample[] {
  return values.map(([stat, us]) => [{ ...labels, stat }, us / 1e6]);
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (ch) => ch === "\n" ? "\\n" : `\\${ch}`);
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (ch) => ch === "\n" ? "\\n" : "\\\\");
}

/** Sample values as Go's ParseFloat reads them: shortest round-trip decimal, `NaN`, `+Inf`, `-Inf`. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
