/**
 * The soak's checks, each a pure function of what the run recorded, returning its verdict with its figures:
 * `pass`, `fail`, or `skipped` when the run was too short for it to mean anything (a memory slope over less
 * than five minutes is noise).
 *
 * @module
 */
import type { ApiCounts } from "./_api.ts";
import type { FaultKind, FaultRecord } from "./_faults.ts";
import { accountKind, type KindAccount, leastSquares, median, type StreamLedger } from "./_stats.ts";

/** A check's verdict. */
export type CheckStatus = "pass" | "fail" | "skipped";

/** One memory sample. */
export interface MemorySample {
  /** Seconds since the soak started. */
  readonly t_s: number;
  /** The runtime process's resident memory, MiB. */
  readonly rss_mib: number;
}

/** The shortest span after warm-up over which a memory slope is judged. */
export const MIN_SLOPE_SPAN_S = 300;

/**
 * The lower envelope of the samples: the span is cut into windows (a quarter of it, between 1 and 15
 * minutes, longer than one tooth of the sawtooth below) and each window gives its lowest sample. A garbage-collected process's resident memory is a
 * sawtooth (the soak's is about 50 MiB high with a period of ten minutes or so, set by the restarts and
 * V8's major collections); a least-squares line through every sample swings by tens of MiB per hour with
 * where the run happens to end on that tooth. What a leak moves is the floor the collector returns to.
 */
export function lowerEnvelope(samples: readonly MemorySample[]): MemorySample[] {
  if (samples.length < 2) return [...samples];
  const t0 = samples[0]!.t_s;
  const span = samples.at(-1)!.t_s - t0;
  const width = Math.min(900, Math.max(60, span / 4));
  // Whole windows only: what is left at the end joins the last one, so a short tail that ends on the top of
  // a tooth (no trough in it) does not count as a floor.
  const windows = Math.max(1, Math.floor(span / width));
  const lows = new Map<number, MemorySample>();
  for (const s of samples) {
    const k = Math.min(Math.floor((s.t_s - t0) / width), windows - 1);
    const low = lows.get(k);
    if (low === undefined || s.rss_mib < low.rss_mib) lows.set(k, s);
  }
  return [...lows.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
}

/**
 * Resident memory must not keep growing: the least-squares slope of the lower envelope of the samples after
 * warm-up (see `lowerEnvelope`), in MiB per hour, under `boundMibPerH`. The slope through every sample is
 * reported beside it, not judged.
 */
export function memoryCheck(samples: readonly MemorySample[], warmUpS: number, boundMibPerH: number) {
  const after = samples.filter((s) => s.t_s >= warmUpS);
  const envelope = lowerEnvelope(after);
  const fit = envelope.length >= 3
    ? leastSquares(envelope.map((s) => [s.t_s / 3600, s.rss_mib] as const))
    : null;
  const all = leastSquares(after.map((s) => [s.t_s / 3600, s.rss_mib] as const));
  const span = after.length > 1 ? after.at(-1)!.t_s - after[0]!.t_s : 0;
  const slope = fit === null ? null : fit.slope;
  const status: CheckStatus = span < MIN_SLOPE_SPAN_S || slope === null
    ? "skipped"
    : slope <= boundMibPerH
    ? "pass"
    : "fail";
  const rss = samples.map((s) => s.rss_mib);
  return {
    status,
    ...(status === "skipped" && {
      reason: `${Math.round(span)} s of samples after warm-up; a slope needs at least ${MIN_SLOPE_SPAN_S} s`,
    }),
    ...(status === "fail" && {
      reason: `the floor of resident memory grew ${
        slope!.toFixed(1)
      } MiB/h after warm-up, over the bound of ${boundMibPerH}`,
    }),
    bound_mib_per_h: boundMibPerH,
    slope_mib_per_h: slope === null ? null : round(slope, 3),
    intercept_mib: fit === null ? null : round(fit.intercept, 3),
    envelope: envelope.map((s) => ({ t_s: s.t_s, rss_mib: s.rss_mib })),
    all_samples_slope_mib_per_h: all === null ? null : round(all.slope, 3),
    warm_up_s: warmUpS,
    samples_after_warm_up: after.length,
    span_after_warm_up_s: round(span, 1),
    rss_first_mib: rss.length > 0 ? round(rss[0]!, 1) : null,
    rss_at_warm_up_mib: after.length > 0 ? round(after[0]!.rss_mib, 1) : null,
    rss_last_mib: rss.length > 0 ? round(rss.at(-1)!, 1) : null,
    rss_max_mib: rss.length > 0 ? round(Math.max(...rss), 1) : null,
  };
}

/** One stream as the receiver saw it. */
export interface StreamRow {
  readonly stream: string;
  readonly kind: "alert" | "batch" | "telemetry";
  readonly ledger: StreamLedger;
}

/**
 * Every message accounted for: per kind, every sequence number the outbox gave out arrived or is counted
 * as dropped by it (`unexplained` 0), alerts are never missing, and the outbox drained before the count.
 */
export function accountingCheck(
  outbox: Readonly<Record<"alert" | "batch" | "telemetry", { enqueued: number; dropped: number }>>,
  streams: readonly StreamRow[],
  drained: boolean,
  unreadable: number,
) {
  const kinds = {} as Record<"alert" | "batch" | "telemetry", KindAccount>;
  for (const kind of ["alert", "batch", "telemetry"] as const) {
    kinds[kind] = accountKind(outbox[kind], streams.filter((s) => s.kind === kind).map((s) => s.ledger));
  }
  const unexplained = Object.values(kinds).reduce((s, k) => s + k.unexplained, 0);
  const reasons = [
    ...(drained ? [] : ["the outbox did not drain before the count"]),
    ...(unexplained > 0 ? [`${unexplained} sequence numbers neither received nor counted as dropped`] : []),
    ...(kinds.alert.missing > 0 ? [`${kinds.alert.missing} alerts missing`] : []),
    ...(unreadable > 0 ? [`${unreadable} messages without a readable stream and seq`] : []),
  ];
  return {
    status: (reasons.length === 0 ? "pass" : "fail") as CheckStatus,
    ...(reasons.length > 0 && { reason: reasons.join("; ") }),
    drained,
    unexplained,
    duplicates: Object.values(kinds).reduce((s, k) => s + k.duplicates, 0),
    unreadable,
    kinds,
    streams: streams.map((s) => ({ stream: s.stream, kind: s.kind, ...s.ledger })),
  };
}

/** Every fault took effect and its target recovered within its bound. */
export function recoveryCheck(faults: readonly FaultRecord[]) {
  const byKind: Partial<
    Record<FaultKind, { count: number; recovered: number; within_bound: number; worst_ms: number | null }>
  > = {};
  for (const f of faults) {
    const k = byKind[f.kind] ??= { count: 0, recovered: 0, within_bound: 0, worst_ms: null };
    k.count++;
    if (f.recovery_ms !== null) {
      k.recovered++;
      k.worst_ms = Math.max(k.worst_ms ?? 0, f.recovery_ms);
    }
    if (f.within_bound) k.within_bound++;
  }
  const bad = faults.filter((f) => !f.within_bound);
  return {
    status: (faults.length === 0 ? "skipped" : bad.length === 0 ? "pass" : "fail") as CheckStatus,
    ...(bad.length > 0 && {
      reason: bad.map((f) =>
        `${f.kind} at ${Math.round(f.at_s)} s: ${
          f.error ?? (!f.applied
            ? "did not take effect"
            : f.recovery_ms === null
            ? "never recovered"
            : `recovered in ${f.recovery_ms} ms, bound ${f.bound_ms} ms`)
        }`
      ).join("; "),
    }),
    faults: faults.length,
    all_recovered: faults.every((f) => f.recovery_ms !== null),
    by_kind: byKind,
  };
}

/** No request the harness made got a 5xx, and every one got an answer. */
export function apiCheck(counts: ApiCounts) {
  const serverErrors = Object.entries(counts.byStatus).filter(([s]) => Number(s) >= 500)
    .reduce((n, [, c]) => n + c, 0);
  const failures = Object.values(counts.failures).reduce((n, c) => n + c, 0);
  const reasons = [
    ...(serverErrors > 0 ? [`${serverErrors} responses with a 5xx status`] : []),
    ...(failures > 0 ? [`${failures} requests without a response`] : []),
  ];
  return {
    status: (reasons.length === 0 ? "pass" : "fail") as CheckStatus,
    ...(reasons.length > 0 && { reason: reasons.join("; ") }),
    requests: counts.requests,
    server_errors: serverErrors,
    no_response: failures,
    by_status: counts.byStatus,
    failures: counts.failures,
  };
}

/** One latency window. */
export interface LatencyWindow {
  readonly start_s: number;
  readonly end_s: number;
  /** The harness's API requests in the window, ms. */
  readonly api: { count: number; p50_ms: number | null; p99_ms: number | null; max_ms: number | null };
  /** The probe's trigger-to-actuator latency at the window's end (its last 1024 events), µs. */
  readonly event: { events: number; p50_us: number | null; p99_us: number | null };
}

/**
 * Latency stays stable: over the windows after warm-up, the median p99 of the last few windows (up to
 * three, a third of them) is within `factor` of the median p99 of the first few, for the API and for
 * events. Skipped with fewer than two windows after warm-up.
 */
export function latencyCheck(windows: readonly LatencyWindow[], warmUpS: number, factor: number) {
  const after = windows.filter((w) => w.start_s >= warmUpS);
  const k = Math.max(1, Math.min(3, Math.floor(after.length / 3)));
  const compare = (pick: (w: LatencyWindow) => number | null) => {
    const values = (ws: readonly LatencyWindow[]) => ws.map(pick).filter((v): v is number => v !== null);
    const first = median(values(after.slice(0, k)));
    const last = median(values(after.slice(-k)));
    const ratio = first !== null && last !== null && first > 0 ? last / first : null;
    return { first_p99: first, last_p99: last, ratio: ratio === null ? null : round(ratio, 3) };
  };
  const api = compare((w) => w.api.p99_ms);
  const event = compare((w) => w.event.p99_us);
  const failing = [["API", api], ["event", event]].filter(([, c]) =>
    (c as typeof api).ratio !== null && (c as typeof api).ratio! > factor
  ).map(([n, c]) => `${n} p99 ${(c as typeof api).last_p99} against ${(c as typeof api).first_p99} at first`);
  const status: CheckStatus = after.length < 2 ? "skipped" : failing.length > 0 ? "fail" : "pass";
  return {
    status,
    ...(status === "skipped" && { reason: `${after.length} window(s) after warm-up; stability needs 2` }),
    ...(failing.length > 0 && { reason: failing.join("; ") }),
    factor,
    warm_up_s: warmUpS,
    windows_after_warm_up: after.length,
    compared_windows: k,
    api_ms: api,
    event_us: event,
  };
}

/** `v` to `digits` decimals. */
export function round(v: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}
