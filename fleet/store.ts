/**
 * The controller's SQLite store (`<dir>/fleet.db`, its own file, on `node:sqlite`): rollouts, the devices
 * each touched, the devices known from their reports and the desired document last published per device.
 * WAL mode so `kiln fleet status/approve/...` can work beside a running `kiln fleet run`; versioned
 * migrations applied at open, a database from a newer Kiln refused.
 *
 * @module
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import type { DesiredModule, DesiredState, ReportedState } from "../runtime/fleet/protocol.ts";
import { FLEET_MIGRATIONS } from "./_migrations.ts";
import { FleetStoreError, RolloutNotFoundError, RolloutStateError } from "./errors.ts";
import type { KnownDevice, Rollout, RolloutMember, RolloutState } from "./types.ts";
import { FINAL_STATES } from "./types.ts";

/** A rollout as created: running, at its first phase, nothing observed, approved or breached yet. */
export function freshRollout(input: NewRollout, id: string, nowMs: number): Rollout {
  return {
    id,
    ...input,
    offline_grace_s: input.offline_grace_s === undefined ? DEFAULT_OFFLINE_GRACE_S : input.offline_grace_s,
    state: "running",
    phase: 0,
    approved_phase: -1,
    observe_since_ms: null,
    reason: null,
    breach: null,
    skipped: [],
    created_ms: nowMs,
    updated_ms: nowMs,
    revision: 1,
  };
}

/** A rollout's offline grace when its creator names none, seconds. */
export const DEFAULT_OFFLINE_GRACE_S = 600;

/**
 * What a new rollout needs (validated by `validateRolloutInput`): a rollout's own fields; `offline_grace_s`
 * defaults to {@linkcode DEFAULT_OFFLINE_GRACE_S} (null: wait for every device).
 */
export type NewRollout =
  & Pick<Rollout, "fleet" | "module" | "image" | "spec" | "target" | "phases" | "condition">
  & { readonly offline_grace_s?: number | null };

/** An operator's command on a rollout. */
export type RolloutCommand = "approve" | "pause" | "resume" | "abort";

/** What one engine step wrote: the rollout, its members and the documents to publish. */
export interface StepWrite {
  readonly rollout: Rollout;
  /** The members to write (new ones, and those whose status or rev changed: `StepResult.changedMembers`). */
  readonly members: readonly RolloutMember[];
  readonly published: ReadonlyMap<string, DesiredState>;
}

type Row = Record<string, SQLInputValue>;

/** The fleet store. Owns the connection: dispose it. */
export class FleetStore implements Disposable {
  readonly #db: DatabaseSync;
  #deviceUpsert: StatementSync | undefined;
  /** The database file. */
  readonly path: string;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.path = path;
  }

  /**
   * Opens (creating if needed) `<dir>/fleet.db` and brings its schema up to date.
   *
   * @throws {FleetStoreError} when the file cannot be opened, is not a database, or comes from a newer Kiln.
   */
  static open(dir: string): FleetStore {
    const path = join(dir, "fleet.db");
    let db: DatabaseSync;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      db = new DatabaseSync(path);
      db.exec("PRAGMA busy_timeout = 5000");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
    } catch (err) {
      throw new FleetStoreError(path, (err as Error).message, { cause: err });
    }
    try {
      // One migration per transaction, the version read inside it: two processes opening a new store at
      // once (a controller and a `kiln fleet` command) cannot both apply the same migration.
      for (;;) {
        db.exec("BEGIN IMMEDIATE");
        let v: number;
        try {
          v = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
          if (v > FLEET_MIGRATIONS.length) {
            throw new Error(
              `its schema version ${v} is newer than this Kiln's ${FLEET_MIGRATIONS.length}; upgrade Kiln`,
            );
          }
          if (v < FLEET_MIGRATIONS.length) {
            try {
              db.exec(FLEET_MIGRATIONS[v]!.sql);
            } catch (err) {
              throw new Error(`migration ${FLEET_MIGRATIONS[v]!.name} failed: ${(err as Error).message}`);
            }
            db.exec(`PRAGMA user_version = ${v + 1}`);
          }
          db.exec("COMMIT");
        } catch (err) {
          db.exec("ROLLBACK");
          throw err;
        }
        if (v >= FLEET_MIGRATIONS.length - 1) break;
      }
    } catch (err) {
      db.close();
      throw new FleetStoreError(path, (err as Error).message, { cause: err });
    }
    return new FleetStore(db, path);
  }

  /** The schema version. */
  get version(): number {
    return Number((this.#db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
  }

  /**
   * Records a new rollout in state `running`, phase 0.
   *
   * @throws {RolloutStateError} when another rollout of the same module in the same fleet is not final.
   */
  createRollout(input: NewRollout, nowMs: number): Rollout {
    return this.#tx(() => {
      const active = this.listRollouts({ fleet: input.fleet, active: true }).find((r) =>
        r.module === input.module
      );
      if (active !== undefined) {
        throw new RolloutStateError(
          active.id,
          active.state,
          `start another rollout of ${input.module} beside`,
        );
      }
      const rollout = freshRollout(input, crypto.randomUUID().slice(0, 8), nowMs);
      this.#db.prepare(
        `INSERT INTO rollouts (id, fleet, module, image, spec_json, target_json, phases_json, condition,
           offline_grace_s, state, phase, approved_phase, observe_since_ms, reason, breach_json, skipped_json,
           created_ms, updated_ms, revision)
         VALUES (:id, :fleet, :module, :image, :spec_json, :target_json, :phases_json, :condition,
           :offline_grace_s, :state, :phase, :approved_phase, :observe_since_ms, :reason, :breach_json,
           :skipped_json, :created_ms, :updated_ms, :revision)`,
      ).run(rolloutRow(rollout));
      return rollout;
    });
  }

  /** The rollout with this id, or null. */
  getRollout(id: string): Rollout | null {
    const row = this.#db.prepare("SELECT * FROM rollouts WHERE id = ?").get(id) as Row | undefined;
    return row === undefined ? null : rolloutOf(row);
  }

  /** Rollouts, oldest first; `active`: only those not final. */
  listRollouts(filter: { fleet?: string; active?: boolean } = {}): Rollout[] {
    const rows = this.#db.prepare("SELECT * FROM rollouts ORDER BY created_ms, id").all() as Row[];
    return rows.map(rolloutOf).filter((r) =>
      (filter.fleet === undefined || r.fleet === filter.fleet) &&
      (filter.active !== true || !FINAL_STATES.has(r.state))
    );
  }

  /** The devices a rollout touched, by device id. */
  listMembers(rolloutId: string): RolloutMember[] {
    const rows = this.#db.prepare(
      "SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY joined_ms, device",
    )
      .all(rolloutId) as Row[];
    return rows.map((r) => ({
      device: String(r.device),
      phase: Number(r.phase),
      previous: JSON.parse(String(r.previous_json)) as DesiredModule | null,
      status: String(r.status) as RolloutMember["status"],
      joined_ms: Number(r.joined_ms),
      rev: Number(r.rev),
      shadow: Number(r.shadow) === 1,
    }));
  }

  /**
   * Applies an operator's command: `approve` (an awaiting_approval rollout continues into its phase), `pause`,
   * `resume`, `abort` (the controller then rolls back every device the rollout touched).
   *
   * @throws {RolloutNotFoundError} for an unknown id.
   * @throws {RolloutStateError} when the rollout's state does not allow it.
   */
  command(id: string, command: RolloutCommand, nowMs: number): Rollout {
    return this.#tx(() => {
      const r = this.getRollout(id);
      if (r === null) throw new RolloutNotFoundError(id);
      const allowed: Record<RolloutCommand, readonly RolloutState[]> = {
        approve: ["awaiting_approval"],
        pause: ["running", "awaiting_approval"],
        resume: ["paused"],
        abort: ["running", "paused", "awaiting_approval"],
      };
      if (!allowed[command].includes(r.state)) throw new RolloutStateError(id, r.state, command);
      const next: Rollout = command === "approve"
        ? { ...r, state: "running", approved_phase: r.phase }
        : command === "pause"
        ? { ...r, state: "paused", reason: "paused by an operator" }
        : command === "resume"
        ? {
          ...r,
          state: r.phase > r.approved_phase && r.phases[r.phase]!.approval ? "awaiting_approval" : "running",
          reason: null,
        }
        : { ...r, state: "aborted", reason: "aborted by an operator" };
      this.#writeRollout(next, r.revision, nowMs);
      return this.getRollout(id)!;
    });
  }

  /**
   * Writes one engine step atomically: the rollout (only if nobody changed it since `baseRevision`), its
   * members and the published documents.
   *
   * @returns false when the rollout changed meanwhile (an operator's command): nothing was written.
   */
  writeStep(step: StepWrite, baseRevision: number, nowMs: number): boolean {
    return this.#tx(() => {
      const current = this.getRollout(step.rollout.id);
      if (current === null || current.revision !== baseRevision) return false;
      this.#writeRollout(step.rollout, baseRevision, nowMs);
      const upsert = this.#db.prepare(
        `INSERT INTO rollout_devices (rollout_id, device, phase, previous_json, status, joined_ms, rev, shadow)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (rollout_id, device) DO UPDATE SET status = excluded.status, rev = excluded.rev,
           joined_ms = excluded.joined_ms, shadow = excluded.shadow`,
      );
      for (const m of step.members) {
        upsert.run(
          step.rollout.id,
          m.device,
          m.phase,
          JSON.stringify(m.previous),
          m.status,
          m.joined_ms,
          m.rev,
          m.shadow ? 1 : 0,
        );
      }
      for (const [device, doc] of step.published) this.#putPublished(step.rollout.fleet, device, doc, nowMs);
      return true;
    });
  }

  /** Records a device's reported state (it is then online). */
  putReported(fleet: string, device: string, reported: ReportedState, nowMs: number): void {
    this.#upsertDevice(fleet, device, reported, nowMs);
  }

  /** Records many reported states in one transaction (a controller's batch). */
  putReportedMany(
    reports: Iterable<{ fleet: string; device: string; reported: ReportedState; at_ms: number }>,
  ): void {
    this.#tx(() => {
      for (const r of reports) this.#upsertDevice(r.fleet, r.device, r.reported, r.at_ms);
    });
  }

  #upsertDevice(fleet: string, device: string, reported: ReportedState, nowMs: number): void {
    this.#deviceUpsert ??= this.#db.prepare(
      `INSERT INTO devices (fleet, id, groups_json, hardware, last_seen_ms, online, reported_json)
       VALUES (?, ?, ?, ?, ?, 1, ?)
       ON CONFLICT (fleet, id) DO UPDATE SET groups_json = excluded.groups_json, hardware = excluded.hardware,
         last_seen_ms = excluded.last_seen_ms, online = 1, reported_json = excluded.reported_json`,
    );
    this.#deviceUpsert.run(
      fleet,
      device,
      JSON.stringify(reported.groups ?? []),
      reported.hardware ?? null,
      nowMs,
      JSON.stringify(reported),
    );
  }

  /** Marks a device offline (its status topic said so) or online. */
  setOnline(device: string, online: boolean): void {
    this.#db.prepare("UPDATE devices SET online = ? WHERE id = ?").run(online ? 1 : 0, device);
  }

  /** The devices of a fleet, by id. */
  listDevices(fleet: string): KnownDevice[] {
    const rows = this.#db.prepare("SELECT * FROM devices WHERE fleet = ? ORDER BY id").all(fleet) as Row[];
    return rows.map((r) => ({
      fleet: String(r.fleet),
      id: String(r.id),
      groups: JSON.parse(String(r.groups_json)) as string[],
      hardware: r.hardware === null ? null : String(r.hardware),
      last_seen_ms: Number(r.last_seen_ms),
      online: Number(r.online) === 1,
      reported: JSON.parse(String(r.reported_json)) as ReportedState,
    }));
  }

  /** The documents last published for a fleet's devices, by device. */
  listPublished(fleet: string): Map<string, DesiredState> {
    const rows = this.#db.prepare("SELECT device, doc_json FROM published WHERE fleet = ?").all(
      fleet,
    ) as Row[];
    return new Map(rows.map((r) => [String(r.device), JSON.parse(String(r.doc_json)) as DesiredState]));
  }

  /** Every fleet with a known device or a rollout, sorted. */
  listDeviceFleets(): string[] {
    const rows = this.#db.prepare(
      "SELECT fleet FROM devices UNION SELECT fleet FROM rollouts ORDER BY fleet",
    ).all() as Row[];
    return rows.map((r) => String(r.fleet));
  }

  /** Every fleet named by a rollout, sorted. */
  listFleets(): string[] {
    const rows = this.#db.prepare("SELECT DISTINCT fleet FROM rollouts ORDER BY fleet").all() as Row[];
    return rows.map((r) => String(r.fleet));
  }

  /** Closes the database. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #putPublished(fleet: string, device: string, doc: DesiredState, nowMs: number): void {
    this.#db.prepare(
      `INSERT INTO published (fleet, device, doc_json, updated_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (fleet, device) DO UPDATE SET doc_json = excluded.doc_json, updated_ms = excluded.updated_ms`,
    ).run(fleet, device, JSON.stringify(doc), nowMs);
  }

  #writeRollout(r: Rollout, baseRevision: number, nowMs: number): void {
    const row = rolloutRow({ ...r, updated_ms: nowMs, revision: baseRevision + 1 });
    delete row.created_ms;
    row.base = baseRevision;
    this.#db.prepare(
      `UPDATE rollouts SET state = :state, phase = :phase, approved_phase = :approved_phase,
         observe_since_ms = :observe_since_ms, reason = :reason, breach_json = :breach_json,
         skipped_json = :skipped_json, updated_ms = :updated_ms, revision = :revision,
         id = :id, fleet = :fleet, module = :module, image = :image, spec_json = :spec_json,
         target_json = :target_json, phases_json = :phases_json, condition = :condition,
         offline_grace_s = :offline_grace_s
       WHERE id = :id AND revision = :base`,
    ).run(row);
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }
}

function rolloutRow(r: Rollout): Row {
  return {
    id: r.id,
    fleet: r.fleet,
    module: r.module,
    image: r.image,
    spec_json: JSON.stringify(r.spec),
    target_json: JSON.stringify(r.target),
    phases_json: JSON.stringify(r.phases),
    condition: r.condition,
    offline_grace_s: r.offline_grace_s,
    state: r.state,
    phase: r.phase,
    approved_phase: r.approved_phase,
    observe_since_ms: r.observe_since_ms,
    reason: r.reason,
    breach_json: r.breach === null ? null : JSON.stringify(r.breach),
    skipped_json: JSON.stringify(r.skipped),
    created_ms: r.created_ms,
    updated_ms: r.updated_ms,
    revision: r.revision,
  };
}

function rolloutOf(row: Row): Rollout {
  return {
    id: String(row.id),
    fleet: String(row.fleet),
    module: String(row.module),
    image: String(row.image),
    spec: JSON.parse(String(row.spec_json)),
    target: JSON.parse(String(row.target_json)),
    phases: JSON.parse(String(row.phases_json)),
    condition: String(row.condition),
    offline_grace_s: row.offline_grace_s === null ? null : Number(row.offline_grace_s),
    state: String(row.state) as RolloutState,
    phase: Number(row.phase),
    approved_phase: Number(row.approved_phase),
    observe_since_ms: row.observe_since_ms === null ? null : Number(row.observe_since_ms),
    reason: row.reason === null ? null : String(row.reason),
    breach: row.breach_json === null ? null : JSON.parse(String(row.breach_json)),
    skipped: JSON.parse(String(row.skipped_json)),
    created_ms: Number(row.created_ms),
    updated_ms: Number(row.updated_ms),
    revision: Number(row.revision),
  };
}
