/**
 * GPIO: digital pins that modules read (`read:gpio:pin_<n>`, `kiln.gpio_read`) and write
 * (`write:gpio:pin_<n>`, `kiln.gpio_write`), and whose edges fire `gpio:pin_<n>` events. One interface,
 * {@linkcode GpioBank}, with two backends: the simulated bank of `hal/sim` (the default), and Linux GPIO
 * through sysfs ({@linkcode SysfsGpio}), configured in the manifest's `connectors.gpio`.
 *
 * Not here: the GPIO character device (`/dev/gpiochipN`), which needs ioctl(2) and so Deno FFI, and I2C and
 * SPI; naming them in a manifest is an error that says they are not supported yet.
 *
 * @example Lines of a sysfs GPIO folder as module pins
 * ```ts ignore
 * import { createSysfsGpio, GpioConnectorSchema, toGpioConfig } from "./mod.ts";
 *
 * const config = toGpioConfig(GpioConnectorSchema.parse({
 *   backend: "linux-sysfs",
 *   root: "/run/kiln/sys/class/gpio", // after: mount --bind /sys /run/kiln/sys
 *   pins: { 3: { line: 17, direction: "in" }, 8: { line: 27, direction: "out", initial: 0 } },
 * }))!;
 * await using gpio = createSysfsGpio(config);
 * await gpio.open(); // exports GPIO 17 and 27; throws GpioUnavailableError where there is no such folder
 * gpio.set(8, 1, "output"); // "1" written to gpio27/value
 * gpio.poll(); // [{ state: { pin: 3, value: 1, ... }, edge: true }] once GPIO 17 went high
 * ```
 *
 * @module
 */
export type { GpioBank, GpioChange, GpioPinState } from "./bank.ts";
export {
  DEFAULT_GPIO_POLL_MS,
  DENO_GUARDED_TREES,
  GPIO_BACKENDS,
  GPIO_PIN_KEY,
  type GpioConnectorConfig,
  GpioConnectorSchema,
  GpioPinSchema,
  SimGpioSchema,
  SUGGESTED_ROOT,
  type SysfsGpioConfig,
  SysfsGpioSchema,
  type SysfsPinConfig,
  toGpioConfig,
  UPCOMING_GPIO_BACKENDS,
} from "./config.ts";
export { GpioDirectionError, GpioError, GpioIoError, GpioUnavailableError } from "./errors.ts";
export { createSysfsGpio, DEFAULT_EXPORT_WAIT_MS, SysfsGpio, type SysfsGpioOptions } from "./sysfs.ts";
