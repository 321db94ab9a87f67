/**
 * The runtime's own thread: pinned to `scheduling.cpus.runtime` while the runtime runs (so the threads it
 * starts from then on inherit the pinning, the executors' before they pin themselves), and given its CPUs back
 * when the runtime closes. Private to `runtime/`.
 *
 * @module
 */
import {
  describeThread,
  NORMAL_THREAD,
  pinThread,
  threadCpus,
  type ThreadScheduling,
} from "./executor/realtime_thread.ts";

/** The runtime's thread and its pinning. It never runs at SCHED_FIFO. */
export class RuntimeThread {
  /** Its CPUs before {@linkcode RuntimeThread.pin}, or null when not pinned. */
  #unpinnedCpus: number[] | null = null;
  #scheduling: ThreadScheduling = NORMAL_THREAD;

  /** Its scheduling: the normal policy, and its CPUs when pinned. */
  get scheduling(): ThreadScheduling {
    return this.#scheduling;
  }

  /** Pins it to `cpus` (once; nothing without `cpus`), remembering its CPUs, and says so in `log`. */
  pin(cpus: readonly number[] | undefined, log: (line: string) => void): void {
    if (cpus === undefined || this.#unpinnedCpus !== null) return;
    this.#unpinnedCpus = threadCpus();
    this.#scheduling = { ...NORMAL_THREAD, ...pinThread(cpus) };
    log(`runtime: ${describeThread(this.#scheduling)}`);
  }

  /** Gives it back its CPUs: the embedding process (a test, a bench) goes on where it was. */
  restore(): void {
    if (this.#unpinnedCpus === null) return;
    pinThread(this.#unpinnedCpus);
    this.#unpinnedCpus = null;
  }
}
