/**
 * What drives a module offline (`in_process.ts`): the deployment's simulated sensors, stepped in simulated
 * time. A stream feed hands about 20 ms of a vibration sensor's samples per step to the module, or to the
 * stream module writing the channel it reads; a periodic feed runs one tick per step with the input image
 * updated from the simulated temperature probes first; an event feed (`_event_feed.ts`) runs the writer of
 * the channel an event module is triggered by, and a user's events file. Private to `runtime/record/`.
 *
 * @module
 */
import { SimTemperatureSensor, SimVibrationSensor } from "../../hal/sim/mod.ts";
import type { DeploymentPlan, ModulePlan } from "../plan.ts";
import type { ModuleInstance } from "../executor/instance.ts";
import type { InputValue } from "../executor/protocol.ts";
import { nowMs } from "../executor/doorbell.ts";
import { ReplayError } from "./errors.ts";

/** A source of handler calls in simulated time. */
export interface Feed {
  /** Simulated milliseconds fed so far. */
  readonly simulatedMs: number;
  /** Sensor samples (stream), input reads (periodic), or those of the writer plus the file's events (event). */
  readonly samples: number;
  /** True when the feed has nothing more to give (an events file delivered in full); absent: never. */
  readonly done?: boolean;
  /** The simulated fault from now on (`bearing` on vibration, `overheat` on temperature). */
  fault(): void;
  /** Feeds one step. @throws {ModuleTrap} when a module traps. */
  step(): void;
}

/** The module upstream of `target` that must run for it to be fed (the writer of its channel), or null. */
export function upstreamOf(deployment: DeploymentPlan, target: ModulePlan): ModulePlan | null {
  const s = target.schedule;
  if (s.mode !== "stream" || !s.source.startsWith("channel:")) return null;
  const channel = deployment.channels.find((c) => `channel:${c.id}` === s.source);
  const writer = deployment.modules.find((m) => m.name === channel?.writer) ?? null;
  if (writer?.schedule.mode !== "stream") {
    throw new ReplayError(target.name, `the writer of "${s.source}" is not a stream module`);
  }
  return writer;
}

/** A stream feed: `recorded` reads `writer`'s channel when `writer` is given, else the sensor itself. */
export function streamFeed(
  deployment: DeploymentPlan,
  target: ModulePlan,
  recorded: ModuleInstance,
  writer: { plan: ModulePlan; instance: ModuleInstance } | null,
): Feed {
  const fed = writer?.plan ?? target;
  const source = fed.schedule.mode === "stream" ? fed.schedule.source : "";
  const plan = deployment.sim.find((x) => `sim:${x.id}` === source);
  if (plan?.kind !== "vibration") {
    throw new ReplayError(target.name, `"${source}" is not a simulated vibration sensor`);
  }
  const sensor = new SimVibrationSensor({
    id: plan.id,
    rateHz: plan.rateHz,
    ...(plan.shaftHz !== undefined && { shaftHz: plan.shaftHz }),
    ...(plan.fullScaleG !== undefined && { fullScaleG: plan.fullScaleG }),
    ...(plan.seed !== undefined && { seed: plan.seed }),
  });
  // About 20 ms of samples per batch, as the runtime hands them to an executor.
  const batch = new Int16Array(Math.max(1, Math.round(plan.rateHz / 50)));
  return {
    get simulatedMs() {
      return (sensor.samplesWritten / plan.rateHz) * 1000;
    },
    get samples() {
      return sensor.samplesWritten;
    },
    fault: () => sensor.setFault("bearing"),
    step: () => {
      sensor.fill(batch);
      if (writer === null) recorded.pushSamples(batch);
      else {
        writer.instance.pushSamples(batch);
        recorded.pollChannel(Number.MAX_SAFE_INTEGER);
      }
    },
  };
}

/** A periodic feed: its `sim:` temperature inputs read at each tick's simulated time, then the tick. */
export function periodicFeed(
  deployment: DeploymentPlan,
  target: ModulePlan,
  recorded: ModuleInstance,
  inputs: Map<string, InputValue>,
): Feed {
  const s = target.schedule;
  if (s.mode !== "periodic") throw new ReplayError(target.name, "it is not a periodic module");
  const probes = target.inputs.map((id) => {
    const plan = deployment.sim.find((x) => `sim:${x.id}` === id);
    if (plan?.kind !== "temperature") {
      throw new ReplayError(target.name, `input "${id}" is not a simulated temperature sensor`);
    }
    const sensor = new SimTemperatureSensor({
      id: plan.id,
      ...(plan.ambientC !== undefined && { ambientC: plan.ambientC }),
      ...(plan.seed !== undefined && { seed: plan.seed }),
    });
    return { id, sensor };
  });
  let ticks = 0;
  return {
    get simulatedMs() {
      return (ticks * s.periodUs) / 1000;
    },
    get samples() {
      return ticks * probes.length;
    },
    fault: () => {
      for (const p of probes) p.sensor.fault = "overheat";
    },
    step: () => {
      const atUs = ticks * s.periodUs;
      for (const p of probes) {
        inputs.set(p.id, { value: p.sensor.read(atUs / 1000), quality: "good", atMs: nowMs() });
      }
      ticks++;
      recorded.tick(BigInt(atUs));
    },
  };
}
