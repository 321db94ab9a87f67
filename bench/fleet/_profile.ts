/**
 * Where the controller's time goes, in process: what one step of `FleetController` (`fleet/controller.ts`
 * `#stepAll`) does for one rollout, part by part, on a store holding `devices` devices that all joined the
 * rollout and report the new image running (the state of a 100% phase being observed), and what one report
 * costs (`putReported`). The controller steps every rollout after each report it receives (steps are
 * coalesced, one at a time) and every second, so a step's cost times the steps run is its CPU.
 *
 * @module
 */
import { FleetStore, parsePhases, stepRollout } from "../../fleet/mod.ts";
import type { ReportedState } from "../../runtime/fleet/protocol.ts";
import { NEW_IMAGE, OLD_IMAGE } from "./_run.ts";

/** The cost of each part of one step at one size, ms (median of the rounds). */
export interface StepProfile {
  devices: number;
  put_reported_ms: number;
  list_rollouts_ms: number;
  list_members_ms: number;
  list_devices_ms: number;
  list_published_ms: number;
  step_rollout_ms: number;
  /** The first step, that joins every device: writing it (rollout, members, documents) in one transaction. */
  write_step_ms: number;
  /** The parts of a step that changes nothing, together. */
  idle_step_ms: number;
}

const ROUNDS = 5;

function median(xs: number[]): number {
  const s = xs.toSorted((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 100) / 100;
}

function timed<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}

function reported(i: number, image: string): ReportedState {
  return {
    rev_applied: 1,
    rev_seen: 1,
    group_revs: { "line-1": { applied: null, seen: null } },
    at: new Date().toISOString(),
    runtime_version: "0.18.0-sim",
    report_every_s: 10,
    hardware: "x86_64-sim",
    groups: ["line-1"],
    modules: {
      app: {
        source: "fleet",
        image,
        sha256: "c".repeat(64),
        version: "2.0.0",
        state: "running",
        probation: false,
        figures: { invocations: i, errors: 0, crashes: 0, error_rate: 0, p99_us: 500, budget_overruns: 0 },
      },
    },
    errors: [],
  };
}

/** Profiles one step at each size. */
export async function profileController(sizes: readonly number[]): Promise<StepProfile[]> {
  const out: StepProfile[] = [];
  for (const devices of sizes) {
    const dir = await Deno.makeTempDir({ prefix: "kiln-bench-fleet-profile-" });
    try {
      using store = FleetStore.open(dir);
      const ids = Array.from({ length: devices }, (_, i) => `dev-${String(i).padStart(5, "0")}`);
      const puts: number[] = [];
      for (const [i, id] of ids.entries()) {
        puts.push(timed(() => store.putReported("bench", id, reported(i, OLD_IMAGE), Date.now()))[1]);
      }
      const rollout = store.createRollout({
        fleet: "bench",
        module: "app",
        image: NEW_IMAGE,
        spec: { schedule: { mode: "periodic", period_ms: 1000 } },
        target: { groups: ["line-1"], hardware: [] },
        phases: parsePhases("100%:60s"),
        condition: "crash_rate > 0.1%",
      }, Date.now());
      // The first step joins every device; it is written in one transaction.
      const first = stepRollout({
        rollout,
        members: [],
        devices: store.listDevices("bench"),
        published: store.listPublished("bench"),
        nowMs: Date.now(),
      });
      const [, writeMs] = timed(() =>
        store.writeStep(
          { rollout: first.rollout, members: first.members, published: first.publish },
          rollout.revision,
          Date.now(),
        )
      );
      for (const [i, id] of ids.entries()) store.putReported("bench", id, reported(i, NEW_IMAGE), Date.now());
      const parts = {
        list_rollouts_ms: [] as number[],
        list_members_ms: [] as number[],
        list_devices_ms: [] as number[],
        list_published_ms: [] as number[],
        step_rollout_ms: [] as number[],
      };
      for (let round = 0; round < ROUNDS; round++) {
        const [rollouts, a] = timed(() => store.listRollouts());
        const [members, b] = timed(() => store.listMembers(rollouts[0]!.id));
        const [known, c] = timed(() => store.listDevices("bench"));
        const [published, d] = timed(() => store.listPublished("bench"));
        const [, e] = timed(() =>
          stepRollout({ rollout: rollouts[0]!, members, devices: known, published, nowMs: Date.now() })
        );
        parts.list_rollouts_ms.push(a);
        parts.list_members_ms.push(b);
        parts.list_devices_ms.push(c);
        parts.list_published_ms.push(d);
        parts.step_rollout_ms.push(e);
      }
      const p: StepProfile = {
        devices,
        put_reported_ms: median(puts),
        list_rollouts_ms: median(parts.list_rollouts_ms),
        list_members_ms: median(parts.list_members_ms),
        list_devices_ms: median(parts.list_devices_ms),
        list_published_ms: median(parts.list_published_ms),
        step_rollout_ms: median(parts.step_rollout_ms),
        write_step_ms: Math.round(writeMs * 100) / 100,
        idle_step_ms: 0,
      };
      p.idle_step_ms = Math.round(
        (p.list_rollouts_ms + p.list_members_ms + p.list_devices_ms + p.list_published_ms +
          p.step_rollout_ms) *
          100,
      ) / 100;
      out.push(p);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  return out;
}
