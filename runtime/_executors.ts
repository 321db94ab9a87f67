/**
 * The runtime's executors: starting one by name when a module first needs it (with its thread's scheduling,
 * the simulated GPIO bank and the watchdog), keeping each one's doorbell for the fresh worker that replaces a
 * terminated one, and what the control plane sees of them. Private to `runtime/`.
 *
 * @module
 */
import {
  dropSpareExecutors,
  Executor,
  type ExecutorEvents,
  type ExecutorOptions,
  prewarmExecutors,
  workerAccess,
} from "./executor.ts";
import { executorFor } from "./_slot.ts";
import type { InputValue, PermissionStates } from "./executor/protocol.ts";
import type { ThreadScheduling } from "./executor/realtime_thread.ts";
import type { DeploymentPlan } from "./plan.ts";
import { Watchdog } from "./_watchdog.ts";
import { mark } from "./_startup_marks.ts";

/** An executor as the control plane sees it (`GET /api/v1/executors`). */
export interface ExecutorStatus {
  name: string;
  /** The modules it hosts, in manifest order. */
  modules: string[];
  /** The Deno permissions its worker holds (none), and what a file read inside it ended in. */
  permissions: PermissionStates;
  scheduling: ThreadScheduling;
  /** Times the watchdog terminated this executor (see `_watchdog.ts`), since the runtime started. */
  watchdog_terminations: number;
}

/** An executor's counters for `/metrics`: every executor started since the runtime started. */
export interface ExecutorCounters {
  name: string;
  watchdog_terminations: number;
}

/** The options of executor `name`'s thread under `plan`: its spin, real-time priority and CPUs. */
function threadOptions(name: string, plan: DeploymentPlan): ExecutorOptions {
  return {
    // Only high-priority ticks are worth a spin before each deadline (about 0.3 ms of CPU per tick).
    spinTicks: name === "realtime",
    ...(name === "realtime" && plan.realtimeFifoPriority !== undefined &&
      { fifoPriority: plan.realtimeFifoPriority }),
    ...((name === "realtime" || name === "normal") && plan.cpus?.[name] !== undefined &&
      { cpus: plan.cpus[name] }),
  };
}

/**
 * Starts the workers of the executors that `plan`'s enabled modules run on, before the runtime is made
 * (`prewarmExecutors`): `kiln run` calls it once the manifest is read, so that they boot while it loads the
 * rest; {@linkcode dropSpareExecutors} after the start ends those no executor took.
 */
export function prewarmPlan(plan: DeploymentPlan): void {
  const names = new Set(plan.modules.filter((m) => m.enabled).map(executorFor));
  prewarmExecutors([...names].map((name) => workerAccess(threadOptions(name, plan))));
}

/** Options of {@linkcode ExecutorPool}. */
export interface ExecutorPoolOptions {
  plan: DeploymentPlan;
  /** The simulated GPIO bank's state, or null for a Linux bank (see `io/plant.ts`). */
  gpio: SharedArrayBuffer | null;
  /** What each executor reports, with the executor's name. */
  events(name: string): ExecutorEvents;
}

/** The executors by name, started on demand. */
export class ExecutorPool {
  #executors = new Map<string, Executor>();
  /** Each executor's doorbell, kept for the fresh executor that replaces one (see `ExecutorOptions.bell`). */
  #bells = new Map<string, SharedArrayBuffer>();
  /** Terminates an executor whose heartbeat stops (see `_watchdog.ts`); counts terminations per executor. */
  #watchdog = new Watchdog();
  #options: ExecutorPoolOptions;

  constructor(options: ExecutorPoolOptions) {
    this.#options = options;
  }

  /** The executor of that name, started if it is not yet. */
  get(name: string): Executor {
    let ex = this.#executors.get(name);
    if (!ex) {
      mark(`executor_spawn:${name}`, { once: true });
      const plan = this.#options.plan;
      const gpio = this.#options.gpio;
      ex = new Executor(name, this.#options.events(name), {
        ...(gpio && { gpio }),
        watchdog: this.#watchdog,
        ...(this.#bells.has(name) && { bell: this.#bells.get(name)! }),
        ...threadOptions(name, plan),
      });
      this.#executors.set(name, ex);
      this.#bells.set(name, ex.bell);
    }
    return ex;
  }

  /** The executor of that name if it runs. */
  find(name: string): Executor | undefined {
    return this.#executors.get(name);
  }

  /** The running executors with their names. */
  entries(): IterableIterator<[string, Executor]> {
    return this.#executors.entries();
  }

  /** Hands the latest input values (sensors, connectors, pins) to every executor. */
  pushInputs(values: Record<string, InputValue>): void {
    for (const ex of this.#executors.values()) ex.pushInputs(values);
  }

  /** The executor `name` failed or was terminated: the next {@linkcode ExecutorPool.get} starts a fresh one. */
  lost(name: string): void {
    this.#executors.delete(name);
  }

  /** The running executors, each with the modules `hosts` names for it. */
  async list(hosts: (executor: string) => string[]): Promise<ExecutorStatus[]> {
    const terminations = this.#watchdog.terminations();
    return await Promise.all(
      [...this.#executors].map(async ([name, ex]) => ({
        name,
        modules: hosts(name),
        permissions: await ex.permissions(),
        scheduling: ex.scheduling,
        watchdog_terminations: terminations.get(name) ?? 0,
      })),
    );
  }

  /** Every executor started since the runtime started, with the times the watchdog terminated it. */
  counters(): ExecutorCounters[] {
    return [...this.#watchdog.terminations()].map(([name, n]) => ({ name, watchdog_terminations: n }));
  }

  /** Stops every executor at once. */
  close(): void {
    for (const ex of this.#executors.values()) ex.close();
    this.#executors.clear();
  }
}
