/**
 * The life of module instances: starting one (from its newest usable snapshot when it resumes), its grants
 * coming into force and being revoked (audited), a crash and the restart policy's backoff, and halting one.
 * The runtime owns the slots and decides when; this decides how. Private to `runtime/`.
 *
 * @module
 */
import type { AuditLog, SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import { ExecutorError } from "./errors.ts";
import { type Executor, StartFailed } from "./executor.ts";
import { HARD_BUDGET_FACTOR, nowMs } from "./instance.ts";
import { initBudgetUs } from "./manifest/mod.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModuleSnapshots } from "./_module_snapshots.ts";
import type { ModulePlan } from "./plan.ts";
import type { InstanceSpec, InstanceStats, ModuleFault } from "./_protocol.ts";
import { executorFault, fold, ms, type Slot } from "./_slot.ts";
import { ExecutorStalledError, stallFault } from "./_watchdog.ts";

/** A module that ran this long since its last start has its consecutive-failure count reset. */
const HEALTHY_AFTER_MS = 60_000;

/** What the supervisor needs from the runtime. */
export interface SupervisorContext {
  /** The executor of that name, started if it is not yet. */
  executor(name: string): Executor;
  /** The executor of that name if it runs. */
  existingExecutor(name: string): Executor | undefined;
  spec(plan: ModulePlan, loaded: LoadedModule): InstanceSpec;
  snap: ModuleSnapshots;
  audit: AuditLog | null;
  log(line: string): void;
  /** Snapshots a running module (for the snapshot interval). */
  takeSnapshot(name: string, reason: SnapshotReason): Promise<SnapshotInfo>;
}

/** Starts, restarts and halts module instances. */
export class Supervisor {
  #ctx: SupervisorContext;

  constructor(ctx: SupervisorContext) {
    this.#ctx = ctx;
  }

  /**
   * Starts a module's instance. With `resume`, a snapshotted module resumes from its newest usable
   * snapshot; when there is none, or it does not fit, it runs `kiln_init` and says why.
   */
  async start(slot: Slot, resume = false): Promise<void> {
    const generation = ++slot.generation;
    slot.state = "starting";
    slot.restartTimer = null;
    const t0 = performance.now();
    try {
      let restore = resume ? await this.#ctx.snap.findResume(slot) : null;
      if (slot.generation !== generation) return;
      const ex = this.#ctx.executor(slot.executor);
      const spec = this.#ctx.spec(slot.plan, slot.loaded);
      let result;
      try {
        result = await ex.load(spec, slot.loaded.module, restore?.image ?? null);
      } catch (err) {
        if (!(restore && err instanceof StartFailed)) throw err;
        if (slot.generation !== generation) return;
        this.#ctx.snap.resumeFailed(slot, restore.seq, err.message);
        restore = null;
        result = await ex.load(spec, slot.loaded.module, null);
      }
      if (slot.generation !== generation) return;
      slot.startMs = ms(performance.now() - t0);
      this.#ctx.snap.started(slot, restore && result.restored ? restore.seq : null, result.startMs);
      slot.state = "running";
      slot.startedAtMs = nowMs();
      slot.stats = null;
      this.grant(slot, true);
      this.#ctx.snap.arm(slot, () => this.#ctx.takeSnapshot(slot.plan.name, "interval"));
    } catch (err) {
      if (slot.generation !== generation) return;
      if (err instanceof StartFailed) this.crashed(slot, err.fault, null);
      else if (err instanceof ExecutorError) this.crashed(slot, executorFault(err), null);
      else throw err;
    }
  }

  /** Records a module's grants coming into force, or being revoked when its instance ends. */
  grant(slot: Slot, on: boolean): void {
    if (slot.granted === on) return;
    slot.granted = on;
    this.#ctx.audit?.record(slot.plan.capabilities.map((capability) => ({
      module: slot.plan.name,
      kind: on ? "grant" as const : "revoke" as const,
      capability,
      detail: null,
    })));
  }

  /**
   * A module's instance ended with `fault`: its grants are revoked, its statistics kept, and its restart
   * policy applied: a restart after an exponential backoff, or `failed` when the policy gives up. The
   * consecutive-failure count starts again after a run of {@linkcode HEALTHY_AFTER_MS}.
   */
  crashed(slot: Slot, fault: ModuleFault, stats: InstanceStats | null): void {
    this.#ctx.snap.disarm(slot);
    this.grant(slot, false);
    fold(slot, stats ?? slot.stats);
    slot.fault = fault;
    slot.traps++;
    slot.lastError = fault.message;
    if (slot.startedAtMs !== null && nowMs() - slot.startedAtMs > HEALTHY_AFTER_MS) {
      slot.consecutiveFailures = 0;
    }
    slot.consecutiveFailures++;
    const wasRunning = slot.startedAtMs !== null;
    slot.startedAtMs = null;
    const { policy, maxRestarts, backoffMs, maxBackoffMs } = slot.plan.restart;
    const giveUp = policy === "never" || (policy === "on-failure" && slot.consecutiveFailures > maxRestarts);
    slot.state = giveUp ? "failed" : "crashed";
    this.#ctx.log(`module ${slot.plan.name} ${slot.state}: ${fault.message}`);
    if (giveUp) return;
    // At least as long as the failed call may have held the executor (its start's init budget, or a handler's
    // hard budget): a module crashing in a loop, whatever its backoff, takes at most half its executor's time
    // from its neighbours.
    const heldMs = (wasRunning ? slot.plan.budgetUs * HARD_BUDGET_FACTOR : initBudgetUs(slot.plan.budgetUs)) /
      1000;
    const delay = Math.max(heldMs, Math.min(maxBackoffMs, backoffMs * 2 ** (slot.consecutiveFailures - 1)));
    const generation = slot.generation;
    slot.restartTimer = setTimeout(() => {
      if (slot.generation !== generation || slot.state !== "crashed") return;
      slot.restarts++;
      this.start(slot);
    }, delay);
  }

  /**
   * Ends a module's instance at once, without a snapshot. The slot is stopped when this returns; the promise
   * resolves once the executor has dropped the instance (or is gone: a held executor is terminated by the
   * watchdog), and never rejects.
   */
  halt(slot: Slot): Promise<void> {
    this.#ctx.snap.disarm(slot);
    slot.generation++;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = null;
    const gone = this.#ctx.existingExecutor(slot.executor)?.unload(slot.plan.name) ?? Promise.resolve();
    this.grant(slot, false);
    fold(slot, slot.stats);
    slot.state = "stopped";
    slot.startedAtMs = null;
    return gone;
  }

  /**
   * The executor `name` is gone (its worker failed, or the watchdog terminated it) with every instance it
   * hosted; `slots` are all the runtime's. Its running and starting modules:
   * - after a worker failure, crash (their restart policy applies);
   * - after the watchdog, the module whose call held the executor crashes with an `executor_stalled` fault
   *   (its restart policy applies), and the others, which were not at fault, start again at once in a fresh
   *   executor from their newest usable snapshot, as an operator's restart does: counted in `restarts` and
   *   `watchdogRestarts`, not as a failure (`max_restarts` is not spent). A neighbour whose policy is `never`
   *   is not restarted by anyone but an operator: it crashes as after a worker failure.
   *
   * A deploy's trial start that held the executor faults no slot: its deploy is refused with the fault.
   */
  executorLost(name: string, err: ExecutorError, slots: Iterable<Slot>): void {
    const stalled = err instanceof ExecutorStalledError ? err : null;
    const culprit = stalled?.culprit && !stalled.culprit.trial ? stalled.culprit.module : null;
    const restarted: string[] = [];
    for (const slot of slots) {
      if (slot.executor !== name || (slot.state !== "running" && slot.state !== "starting")) continue;
      slot.generation++; // a start still waiting on the executor is ignored
      if (stalled && slot.plan.name === culprit) {
        this.crashed(slot, stallFault(stalled), null);
      } else if (!stalled || slot.plan.restart.policy === "never") {
        this.crashed(slot, executorFault(err), null);
      } else {
        this.#ctx.snap.disarm(slot);
        this.grant(slot, false);
        fold(slot, slot.stats);
        slot.startedAtMs = null;
        slot.restarts++;
        slot.watchdogRestarts++;
        restarted.push(slot.plan.name);
        this.start(slot, true);
      }
    }
    if (restarted.length > 0) {
      this.#ctx.log(
        `watchdog: restarting ${restarted.join(", ")} in a fresh executor "${name}" (not at fault: ${
          culprit ? `module ${culprit} held the executor` : "the executor was held"
        })`,
      );
    }
  }
}
