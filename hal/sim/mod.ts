/**
 * The simulated plant: deterministic sensors that are the runtime's data source when no hardware is
 * configured. A vibration sensor streams Q15 samples of a rotating machine (with an injectable bearing
 * defect); a temperature sensor is read on demand (with an injectable overheat); a GPIO bank holds digital
 * levels that modules read and write.
 *
 * Everything is seeded: the same options give the same samples, so tests and demos are reproducible.
 *
 * @example
 * ```ts
 * import { SimTemperatureSensor, SimVibrationSensor } from "./mod.ts";
 *
 * const vibration = new SimVibrationSensor({ id: "vibration_1", rateHz: 25_600, seed: 1 });
 * const window = new Int16Array(1024);
 * vibration.fill(window); // 40 ms of healthy machine
 * vibration.setFault("bearing");
 * vibration.fill(window); // impacts ringing the 3 kHz resonance
 *
 * const temperature = new SimTemperatureSensor({ id: "temperature_1" });
 * temperature.read(0); // about 45 °C
 * ```
 *
 * @module
 */
export {
  BPFO_RATIO,
  createSimVibrationSensor,
  GEAR_TEETH,
  RESONANCE_HZ,
  SimVibrationSensor,
  type SimVibrationSensorOptions,
  type VibrationFault,
} from "./vibration.ts";
export {
  COOLING_TAU_S,
  createSimTemperatureSensor,
  OVERHEAT_MAX_C,
  OVERHEAT_RATE_C_PER_S,
  SimTemperatureSensor,
  type SimTemperatureSensorOptions,
  type TemperatureFault,
} from "./temperature.ts";
export { type GpioPinState, SimGpio, type SimGpioOptions } from "./gpio.ts";
