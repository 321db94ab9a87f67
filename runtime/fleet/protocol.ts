/**
 * The fleet protocol over MQTT (`docs/fleet.md`): the topics, the desired state a controller publishes
 * (validated with zod, size-bounded) and how a device merges its own with its groups', and the reported
 * state a device publishes.
 *
 * @module
 */
import { bucketP99 } from "../_probation.ts";
import { z } from "zod";
import { parseImageReference } from "../../registry/mod.ts";
import type { ModuleStatus } from "../status.ts";
import type { ShadowStatus } from "../shadow/shadow.ts";

/** The largest desired state document accepted, bytes. */
export const MAX_DESIRED_BYTES = 64 * 1024;
/** The most modules one desired state may name. */
export const MAX_DESIRED_MODULES = 64;
/** The most errors a reported state carries (the newest). */
export const MAX_REPORTED_ERRORS = 20;
/** The longest error message a reported state carries, characters. */
export const MAX_ERROR_CHARS = 500;

/** The topics of one device. */
export interface FleetTopics {
  /** The device's own desired state (retained). */
  readonly desired: string;
  /** The device's reported state (retained). */
  readonly reported: string;
  /** Each group's desired state (retained), in the manifest's order. */
  readonly groups: readonly { readonly group: string; readonly topic: string }[];
}

/** The topics of `device` in `fleet` with its `groups` (ids already checked by the manifest's schema). */
export function fleetTopics(fleet: string, device: string, groups: readonly string[]): FleetTopics {
  const base = `kiln/fleet/${fleet}`;
  return {
    desired: `${base}/${device}/desired`,
    reported: `${base}/${device}/reported`,
    groups: groups.map((group) => ({ group, topic: `${base}/groups/${group}/desired` })),
  };
}

const MODULE = /^[a-z][a-z0-9_-]{0,62}$/;
/** Keys of a module entry the fleet sets itself: a desired spec must not carry them. */
const RESERVED_SPEC_KEYS = ["wasm", "image", "signature", "sha256", "data"] as const;

/** One module of a desired state: a digest-pinned image and its manifest entry without `wasm`/`image`. */
export const DesiredModuleSchema = z.strictObject({
  image: z.string().max(512).superRefine((text, ctx) => {
    try {
      const ref = parseImageReference(text);
      if (ref.digest === null) {
        ctx.addIssue({
          code: "custom",
          message: "a fleet image must be pinned: <host>/<repo>:<tag>@sha256:<hex>",
        });
      }
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }),
  spec: z.record(z.string(), z.unknown()).superRefine((spec, ctx) => {
    for (const key of RESERVED_SPEC_KEYS) {
      if (Object.hasOwn(spec, key)) {
        ctx.addIssue({ code: "custom", path: [key], message: `"${key}" is the fleet's to set: remove it` });
      }
    }
  }),
});

/**
 * A shadow of a module (`docs/shadow.md`): a candidate image run beside the module's live version on the same
 * inputs, its effects captured and compared, never carried out. A fleet rollout's shadow phase publishes it.
 */
export const DesiredShadowSchema = z.strictObject({
  image: z.string().max(512).superRefine((text, ctx) => {
    try {
      if (parseImageReference(text).digest === null) {
        ctx.addIssue({
          code: "custom",
          message: "a shadow image must be pinned: <host>/<repo>:<tag>@sha256:<hex>",
        });
      }
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }),
  /** The largest difference accepted between live and candidate floats (0: bit for bit). */
  tolerance: z.number().min(0).max(1e300).default(0),
  /** How the candidate starts: from the live instance's memory (`image`) or its own `kiln_init` (`init`). */
  start: z.enum(["image", "init"]).default("image"),
  /** Compared invocations not counted as matched or diverged at first (a cold candidate warming up). */
  warmup: z.int().min(0).max(1_000_000).default(0),
});

/** A desired state document. */
export const DesiredStateSchema = z.strictObject({
  rev: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  modules: z.record(
    z.string().regex(MODULE, "a module name: lowercase letters, digits, _ or -"),
    DesiredModuleSchema.nullable(),
  )
    .refine((m) => Object.keys(m).length <= MAX_DESIRED_MODULES, {
      message: `at most ${MAX_DESIRED_MODULES} modules`,
    }),
  /** Shadows by module; null drops the fleet's shadow of that module. Absent: none asked. */
  shadows: z.record(
    z.string().regex(MODULE, "a module name: lowercase letters, digits, _ or -"),
    DesiredShadowSchema.nullable(),
  )
    .refine((m) => Object.keys(m).length <= MAX_DESIRED_MODULES, {
      message: `at most ${MAX_DESIRED_MODULES} shadows`,
    }).optional(),
});

/** One shadow of a desired state, parsed. */
export type DesiredShadow = z.output<typeof DesiredShadowSchema>;
/** One module of a desired state, parsed. */
export type DesiredModule = z.output<typeof DesiredModuleSchema>;
/** A desired state, parsed. */
export type DesiredState = z.output<typeof DesiredStateSchema>;

/** A desired state parsed, or why it was not. */
export type ParsedDesired = { ok: true; state: DesiredState } | { ok: false; message: string };

/**
 * Parses a desired state payload. An empty payload (a retained message cleared) is an empty state with no
 * rev: it is reported as `null`. Never throws: a bad document's reason names the path of the first issues.
 */
export function parseDesired(payload: Uint8Array): ParsedDesired {
  if (payload.byteLength > MAX_DESIRED_BYTES) {
    return { ok: false, message: `the document is ${payload.byteLength} bytes, over ${MAX_DESIRED_BYTES}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch (err) {
    return { ok: false, message: `not UTF-8 JSON: ${(err as Error).message}` };
  }
  // A `__proto__` key would be dropped without a word when the schema copies a record into a plain object:
  // refused by name instead, wherever it is.
  const proto = protoKeyPath(json, []);
  if (proto !== null) return { ok: false, message: `${proto}: "__proto__" is not a valid key` };
  const result = DesiredStateSchema.safeParse(json);
  if (result.success) return { ok: true, state: result.data };
  const issues = result.error.issues.slice(0, 5).map((i) =>
    `${i.path.length === 0 ? "(document)" : i.path.map(String).join(".")}: ${i.message}`
  );
  return { ok: false, message: issues.join("; ") };
}

/** The path of the first own `__proto__` key in parsed JSON, or null. */
function protoKeyPath(value: unknown, path: string[]): string | null {
  if (value === null || typeof value !== "object") return null;
  for (const [key, v] of Object.entries(value)) {
    if (key === "__proto__") return [...path, key].join(".");
    const inner = protoKeyPath(v, [...path, key]);
    if (inner !== null) return inner;
  }
  return null;
}

/** What the merged desired states ask of one module, and which document said it. */
export interface MergedModule {
  /** The image and spec, or null: remove it (when the fleet deployed it). */
  readonly want: DesiredModule | null;
  /** `device`, or `group:<name>`. */
  readonly from: string;
  /** That document's rev. */
  readonly rev: number;
}

/** What the merged desired states ask of one module's shadow, and which document said it. */
export interface MergedShadow {
  /** The candidate, or null: drop the fleet's shadow. */
  readonly want: DesiredShadow | null;
  readonly from: string;
  readonly rev: number;
}

/**
 * Merges the desired states that apply to a device: groups in order (a later group wins), then the device's
 * own (it wins over every group). A module no document names is absent from the result.
 */
export function mergeDesired(
  device: DesiredState | null,
  groups: readonly { readonly group: string; readonly state: DesiredState | null }[],
): Map<string, MergedModule> {
  return mergeSection(device, groups, (state) => state.modules);
}

/** Merges the shadows of the desired states that apply to a device, as {@linkcode mergeDesired} does modules. */
export function mergeShadows(
  device: DesiredState | null,
  groups: readonly { readonly group: string; readonly state: DesiredState | null }[],
): Map<string, MergedShadow> {
  return mergeSection(device, groups, (state) => state.shadows ?? {});
}

function mergeSection<T>(
  device: DesiredState | null,
  groups: readonly { readonly group: string; readonly state: DesiredState | null }[],
  section: (state: DesiredState) => Record<string, T | null>,
): Map<string, { want: T | null; from: string; rev: number }> {
  const merged = new Map<string, { want: T | null; from: string; rev: number }>();
  const apply = (state: DesiredState | null, from: string) => {
    if (state === null) return;
    for (const [name, want] of Object.entries(section(state))) {
      merged.set(name, { want, from, rev: state.rev });
    }
  };
  for (const g of groups) apply(g.state, `group:${g.group}`);
  apply(device, "device");
  return merged;
}

/** Where a module running on the device came from. */
export type ModuleSource = "manifest" | "api" | "fleet";

/** The health figures of one module, since it started. */
export interface ModuleFigures {
  invocations: number;
  errors: number;
  /** Traps and watchdog kills. */
  crashes: number;
  /** errors / invocations, 0..1 (0 before the first invocation). */
  error_rate: number;
  /** The 99th percentile of its handler time, µs, from its latency histogram (an upper bucket bound). */
  p99_us: number;
  budget_overruns: number;
}

/** A module's shadow in a reported state (`ShadowStatus`, bounded). */
export interface ReportedShadow {
  /** The fleet image it runs, when the fleet attached it. */
  image?: string;
  candidate_sha256: string;
  state: "starting" | "running" | "stopped";
  /** Why it stopped (`candidate_trapped: ...`, `module_stopped`, ...), null while running. */
  reason: string | null;
  /** Invocations compared (after the warm-up), matched and diverged. */
  invocations: number;
  matched: number;
  diverged: number;
  /** The largest difference seen over every output; null when one was not comparable (NaN, shape). */
  max_difference: number | null;
  /** The mean time per call, µs, of the live version and of the candidate since the shadow started. */
  live_mean_us: number | null;
  candidate_mean_us: number | null;
}

/** One module in a reported state. */
export interface ReportedModule {
  source: ModuleSource;
  /** The fleet image it runs, for a fleet module. */
  image?: string;
  sha256: string;
  /** The signed version, or null for an unsigned module. */
  version: string | null;
  state: ModuleStatus["state"];
  probation: boolean;
  last_rollback?: { at: string; reason: string };
  figures: ModuleFigures;
  /** Its shadow, when one is attached (or stopped and not dropped). */
  shadow?: ReportedShadow;
}

/** One error in a reported state. */
export interface ReportedError {
  /** The module, or null for the document itself. */
  module: string | null;
  /** The rev of the document that asked, or null when it could not be read. */
  rev: number | null;
  code: string;
  message: string;
}

/** The reported state document. */
export interface ReportedState {
  /** The rev of the device's own desired state last converged to, or null. */
  rev_applied: number | null;
  /** The rev of the device's own desired state last received, or null. */
  rev_seen: number | null;
  /** The same two for each group, by group. */
  group_revs: Record<string, { applied: number | null; seen: number | null }>;
  /** RFC 3339. */
  at: string;
  runtime_version: string;
  /** The device's hardware tag, or null. */
  hardware: string | null;
  /**
   * How often the device reports without a change, seconds (its `fleet.report_every_s`): a controller counts
   * it as gone after three missed reports. Absent from gateways before it was added (then 10 is assumed).
   */
  report_every_s: number;
  groups: string[];
  modules: Record<string, ReportedModule>;
  errors: ReportedError[];
}

/** The figures of a module's status (p99 from its latency histogram). */
export function figuresOf(status: ModuleStatus): ModuleFigures {
  const { invocations, errors } = status;
  return {
    invocations,
    errors,
    crashes: status.traps + status.watchdog_restarts,
    error_rate: invocations === 0 ? 0 : errors / invocations,
    p99_us: p99Of(status.latency_histogram, status.max_us),
    budget_overruns: status.budget_overruns,
  };
}

/** A shadow's status as a reported state carries it; `image` when the fleet attached it. */
export function reportedShadowOf(status: ShadowStatus, image: string | null): ReportedShadow {
  let max: number | null = 0;
  for (const d of status.largestDifference.values()) {
    if (!Number.isFinite(d)) {
      max = null;
      break;
    }
    max = Math.max(max, d);
  }
  return {
    ...(image !== null && { image }),
    candidate_sha256: status.candidateSha256,
    state: status.state,
    reason: status.reason,
    invocations: status.invocations,
    matched: status.matched,
    diverged: status.diverged,
    max_difference: max,
    live_mean_us: status.live.meanUs,
    candidate_mean_us: status.candidate.meanUs,
  };
}

/**
 * The 99th percentile of a latency histogram: the upper bound of the bucket it falls in (`maxUs` for the
 * overflow bucket past the last bound); 0 for an empty histogram.
 */
export function p99Of(h: { bounds_us: readonly number[]; counts: readonly number[] }, maxUs: number): number {
  const p99 = bucketP99(h.counts, h.bounds_us);
  if (p99 === null) return 0;
  if (p99 === Infinity) return maxUs;
  // The bucket's upper bound, but never above the slowest handler time seen.
  return maxUs > 0 ? Math.min(p99, maxUs) : p99;
}

/** A message bounded for a reported state. */
export function boundedMessage(message: string): string {
  return message.length <= MAX_ERROR_CHARS ? message : `${message.slice(0, MAX_ERROR_CHARS - 1)}…`;
}
