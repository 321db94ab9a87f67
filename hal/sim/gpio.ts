/**
 * A simulated GPIO bank: digital pins that modules read (`read:gpio:pin_<n>`) and write
 * (`write:gpio:pin_<n>`). An operator or a test sets input levels; module writes latch the output level.
 *
 * @module
 */

/** One pin's level and who set it last. */
export interface GpioPinState {
  pin: number;
  value: 0 | 1;
  /** `"input"` when set from outside (operator, test), `"output"` when a module wrote it. */
  setBy: "input" | "output";
  /** Epoch milliseconds of the last change. */
  changedAt: number;
  /** Writes to this pin since start. */
  writes: number;
}

/** Options of {@linkcode SimGpio}. */
export interface SimGpioOptions {
  /** Number of pins, numbered from 0. @default 32 */
  pins?: number;
}

/** The simulated GPIO bank. */
export class SimGpio {
  readonly size: number;
  #pins: GpioPinState[];

  /** @throws {RangeError} when `pins` is not an integer in 1..1024. */
  constructor(options: SimGpioOptions = {}) {
    const size = options.pins ?? 32;
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new RangeError(`Invalid pins "${size}": must be an integer from 1 to 1024`);
    }
    this.size = size;
    this.#pins = Array.from({ length: size }, (_, pin) => ({
      pin,
      value: 0,
      setBy: "input",
      changedAt: 0,
      writes: 0,
    }));
  }

  /** The pin's state, or null when the bank has no such pin. */
  get(pin: number): GpioPinState | null {
    const p = this.#pins[pin];
    return p ? { ...p } : null;
  }

  /** Every pin's state. */
  list(): GpioPinState[] {
    return this.#pins.map((p) => ({ ...p }));
  }

  /**
   * Sets a pin's level, as a module's write (`"output"`) or from outside (`"input"`).
   *
   * @throws {RangeError} when the pin does not exist.
   */
  set(pin: number, value: number, setBy: GpioPinState["setBy"], at = Date.now()): void {
    const p = this.#pins[pin];
    if (!p) throw new RangeError(`No GPIO pin ${pin}: the simulated bank has pins 0 to ${this.size - 1}`);
    const level = value ? 1 : 0;
    if (setBy === "output") p.writes++;
    if (p.value !== level || p.setBy !== setBy) p.changedAt = at;
    p.value = level;
    p.setBy = setBy;
  }
}
