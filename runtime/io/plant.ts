/**
 * The plant the modules read ({@linkcode SimPlant}): the simulated sensors of `hal/sim` with the faults an
 * operator injects, and the GPIO bank (the simulated one, or Linux lines when the manifest configures
 * `connectors.gpio`). It is also what the API's simulated-plant port drives (sensors, faults, pins). Sample
 * streams are generated in batches on a timer, as many samples as the wall clock says are due, so the stream
 * keeps its rate even when a timer fires late; scalar inputs are read on a slower scan; a hardware bank's
 * inputs are polled at its `poll_ms`, and a change of level is an edge.
 *
 * @module
 */
import { SimGpio, SimTemperatureSensor, SimVibrationSensor } from "../../hal/sim/mod.ts";
import {
  createSysfsGpio,
  type GpioBank,
  GpioError,
  type GpioPinState,
  type SysfsGpioConfig,
} from "../../hal/gpio/mod.ts";
import type { ConnectorStatus } from "../../hal/mod.ts";
import { nowMs } from "../executor/instance.ts";
import type { InputValue } from "../executor/protocol.ts";
import type { SimSensorPlan } from "../plan.ts";
import { FaultNotApplicableError, PinUnknownError, SensorUnknownError } from "../errors.ts";

/** Options of {@linkcode SimPlant}. */
export interface SimPlantOptions {
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
  /** The Linux GPIO bank (`connectors.gpio`); absent or null for the simulated bank. */
  gpio?: SysfsGpioConfig | null;
  /** Where a fault injected or cleared is said. @default nothing is said */
  log?(line: string): void;
}

/** A fault that can be injected into a simulated sensor. */
export type SimFault = "none" | "bearing" | "overheat";

/** A simulated sensor: its kind, its current fault, and its sample rate (vibration sensors; else null). */
export interface SimSensorState {
  id: string;
  kind: "vibration" | "temperature";
  fault: SimFault;
  rateHz: number | null;
}

/** The simulated plant, producing samples and values until disposed. */
export class SimPlant {
  #vibration = new Map<string, { sensor: SimVibrationSensor; startMs: number; emitted: number }>();
  #temperature = new Map<string, SimTemperatureSensor>();
  #gpio: GpioBank;
  /** The level of each pin the modules were last told of (edges are changes of it); pins start low. */
  #told = new Map<number, number>();
  /** Each pin's level and quality as the last scan sent them. */
  #scanned = new Map<number, string>();
  #timers: ReturnType<typeof setInterval>[] = [];
  #stopped = false;
  #options: SimPlantOptions;

  constructor(options: SimPlantOptions) {
    this.#options = options;
    this.#gpio = options.gpio ? createSysfsGpio(options.gpio) : new SimGpio();
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

  /** The simulated sensors, with their kind and current fault: vibration sensors first, in manifest order. */
  listSensors(): SimSensorState[] {
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
   * Injects or clears a fault: `bearing` on a vibration sensor, `overheat` on a temperature sensor; returns the
   * sensor with its fault, and says so in the log.
   *
   * @throws {SensorUnknownError} when there is no such sensor.
   * @throws {FaultNotApplicableError} when the fault does not apply to its kind.
   */
  setFault(id: string, fault: SimFault): SimSensorState {
    const v = this.#vibration.get(id);
    const t = this.#temperature.get(id);
    if (v) {
      if (fault !== "none" && fault !== "bearing") {
        throw new FaultNotApplicableError(id, "vibration", fault, ["none", "bearing"]);
      }
      v.sensor.setFault(fault);
    } else {
      if (!t) throw new SensorUnknownError(id);
      if (fault !== "none" && fault !== "overheat") {
        throw new FaultNotApplicableError(id, "temperature", fault, ["none", "overheat"]);
      }
      t.setFault(fault);
    }
    this.#options.log?.(`sim: ${id} fault ${fault === "none" ? "cleared" : `"${fault}" injected`}`);
    return this.listSensors().find((s) => s.id === id)!;
  }

  /**
   * Opens the GPIO bank; call it once, before {@linkcode SimPlant.start} and before any module runs.
   *
   * @throws {import("../../hal/gpio/mod.ts").GpioUnavailableError} when the configured lines cannot be opened.
   */
  async open(): Promise<void> {
    await this.#gpio.open();
    // The levels read at open are what modules start from: no edge for an input that is already high.
    for (const p of this.#gpio.list()) this.#told.set(p.pin, p.value);
  }

  /** The GPIO bank's pins: the simulated bank's, or the configured Linux lines. */
  listGpio(): GpioPinState[] {
    return this.#gpio.list();
  }

  /**
   * Sets a GPIO pin, as a module's write (`"output"`) or from outside (`"input"`), and pushes the new level
   * to the modules at once. Returns false when the bank has no such pin, or refused the write (a Linux
   * input line, a level set from outside on a Linux line, a write the kernel refused: the bank's status
   * counts the module writes it refused and keeps the last reason).
   */
  setGpio(pin: number, value: number, setBy: GpioPinState["setBy"]): boolean {
    if (this.#gpio.get(pin) === null) return false;
    try {
      this.#gpio.set(pin, value, setBy);
    } catch (err) {
      if (err instanceof GpioError) return false;
      throw err;
    }
    this.gpioDriven(pin);
    return true;
  }

  /**
   * Sets a GPIO pin's level from outside (an operator, a test), as the wire would, and pushes it to the
   * modules at once; returns the pin's state after it.
   *
   * @throws {PinUnknownError} when the bank has no such pin.
   * @throws {import("../../hal/gpio/mod.ts").GpioDirectionError} when the bank refuses a level set from outside
   * (a Linux line: only its wire sets it).
   */
  setGpioInput(pin: number, value: number): GpioPinState {
    if (this.#gpio.get(pin) === null) throw new PinUnknownError(String(pin));
    this.#gpio.set(pin, value, "input");
    this.gpioDriven(pin);
    return this.#gpio.get(pin)!;
  }

  /**
   * The simulated bank's state, shared with the executors: an event handler's `gpio_write` drives the
   * simulated pin from the executor's thread at once, then reports it for {@linkcode SimPlant.gpioDriven}.
   * `null` for a Linux bank: a worker has no permissions, so its writes come back to this thread.
   */
  get gpioBuffer(): SharedArrayBuffer | null {
    return this.#gpio instanceof SimGpio ? this.#gpio.buffer : null;
  }

  /** The GPIO bank's state as a connector when it is not the simulated one (that is part of "sim"), else null. */
  gpioStatus(): ConnectorStatus | null {
    return this.#gpio instanceof SimGpio ? null : this.#gpio.status();
  }

  /**
   * The plant as connectors (`GET /api/v1/connectors`): `sim`, connected until the plant is stopped, and a Linux
   * GPIO bank when there is one.
   */
  connectorStatuses(): ConnectorStatus[] {
    const sim: ConnectorStatus = {
      name: "sim",
      kind: "sim",
      state: this.#stopped ? "closed" : "connected",
      lastError: null,
      errors: 0,
      reconnects: 0,
    };
    const gpio = this.gpioStatus();
    return gpio ? [sim, gpio] : [sim];
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
      this.#options.onInputs({ [`gpio:pin_${pin}`]: { value: p.value, quality: p.quality, atMs: nowMs() } });
    });
  }

  /** Starts producing. */
  start(): void {
    const start = nowMs();
    for (const v of this.#vibration.values()) v.startMs = start;
    this.#timers.push(setInterval(() => this.#produce(), this.#options.batchMs ?? 20));
    this.#timers.push(setInterval(() => this.#scan(), this.#options.scanMs ?? 100));
    const pollMs = this.#gpio.pollMs;
    if (pollMs !== null) this.#timers.push(setInterval(() => this.#pollGpio(), pollMs));
    this.#scan();
  }

  /** Reads a hardware bank's inputs: an edge event for each change of level, and the changed inputs. */
  #pollGpio(): void {
    const changes = this.#gpio.poll();
    if (changes.length === 0) return;
    const t = nowMs();
    const values = Object.create(null) as Record<string, InputValue>;
    for (const { state: p } of changes) {
      if ((this.#told.get(p.pin) ?? 0) !== p.value) {
        this.#told.set(p.pin, p.value);
        this.#options.onGpioEdge?.(p.pin, p.value);
      }
      values[`gpio:pin_${p.pin}`] = { value: p.value, quality: p.quality, atMs: t };
    }
    this.#options.onInputs(values);
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
    const values = Object.create(null) as Record<string, InputValue>;
    for (const [id, sensor] of this.#temperature) {
      values[`sim:${id}`] = { value: sensor.read(t), quality: "good", atMs: t };
    }
    // A pin's input goes out when it changed since the last scan (edges go out at once anyway): a message
    // to every executor ten times a second, for nothing, would wake them and delay their real work.
    for (const p of this.#gpio.list()) {
      const seen = `${p.value}/${p.quality}`;
      if (this.#scanned.get(p.pin) === seen) continue;
      this.#scanned.set(p.pin, seen);
      values[`gpio:pin_${p.pin}`] = { value: p.value, quality: p.quality, atMs: t };
    }
    if (Object.keys(values).length > 0) this.#options.onInputs(values);
  }

  /** Stops producing. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  /** Stops producing and closes the GPIO bank's lines. It never rejects. */
  close(): Promise<void> {
    this.stop();
    return this.#gpio.close();
  }

  [Symbol.dispose](): void {
    this.stop();
  }
}
