/**
 * The one GPIO interface the runtime drives, whatever is behind it: the simulated bank (`hal/sim`) or Linux
 * lines through sysfs (`sysfs.ts`).
 *
 * Pins are Kiln's numbers, the `<n>` of `gpio:pin_<n>` in capabilities, triggers and the API; a backend maps
 * them onto its own lines. Levels are logical (0 or 1): a line configured active-low reads 1 when its wire
 * is low.
 *
 * @module
 */
import type { ConnectorStatus, Quality } from "../mod.ts";

/** One pin's level, who set it last, and how far its last read can be trusted. */
export interface GpioPinState {
  pin: number;
  value: 0 | 1;
  /** `"input"` when set from outside (the wire, an operator, a test), `"output"` when a module wrote it. */
  setBy: "input" | "output";
  /** Epoch milliseconds of the last change of level. */
  changedAt: number;
  /** Writes to this pin since start. */
  writes: number;
  /** `"bad"` while the pin's line cannot be read (its value is then the last one read); else `"good"`. */
  quality: Quality;
}

/** A pin whose level or quality changed at a {@linkcode GpioBank.poll}. */
export interface GpioChange {
  readonly state: GpioPinState;
  /** True when the level changed (an edge, which fires `gpio:pin_<n>` events); false for quality alone. */
  readonly edge: boolean;
}

/** A bank of digital pins that modules read (`read:gpio:pin_<n>`) and write (`write:gpio:pin_<n>`). */
export interface GpioBank extends AsyncDisposable {
  /** `sim` or `linux-sysfs`, as the manifest's `connectors.gpio.backend` says. */
  readonly backend: string;
  /**
   * How often the runtime should {@linkcode GpioBank.poll} the inputs, in milliseconds; `null` when levels
   * change only through {@linkcode GpioBank.set} (the simulated bank).
   */
  readonly pollMs: number | null;
  /**
   * Opens the lines; the runtime calls it once, before any module starts.
   *
   * @throws {import("./errors.ts").GpioUnavailableError} when the platform lacks them.
   */
  open(): Promise<void>;
  /** The pin's state, or `null` when the bank has no such pin. */
  get(pin: number): GpioPinState | null;
  /** Every pin's state, by pin number. */
  list(): GpioPinState[];
  /**
   * Sets a pin's level (any non-zero value is 1), as a module's write (`"output"`) or from outside
   * (`"input"`: an operator or a test; only the simulated bank takes those). At once: the write is done
   * when this returns.
   *
   * @throws {RangeError} when the bank has no such pin.
   * @throws {import("./errors.ts").GpioDirectionError} when the pin cannot be set that way.
   * @throws {import("./errors.ts").GpioIoError} when the kernel refused the write.
   */
  set(pin: number, value: number, setBy: GpioPinState["setBy"], at?: number): void;
  /**
   * Reads the input lines and returns those whose level or quality changed since the last poll. A line
   * that cannot be read is not thrown: its quality turns `bad` and {@linkcode GpioBank.status} says why.
   */
  poll(at?: number): GpioChange[];
  /** The bank as a connector: its state, last error and error count (`GET /api/v1/connectors`). */
  status(): ConnectorStatus;
  /** Closes the lines' files. It never rejects. */
  close(): Promise<void>;
}
