/**
 * The body of `POST /api/v1/rollouts`: what `kiln fleet rollout create` takes, as JSON. Checked with zod so
 * every issue names its path, then by `validateRolloutInput` (the store's own check).
 *
 * ```json
 * {
 *   "fleet": "plant-a", "module": "fft", "image": "registry.plant.local/analytics/fft:2.3.1@sha256:…",
 *   "spec": { "schedule": { "mode": "periodic", "period_us": 20000 } },
 *   "phases": "10%:60s,30%:60s:approve,100%",
 *   "target": { "groups": ["line-3"], "hardware": ["arm64"] },
 *   "condition": "crash_rate > 0.1% or p99_ms > 15"
 * }
 * ```
 *
 * `phases` is the command line's text or a list of `{ "percent" | "count", "min_observe_s", "approval",
 * "shadow" }`; `shadow` (`{ "tolerance", "start", "warmup" }`, default bit for bit, `image`, 0) is how shadow
 * phases run their candidates;
 * `target` defaults to every device, `condition` to `crash_rate > 0.1%` (as on the command line),
 * `offline_grace_s` to the store's default (600 s; null: a phase waits for every device it touched).
 *
 * @module
 */
import { z } from "zod";
import type { ErrorIssue } from "../../api/errors.ts";
import { DesiredModuleSchema } from "../../runtime/fleet/protocol.ts";
import { parseCondition } from "../condition.ts";
import { KilnError } from "../../errors.ts";
import { DEFAULT_SHADOW, parsePhases, validateRolloutInput } from "../rollout_input.ts";
import type { NewRollout } from "../store.ts";
import { RequestInvalidError } from "./errors.ts";

/** The condition a rollout gets when the body names none (as `kiln fleet rollout create`). */
export const DEFAULT_CONDITION = "crash_rate > 0.1%";

// The same patterns as `fleet/rollout_input.ts` (which checks again): here so an issue names its path.
const TOPIC_LEVEL = /^[a-z0-9._-]{1,64}$/;
const MODULE = /^[a-z][a-z0-9_-]{0,62}$/;
const topicLevel = z.string().regex(
  TOPIC_LEVEL,
  'one topic level: lowercase letters, digits, ".", "_" or "-"',
);

const PhaseSchema = z.strictObject({
  percent: z.number().gt(0).max(100).optional(),
  count: z.int().min(1).max(1_000_000).optional(),
  min_observe_s: z.int().min(0).max(7 * 86400).default(0),
  approval: z.boolean().default(false),
  shadow: z.boolean().default(false),
}).refine((p) => (p.percent === undefined) !== (p.count === undefined), {
  message: 'a phase has either "percent" or "count"',
});

/** The phases as `parsePhases` reads them. */
function phasesText(phases: string | readonly z.output<typeof PhaseSchema>[]): string {
  if (typeof phases === "string") return phases;
  return phases.map((p) =>
    `${p.percent === undefined ? p.count : `${p.percent}%`}:${p.min_observe_s}s${p.shadow ? ":shadow" : ""}${
      p.approval ? ":approve" : ""
    }`
  ).join(",");
}

const BodySchema = z.strictObject({
  fleet: topicLevel,
  module: z.string().regex(MODULE, "a module name: lowercase letters, digits, _ or -"),
  image: DesiredModuleSchema.shape.image,
  spec: DesiredModuleSchema.shape.spec,
  phases: z.union([z.string().min(1).max(1000), z.array(PhaseSchema).min(1).max(20)], {
    error: 'phases are a text like "10%:60s,30%:60s:approve,100%" or a list of 1 to 20 phase objects',
  }),
  target: z.strictObject({
    groups: z.array(topicLevel).max(100).default([]),
    hardware: z.array(z.string().min(1).max(64)).max(100).default([]),
  }).default({ groups: [], hardware: [] }),
  condition: z.string().min(1).max(1000).default(DEFAULT_CONDITION),
  offline_grace_s: z.int().min(0).max(7 * 86400).nullable().optional(),
  shadow: z.strictObject({
    tolerance: z.number().min(0).max(1e300).default(DEFAULT_SHADOW.tolerance),
    start: z.enum(["image", "init"]).default(DEFAULT_SHADOW.start),
    warmup: z.int().min(0).max(1_000_000).default(DEFAULT_SHADOW.warmup),
  }).default(DEFAULT_SHADOW),
}).superRefine((body, ctx) => {
  try {
    parsePhases(phasesText(body.phases), body.shadow);
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    ctx.addIssue({ code: "custom", path: ["phases"], message: err.message });
  }
  try {
    parseCondition(body.condition);
  } catch (err) {
    if (!(err instanceof KilnError)) throw err;
    ctx.addIssue({ code: "custom", path: ["condition"], message: err.message });
  }
});

/** A path as the API writes it: `phases[1].percent`, `spec.schedule`. */
function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out === "" ? "" : "."}${String(p)}`;
  return out;
}

/** The path of the first own `__proto__` key in parsed JSON, or null (zod would drop it without a word). */
function protoKeyPath(value: unknown, path: PropertyKey[]): PropertyKey[] | null {
  if (value === null || typeof value !== "object") return null;
  for (const [key, v] of Object.entries(value)) {
    const here = [...path, Array.isArray(value) ? Number(key) : key];
    if (key === "__proto__") return here;
    const inner = protoKeyPath(v, here);
    if (inner !== null) return inner;
  }
  return null;
}

/**
 * Reads a rollout from a request body.
 *
 * @throws {RequestInvalidError} listing every issue with its path.
 * @throws {RolloutInvalidError} or {ConditionSyntaxError} when `validateRolloutInput` refuses what passed.
 */
export function rolloutFromBody(body: unknown): NewRollout {
  const proto = protoKeyPath(body, []);
  if (proto !== null) {
    throw new RequestInvalidError([{
      path: pathText(proto),
      line: null,
      message: '"__proto__" is not a valid key',
    }]);
  }
  const parsed = BodySchema.safeParse(body);
  if (!parsed.success) {
    const issues: ErrorIssue[] = parsed.error.issues.slice(0, 50).map((i) => ({
      path: pathText(i.path),
      line: null,
      message: i.message,
    }));
    throw new RequestInvalidError(issues);
  }
  const b = parsed.data;
  return validateRolloutInput({
    fleet: b.fleet,
    module: b.module,
    image: b.image,
    spec: b.spec,
    target: { groups: b.target.groups, hardware: b.target.hardware },
    phases: parsePhases(phasesText(b.phases), b.shadow),
    condition: b.condition,
    ...(b.offline_grace_s !== undefined && { offline_grace_s: b.offline_grace_s }),
  });
}
