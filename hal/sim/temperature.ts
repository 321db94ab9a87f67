/**
 * A simulated temperature sensor (a motor winding or bearing housing), deterministic for a seed.
 *
 * @module
 */
import { Prng } from "./_prng.ts";

/** Faults a {@linkcode SimTemperatureSensor} can simulate. */
export type TemperatureFault = "none" | "overheat";

/** Options of {@linkcode SimTemperatureSensor}. */
export interface SimTemperatureSensorOptions {
  /** Sensor id, e.g. `"temperature_1"`. */
  id: string;
  /**
   * The healthy operating temperature in °C, around which the reading drifts.
   * @default {45}
   */
  ambientC?: number;
  /**
   * Measurement noise, standard deviation in °C.
   * @default {0.05}
   */
  noiseC?: number;
  /**
   * Seed of the noise and of the drift's phases.
   * @default {1}
   */
  seed?: number;
}

/** How fast an overheat fault heats the machine, in °C per second. */
export const OVERHEAT_RATE_C_PER_S = 1;
/** The most an overheat fault adds above the healthy temperature, in °C. */
export const OVERHEAT_MAX_C = 60;
/** Time constant in seconds of the cooling back to healthy once the fault is cleared. */
export const COOLING_TAU_S = 20;

/**
 * A simulated temperature: the healthy value drifts slowly (±1.5 °C over 20 minutes, ±0.5 °C over 3.7 minutes)
 * with Gaussian noise. With `fault = "overheat"` it rises by {@linkcode OVERHEAT_RATE_C_PER_S} up to
 * {@linkcode OVERHEAT_MAX_C} above healthy; cleared, it cools back exponentially with {@linkcode COOLING_TAU_S}.
 *
 * The fault state advances with the time of each {@linkcode read}; a read at an earlier time than the previous
 * one sees the fault state as it was then (no time passes).
 *
 * @example
 * ```ts
 * import { SimTemperatureSensor } from "./temperature.ts";
 * const sensor = new SimTemperatureSensor({ id: "temperature_1", seed: 3 });
 * sensor.read(0); // about 45
 * sensor.fault = "overheat";
 * sensor.read(30_000); // about 75
 * ```
 */
export class SimTemperatureSensor {
  /** Sensor id. */
  readonly id: string;
  /** Healthy temperature in °C. */
  readonly ambientC: number;
  /** Noise standard deviation in °C. */
  readonly noiseC: number;
  /** The simulated fault; takes effect from the next read. */
  fault: TemperatureFault = "none";
  #prng: Prng;
  #phaseSlow: number;
  #phaseFast: number;
  #excessC = 0;
  #lastMs: number | null = null;

  /** @throws {RangeError} when `ambientC` is not finite or `noiseC` is negative. */
  constructor(options: SimTemperatureSensorOptions) {
    const { id, ambientC = 45, noiseC = 0.05, seed = 1 } = options;
    if (!Number.isFinite(ambientC)) throw new RangeError(`Invalid ambientC "${ambientC}": must be finite`);
    if (!(noiseC >= 0)) throw new RangeError(`Invalid noiseC "${noiseC}": must be zero or positive`);
    this.id = id;
    this.ambientC = ambientC;
    this.noiseC = noiseC;
    this.#prng = new Prng(seed);
    this.#phaseSlow = 2 * Math.PI * this.#prng.next();
    this.#phaseFast = 2 * Math.PI * this.#prng.next();
  }

  /** Sets the simulated fault (same as assigning {@linkcode fault}). */
  setFault(fault: TemperatureFault): void {
    this.fault = fault;
  }

  /** The temperature above healthy that the fault has caused so far, in °C. */
  get excessC(): number {
    return this.#excessC;
  }

  /**
   * Reads the temperature in °C at `atMs` (milliseconds on any clock the caller keeps monotonic).
   *
   * @throws {RangeError} when `atMs` is not finite.
   */
  read(atMs: number): number {
    if (!Number.isFinite(atMs)) throw new RangeError(`Invalid atMs "${atMs}": must be finite`);
    const dtS = this.#lastMs === null ? 0 : Math.max(0, atMs - this.#lastMs) / 1000;
    if (this.#lastMs === null || atMs > this.#lastMs) this.#lastMs = atMs;
    if (this.fault === "overheat") {
      this.#excessC = Math.min(OVERHEAT_MAX_C, this.#excessC + OVERHEAT_RATE_C_PER_S * dtS);
    } else {
      this.#excessC *= Math.exp(-dtS / COOLING_TAU_S);
      if (this.#excessC < 1e-3) this.#excessC = 0;
    }
    const tS = atMs / 1000;
    const drift = 1.5 * Math.sin((2 * Math.PI * tS) / 1200 + this.#phaseSlow) +
      0.5 * Math.sin((2 * Math.PI * tS) / 222 + this.#phaseFast);
    return this.ambientC + drift + this.#excessC + this.noiseC * this.#prng.gaussian();
  }
}

/** Creates a {@linkcode SimTemperatureSensor}. @throws {RangeError} as its constructor. */
export function createSimTemperatureSensor(options: SimTemperatureSensorOptions): SimTemperatureSensor {
  return new SimTemperatureSensor(options);
}
