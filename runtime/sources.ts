/**
 * Drives the data sources modules read: today the simulated plant of `hal/sim`. Sample streams are
 * generated in batches on a timer, as many samples as the wall clock says are due, so the stream keeps
 * its rate even when a timer fires late; scalar inputs are read on a slower scan.
 *
 * @module
 */
import { type GpioPinState, SimGpio, SimTemperatureSensor, SimVibrationSensor } from "../hal/sim/mod.ts";
import { nowMs } from "./instance.ts";
import type { InputValue } from "./_protocol.ts";
import type { SimSensorPlan } from "./plan.ts";

/** Options of {@linkcode SimSources}. */
export interface SimSourcesOptions {
  sensors: SimSensorPlan[];
  /** Called with each batch of a stream source, e.g. `("sim:vibration_1", samples)`. */
  onSamples(source: string, samples: Int16Array): void;
  /** Called with the latest scalar values, keyed like `"sim:temperature_1"`. */
  onInputs(values: Record<string, InputValue>): void;
  /** @default 20 */
  batchMs?: number;
  /** @default 100 */
  scanMs?: number;
  /** Called when a GPIO pin changes level. */
  onGpioEdge?(pin: number, value: number): void;
}

/** A fault that can be injected into a simulated sensor. */
export type SimFault = "none" | "bearing" | "overheat";

/** The simulated plant, producing samples and values until disposed. */
export class SimSources {
  #vibration = new Map<string, { sensor: SimVibrationSensor; startMs: number; emitted: number }>();
  #temperature = new Map<string, SimTemperatureSensor>();
  #gpio = new SimGpio();
  /** The level of each pin the modules were last told of (edges are changes of it); pins start low. */
  #told = new Map<number, number>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #options: SimSourcesOptions;

  constructor(options: SimSourcesOptions) {
    this.#options = options;
    for (const s of options.sensors) {
      if (s.kind === "vibration") {
        const sensor = new SimVibrationSensor({
          id: s.id,
          rateHz: s.rateHz,
          ...(s.shaftHz !== undefined && { shaftHz: s.shaftHz }),
          ...(s.fullScaleG !== undefined && { fullScaleG: s.fullScaleG }),
          ...(s.seed !== undefined && { seed: s.seed }),
        });
        this.#vibration.set(s.id, { sensor, startMs: 0, emitted: 0 });
      } else {
        const sensor = new SimTemperatureSensor({
          id: s.id,
          ...(s.ambientC !== undefined && { ambientC: s.ambientC }),
          ...(s.seed !== undefined && { seed: s.seed }),
        });
        this.#temperature.set(s.id, sensor);
      }
    }
  }

  /** Ids of the simulated sensors, with their kind and current fault. */
  list(): { id: string; kind: "vibration" | "temperature"; fault: SimFault; rateHz: number | null }[] {
    return [
      ...[...this.#vibration].map(([id, v]) => ({
        id,
        kind: "vibration" as const,
        fault: v.sensor.fault as SimFault,
        rateHz: v.sensor.rateHz,
      })),
      ...[...this.#temperature].map(([id, t]) => ({
        id,
        kind: "temperature" as const,
        fault: t.fault as SimFault,
        rateHz: null,
      })),
    ];
  }

  /**
   * Injects or clears a fault: `bearing` on a vibration sensor, `overheat` on a temperature sensor.
   * Returns false when there is no such sensor or the fault does not apply to its kind.
   */
  setFault(id: string, fault: SimFault): boolean {
    const v = this.#vibration.get(id);
    if (v && (fault === "none" || fault === "bearing")) {
      v.sensor.setFault(fault);
      return true;
    }
    const t = this.#temperature.get(id);
    if (t && (fault === "none" || fault === "overheat")) {
      t.setFault(fault);
      return true;
    }
    return false;
  }

  /** The simulated GPIO bank's pins. */
  listGpio(): GpioPinState[] {
    return this.#gpio.list();
  }

  /**
   * Sets a GPIO pin, as a module's write (`"output"`) or from outside (`"input"`), and pushes the new level
   * to the modules at once. Returns false when the bank has no such pin.
   */
  setGpio(pin: number, value: number, setBy: GpioPinState["setBy"]): boolean {
    if (this.#gpio.get(pin) === null) return false;
    this.#gpio.set(pin, value, setBy);
    this.gpioDriven(pin);
    return true;
  }

  /**
   * The bank's state, shared with the executors: an event handler's `gpio_write` drives the simulated pin
   * from the executor's thread at once, then reports it for {@linkcode SimSources.gpioDriven}.
   */
  get gpioBuffer(): SharedArrayBuffer {
    return this.#gpio.buffer;
  }

  /**
   * Tells the modules a pin's level after it was set (here or by an executor): an edge event when it differs
   * from the level last told, and the input value. Done right after the current task, so that a burst of
   * writes is carried out first.
   */
  gpioDriven(pin: number): void {
    queueMicrotask(() => {
      const p = this.#gpio.get(pin);
      if (p === null) return;
      if ((this.#told.get(pin) ?? 0) !== p.value) {
        this.#told.set(pin, p.value);
        this.#options.onGpioEdge?.(pin, p.value);
      }
      this.#options.onInputs({ [`gpio:pin_${pin}`]: { value: p.value, quality: "good", atMs: nowMs() } });
    });
  }

  /** Starts producing. */
  start(): void {
    const start = nowMs();
    for (const v of this.#vibration.values()) v.startMs = start;
    this.#timers.push(setInterval(() => this.#produce(), this.#options.batchMs ?? 20));
    this.#timers.push(setInterval(() => this.#scan(), this.#options.scanMs ?? 100));
    this.#scan();
  }

  #produce(): void {
    const t = nowMs();
    for (const [id, v] of this.#vibration) {
      const due = Math.floor(((t - v.startMs) / 1000) * v.sensor.rateHz) - v.emitted;
      if (due <= 0) continue;
      // A stalled event loop (seconds) would otherwise produce one huge batch: cap at one second.
      const n = Math.min(due, v.sensor.rateHz);
      const samples = new Int16Array(n);
      v.sensor.fill(samples);
      v.emitted += due;
      this.#options.onSamples(`sim:${id}`, samples);
    }
  }

  #scan(): void {
    const t = nowMs();
    const values: Record<string, InputValue> = {};
    for (const [id, sensor] of this.#temperature) {
      values[`sim:${id}`] = { value: sensor.read(t), quality: "good", atMs: t };
    }
    for (const p of this.#gpio.list()) {
      values[`gpio:pin_${p.pin}`] = { value: p.value, quality: "good", atMs: t };
    }
    if (Object.keys(values).length > 0) this.#options.onInputs(values);
  }

  /** Stops producing. */
  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}
