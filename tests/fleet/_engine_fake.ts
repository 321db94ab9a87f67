/**
 * The rollout engine's test bench: a rollout of module `fft` from {@linkcode OLD} to {@linkcode NEW}, and a
 * fake fleet of devices that converge to what the controller publishes (the engine is pure: no broker).
 *
 * @module
 */
import {
  freshRollout,
  type KnownDevice,
  parsePhases,
  type Rollout,
  type RolloutMember,
  type ShadowOptions,
  stepRollout,
} from "../../fleet/mod.ts";
import type {
  DesiredState,
  ReportedModule,
  ReportedShadow,
  ReportedState,
} from "../../runtime/fleet/protocol.ts";

export const OLD = `127.0.0.1:5000/kiln/fft:1.0.0@sha256:${"1".repeat(64)}`;
export const NEW = `127.0.0.1:5000/kiln/fft:2.0.0@sha256:${"2".repeat(64)}`;
export const T0 = Date.parse("2026-12-07T12:00:00.000Z");

export function rollout(
  phases: string,
  over: Partial<Rollout> = {},
  shadow?: ShadowOptions,
): Rollout {
  const input = {
    fleet: "plant-a",
    module: "fft",
    image: NEW,
    spec: { schedule: { mode: "periodic", period_ms: 100 } },
    target: { groups: [], hardware: ["x86_64"] },
    phases: parsePhases(phases, shadow),
    condition: "crash_rate > 0.1% or p99_ms > 15",
  };
  return { ...freshRollout(input, "r1", T0), ...over };
}

export const healthyFigures = {
  invocations: 1000,
  errors: 0,
  crashes: 0,
  error_rate: 0,
  p99_us: 800,
  budget_overruns: 0,
};

/** A fake fleet: devices that converge to what the controller publishes, reporting on demand. */
export class FakeFleet {
  devices = new Map<string, KnownDevice>();
  published = new Map<string, DesiredState>();
  members: RolloutMember[] = [];
  /** What a device runs when no document names the module (its manifest's version). */
  baseline = new Map<string, ReportedModule>();
  /** How a device reports the shadow its document asks for (matching every invocation unless changed). */
  shadowPatch: (id: string, s: ReportedShadow) => ReportedShadow = (_id, s) => s;
  constructor(public r: Rollout, count: number, hardware = "x86_64") {
    for (let i = 0; i < count; i++) this.add(`gw${String(i).padStart(2, "0")}`, hardware);
  }
  add(id: string, hardware: string, modules: Record<string, ReportedModule> = {}) {
    const reported: ReportedState = {
      rev_applied: null,
      rev_seen: null,
      group_revs: {},
      at: new Date(T0).toISOString(),
      runtime_version: "0.1.0",
      report_every_s: 10,
      hardware,
      groups: ["line-3"],
      modules,
      errors: [],
    };
    this.devices.set(id, {
      fleet: "plant-a",
      id,
      groups: ["line-3"],
      hardware,
      last_seen_ms: T0,
      online: true,
      reported,
    });
  }
  /**
   * Every device but the `silent` ones reports now what its published document asks (the new image
   * running, healthy).
   */
  report(
    nowMs: number,
    patch: (id: string, m: ReportedModule) => ReportedModule = (_id, m) => m,
    silent: ReadonlySet<string> = new Set(),
  ) {
    for (const [id, d] of this.devices) {
      if (silent.has(id)) continue;
      const doc = this.published.get(id);
      const want = doc?.modules.fft;
      const modules: Record<string, ReportedModule> = {};
      const running = this.baseline.get(id);
      if (want) {
        modules.fft = patch(id, {
          source: "fleet",
          image: want.image,
          sha256: "x",
          version: want.image === NEW ? "2.0.0" : "1.0.0",
          state: "running",
          probation: true,
          figures: { ...healthyFigures },
        });
      } else if (running !== undefined && want !== null) modules.fft = patch(id, structuredClone(running));
      const shadow = doc?.shadows?.fft;
      if (shadow && modules.fft) {
        modules.fft = {
          ...modules.fft,
          shadow: this.shadowPatch(id, {
            image: shadow.image,
            candidate_sha256: "y",
            state: "running",
            reason: null,
            invocations: 500,
            matched: 500,
            diverged: 0,
            max_difference: 0,
            live_mean_us: 40,
            candidate_mean_us: 42,
          }),
        };
      }
      this.devices.set(id, { ...d, last_seen_ms: nowMs, online: true, reported: { ...d.reported, modules } });
    }
  }
  step(nowMs: number) {
    const result = stepRollout({
      rollout: this.r,
      members: this.members,
      devices: [...this.devices.values()],
      published: this.published,
      nowMs,
    });
    this.r = result.rollout;
    this.members = result.members;
    for (const [id, doc] of result.publish) this.published.set(id, doc);
    return result;
  }
  running(): string[] {
    return [...this.published].filter(([, doc]) => doc.modules.fft?.image === NEW).map(([id]) => id).sort();
  }
}
