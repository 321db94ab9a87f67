/**
 * A simulated accelerometer on a rotating machine (a motor driving a gearbox), deterministic for a seed.
 *
 * @module
 */
import { Prng } from "./_prng.ts";

/** Faults a {@linkcode SimVibrationSensor} can simulate. */
export type VibrationFault = "none" | "bearing";

/** Options of {@linkcode SimVibrationSensor}. */
export interface SimVibrationSensorOptions {
  /** Sensor id, e.g. `"vibration_1"`. */
  id: string;
  /** Sample rate in Hz, 1 to 25 600. */
  rateHz: number;
  /**
   * The acceleration in g that Q15 full scale (32767) stands for.
   * @default {16}
   */
  fullScaleG?: number;
  /**
   * Shaft rotation frequency in Hz (29.5 Hz is a 4-pole motor at 60 Hz, 1770 rpm).
   * @default {29.5}
   */
  shaftHz?: number;
  /**
   * Broadband noise, RMS in g.
   * @default {0.02}
   */
  noiseG?: number;
  /**
   * Seed of the noise and of the fault's impact jitter.
   * @default {1}
   */
  seed?: number;
}

/** Teeth on the pinion: the gear-mesh line sits at this multiple of the shaft frequency. */
export const GEAR_TEETH = 22;
/**
 * Ball-pass frequency, outer race, as a multiple of the shaft frequency: `(n/2)(1 - d/D cos θ)` for a
 * 6205-class bearing (9 balls) gives 3.58.
 */
export const BPFO_RATIO = 3.58;
/** Centre of the structural resonance that bearing impacts excite, in Hz (lowered on slow sensors). */
export const RESONANCE_HZ = 3000;

/** Peak amplitudes in g of the healthy machine's lines. */
const AMP_1X = 0.25; // unbalance
const AMP_2X = 0.1; // misalignment
const AMP_3X = 0.04; // looseness
const AMP_MESH = 0.06; // gear mesh
const AMP_MESH_SIDEBAND = 0.015; // gear mesh ± 1x (eccentric gear)
/** Bearing fault: the peak acceleration of one impact's ring-down, in g, before load-zone modulation. */
const IMPACT_G = 1.6;
/** Ring-down time constant of the resonance in seconds (Q ≈ π f τ ≈ 7.5 at 3 kHz). */
const RING_TAU_S = 0.0008;
/** Cycle-to-cycle jitter of the impact interval (rolling elements slip by about 1 %). */
const IMPACT_JITTER = 0.01;
/** Low-frequency BPFO line and its second harmonic, in g, visible once the defect is there. */
const AMP_BPFO = 0.03;
const AMP_2BPFO = 0.015;

const TABLE_BITS = 16;
const TABLE_SIZE = 1 << TABLE_BITS;
const PHASE_SHIFT = 32 - TABLE_BITS;
/**
 * One sine period in 65 536 entries, indexed by the top 16 bits of a 32-bit phase accumulator. The phase error
 * is at most 2π/65 536, which puts spurs 90 dB down: far below the simulated noise, and `fill` costs a few
 * table reads per sample instead of `Math.sin` calls.
 */
const SINE = new Float64Array(TABLE_SIZE);
for (let i = 0; i < TABLE_SIZE; i++) SINE[i] = Math.sin((2 * Math.PI * i) / TABLE_SIZE);

/** A phase increment per sample for `hz`, as a fraction of 2^32. */
function phaseStep(hz: number, rateHz: number): number {
  const cycles = hz / rateHz;
  return Math.round((cycles - Math.floor(cycles)) * 4294967296) >>> 0;
}

/**
 * A simulated vibration sensor: 1x, 2x and 3x shaft harmonics, a gear-mesh line with ±1x sidebands, and
 * broadband noise. With `fault = "bearing"` it adds an outer-race defect: impacts at BPFO (3.58x shaft) that
 * ring a ~3 kHz structural resonance, modulated by the 1x load, plus BPFO lines in the low band.
 *
 * Samples are Q15 (`32767` is `+fullScaleG`), clamped, and continue across calls: two `fill` calls of 512
 * give the same samples as one of 1024.
 *
 * @example
 * ```ts
 * import { SimVibrationSensor } from "./vibration.ts";
 * const sensor = new SimVibrationSensor({ id: "vibration_1", rateHz: 25_600, seed: 7 });
 * const window = new Int16Array(1024);
 * sensor.fill(window);
 * sensor.fault = "bearing";
 * sensor.fill(window);
 * ```
 */
export class SimVibrationSensor {
  /** Sensor id. */
  readonly id: string;
  /** Sample rate in Hz. */
  readonly rateHz: number;
  /** The acceleration in g of Q15 full scale. */
  readonly fullScaleG: number;
  /** Shaft frequency in Hz. */
  readonly shaftHz: number;
  /** Broadband noise, RMS in g. */
  readonly noiseG: number;
  /** The simulated fault; takes effect from the next sample. */
  fault: VibrationFault = "none";
  #samplesWritten = 0;
  #prng: Prng;
  // Phase accumulators (uint32 fractions of a turn) and their steps per sample.
  #phase = new Uint32Array(8);
  #step = new Uint32Array(8);
  // Bearing fault state: samples until the next impact, and the resonator's last two outputs.
  #untilImpact: number;
  #y1 = 0;
  #y2 = 0;
  #a1: number;
  #a2: number;
  #impactScale: number;
  #impactInterval: number;

  /** @throws {RangeError} when `rateHz`, `fullScaleG`, `shaftHz` or `noiseG` is out of range. */
  constructor(options: SimVibrationSensorOptions) {
    const { id, rateHz, fullScaleG = 16, shaftHz = 29.5, noiseG = 0.02, seed = 1 } = options;
    if (!(rateHz >= 1 && rateHz <= 25_600)) {
      throw new RangeError(`Invalid rateHz "${rateHz}": must be 1 to 25600`);
    }
    if (!(fullScaleG > 0)) throw new RangeError(`Invalid fullScaleG "${fullScaleG}": must be positive`);
    if (!(shaftHz > 0 && shaftHz < rateHz / 2)) {
      throw new RangeError(`Invalid shaftHz "${shaftHz}": must be positive and below half of rateHz`);
    }
    if (!(noiseG >= 0)) throw new RangeError(`Invalid noiseG "${noiseG}": must be zero or positive`);
    this.id = id;
    this.rateHz = rateHz;
    this.fullScaleG = fullScaleG;
    this.shaftHz = shaftHz;
    this.noiseG = noiseG;
    this.#prng = new Prng(seed);
    const mesh = GEAR_TEETH * shaftHz;
    const bpfo = BPFO_RATIO * shaftHz;
    // 0: 1x, 1: 2x, 2: 3x, 3: mesh, 4: mesh - 1x, 5: mesh + 1x, 6: BPFO, 7: 2 BPFO.
    const lines = [shaftHz, 2 * shaftHz, 3 * shaftHz, mesh, mesh - shaftHz, mesh + shaftHz, bpfo, 2 * bpfo];
    lines.forEach((hz, i) => {
      this.#step[i] = phaseStep(hz, rateHz);
      // Start the lines at unrelated phases, as a real machine would.
      this.#phase[i] = Math.floor(this.#prng.next() * 4294967296) >>> 0;
    });
    // Two-pole resonator y[n] = a1 y[n-1] - a2 y[n-2] + x[n]; its impulse response is r^n sin(ω(n+1))/sin ω.
    const resonanceHz = Math.min(RESONANCE_HZ, 0.3 * rateHz);
    const w = (2 * Math.PI * resonanceHz) / rateHz;
    const r = Math.exp(-1 / (RING_TAU_S * rateHz));
    this.#a1 = 2 * r * Math.cos(w);
    this.#a2 = r * r;
    this.#impactScale = Math.sin(w);
    this.#impactInterval = rateHz / bpfo;
    this.#untilImpact = this.#impactInterval * this.#prng.next();
  }

  /** Samples written by {@linkcode fill} since construction. */
  get samplesWritten(): number {
    return this.#samplesWritten;
  }

  /** Sets the simulated fault (same as assigning {@linkcode fault}). */
  setFault(fault: VibrationFault): void {
    this.fault = fault;
  }

  /** Writes the next `out.length` samples of the stream as Q15, clamped to ±32767. */
  fill(out: Int16Array): void {
    const phase = this.#phase, step = this.#step;
    let p0 = phase[0]!, p1 = phase[1]!, p2 = phase[2]!, p3 = phase[3]!, p4 = phase[4]!, p5 = phase[5]!;
    let p6 = phase[6]!, p7 = phase[7]!;
    const s0 = step[0]!, s1 = step[1]!, s2 = step[2]!, s3 = step[3]!, s4 = step[4]!, s5 = step[5]!;
    const s6 = step[6]!, s7 = step[7]!;
    const prng = this.#prng;
    const noise = this.noiseG;
    const toQ15 = 32767 / this.fullScaleG;
    const bearing = this.fault === "bearing";
    let y1 = this.#y1, y2 = this.#y2, untilImpact = this.#untilImpact;
    const a1 = this.#a1, a2 = this.#a2;
    const impact = IMPACT_G * this.#impactScale;
    for (let n = 0; n < out.length; n++) {
      const s1x = SINE[p0 >>> PHASE_SHIFT]!;
      let g = AMP_1X * s1x + AMP_2X * SINE[p1 >>> PHASE_SHIFT]! + AMP_3X * SINE[p2 >>> PHASE_SHIFT]! +
        AMP_MESH * SINE[p3 >>> PHASE_SHIFT]! +
        AMP_MESH_SIDEBAND * (SINE[p4 >>> PHASE_SHIFT]! + SINE[p5 >>> PHASE_SHIFT]!);
      if (noise > 0) g += noise * prng.gaussian();
      // The resonator rings on after the fault is cleared, as a real structure would.
      let x = 0;
      if (bearing) {
        g += AMP_BPFO * SINE[p6 >>> PHASE_SHIFT]! + AMP_2BPFO * SINE[p7 >>> PHASE_SHIFT]!;
        untilImpact -= 1;
        if (untilImpact <= 0) {
          // The 1x load modulates the impact force: sidebands at ±1x around the resonance's BPFO lines.
          x = impact * (1 + 0.5 * s1x);
          untilImpact += this.#impactInterval * (1 + IMPACT_JITTER * (2 * prng.next() - 1));
        }
      }
      const y = a1 * y1 - a2 * y2 + x;
      y2 = y1;
      y1 = y;
      g += y;
      let q = Math.round(g * toQ15);
      if (q > 32767) q = 32767;
      else if (q < -32767) q = -32767;
      out[n] = q;
      p0 = (p0 + s0) >>> 0;
      p1 = (p1 + s1) >>> 0;
      p2 = (p2 + s2) >>> 0;
      p3 = (p3 + s3) >>> 0;
      p4 = (p4 + s4) >>> 0;
      p5 = (p5 + s5) >>> 0;
      p6 = (p6 + s6) >>> 0;
      p7 = (p7 + s7) >>> 0;
    }
    phase[0] = p0, phase[1] = p1, phase[2] = p2, phase[3] = p3;
    phase[4] = p4, phase[5] = p5, phase[6] = p6, phase[7] = p7;
    // Flush denormals once the ring-down has died out, so an idle resonator costs nothing.
    this.#y1 = Math.abs(y1) < 1e-12 ? 0 : y1;
    this.#y2 = Math.abs(y2) < 1e-12 ? 0 : y2;
    this.#untilImpact = untilImpact;
    this.#samplesWritten += out.length;
  }
}

/** Creates a {@linkcode SimVibrationSensor}. @throws {RangeError} as its constructor. */
export function createSimVibrationSensor(options: SimVibrationSensorOptions): SimVibrationSensor {
  return new SimVibrationSensor(options);
}
