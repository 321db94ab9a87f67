/**
 * The controller's records: rollouts, the devices a rollout touched, the devices known from their reported
 * states, and the desired document last published for each device. The store keeps them; the engine
 * computes the next ones.
 *
 * @module
 */
import type { DesiredModule, DesiredState, ReportedState } from "../runtime/fleet/protocol.ts";

/** One phase of a rollout: how many target devices run the new version once it is reached. */
export interface Phase {
  /** The share of the eligible devices, 1..100 (at least one device). Exclusive with `count`. */
  readonly percent?: number;
  /** A number of devices (capped at the eligible ones). Exclusive with `percent`. */
  readonly count?: number;
  /** How long every device of the phase must run the new version without a breach, seconds. */
  readonly min_observe_s: number;
  /** Whether an operator must approve before this phase starts (`kiln fleet approve`). */
  readonly approval: boolean;
  /**
   * A shadow phase: its devices run the new version as a shadow beside the version they run
   * (`docs/shadow.md`), compared and never acting; the condition judges the candidate's `shadow_*` figures.
   * Shadow phases come first; the first phase without it deploys the new version to their devices too.
   */
  readonly shadow?: ShadowOptions;
}

/** How a shadow phase runs its candidates (`DesiredShadow` without the image). */
export interface ShadowOptions {
  /** The largest difference accepted between live and candidate floats (0: bit for bit). */
  readonly tolerance: number;
  /** From the live instance's memory image, or from the candidate's own `kiln_init`. */
  readonly start: "image" | "init";
  /** Compared invocations not counted at first (a cold candidate warming up). */
  readonly warmup: number;
}

/** A rollout's state. `rolled_back`, `completed` and `aborted` are final. */
export type RolloutState =
  | "running"
  | "paused"
  | "awaiting_approval"
  | "completed"
  | "rolled_back"
  | "aborted";

/** Every final state. */
export const FINAL_STATES: ReadonlySet<RolloutState> = new Set(["completed", "rolled_back", "aborted"]);

/** Which devices a rollout is for: any device in one of `groups` (all when empty) whose hardware is listed. */
export interface Target {
  readonly groups: readonly string[];
  /** Hardware tags; empty: any hardware. A device in the groups with another tag is skipped and listed. */
  readonly hardware: readonly string[];
}

/** The device and figures of a breach. */
export interface Breach {
  readonly device: string;
  /** Why: the condition's text, a self-rollback or the device's refusal code. */
  readonly cause: string;
  /** The condition's identifiers as the device reported them (empty for a refusal). */
  readonly figures: Readonly<Record<string, number>>;
  /** Milliseconds since the epoch (the controller's clock). */
  readonly at_ms: number;
}

/** A rollout. */
export interface Rollout {
  readonly id: string;
  readonly fleet: string;
  readonly module: string;
  /** Pinned by digest. */
  readonly image: string;
  /** The module's manifest entry without `wasm`/`image` (as `DesiredModule.spec`). */
  readonly spec: Readonly<Record<string, unknown>>;
  readonly target: Target;
  readonly phases: readonly Phase[];
  readonly condition: string;
  /**
   * How long a touched device may be offline (or silent) before it stops holding its phase back, seconds;
   * null: the phase waits for it. Its retained desired state still brings it over when it returns.
   */
  readonly offline_grace_s: number | null;
  readonly state: RolloutState;
  /** The index of the current phase. */
  readonly phase: number;
  /** The highest phase index an operator approved, -1 for none. */
  readonly approved_phase: number;
  /** When every device of the current phase was first seen running the new version, ms; null before. */
  readonly observe_since_ms: number | null;
  /** Why the rollout stopped (final states), or why it is paused. */
  readonly reason: string | null;
  readonly breach: Breach | null;
  /** Devices in the target groups whose hardware does not match, sorted. */
  readonly skipped: readonly string[];
  readonly created_ms: number;
  readonly updated_ms: number;
  /** Bumped by every write: a write based on an older revision is refused (the controller and the CLI race). */
  readonly revision: number;
}

/** What a rollout did to one device. */
export type MemberStatus = "deployed" | "running" | "rolled_back";

/** A device a rollout touched. */
export interface RolloutMember {
  readonly device: string;
  /** The phase it joined in. */
  readonly phase: number;
  /** Its entry for the module in the controller's document before the rollout; null: it had none. */
  readonly previous: DesiredModule | null;
  readonly status: MemberStatus;
  /** When the controller published the new version to it, ms. */
  readonly joined_ms: number;
  /** The rev of that document. */
  readonly rev: number;
  /**
   * True while the device runs the new version as a shadow only (it joined in a shadow phase); false once it
   * was published the new version itself.
   */
  readonly shadow: boolean;
}

/** A device known from its reported state. */
export interface KnownDevice {
  readonly fleet: string;
  readonly id: string;
  readonly groups: readonly string[];
  readonly hardware: string | null;
  /** When its last report arrived (the controller's clock), ms. */
  readonly last_seen_ms: number;
  /** False once its status topic said `offline` (until it reports again). */
  readonly online: boolean;
  readonly reported: ReportedState;
}

/** The desired document the controller last published for a device. */
export type PublishedDesired = DesiredState;
