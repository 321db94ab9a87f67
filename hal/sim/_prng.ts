/**
 * The seeded pseudo-random source shared by the simulated sensors. Private to `hal/sim/`.
 *
 * @module
 */

/**
 * Mulberry32: a 32-bit state generator, fast in JavaScript and good enough for simulated noise
 * (it passes gjrand and PractRand up to a few GB, far more than a sensor window needs).
 */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform value in `[0, 1)`. */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * An approximately normal value with mean 0 and standard deviation 1: the sum of four uniforms (Irwin-Hall),
   * scaled. Its tails stop at ±3.46, which is what a simulated noise floor wants and cheaper than Box-Muller.
   */
  gaussian(): number {
    return (this.next() + this.next() + this.next() + this.next() - 2) * 1.7320508075688772;
  }
}
