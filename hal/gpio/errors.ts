/**
 * Errors of the GPIO backends. Opening lines that the platform does not have, and reads and writes that the
 * kernel refuses, throw one of these; a pin whose last read failed is data (`quality: "bad"` and the bank's
 * status), not an error.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** Any failure of a GPIO bank: `backend` is the one configured (`linux-sysfs`). */
export abstract class GpioError extends KilnError {
  constructor(readonly backend: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The configured GPIO lines cannot be opened on this machine: the sysfs GPIO folder is missing (a kernel
 * without `CONFIG_GPIO_SYSFS`, or `/sys` not bind-mounted where the manifest says), the kernel refused to
 * export a line (busy, or no such line), a chip label is unknown, or Deno refused the access.
 */
export class GpioUnavailableError extends GpioError {
  readonly code = "gpio_unavailable";
  readonly kind = "unavailable";
  /**
   * @param path The file or folder that could not be used, e.g. `/run/kiln/sys/class/gpio/export`.
   * @param line The kernel's GPIO number concerned, or `null` when the whole bank is unavailable.
   * @param reason Why, and what to do, e.g. `it does not exist: ...; use connectors.gpio.backend: sim`.
   */
  constructor(
    backend: string,
    readonly path: string,
    readonly line: number | null,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      backend,
      `Cannot open the GPIO connector (connectors.gpio, backend ${backend})${
        line === null ? "" : ` line ${line}`
      }: "${path}" ${reason}`,
      options,
    );
  }
}

/** Reading or writing a line's value failed after it was opened (the kernel answered with an error). */
export class GpioIoError extends GpioError {
  readonly code = "gpio_io";
  readonly kind = "failed";
  /**
   * @param pin Kiln's pin number (`pin_<n>`).
   * @param path The value file, e.g. `/run/kiln/sys/class/gpio/gpio27/value`.
   * @param what `read` or `write 1`.
   */
  constructor(
    backend: string,
    readonly pin: number,
    readonly path: string,
    readonly what: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(backend, `Cannot ${what} GPIO pin ${pin} ("${path}"): ${reason}`, options);
  }
}

/** A pin was set the wrong way: a module wrote an input line, or an operator tried to drive a hardware line. */
export class GpioDirectionError extends GpioError {
  readonly code = "gpio_direction";
  readonly kind = "conflict";
  /**
   * @param pin Kiln's pin number (`pin_<n>`).
   * @param reason Why, e.g. `it is an input line (connectors.gpio.pins.3.direction: in)`.
   */
  constructor(backend: string, readonly pin: number, reason: string) {
    super(backend, `Cannot set GPIO pin ${pin}: ${reason}`);
  }
}
