/**
 * The stream's feed: subscribes to the runtime's telemetry and publishes each event into the hub as it
 * happens, shaped as the REST API shapes it (`../_json.ts`). Nothing reads the runtime on a timer: a module's
 * every output reaches the hub, one frame per handler call (up to each connection's queue, whose drops are
 * counted as always).
 *
 * @module
 */
import type { ModuleStatus, TelemetryEvent } from "../../runtime/mod.ts";
import type { ModuleControl, Observability } from "../ports.ts";
import type { StreamHub } from "./hub.ts";
import { arraysJson, type Json, logJson, messageJson, moduleBriefJson, moduleMetricsJson } from "../_json.ts";
import { traceJson } from "../routes/traces.ts";
import { keptAlertJson, type ListedAlert } from "../routes/alerts.ts";
import { gatewayJson } from "../routes/gateway.ts";

/**
 * What the feed reads once at its start, and subscribes to; with `listConnectors` and `uplink` too (a
 * runtime has them), it publishes the `gateway` topic.
 */
export interface StreamFeedSource {
  modules: Pick<ModuleControl, "listModules">;
  observability:
    & Pick<Observability, "health" | "telemetry">
    & Partial<Pick<Observability, "listConnectors" | "uplink" | "processFigures">>;
}

/** How often the `gateway` topic is published while someone subscribes to it, ms. */
export const GATEWAY_INTERVAL_MS = 2000;
/** How often the feed looks whether someone subscribes to `gateway`, ms: a new subscriber waits at most this. */
const GATEWAY_CHECK_MS = 250;

/**
 * Publishes the runtime's telemetry into a {@linkcode StreamHub}:
 * - `status` (retained): `{ modules: [{ name, state, last_error, restarts }] }` when any of it changes;
 * - `health` (retained): the runtime's health when anything but its uptime changes;
 * - `outputs/<module>` (retained): the module's scalar outputs, `{ name: value }`, after each handler call
 *   that set some, the frame's `at` the call's time;
 * - `metrics/<module>` (retained): invocations, errors, traps, timings, memory, drops, misses, denials, after
 *   each report of its executor (10 Hz) when they changed;
 * - `arrays/<module>` (retained, only while someone subscribes): its vector outputs (a spectrum), after each
 *   report that carried some;
 * - `alerts`: each new alert with the runtime's alert `seq` (older ones: `GET /api/v1/alerts?after=`);
 * - `logs/<module>`: each new log line; `messages/<module>`: each message it published;
 * - `traces/<module>` (only while someone subscribes): each traced handler call, in `seq` order, shaped as
 *   `GET /api/v1/modules/:name/traces` shapes it;
 * - `gateway` (retained, only while someone subscribes): the gateway's figures as `GET /api/v1/gateway`
 *   answers them, every {@linkcode GATEWAY_INTERVAL_MS} (2 s), the first within 250 ms of a subscription.
 *
 * Alerts, log lines and messages have the REST API's shape (`../_json.ts`): their `at` an RFC 3339 time.
 * Events from before {@linkcode StreamFeed.start} are not replayed (the REST API has them); the state topics
 * are published from the runtime's state at the start.
 */
export class StreamFeed implements AsyncDisposable {
  readonly #source: StreamFeedSource;
  readonly #hub: StreamHub;
  #subscription: Disposable | null = null;
  /** The last frame's JSON of each deduplicated state topic (`status`, `health`, `metrics/<module>`). */
  #last = new Map<string, string>();
  /** Each module's part of the `status` frame, in the runtime's order (deploys append). */
  #briefs = new Map<string, Json>();
  /** `arrays/<module>` topics retained in the hub. */
  #arrays = new Set<string>();
  #gatewayTimer: ReturnType<typeof setInterval> | null = null;
  /** When `gateway` was last published (monotonic ms), or null while nobody subscribes. */
  #gatewayAt: number | null = null;

  constructor(source: StreamFeedSource, hub: StreamHub) {
    this.#source = source;
    this.#hub = hub;
  }

  /** Publishes the runtime's state (status, health, each module's outputs and metrics), then its events. */
  start(): void {
    if (this.#subscription !== null) return;
    const modules = this.#source.modules.listModules();
    for (const m of modules) this.#briefs.set(m.name, moduleBriefJson(m));
    this.#status();
    for (const m of modules) this.#module(m, true);
    this.#subscription = this.#source.observability.telemetry.subscribe((e) => this.#on(e));
    if (this.#source.observability.listConnectors) {
      this.#gatewayTimer = setInterval(() => this.#gateway(), GATEWAY_CHECK_MS);
    }
  }

  /** Stops publishing. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.[Symbol.dispose]();
    this.#subscription = null;
    if (this.#gatewayTimer !== null) clearInterval(this.#gatewayTimer);
    this.#gatewayTimer = null;
    return Promise.resolve();
  }

  /** Publishes `gateway` when someone subscribes and it is due; forgets it when nobody does any more. */
  #gateway(): void {
    const obs = this.#source.observability;
    if (!this.#hub.wants("gateway")) {
      if (this.#gatewayAt !== null) this.#hub.forget("gateway"); // not kept up to date while nobody reads it
      this.#gatewayAt = null;
      return;
    }
    const now = performance.now();
    if (this.#gatewayAt !== null && now - this.#gatewayAt < GATEWAY_INTERVAL_MS - GATEWAY_CHECK_MS / 2) {
      return;
    }
    this.#gatewayAt = now;
    const source = {
      health: () => obs.health(),
      listConnectors: () => obs.listConnectors?.() ?? [],
      uplink: obs.uplink ?? null,
      ...(obs.processFigures && { processFigures: () => obs.processFigures!() }),
    };
    this.#hub.publish("gateway", gatewayJson(source), { retain: true });
  }

  #on(e: TelemetryEvent): void {
    const hub = this.#hub;
    switch (e.type) {
      case "outputs":
        hub.publish(`outputs/${e.module}`, e.outputs, { retain: true, at: e.at });
        return;
      case "arrays": {
        const topic = `arrays/${e.module}`;
        if (hub.wants(topic)) {
          const arrays = arraysJson(e.arrays);
          if (Object.keys(arrays).length === 0) return;
          hub.publish(topic, arrays, { retain: true, at: e.at });
          this.#arrays.add(topic);
        } else if (this.#arrays.delete(topic)) {
          hub.forget(topic); // not kept up to date while nobody reads it
        }
        return;
      }
      case "module":
        if (this.#module(e.status, e.cause === "deployed")) this.#status(e.at);
        return;
      case "removed":
        this.#briefs.delete(e.module);
        for (const topic of [`outputs/${e.module}`, `metrics/${e.module}`, `arrays/${e.module}`]) {
          this.#last.delete(topic);
          this.#arrays.delete(topic);
          hub.forget(topic);
        }
        this.#status(e.at);
        return;
      case "health":
        this.#health(e.health, e.at);
        return;
      case "alert": {
        // An acknowledgement comes as the alert again, acknowledged: every client updates its row.
        const alert: ListedAlert = e.alert;
        const event = alert.ackedAtMs != null ? "alert_ack" : "alert";
        hub.publish("alerts", { event, ...keptAlertJson(alert) }, { at: alert.ackedAtMs ?? alert.at });
        return;
      }
      case "log":
        hub.publish(`logs/${e.line.module}`, logJson(e.line), { at: e.line.at });
        return;
      case "message":
        hub.publish(`messages/${e.message.module}`, messageJson(e.message), { at: e.message.at });
        return;
      case "trace": {
        const topic = `traces/${e.trace.module}`;
        if (hub.wants(topic)) hub.publish(topic, traceJson(e.trace), { at: e.trace.startMs });
        return;
      }
    }
  }

  /**
   * Takes in a module's status: its metrics (when they changed), and its outputs when it was not seen yet or
   * is a new version (`fresh`). Returns whether its part of the `status` frame changed.
   */
  #module(m: ModuleStatus, fresh: boolean): boolean {
    if (fresh || !this.#briefs.has(m.name)) {
      this.#hub.publish(`outputs/${m.name}`, m.outputs, { retain: true });
    }
    this.#changed(`metrics/${m.name}`, moduleMetricsJson(m));
    const brief = moduleBriefJson(m);
    const before = this.#briefs.get(m.name);
    this.#briefs.set(m.name, brief);
    return before === undefined || JSON.stringify(before) !== JSON.stringify(brief);
  }

  /** Publishes the `status` frame when it changed, and the health with it. */
  #status(at = Date.now()): void {
    this.#changed("status", { modules: [...this.#briefs.values()] }, at);
    this.#health(this.#source.observability.health(), at);
  }

  #health(health: ReturnType<Observability["health"]>, at: number): void {
    this.#changed("health", health, at, JSON.stringify({ ...health, uptime_s: 0 }));
  }

  /** Publishes a retained state topic unless its last frame said the same. */
  #changed(topic: string, data: unknown, at = Date.now(), key = JSON.stringify(data)): void {
    if (this.#last.get(topic) === key) return;
    this.#last.set(topic, key);
    this.#hub.publish(topic, data, { retain: true, at });
  }
}
