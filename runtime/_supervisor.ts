/**
 * The life of module instances: starting one (from its newest usable snapshot when it resumes), its grants
 * coming into force and being revoked (audited), a crash and the restart policy's backoff, and halting one.
 * The runtime holds the slots and decides when; this decides how, and is the only caller of a slot's
 * transitions ({@linkcode ModuleSlot}). Private to `runtime/`.
 *
 * @module
 */
import type { AuditLog, SnapshotInfo, SnapshotReason } from "../snapshots/mod.ts";
import { ExecutorError } from "./errors.ts";
import { type Executor, StartFailed } from "./executor.ts";
import { HARD_BUDGET_FACTOR } from "./executor/instance.ts";
import { initBudgetUs } from "./manifest/mod.ts";
import type { LoadedModule } from "./loader.ts";
import type { ModuleSnapshots } from "./persistence/module_snapshots.ts";
import type { ModulePlan } from "./plan.ts";
import type { InstanceSpec, InstanceStats, ModuleFault } from "./executor/protocol.ts";
import { executorFault, ModuleSlot, ms } from "./_slot.ts";
import { ExecutorStalledError, stallFault } from "./_watchdog.ts";
import { mark } from "./_startup_marks.ts";

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
  /**
   * Called after every transition of a slot (starting, running, crashed or failed, stopped, closed), the
   * restarts of the supervisor's own backoff timers included: the runtime emits the module's status here.
   */
  changed?(slot: ModuleSlot): void;
  /** Called after a crash, with the state it left the slot in: the runtime raises an alert. */
  faulted?(slot: ModuleSlot, state: "crashed" | "failed", fault: ModuleFault): void;
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
  async start(slot: ModuleSlot, resume = false): Promise<void> {
    const generation = slot.starting();
    this.#ctx.changed?.(slot);
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
      slot.running(ms(performance.now() - t0), result.id);
      mark(`module_running:${slot.plan.name}`);
      this.#ctx.changed?.(slot);
      this.#ctx.snap.started(slot, restore && result.restored ? restore.seq : null, result.startMs);
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
  grant(slot: ModuleSlot, on: boolean): void {
    if (!slot.grant(on)) return;
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
  crashed(slot: ModuleSlot, fault: ModuleFault, stats: InstanceStats | null): void {
    this.#ctx.snap.disarm(slot);
    this.grant(slot, false);
    const { policy, maxRestarts, backoffMs, maxBackoffMs } = slot.plan.restart;
    const { state, wasRunning, consecutiveFailures } = slot.crashed(fault, stats, {
      healthyAfterMs: HEALTHY_AFTER_MS,
      giveUp: (failures) => policy === "never" || (policy === "on-failure" && failures > maxRestarts),
    });
    this.#ctx.changed?.(slot);
    this.#ctx.log(`module ${slot.plan.name} ${state}: ${fault.message}`);
    this.#ctx.faulted?.(slot, state === "failed" ? "failed" : "crashed", fault);
    if (state === "failed") return;
    // At least as long as the failed call may have held the executor (its start's init budget, or a handler's
    // hard budget): a module crashing in a loop, whatever its backoff, takes at most half its executor's time
    // from its neighbours.
    const heldMs = (wasRunning ? slot.plan.budgetUs * HARD_BUDGET_FACTOR : initBudgetUs(slot.plan.budgetUs)) /
      1000;
    const delay = Math.max(heldMs, Math.min(maxBackoffMs, backoffMs * 2 ** (consecutiveFailures - 1)));
    slot.restartAfter(delay, () => this.start(slot));
  }

  /**
   * An operator starts a module that is stopped, crashed or failed, from its newest usable snapshot: its
   * failures are forgiven; `restart` counts it as a restart (the operator stopped it first).
   */
  operatorStart(slot: ModuleSlot, restart = false): Promise<void> {
    slot.operatorStarting(restart);
    return this.start(slot, true);
  }

  /**
   * Ends a module's instance at once, without a snapshot. The slot is stopped when this returns; the promise
   * resolves once the executor has dropped the instance (or is gone: a held executor is terminated by the
   * watchdog), and never rejects.
   */
  halt(slot: ModuleSlot): Promise<void> {
    this.#ctx.snap.disarm(slot);
    const gone = this.#ctx.existingExecutor(slot.executor)?.unload(slot.plan.name) ?? Promise.resolve();
    this.grant(slot, false);
    slot.stopped();
    this.#ctx.changed?.(slot);
    return gone;
  }

  /** The runtime closes: every slot's timers stop and later answers are ignored. */
  closeAll(slots: Iterable<ModuleSlot>): void {
    for (const slot of slots) {
      this.#ctx.snap.disarm(slot);
      slot.closed();
      this.#ctx.changed?.(slot);
      this.grant(slot, false);
    }
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
  executorLost(name: string, err: ExecutorError, slots: Iterable<ModuleSlot>): void {
    const stalled = err instanceof ExecutorStalledError ? err : null;
    const culprit = stalled?.culprit && !stalled.culprit.trial ? stalled.culprit.module : null;
    const restarted: string[] = [];
    for (const slot of slots) {
      if (slot.executor !== name || (slot.state !== "running" && slot.state !== "starting")) continue;
      slot.invalidate(); // a start still waiting on the executor is ignored
      if (stalled && slot.plan.name === culprit) {
        this.crashed(slot, stallFault(stalled), null);
      } else if (!stalled || slot.plan.restart.policy === "never") {
        this.crashed(slot, executorFault(err), null);
      } else {
        this.#ctx.snap.disarm(slot);
        this.grant(slot, false);
        slot.restartedByWatchdog();
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
