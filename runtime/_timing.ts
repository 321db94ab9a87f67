/**
 * Precise waiting inside an executor worker. Timers fire no faster than about every 2 ms in Deno, so a
 * 1 kHz task cannot run from `setTimeout`. The executor instead sleeps with `Atomics.wait` until shortly
 * before a deadline and spins the rest, and it yields to the event loop between deadlines so that messages
 * from the runtime (samples, inputs, loads) are still handled. Private to `runtime/`.
 *
 * @module
 */

/**
 * How long before a deadline the worker stops sleeping and spins: on this 2-vCPU VM `Atomics.wait` wakes up
 * to a few hundred microseconds late. 300 us of spin per tick costs about a fifth of a core at 1 kHz.
 */
export const SPIN_MS = 0.3;

/**
 * Without the spin, a wait this short is spun anyway: `Atomics.wait` would wake later than the deadline by
 * more than the wait itself, and a dense schedule (many ticks a few tens of microseconds apart) would fall
 * further behind with every one.
 */
export const SHORT_WAIT_MS = 0.1;

/** Milliseconds since the epoch at sub-millisecond resolution, consistent across workers. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const now = nowMs;

/** A lets-the-event-loop-run pause without timer clamping: a message to ourselves is a plain task. */
export function yieldToEventLoop(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * A doorbell in shared memory: the runtime rings it when it sends urgent work (an event) so a sleeping
 * executor wakes at once instead of at its next deadline.
 */
export class Doorbell {
  readonly buffer: SharedArrayBuffer;
  #word: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(8)) {
    this.buffer = buffer;
    this.#word = new Int32Array(buffer);
  }

  /** Rings: wakes the executor if it sleeps. */
  ring(): void {
    Atomics.add(this.#word, 0, 1);
    if (Atomics.load(this.#word, 1) !== 0) Atomics.notify(this.#word, 0);
  }

  /**
   * Sleeps until `deadline` (epoch ms) or a ring, with `Atomics.wait`; with `spin`, it wakes
   * {@linkcode SPIN_MS} early and spins the rest, for a precise deadline; without, it spins only a wait
   * shorter than {@linkcode SHORT_WAIT_MS}. Returns true when woken by a ring.
   */
  sleepUntil(deadline: number, spin = true): boolean {
    const seen = Atomics.load(this.#word, 0);
    let left = deadline - now();
    const margin = spin ? SPIN_MS : SHORT_WAIT_MS;
    if (left > margin) {
      Atomics.store(this.#word, 1, 1);
      const result = Atomics.wait(this.#word, 0, seen, spin ? left - margin : left);
      Atomics.store(this.#word, 1, 0);
      if (result !== "timed-out" || !spin) return result !== "timed-out";
    }
    do {
      if (Atomics.load(this.#word, 0) !== seen) return true;
      left = deadline - now();
    } while (left > 0);
    return false;
  }
}
