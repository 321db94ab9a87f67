/**
 * What an executor worker gathers from its instances between two reports (`worker.ts` sends one every
 * 100 ms): outputs, arrays, alerts, logs, denials, capability uses, actuator writes and outbound messages.
 * {@linkcode ReportBatch} is the {@linkcode InstanceSink} every instance of the worker writes to. Each queue
 * holds at most {@linkcode MAX_QUEUED_EVENTS} entries per report; outputs and arrays keep the latest value
 * of each key. Private to the worker.
 *
 * @module
 */
import { nowMs } from "./instance.ts";
import type { InstanceSink } from "./host_kiln.ts";
import type {
  ActuatorWrite,
  AlertEvent,
  DenialEvent,
  FromExecutor,
  LogEvent,
  OutboundMessage,
  OutputPoint,
} from "./protocol.ts";
import type { SimGpio } from "../../hal/sim/gpio.ts";

/** Alerts, logs, distinct denials, writes and messages kept per report; more are not queued. */
export const MAX_QUEUED_EVENTS = 1000;

/** Scalar outputs kept per module per report, in order, for telemetry; `outputs` keeps the latest past it. */
export const MAX_OUTPUT_POINTS = 1000;

/** The report message, as {@linkcode ReportBatch.take} builds it. */
export type ReportMessage = Extract<FromExecutor, { type: "report" }>;

/**
 * A record without a prototype, for keys a module chooses (its name, its output keys): `constructor` or
 * `__proto__` must find nothing, and an assignment must never reach `Object` or `Object.prototype`.
 */
export function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** The instances' results of one report period. */
export class ReportBatch implements InstanceSink {
  /** The simulated GPIO bank shared with the runtime, whose pins a write drives at once; set by `init`. */
  gpio: SimGpio | null = null;
  /** Modules whose share of the outbox the runtime found full (`outbox` message): their publishes are refused. */
  outboxFull: ReadonlySet<string> = new Set();
  #outputs = record<Record<string, number>>();
  #outputSeries = record<OutputPoint[]>();
  #arrays = record<Record<string, Float32Array>>();
  #alerts: AlertEvent[] = [];
  #logs: LogEvent[] = [];
  /** Denials of this report period, keyed by module, capability and call, so a flood becomes one counted event. */
  #denials = new Map<string, DenialEvent>();
  #uses = record<Record<string, number>>();
  #writes: ActuatorWrite[] = [];
  #messages: OutboundMessage[] = [];

  output(module: string, key: string, value: number): void {
    (this.#outputs[module] ??= record())[key] = value;
    const points = this.#outputSeries[module] ??= [];
    if (points.length < MAX_OUTPUT_POINTS) points.push([key, value, Date.now()]);
  }

  outputArray(module: string, key: string, values: Float32Array): void {
    (this.#arrays[module] ??= record())[key] = values;
  }

  alert(event: AlertEvent): void {
    if (this.#alerts.length < MAX_QUEUED_EVENTS) this.#alerts.push(event);
  }

  log(event: LogEvent): void {
    if (this.#logs.length < MAX_QUEUED_EVENTS) this.#logs.push(event);
  }

  denied(module: string, capability: string, detail: string): void {
    const key = `${module}\u0000${capability}\u0000${detail}`;
    const d = this.#denials.get(key);
    if (d) d.count++;
    else if (this.#denials.size < MAX_QUEUED_EVENTS) {
      this.#denials.set(key, { module, capability, detail, count: 1 });
    }
  }

  used(module: string, capability: string): void {
    const m = this.#uses[module] ??= record();
    m[capability] = (m[capability] ?? 0) + 1;
  }

  write(w: ActuatorWrite): void {
    // A simulated pin is driven here and now: an event's actuator write needs no trip to the runtime.
    if (w.kind === "gpio" && this.gpio !== null && w.pin < this.gpio.size) {
      this.gpio.set(w.pin, w.value, "output");
      w.drivenAt = nowMs();
    }
    if (this.#writes.length < MAX_QUEUED_EVENTS) this.#writes.push(w);
  }

  publish(m: OutboundMessage): boolean {
    if (this.outboxFull.has(m.module) || this.#messages.length >= MAX_QUEUED_EVENTS) return false;
    this.#messages.push(m);
    return true;
  }

  /** The actuator writes queued since the last take, or null for none; the queue is emptied. */
  takeWrites(): ActuatorWrite[] | null {
    if (this.#writes.length === 0) return null;
    const writes = this.#writes;
    this.#writes = [];
    return writes;
  }

  /** The report of this period with the instances' `stats`; every queue starts again empty. */
  take(stats: ReportMessage["stats"]): ReportMessage {
    const report: ReportMessage = {
      type: "report",
      stats,
      outputs: this.#outputs,
      outputSeries: this.#outputSeries,
      arrays: this.#arrays,
      alerts: this.#alerts,
      logs: this.#logs,
      denials: [...this.#denials.values()],
      uses: this.#uses,
      writes: this.#writes,
      messages: this.#messages,
    };
    this.#outputs = record();
    this.#outputSeries = record();
    this.#arrays = record();
    this.#alerts = [];
    this.#logs = [];
    this.#denials = new Map();
    this.#uses = record();
    this.#writes = [];
    this.#messages = [];
    return report;
  }
}
