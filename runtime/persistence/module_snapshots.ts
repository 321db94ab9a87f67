/**
 * The runtime's snapshot policy for its modules: which are snapshotted, what a snapshot must match to be
 * restored, finding the one to resume from, saving captured images, and the periodic timers. It keeps each
 * module's {@linkcode SnapshotStatus} (by slot: a replaced module starts a new one). Private to `runtime/`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ABI_VERSION } from "../abi.ts";
import type { ModulePlan } from "../plan.ts";
import type { Snapshotter } from "./snapshotter.ts";
import type { InstanceSpec } from "../executor/protocol.ts";
import { type ModuleSlot as Slot, ms } from "../_slot.ts";
import type { SnapshotStatus } from "../status.ts";
import { span } from "../_startup_marks.ts";
import type { SnapshotImage, SnapshotInfo, SnapshotKey, SnapshotReason } from "../../snapshots/mod.ts";

/** A snapshot chosen to resume from. */
export interface Resume {
  seq: number;
  image: SnapshotImage;
}

/** Snapshots of the runtime's modules. */
export class ModuleSnapshots {
  readonly #store: Snapshotter | null;
  readonly #log: (line: string) => void;
  readonly #spec: (slot: Slot) => InstanceSpec;
  readonly #status = new WeakMap<Slot, SnapshotStatus>();
  readonly #timers = new WeakMap<Slot, ReturnType<typeof setInterval>>();

  /**
   * @param store Where snapshots live; null: no module is snapshotted.
   * @param spec A slot's instance spec, whose params, data and window are part of the snapshot key.
   */
  constructor(store: Snapshotter | null, log: (line: string) => void, spec: (slot: Slot) => InstanceSpec) {
    this.#store = store;
    this.#log = log;
    this.#spec = spec;
  }

  /** A copy of the snapshot status of `slot`'s module, or null when it is not snapshotted here. */
  status(slot: Slot): SnapshotStatus | null {
    if (!this.enabled(slot.plan)) return null;
    const s = this.#of(slot);
    return { ...s, passed_over: [...s.passed_over] };
  }

  #of(slot: Slot): SnapshotStatus {
    let s = this.#status.get(slot);
    if (!s) {
      s = {
        restored_from: null,
        reinit_reason: null,
        passed_over: [],
        read_ms: null,
        restore_ms: null,
        last: null,
        taken: 0,
        failures: 0,
        last_error: null,
      };
      this.#status.set(slot, s);
    }
    return s;
  }

  /** Whether `plan`'s module is snapshotted here: it asks for it, and there is a store. */
  enabled(plan: ModulePlan): boolean {
    return plan.persistence !== null && this.#store !== null;
  }

  /** What a snapshot must match to be restored into this module: its build, the ABI, and its configuration. */
  key(slot: Slot): SnapshotKey {
    const spec = this.#spec(slot);
    const config = createHash("sha256").update(JSON.stringify({
      params: Object.entries(spec.params).sort(),
      data: [...spec.data].sort().map((
        [k, v],
      ) => [k, createHash("sha256").update(v).digest("hex")]),
      mode: spec.mode,
      window: spec.window,
      reads: spec.channelRead !== null,
    })).digest("hex");
    return { moduleSha256: slot.loaded.sha256, abiVersion: ABI_VERSION, configSha256: config };
  }

  /**
   * The newest usable snapshot of a snapshotted module, or null; notes in its status what was passed over
   * and why it will run `kiln_init`. A store that fails is reported the same way, never thrown.
   */
  async findResume(slot: Slot): Promise<Resume | null> {
    const s = this.#of(slot);
    s.reinit_reason = null;
    s.passed_over = [];
    if (!this.enabled(slot.plan)) return null;
    const name = slot.plan.name;
    try {
      const r0 = performance.now();
      const latest = await this.#store!.loadLatest(name, this.key(slot));
      s.read_ms = ms(performance.now() - r0);
      span(`snapshot_read:${name}`, r0);
      s.passed_over = latest.skipped.map((k) => `snapshot ${k.seq} skipped: ${k.reason}`);
      for (const w of s.passed_over) this.#log(`module ${name}: ${w}`);
      if (latest.found) return { seq: latest.found.info.seq, image: latest.found.image };
      if (s.passed_over.length > 0) s.reinit_reason = s.passed_over.join("; ");
    } catch (err) {
      s.reinit_reason = (err as Error).message;
      this.#log(`module ${name}: ${s.reinit_reason}`);
    }
    return null;
  }

  /** Notes that a resume from `seq` failed in the executor, so the module runs `kiln_init` instead. */
  resumeFailed(slot: Slot, seq: number, message: string): void {
    const s = this.#of(slot);
    s.reinit_reason = `snapshot ${seq} could not be restored: ${message}`;
    this.#log(`module ${slot.plan.name}: ${s.reinit_reason}; running kiln_init`);
  }

  /** Notes how the instance started: from snapshot `seq` in `restoreMs`, or (null) by `kiln_init`. */
  started(slot: Slot, seq: number | null, restoreMs: number): void {
    const s = this.#of(slot);
    s.restored_from = seq;
    s.restore_ms = seq === null ? null : ms(restoreMs);
    if (seq !== null) span(`instantiate_restore:${slot.plan.name}`, performance.now() - restoreMs);
    if (seq === null) s.read_ms = null;
    else this.#log(`module ${slot.plan.name}: restored from snapshot ${seq} in ${slot.startMs} ms`);
  }

  /**
   * Saves a captured image and notes it in the module's status.
   *
   * @throws {import("./snapshotter.ts").SnapshotStoreError} when the write fails (also counted).
   */
  async save(slot: Slot, reason: SnapshotReason, image: SnapshotImage): Promise<SnapshotInfo> {
    try {
      const info = await this.#store!.save(slot.plan.name, {
        key: this.key(slot),
        reason,
        image,
        keep: slot.plan.persistence!.keep,
      });
      const s = this.#of(slot);
      s.taken++;
      s.last = {
        seq: info.seq,
        reason,
        at: new Date(info.takenAtMs).toISOString(),
        memory_bytes: info.memoryBytes,
        stored_bytes: info.storedBytes,
      };
      return info;
    } catch (err) {
      this.failed(slot, (err as Error).message);
      throw err;
    }
  }

  /** Counts and logs a snapshot that could not be taken or saved. */
  failed(slot: Slot, message: string): void {
    const s = this.#of(slot);
    s.failures++;
    s.last_error = message;
    this.#log(`module ${slot.plan.name}: snapshot failed: ${message}`);
  }

  /** Calls `take` every `snapshot_interval_s` while this instance of the module runs. */
  arm(slot: Slot, take: () => Promise<unknown>): void {
    this.disarm(slot);
    const intervalS = slot.plan.persistence?.intervalS ?? null;
    if (!this.enabled(slot.plan) || intervalS === null) return;
    const generation = slot.generation;
    this.#timers.set(
      slot,
      setInterval(() => {
        if (slot.generation !== generation || slot.state !== "running") return;
        take().catch(() => {}); // counted in its status
      }, intervalS * 1000),
    );
  }

  /** Stops a module's periodic snapshots. */
  disarm(slot: Slot): void {
    clearInterval(this.#timers.get(slot));
    this.#timers.delete(slot);
  }
}
