/**
 * A simulated GPIO bank: digital pins that modules read (`read:gpio:pin_<n>`) and write
 * (`write:gpio:pin_<n>`). An operator or a test sets input levels; module writes latch the output level.
 * It is the {@linkcode GpioBank} modules get unless the manifest's `connectors.gpio` names another backend.
 *
 * @module
 */
import type { ConnectorStatus } from "../mod.ts";
import type { GpioBank, GpioChange, GpioPinState } from "../gpio/mod.ts";

export type { GpioPinState } from "../gpio/mod.ts";

/** Options of {@linkcode SimGpio}. */
export interface SimGpioOptions {
  /** Number of pins, numbered from 0. @default 32 */
  pins?: number;
}

/** Int32 words per pin: level, who set it (0 input, 1 output), writes. */
const WORDS = 3;

/**
 * The simulated GPIO bank. Its state lives in a `SharedArrayBuffer` so that the executor running an event
 * handler drives an output at once ({@linkcode SimGpio.attach} on the same buffer), without a round trip
 * through the runtime's thread. Each field is written atomically; two threads setting one pin at the same
 * moment leave the last writer's level.
 */
export class SimGpio implements GpioBank {
  readonly backend = "sim";
  /** Levels change only through {@linkcode SimGpio.set}: nothing to poll. */
  readonly pollMs = null;
  readonly size: number;
  /** The bank's state, to share with {@linkcode SimGpio.attach}. */
  readonly buffer: SharedArrayBuffer;
  #words: Int32Array;
  #changedAt: Float64Array;
  #closed = false;

  /** @throws {RangeError} when `pins` is not an integer in 1..1024. */
  constructor(options: SimGpioOptions = {}, shared?: SharedArrayBuffer) {
    const size = shared ? shared.byteLength / (8 + WORDS * 4) : options.pins ?? 32;
    if (!Number.isInteger(size) || size < 1 || size > 1024) {
      throw new RangeError(`Invalid pins "${size}": must be an integer from 1 to 1024`);
    }
    this.size = size;
    this.buffer = shared ?? new SharedArrayBuffer(size * 8 + size * WORDS * 4);
    this.#changedAt = new Float64Array(this.buffer, 0, size);
    this.#words = new Int32Array(this.buffer, size * 8, size * WORDS);
  }

  /** The bank whose state is `buffer` (another thread's {@linkcode SimGpio.buffer}). */
  static attach(buffer: SharedArrayBuffer): SimGpio {
    return new SimGpio({}, buffer);
  }

  /** The pin's state, or null when the bank has no such pin. */
  get(pin: number): GpioPinState | null {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.size) return null;
    const w = pin * WORDS;
    return {
      pin,
      value: Atomics.load(this.#words, w) ? 1 : 0,
      setBy: Atomics.load(this.#words, w + 1) ? "output" : "input",
      changedAt: this.#changedAt[pin]!,
      writes: Atomics.load(this.#words, w + 2),
      quality: "good",
    };
  }

  /** Every pin's state. */
  list(): GpioPinState[] {
    return Array.from({ length: this.size }, (_, pin) => this.get(pin)!);
  }

  /**
   * Sets a pin's level, as a module's write (`"output"`) or from outside (`"input"`).
   *
   * @throws {RangeError} when the pin does not exist.
   */
  set(pin: number, value: number, setBy: GpioPinState["setBy"], at = Date.now()): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= this.size) {
      throw new RangeError(`No GPIO pin ${pin}: the simulated bank has pins 0 to ${this.size - 1}`);
    }
    const w = pin * WORDS;
    const level = value ? 1 : 0;
    const by = setBy === "output" ? 1 : 0;
    if (by) Atomics.add(this.#words, w + 2, 1);
    const before = Atomics.exchange(this.#words, w, level);
    if (Atomics.exchange(this.#words, w + 1, by) !== by || before !== level) this.#changedAt[pin] = at;
  }

  /** Nothing to open: the simulated bank is always there. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to read: a level changes only through {@linkcode SimGpio.set}, whose caller tells the modules. */
  poll(): GpioChange[] {
    return [];
  }

  /** Connected until closed. */
  status(): ConnectorStatus {
    return {
      name: "gpio",
      kind: "sim",
      state: this.#closed ? "closed" : "connected",
      lastError: null,
      errors: 0,
      reconnects: 0,
    };
  }

  /** Marks the bank closed; its buffer stays usable by whoever attached to it. */
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
