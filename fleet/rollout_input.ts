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
import type { Phase, ShadowOptions } from "./types.ts";

const TOPIC_LEVEL = /^[a-z0-9._-]{1,64}$/;
const MODULE = /^[a-z][a-z0-9_-]{0,62}$/;

/** How shadow phases run their candidates unless told: bit for bit, from the live memory, no warm-up. */
export const DEFAULT_SHADOW: ShadowOptions = { tolerance: 0, start: "image", warmup: 0 };

/**
 * Parses phases: comma-separated `<N>%` or `<N>` (a device count), then, in any order, optional `:<S>s`
 * (minimum observation, seconds, default 0), `:approve` (an operator approves before the phase starts) and
 * `:shadow` (its devices run the new version as a shadow, with `shadow`'s options). Shadow phases come first;
 * the last phase is 100% and deploys.
 *
 * @throws {RolloutInvalidError} naming the phase that does not parse, or when the last phase is not 100%,
 *   is a shadow phase, or a shadow phase follows one that deploys.
 */
export function parsePhases(text: string, shadow: ShadowOptions = DEFAULT_SHADOW): Phase[] {
  checkShadowOptions(shadow);
  const parts = text.split(",").map((p) => p.trim());
  const phasesSoFar: Phase[] = [];
  const phases = parts.map((part, i) => {
    const m = /^(\d+(?:\.\d+)?)(%?)((?::[a-z0-9]+)*)$/.exec(part);
    const bad = (why: string) => new RolloutInvalidError(`Phase ${i + 1} "${part}" ${why}`);
    const usage =
      'is not "<N>%" or "<count>", then ":<S>s", ":shadow" and ":approve" (e.g. "10%:60s:approve")';
    if (m === null) throw bad(usage);
    const n = Number(m[1]);
    let observe: number | null = null, approval = false, shadowed = false;
    for (const flag of m[3]!.split(":").slice(1)) {
      const seconds = /^(\d+)s$/.exec(flag);
      if (seconds !== null && observe === null) observe = Number(seconds[1]);
      else if (flag === "approve" && !approval) approval = true;
      else if (flag === "shadow" && !shadowed) shadowed = true;
      else throw bad(`has ":${flag}" where ${usage.slice(7)}, each at most once`);
    }
    if (m[2] === "%" && !(n > 0 && n <= 100)) throw bad("needs a percentage above 0 and at most 100");
    if (m[2] === "" && !(Number.isInteger(n) && n >= 1)) {
      throw bad("needs a whole number of devices, at least 1");
    }
    if ((observe ?? 0) > 7 * 86400) throw bad("observes longer than a week");
    const phase: Phase = {
      ...(m[2] === "%" ? { percent: n } : { count: n }),
      min_observe_s: observe ?? 0,
      approval,
      ...(shadowed && { shadow: { ...shadow } }),
    };
    if (shadowed && i > 0 && phasesSoFar[i - 1]!.shadow === undefined) {
      throw bad("is a shadow phase after a phase that deploys: shadow phases come first");
    }
    phasesSoFar.push(phase);
    return phase;
  });
  if (phases.length > 20) throw new RolloutInvalidError(`${phases.length} phases: at most 20`);
  if (phases.at(-1)!.percent !== 100 || phases.at(-1)!.shadow !== undefined) {
    throw new RolloutInvalidError(
      `The last phase "${parts.at(-1)}" must be 100% (every target device), and deploy (not :shadow)`,
    );
  }
  return phases;
}

/**
 * Checks shadow options: a finite tolerance of at least 0, a start of `image` or `init`, a warm-up of whole
 * invocations up to a million.
 *
 * @throws {RolloutInvalidError} naming the option.
 */
export function checkShadowOptions(o: ShadowOptions): ShadowOptions {
  if (!(Number.isFinite(o.tolerance) && o.tolerance >= 0 && o.tolerance <= 1e300)) {
    throw new RolloutInvalidError(`Shadow tolerance ${o.tolerance}: a finite number of at least 0`);
  }
  if (o.start !== "image" && o.start !== "init") {
    throw new RolloutInvalidError(
      `Shadow start "${o.start}": "image" (the live memory) or "init" (kiln_init)`,
    );
  }
  if (!(Number.isInteger(o.warmup) && o.warmup >= 0 && o.warmup <= 1_000_000)) {
    throw new RolloutInvalidError(`Shadow warm-up ${o.warmup}: whole invocations from 0 to 1,000,000`);
  }
  return o;
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
