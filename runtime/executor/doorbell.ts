/**
 * Waking and precise waiting inside an executor worker. Timers fire no faster than about every 2 ms in Deno,
 * so a 1 kHz task cannot run from `setTimeout`: the executor sleeps with `Atomics.wait` on its
 * {@linkcode Doorbell} until its next deadline (the `realtime` executor until shortly before it, then it
 * spins: {@linkcode SPIN_MS}), and whoever has work for it rings the doorbell (a channel writer, the runtime
 * with an event or a message). It turns its event loop ({@linkcode yieldToEventLoop}) only while a message
 * announced on the doorbell has not arrived, and now and then. The worker sleeps on it, the runtime's
 * executor handle and channel writers ring it. Private to `runtime/`.
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

/**
 * A lets-the-event-loop-run pause without timer clamping: a message to ourselves is a plain task, handled
 * after the messages and timers already due. A new channel each time, closed after: one kept open (about
 * twice as fast) kept a terminated worker's thread running its loop in Deno 2.9.
 */
export function yieldToEventLoop(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      // Both ends: an open port is a resource of the worker's, and one left open per yield grew the process
      // by about 6 KiB a record for good (the soak's first finding: 1.5 GiB an hour in the demo).
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * A doorbell in shared memory: the runtime rings it when it sends urgent work (an event) so a sleeping
 * executor wakes at once instead of at its next deadline. Three words: the number of rings, whether the
 * executor sleeps (only then does a ring pay for `Atomics.notify`), and the number of messages posted to it
 * (only while it has not received them all must it turn its event loop).
 */
export class Doorbell {
  readonly buffer: SharedArrayBuffer;
  #word: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(12)) {
    this.buffer = buffer;
    this.#word = new Int32Array(buffer);
  }

  /** Rings for work in shared memory (a channel record, an event in the fast ring): wakes the executor. */
  ring(): void {
    Atomics.add(this.#word, 0, 1);
    if (Atomics.load(this.#word, 1) !== 0) Atomics.notify(this.#word, 0);
  }

  /** Rings for a message just posted to the executor, which it receives only by yielding to its event loop. */
  announce(): void {
    Atomics.add(this.#word, 2, 1);
    this.ring();
  }

  /**
   * The number of messages announced so far, an int32 that wraps from 2^31 - 1 to -2^31: compare it with the
   * number received, counted the same way (`(n + 1) | 0`).
   */
  get announced(): number {
    return Atomics.load(this.#word, 2);
  }

  /**
   * The number of rings so far. Read it before looking for work, and sleep with it: a ring between the look
   * and the sleep then ends the sleep at once instead of being lost.
   */
  get rings(): number {
    return Atomics.load(this.#word, 0);
  }

  /**
   * Sleeps until `deadline` (epoch ms) or a ring, with `Atomics.wait`; with `spin`, it wakes
   * {@linkcode SPIN_MS} early and spins the rest, for a precise deadline; without, it spins only a wait
   * shorter than {@linkcode SHORT_WAIT_MS}. Returns at once when the bell rang since `seen` (see
   * {@linkcode rings}). Returns true when woken by a ring.
   */
  sleepUntil(deadline: number, spin = true, seen = this.rings): boolean {
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
