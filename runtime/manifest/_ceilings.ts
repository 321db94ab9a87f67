/**
 * The device policy's limits applied to a manifest (see `policy.ts`): every module's priority, budgets,
 * memory and fuel, every channel's blocking time and size, the number of modules, and the `realtime`
 * executor's grant. Like the other cross-section checks they read the raw document, each field on its own,
 * so that a value the schema refuses is reported once (by the schema) and every other violation is still
 * listed. Private to `runtime/manifest/`.
 *
 * @module
 */
import { accountLimitsOf, limitsByManifestKey } from "../executor/account.ts";
import { REALTIME_CAPABILITY } from "../capabilities.ts";
import type { PathSegment, RawIssue } from "./_document.ts";
import type { PolicyLimitDetail } from "./errors.ts";
import {
  DEFAULT_BLOCK_TIMEOUT_US,
  INIT_BUDGET_FACTOR,
  initBudgetUs,
  MIN_INIT_BUDGET_US,
  POLICY_SHAPE,
  type PolicyLimitKey,
  REALTIME_PRIORITY,
} from "./policy.ts";
import {
  ACCOUNT_LIMITS_SHAPE,
  ChannelSchema,
  ENTITY_ID,
  LimitsSchema,
  PeriodicScheduleSchema,
  PersistenceSchema,
} from "./schema.ts";

type Obj = Record<string, unknown>;

/** Options of {@linkcode checkCeilings}. */
export interface CeilingOptions {
  /** True when the module `module` asks for (lists in its `capabilities`) a capability covering `capability`. */
  requests(module: string, capability: string): boolean;
}

/** The policy's limits as the manifest sets them (defaults applied); null for one the schema refuses. */
type Limits = { readonly [K in PolicyLimitKey]: number | null } & {
  /** `policy.max_limits`: the resource account's limits the policy bounds, by `limits` key. */
  readonly account: ReadonlyMap<AccountKey, number>;
};

/** A resource account key of `limits`, e.g. `publish_per_s`. */
type AccountKey = keyof typeof ACCOUNT_LIMITS_SHAPE;
/** The account keys, in the schema's order. */
const ACCOUNT_KEYS = Object.keys(ACCOUNT_LIMITS_SHAPE) as AccountKey[];

const SCHEDULE_MODES: readonly unknown[] = ["stream", "periodic", "event"];

/** Checks every module and channel of the raw manifest `root` against its policy's limits. */
export function checkCeilings(root: Obj, options: CeilingOptions, issues: RawIssue[]): void {
  const limits = policyLimits(asObj(root.policy));
  const modules = asObj(root.modules);
  const count = modules === undefined ? 0 : Object.keys(modules).length;
  if (limits.max_modules !== null && count > limits.max_modules) {
    issues.push({
      path: ["modules"],
      message: `the manifest has ${count} modules, above the device policy's limit: ` +
        `policy.max_modules is ${limits.max_modules}`,
      detail: exceeded("max_modules", count, limits.max_modules),
    });
  }
  for (const [name, spec] of Object.entries(modules ?? {})) {
    const module = asObj(spec);
    if (!ENTITY_ID.test(name) || module === undefined) continue; // the schema reports it
    checkModule(name, module, { limits, options, issues });
  }
  for (const [id, spec] of Object.entries(asObj(root.channels) ?? {})) {
    const channel = asObj(spec);
    if (ENTITY_ID.test(id) && channel !== undefined) checkChannel(id, channel, limits, issues);
  }
}

interface ModuleContext {
  readonly limits: Limits;
  readonly options: CeilingOptions;
  readonly issues: RawIssue[];
}

function checkModule(name: string, module: Obj, { limits, options, issues }: ModuleContext): void {
  const at = (...path: PathSegment[]) => ["modules", name, ...path];
  const schedule = asObj(module.schedule);
  if (schedule !== undefined && SCHEDULE_MODES.includes(schedule.mode)) {
    const priority = field(PeriodicScheduleSchema.shape.priority, schedule.priority);
    if (priority !== null) {
      over(issues, { path: at("schedule", "priority"), what: "priority", limits }, {
        key: "max_priority",
        value: priority,
        defaulted: schedule.priority === undefined,
      });
    }
    const event = schedule.mode === "event";
    const high = priority !== null && priority >= REALTIME_PRIORITY;
    if ((event || high) && !options.requests(name, REALTIME_CAPABILITY)) {
      const why = event ? "event mode" : `priority ${priority}, at least ${REALTIME_PRIORITY}`;
      issues.push({
        path: at("schedule", event ? "mode" : "priority"),
        message: `module "${name}" runs on the realtime executor (${why}) without the grant: add ` +
          `"${REALTIME_CAPABILITY}" to modules.${name}.capabilities (the device policy must allow it)`,
        detail: {
          code: "realtime_not_granted",
          limit: REALTIME_CAPABILITY,
          requested: "realtime",
          allowed: "normal",
        },
      });
    }
  }

  const raw = module.limits === undefined ? {} : asObj(module.limits);
  if (raw !== undefined) {
    const budget = field(LimitsSchema.shape.budget_us, raw.budget_us);
    const defaulted = raw.budget_us === undefined;
    if (budget !== null) {
      const path = at("limits", "budget_us");
      over(issues, { path, what: "budget_us", limits }, { key: "max_budget_us", value: budget, defaulted });
      const init = initBudgetUs(budget);
      over(issues, {
        path,
        what: `the init budget (${INIT_BUDGET_FACTOR} x budget_us, at least ${MIN_INIT_BUDGET_US})`,
        limits,
      }, { key: "max_init_budget_us", value: init, defaulted });
    }
    const memory = field(LimitsSchema.shape.max_memory_mb, raw.max_memory_mb);
    if (memory !== null) {
      over(issues, { path: at("limits", "max_memory_mb"), what: "max_memory_mb", limits }, {
        key: "max_memory_mb",
        value: memory,
        defaulted: raw.max_memory_mb === undefined,
      });
    }
    checkAccount(raw, { at, limits, issues });
    // No fuel asked for: the plan meters the module at max_fuel, within the limit by construction.
    const fuel = raw.fuel === undefined ? null : field(LimitsSchema.shape.fuel, raw.fuel) ?? null;
    if (fuel !== null) {
      over(issues, { path: at("limits", "fuel"), what: "fuel", limits }, { key: "max_fuel", value: fuel });
    }
  }

  const persistence = asObj(module.persistence);
  if (persistence?.snapshot === true && persistence.snapshot_interval_s !== undefined) {
    const interval = field(PersistenceSchema.shape.snapshot_interval_s, persistence.snapshot_interval_s);
    const floor = limits.min_snapshot_interval_s;
    if (interval !== null && interval !== undefined && floor !== null && interval < floor) {
      issues.push({
        path: at("persistence", "snapshot_interval_s"),
        message: `snapshot_interval_s is ${interval}, below the device policy's limit: ` +
          `policy.min_snapshot_interval_s is ${floor}`,
        detail: exceeded("min_snapshot_interval_s", interval, floor),
      });
    }
  }
}

/**
 * The resource account's limits against `policy.max_limits`: a key the module leaves out gets the account's
 * default (`runtime/executor/account.ts`), which must be within the policy too.
 */
function checkAccount(
  raw: Obj,
  { at, limits, issues }: {
    at: (...path: PathSegment[]) => PathSegment[];
    limits: Limits;
    issues: RawIssue[];
  },
): void {
  if (limits.account.size === 0) return;
  const valid: Record<string, number> = Object.create(null);
  for (const key of ACCOUNT_KEYS) {
    const value = raw[key] === undefined ? null : field(ACCOUNT_LIMITS_SHAPE[key], raw[key]);
    if (typeof value === "number") valid[key] = value;
  }
  const effective = limitsByManifestKey(accountLimitsOf(valid));
  for (const [key, ceiling] of limits.account) {
    if (raw[key] !== undefined && valid[key] === undefined) continue; // the schema reports it
    const value = effective[key];
    if (value === undefined || value <= ceiling) continue;
    issues.push({
      path: at("limits", key),
      message:
        `${key} is ${value}${raw[key] === undefined ? " (the default)" : ""}, above the device policy's ` +
        `limit: policy.max_limits.${key} is ${ceiling}`,
      detail: {
        code: "policy_limit_exceeded",
        limit: `policy.max_limits.${key}`,
        requested: value,
        allowed: ceiling,
      },
    });
  }
}

function checkChannel(id: string, channel: Obj, limits: Limits, issues: RawIssue[]): void {
  const at = (key: string) => ["channels", id, key];
  const size = field(ChannelSchema.shape.size_bytes, channel.size_bytes);
  if (size !== null) {
    over(issues, { path: at("size_bytes"), what: "size_bytes", limits }, {
      key: "max_channel_bytes",
      value: size,
      defaulted: channel.size_bytes === undefined,
    });
  }
  if (channel.overflow !== "block-writer") return; // block_timeout_us applies to no other policy
  const timeout = channel.block_timeout_us === undefined
    ? DEFAULT_BLOCK_TIMEOUT_US
    : field(ChannelSchema.shape.block_timeout_us, channel.block_timeout_us) ?? null;
  if (timeout !== null) {
    over(issues, { path: at("block_timeout_us"), what: "block_timeout_us", limits }, {
      key: "max_block_timeout_us",
      value: timeout,
      defaulted: channel.block_timeout_us === undefined,
    });
  }
}

interface Where {
  readonly path: PathSegment[];
  /** The field as the message names it, e.g. `priority`. */
  readonly what: string;
  readonly limits: Limits;
}

interface Asked {
  readonly key: PolicyLimitKey;
  readonly value: number;
  /** Whether the value is the schema's default, not written in the manifest. */
  readonly defaulted?: boolean;
}

/** Reports `value` when it is above the policy's `key` (unless the schema refuses that limit). */
function over(issues: RawIssue[], { path, what, limits }: Where, { key, value, defaulted }: Asked): void {
  const limit = limits[key];
  if (limit === null || value <= limit) return;
  issues.push({
    path,
    message: `${what} is ${value}${defaulted ? " (the default)" : ""}, above the device policy's limit: ` +
      `policy.${key} is ${limit}`,
    detail: exceeded(key, value, limit),
  });
}

function exceeded(key: PolicyLimitKey, requested: number, allowed: number): PolicyLimitDetail {
  return { code: "policy_limit_exceeded", limit: `policy.${key}`, requested, allowed };
}

/** The policy's limits, each with its default when absent; a malformed one is null (the schema reports it). */
function policyLimits(policy: Obj | undefined): Limits {
  const limits: Partial<Record<PolicyLimitKey, number | null>> = {};
  for (const key of Object.keys(POLICY_SHAPE) as (keyof typeof POLICY_SHAPE)[]) {
    if (key === "allow") continue;
    const parsed = POLICY_SHAPE[key].safeParse(policy?.[key]);
    limits[key] = parsed.success ? parsed.data ?? null : null;
  }
  const account = new Map<AccountKey, number>();
  const max = asObj(policy?.max_limits);
  for (const key of ACCOUNT_KEYS) {
    const ceiling = max?.[key] === undefined ? null : field(ACCOUNT_LIMITS_SHAPE[key], max[key]);
    if (typeof ceiling === "number") account.set(key, ceiling);
  }
  return { ...limits as { [K in PolicyLimitKey]: number | null }, account };
}

/** A field's value through its schema (defaults applied), or null when the schema refuses it. */
function field<T>(
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } },
  value: unknown,
): T | null {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

function asObj(value: unknown): Obj | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value as Obj : undefined;
}
