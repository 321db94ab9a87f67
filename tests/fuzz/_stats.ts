/**
 * The fuzz run's figures: what {@linkcode Stats} accumulates from every module's outcome, and the summary
 * `deno task fuzz` prints and writes to `bench/results/fuzz.json`.
 *
 * @module
 */
import type { CallRecord, Finding, ModuleReport } from "./_report.ts";
import { judge } from "./_report.ts";
import type { Variant } from "./_variant.ts";

/** How a module's run ended: its report, an escape (the worker was terminated or died), a harness bug. */
export type Outcome =
  | { kind: "report"; report: ModuleReport; prepared: Uint8Array | null }
  | { kind: "escape"; detail: string; prepared: Uint8Array | null }
  | { kind: "error"; detail: string };

/** A distribution of times, ms. */
export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/** What a fuzz run found (`runFuzz` in `_fuzz.ts`). */
export interface FuzzSummary {
  seed: number;
  count: number;
  budget_us: number;
  margin_ms: number;
  watchdog_ms: number;
  wasm_opt: string;
  duration_s: number;
  generated: number;
  /** `wasm-opt` failures or timeouts, by first line of its error (not Kiln's). */
  generation_failed: Record<string, number>;
  replayed: number;
  modules_by_profile: Record<string, { modules: number; accepted: number; refused: number }>;
  /** Refusals by `class(feature)@stage`. */
  refused_by_class: Record<string, number>;
  defused_hang_limit: number;
  fuel_metered: number;
  instantiate_by_outcome: Record<string, number>;
  calls_by_outcome: Record<string, number>;
  calls_skipped_v128: number;
  host_calls: number;
  /** Wall time of every call (instantiation included). */
  call_ms: Distribution;
  /** Wall time of the calls interrupted for their budget, and how far past their armed budget they ended. */
  interrupted_ms: Distribution;
  interrupted_over_budget_ms: Distribution;
  max_memory_bytes: number;
  /** The largest memory as a share of its cap. */
  max_memory_of_cap: number;
  /** Calls that ended with their memory exactly at the cap (grown as far as allowed). */
  calls_at_cap: number;
  /** The calls that ended furthest past their armed budget, worst first. */
  slowest_calls: SlowCall[];
  /**
   * Calls past their budget plus the margin whose module, run again, stayed within it: the machine, not
   * the module (they are not findings).
   */
  over_margin_unconfirmed: Finding[];
  /** Messages of unclassified traps and host errors, with counts. */
  trap_details: Record<string, number>;
  escapes: number;
  harness_errors: number;
  findings: Finding[];
}

/** A call that ended far past its budget, with what is needed to run it again. */
export interface SlowCall {
  seed: number;
  profile: string;
  name: string;
  outcome: string;
  armed_ms: number;
  wall_ms: number;
}

/** Calls kept in `slowest_calls`. */
const SLOWEST = 12;

/** A `Distribution` of `values` (nearest-rank percentiles). */
export function distribution(values: number[]): Distribution {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { count: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), max: round(sorted.at(-1)!) };
}

/** Accumulates reports into a {@linkcode FuzzSummary}. */
export class Stats {
  generated = 0;
  replayed = 0;
  #genFailed = new Map<string, number>();
  #profiles = new Map<string, { modules: number; accepted: number; refused: number }>();
  #refused = new Map<string, number>();
  #instantiate = new Map<string, number>();
  #calls = new Map<string, number>();
  #callMs: number[] = [];
  #interruptedMs: number[] = [];
  #overMs: number[] = [];
  #defused = 0;
  #fuel = 0;
  #skipped = 0;
  #hostCalls = 0;
  #maxMemory = 0;
  #maxOfCap = 0;
  #atCap = 0;
  #slowest: SlowCall[] = [];
  #unconfirmed: Finding[] = [];
  #trapDetails = new Map<string, number>();
  #escapes = 0;
  #harnessErrors = 0;
  #findings: Finding[] = [];

  generationFailed(reason: string): void {
    bump(this.#genFailed, reason);
  }

  /** Counts one module's outcome; returns the rules it broke. */
  add(variant: Variant, outcome: Outcome, marginMs: number, rerun: Outcome | null = null): Finding[] {
    this.generated++;
    if (variant.fuel !== null) this.#fuel++;
    const profile = this.#profiles.get(variant.profile) ?? { modules: 0, accepted: 0, refused: 0 };
    this.#profiles.set(variant.profile, profile);
    profile.modules++;
    let found: Finding[];
    if (outcome.kind === "escape") {
      this.#escapes++;
      found = [{ seed: variant.seed, profile: variant.profile, kind: "escape", detail: outcome.detail }];
    } else if (outcome.kind === "error") {
      this.#harnessErrors++;
      found = [{
        seed: variant.seed,
        profile: variant.profile,
        kind: "harness_error",
        detail: outcome.detail,
      }];
    } else {
      const r = outcome.report;
      if (r.defused) this.#defused++;
      this.#skipped += r.skipped;
      this.#hostCalls += r.hostCalls;
      if (r.refusal) {
        profile.refused++;
        const f = r.refusal.feature ? `(${r.refusal.feature})` : "";
        bump(this.#refused, `${r.refusal.errorClass}${f}@${r.refusal.stage}`);
      } else profile.accepted++;
      if (r.instantiate) bump(this.#instantiate, r.instantiate.outcome);
      for (const call of [...(r.instantiate ? [r.instantiate] : []), ...r.calls]) {
        if (call !== r.instantiate) bump(this.#calls, call.outcome);
        this.#callMs.push(call.wallMs);
        if (call.outcome === "budget_exceeded") {
          this.#interruptedMs.push(call.wallMs);
          this.#overMs.push(call.wallMs - call.armedMs);
        }
        if (call.detail !== undefined) {
          bump(this.#trapDetails, `${call.outcome}: ${call.detail.slice(0, 80)}`);
        }
        this.#noteSlow(variant, call);
        this.#maxMemory = Math.max(this.#maxMemory, call.memoryBytes);
        if (r.capBytes > 0) this.#maxOfCap = Math.max(this.#maxOfCap, call.memoryBytes / r.capBytes);
        if (r.capBytes > 0 && call.memoryBytes === r.capBytes) this.#atCap++;
      }
      found = judge(r, marginMs);
      if (rerun) found = this.#confirm(found, rerun, marginMs);
    }
    this.#findings.push(...found);
    return found;
  }

  /**
   * Calls past their budget plus the margin stand only when the module, run again, is past it again: on a
   * shared machine a thread may be descheduled for a few hundred milliseconds in any call, whereas an
   * interrupt that comes late because of what the module does comes late every time. The others are kept
   * apart as unconfirmed, with their seeds.
   */
  #confirm(found: Finding[], rerun: Outcome, marginMs: number): Finding[] {
    if (rerun.kind !== "report") {
      const detail = `on its second run: ${rerun.detail}`;
      return [...found, { ...found[0]!, kind: rerun.kind === "escape" ? "escape" : "harness_error", detail }];
    }
    const again = judge(rerun.report, marginMs).filter((f) => f.kind === "over_margin");
    if (again.length > 0) {
      return [
        ...found.filter((f) => f.kind !== "over_margin"),
        ...again.map((f) => ({
          ...f,
          detail: `${f.detail}; past the margin on both runs`,
        })),
      ];
    }
    this.#unconfirmed.push(...found.filter((f) => f.kind === "over_margin"));
    return found.filter((f) => f.kind !== "over_margin");
  }

  #noteSlow(variant: Variant, call: CallRecord): void {
    const over = call.wallMs - call.armedMs;
    const worst = this.#slowest.at(-1);
    if (this.#slowest.length >= SLOWEST && worst && over <= worst.wall_ms - worst.armed_ms) return;
    this.#slowest.push({
      seed: variant.seed,
      profile: variant.profile,
      name: call.name,
      outcome: call.outcome,
      armed_ms: call.armedMs,
      wall_ms: Math.round(call.wallMs * 1000) / 1000,
    });
    this.#slowest.sort((a, b) => (b.wall_ms - b.armed_ms) - (a.wall_ms - a.armed_ms));
    this.#slowest.length = Math.min(this.#slowest.length, SLOWEST);
  }

  summary(
    head: Pick<
      FuzzSummary,
      "seed" | "count" | "budget_us" | "margin_ms" | "watchdog_ms" | "wasm_opt" | "duration_s"
    >,
  ): FuzzSummary {
    return {
      ...head,
      generated: this.generated - this.replayed,
      generation_failed: Object.fromEntries(this.#genFailed),
      replayed: this.replayed,
      modules_by_profile: Object.fromEntries(this.#profiles),
      refused_by_class: Object.fromEntries([...this.#refused].sort((a, b) => b[1] - a[1])),
      defused_hang_limit: this.#defused,
      fuel_metered: this.#fuel,
      instantiate_by_outcome: Object.fromEntries(this.#instantiate),
      calls_by_outcome: Object.fromEntries([...this.#calls].sort((a, b) => b[1] - a[1])),
      calls_skipped_v128: this.#skipped,
      host_calls: this.#hostCalls,
      call_ms: distribution(this.#callMs),
      interrupted_ms: distribution(this.#interruptedMs),
      interrupted_over_budget_ms: distribution(this.#overMs),
      max_memory_bytes: this.#maxMemory,
      max_memory_of_cap: Math.round(this.#maxOfCap * 1000) / 1000,
      calls_at_cap: this.#atCap,
      slowest_calls: this.#slowest,
      over_margin_unconfirmed: this.#unconfirmed,
      trap_details: Object.fromEntries([...this.#trapDetails].sort((a, b) => b[1] - a[1]).slice(0, 20)),
      escapes: this.#escapes,
      harness_errors: this.#harnessErrors,
      findings: this.#findings,
    };
  }
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}
