/**
 * The stream's poller: reads the runtime at an interval and publishes what changed into the hub.
 *
 * @module
 */
import type { AlertEvent, Health, LogEvent, ModuleStatus, Runtime } from "../../runtime/mod.ts";
import type { StreamHub } from "./hub.ts";
import { alertJson, logJson, messageJson } from "../_json.ts";

/** The module fields the poller reads. */
export type StreamModuleStatus = Pick<
  ModuleStatus,
  | "name"
  | "state"
  | "last_error"
  | "restarts"
  | "outputs"
  | "invocations"
  | "errors"
  | "traps"
  | "avg_us"
  | "max_us"
  | "memory_bytes"
  | "samples_in"
  | "dropped_samples"
  | "behind"
  | "deadline_misses"
  | "budget_overruns"
  | "denials"
>;

/** What the poller reads from the runtime; {@linkcode Runtime} has it. */
export interface StreamSource {
  listModules(): StreamModuleStatus[];
  getModuleArrays(name: string): Record<string, number[]> | null;
  getModuleLogs(name: string): LogEvent[] | null;
  listAlerts(after: number): (AlertEvent & { seq: number })[];
  listMessages(after: number): ReturnType<Runtime["listMessages"]>;
  health(): Health;
}

/** Options of {@linkcode StreamPoller}. */
export interface StreamPollerOptions {
  /** How often the runtime is read. @default 100 */
  intervalMs?: number;
}

/**
 * Reads the runtime every `intervalMs` and publishes what changed:
 * - `status` (retained): `{ modules: [{ name, state, last_error, restarts }] }` when any of it changes;
 * - `health` (retained): the runtime's health when anything but its uptime changes;
 * - `outputs/<module>` (retained): the module's scalar outputs, `{ name: value }`;
 * - `metrics/<module>` (retained): invocations, errors, traps, timings, memory, drops, misses, denials;
 * - `arrays/<module>` (retained, read only while someone subscribes): its vector outputs (a spectrum);
 * - `alerts`: each new alert with the runtime's alert `seq` (older ones: `GET /api/v1/alerts?after=`);
 * - `logs/<module>`: each new log line; `messages/<module>`: each message it published.
 *
 * Alerts, log lines and messages have the REST API's shape (`../_json.ts`): their `at` an RFC 3339 time.
 *
 * Events from before the first poll are not replayed; the REST API has them.
 */
export class StreamPoller implements AsyncDisposable {
  readonly #source: StreamSource;
  readonly #hub: StreamHub;
  readonly #intervalMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #primed = false;
  #polls = 0;
  #errors = 0;
  #lastError: string | null = null;
  #last = new Map<string, string>();
  #alertSeq = 0;
  #messageSeq = 0;
  /** Per module, the newest log line seen. */
  #lastLog = new Map<string, LogEvent | null>();

  /** @throws {RangeError} when `intervalMs` is not a positive integer. */
  constructor(source: StreamSource, hub: StreamHub, options: StreamPollerOptions = {}) {
    this.#source = source;
    this.#hub = hub;
    this.#intervalMs = options.intervalMs ?? 100;
    if (!Number.isInteger(this.#intervalMs) || this.#intervalMs <= 0) {
      throw new RangeError(`Stream poll interval must be a positive integer, got ${this.#intervalMs}`);
    }
  }

  /**
   * Polls now, then every `intervalMs`. A later poll that throws is counted in {@linkcode StreamPoller.stats}
   * and the next one tries again: telemetry must not take the runtime down with it.
   *
   * @throws what the first poll throws.
   */
  start(): void {
    if (this.#timer !== null) return;
    this.poll();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
  }

  /** Polls done, polls that threw, and the last one's error (null once a poll succeeds again). */
  stats(): { polls: number; errors: number; last_error: string | null } {
    return { polls: this.#polls, errors: this.#errors, last_error: this.#lastError };
  }

  #tick(): void {
    try {
      this.poll();
      this.#lastError = null;
    } catch (err) {
      this.#errors++;
      const message = err instanceof Error ? err.message : String(err);
      // Said once when polling starts failing, not every interval; the count is in stats().
      if (this.#lastError === null) console.error(`The stream poller failed and keeps trying: ${message}`);
      this.#lastError = message;
    }
  }

  /**
   * One pass: reads the runtime and publishes what changed since the last pass.
   *
   * @throws what the source or the hub throws.
   */
  poll(): void {
    this.#polls++;
    const src = this.#source;
    const modules = src.listModules();
    this.#changed("status", {
      modules: modules.map((m) => ({
        name: m.name,
        state: m.state,
        last_error: m.last_error,
        restarts: m.restarts,
      })),
    });
    const health = src.health();
    this.#changed("health", health, JSON.stringify({ ...health, uptime_s: 0 }));
    const seen = new Set<string>();
    for (const m of modules) {
      seen.add(m.name);
      this.#changed(`outputs/${m.name}`, m.outputs);
      this.#changed(`metrics/${m.name}`, {
        invocations: m.invocations,
        errors: m.errors,
        traps: m.traps,
        avg_us: m.avg_us,
        max_us: m.max_us,
        memory_bytes: m.memory_bytes,
        samples_in: m.samples_in,
        dropped_samples: m.dropped_samples,
        behind: m.behind,
        deadline_misses: m.deadline_misses,
        budget_overruns: m.budget_overruns,
        denials: m.denials,
      });
      const arraysTopic = `arrays/${m.name}`;
      if (this.#hub.wants(arraysTopic)) {
        const arrays = src.getModuleArrays(m.name);
        if (arrays !== null && Object.keys(arrays).length > 0) this.#changed(arraysTopic, arrays);
      } else if (this.#last.delete(arraysTopic)) {
        this.#hub.forget(arraysTopic); // not kept up to date while nobody reads it
      }
      this.#logs(m.name);
    }
    for (const name of [...this.#lastLog.keys()].filter((n) => !seen.has(n))) {
      this.#lastLog.delete(name);
      for (const kind of ["outputs", "metrics", "arrays"]) {
        this.#last.delete(`${kind}/${name}`);
        this.#hub.forget(`${kind}/${name}`);
      }
    }
    for (const a of src.listAlerts(this.#alertSeq)) {
      this.#alertSeq = Math.max(this.#alertSeq, a.seq);
      if (this.#primed) this.#hub.publish("alerts", alertJson(a), { at: a.at });
    }
    for (const msg of src.listMessages(this.#messageSeq)) {
      this.#messageSeq = Math.max(this.#messageSeq, msg.seq);
      if (this.#primed) this.#hub.publish(`messages/${msg.module}`, messageJson(msg), { at: msg.at });
    }
    this.#primed = true;
  }

  /** Stops polling. */
  [Symbol.asyncDispose](): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    return Promise.resolve();
  }

  #changed(topic: string, data: unknown, key = JSON.stringify(data)): void {
    if (this.#last.get(topic) === key) return;
    this.#last.set(topic, key);
    this.#hub.publish(topic, data, { retain: true });
  }

  /**
   * Publishes the lines after the newest one seen. The runtime keeps the last lines of each module and has
   * no sequence numbers for them, so the newest line seen is found again by identity (the runtime returns the
   * same objects), else by its fields; when it has been pushed out, every line is new.
   */
  #logs(module: string): void {
    const lines = this.#source.getModuleLogs(module) ?? [];
    const known = this.#lastLog.has(module);
    const last = this.#lastLog.get(module) ?? null;
    this.#lastLog.set(module, lines.at(-1) ?? last);
    // Lines of a module present at the first poll are history; a module deployed later starts fresh.
    if (!this.#primed) return;
    let from = 0;
    if (known && last !== null) {
      let i = lines.lastIndexOf(last);
      if (i < 0) {
        i = lines.findLastIndex((l) =>
          l.at === last.at && l.message === last.message && l.level === last.level
        );
      }
      from = i + 1;
    }
    for (const line of lines.slice(from)) this.#hub.publish(`logs/${module}`, logJson(line), { at: line.at });
  }
}
