/**
 * The fleet controller (`kiln fleet`), a program apart from the gateway runtime: rollouts of a module image
 * to devices steered over MQTT (`docs/fleet.md`), kept in its own SQLite store, advanced phase by phase by a
 * pure engine, rolled back on a breach of a condition over the devices' reported figures.
 *
 * @example
 * ```ts
 * using store = FleetStore.open("./data/fleet");
 * store.createRollout(validateRolloutInput({
 *   fleet: "plant-a", module: "fft", image: "registry.plant.local/analytics/fft:2.3.1@sha256:…",
 *   spec: { schedule: { mode: "periodic", period_us: 20000 } },
 *   target: { groups: ["line-3"], hardware: ["arm64"] },
 *   phases: parsePhases("10%:60s,30%:60s:approve,100%"),
 *   condition: "crash_rate > 0.1% or p99_ms > 15",
 * }), Date.now());
 * await using controller = await FleetController.start({ broker: "mqtt://broker:1883", dataDir: "./data/fleet" });
 * ```
 *
 * @module
 */
export {
  type Condition,
  type ConditionInput,
  conditionInput,
  type ConditionNode,
  evaluateCondition,
  IDENTIFIERS,
  parseCondition,
} from "./condition.ts";
export { type ControllerOptions, FleetController } from "./controller.ts";
export {
  type EngineOptions,
  staleAfter,
  type StepInput,
  type StepResult,
  stepRollout,
  wantedCount,
} from "./engine.ts";
export {
  ConditionSyntaxError,
  FleetStoreError,
  RolloutInvalidError,
  RolloutNotFoundError,
  RolloutStateError,
} from "./errors.ts";
export { checkShadowOptions, DEFAULT_SHADOW, parsePhases, validateRolloutInput } from "./rollout_input.ts";
export { FleetStore, freshRollout, type NewRollout, type RolloutCommand, type StepWrite } from "./store.ts";
export {
  type Breach,
  FINAL_STATES,
  type KnownDevice,
  type MemberStatus,
  type Phase,
  type Rollout,
  type RolloutMember,
  type RolloutState,
  type ShadowOptions,
  type Target,
} from "./types.ts";
