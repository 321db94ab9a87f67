/**
 * Reading a rollout's definition from the command line: its phases (`10%:60s,30%:60s:approve,100%`) and the
 * checks a rollout passes before it is stored (pinned image, spec, module and fleet names, condition).
 *
 * @module
 */
import { DesiredModuleSchema } from "../runtime/fleet/protocol.ts";
import { parseCondition } from "./condition.ts";
import { RolloutInvalidError } from "./errors.ts";
import type { NewRollout } from "./store.ts";
import type { Phase } from "./types.ts";

const TOPIC_LEVEL = /^[a-z0-9._-]{1,64}$/;
const MODULE = /^[a-z][a-z0-9_-]{0,62}$/;

/**
 * Parses phases: comma-separated `<N>%` or `<N>` (a device count), then optional `:<S>s` (minimum
 * observation, seconds, default 0) and `:approve` (an operator approves before the phase starts).
 *
 * @throws {RolloutInvalidError} naming the phase that does not parse, or when the last phase is not 100%.
 */
export function parsePhases(text: string): Phase[] {
  const parts = text.split(",").map((p) => p.trim());
  const phases = parts.map((part, i) => {
    const m = /^(\d+(?:\.\d+)?)(%?)(?::(\d+)s)?(:approve)?$/.exec(part);
    const bad = (why: string) => new RolloutInvalidError(`Phase ${i + 1} "${part}" ${why}`);
    if (m === null) {
      throw bad('is not "<N>%" or "<count>", then ":<S>s" and ":approve" (e.g. "10%:60s:approve")');
    }
    const n = Number(m[1]);
    const observe = m[3] === undefined ? 0 : Number(m[3]);
    if (m[2] === "%" && !(n > 0 && n <= 100)) throw bad("needs a percentage above 0 and at most 100");
    if (m[2] === "" && !(Number.isInteger(n) && n >= 1)) {
      throw bad("needs a whole number of devices, at least 1");
    }
    if (observe > 7 * 86400) throw bad("observes longer than a week");
    const phase: Phase = m[2] === "%"
      ? { percent: n, min_observe_s: observe, approval: m[4] !== undefined }
      : { count: n, min_observe_s: observe, approval: m[4] !== undefined };
    return phase;
  });
  if (phases.length > 20) throw new RolloutInvalidError(`${phases.length} phases: at most 20`);
  if (phases.at(-1)!.percent !== 100) {
    throw new RolloutInvalidError(`The last phase "${parts.at(-1)}" must be 100% (every target device)`);
  }
  return phases;
}

/**
 * Checks a rollout before it is stored.
 *
 * @throws {RolloutInvalidError} for a fleet or group that is not one topic level, a bad module name, an image
 *   not pinned by digest, a spec carrying a key the fleet sets, an empty hardware tag, or an offline grace
 *   that is not whole seconds up to a week.
 * @throws {ConditionSyntaxError} for a condition that does not parse.
 */
export function validateRolloutInput(input: NewRollout): NewRollout {
  if (!TOPIC_LEVEL.test(input.fleet)) {
    throw new RolloutInvalidError(`Fleet "${input.fleet}": lowercase letters, digits, ".", "_" or "-"`);
  }
  for (const g of input.target.groups) {
    if (!TOPIC_LEVEL.test(g)) {
      throw new RolloutInvalidError(`Group "${g}": lowercase letters, digits, ".", "_" or "-"`);
    }
  }
  if (input.target.hardware.some((h) => h.length === 0 || h.length > 64)) {
    throw new RolloutInvalidError("A hardware tag is 1 to 64 characters");
  }
  if (!MODULE.test(input.module)) {
    throw new RolloutInvalidError(
      `Module "${input.module}": a module name is lowercase letters, digits, _ or -`,
    );
  }
  const parsed = DesiredModuleSchema.safeParse({ image: input.image, spec: input.spec });
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.map(String).join(".")}: ${i.message}`).join("; ");
    throw new RolloutInvalidError(`Module ${input.module}: ${why}`);
  }
  const grace = input.offline_grace_s;
  if (
    grace !== undefined && grace !== null && !(Number.isInteger(grace) && grace >= 0 && grace <= 7 * 86400)
  ) {
    throw new RolloutInvalidError(`Offline grace ${grace}: whole seconds from 0 to a week, or none (wait)`);
  }
  parseCondition(input.condition);
  return input;
}
