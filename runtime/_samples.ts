/**
 * Sensor samples on their way to stream modules: each batch the plant produces goes to every executor
 * that runs a module reading its source (a batch an executor is too far behind to take is counted as dropped
 * for each of those modules), and what waits for a stream module now (its `behind`). Private to `runtime/`.
 *
 * @module
 */
import type { Executor } from "./executor.ts";
import type { ChannelRing } from "./instance_spec.ts";
import type { SimSensorPlan } from "./plan.ts";
import type { ModuleStatus } from "./status.ts";
import type { ModuleSlot as Slot } from "./_slot.ts";
import { pendingBytes } from "./_channels.ts";

/** Hands a batch of `source`'s samples to each executor with a running module that streams from it. */
export function distribute(
  source: string,
  samples: Int16Array,
  executors: Iterable<[string, Executor]>,
  slots: Iterable<Slot>,
): void {
  const all = [...slots];
  for (const [name, ex] of executors) {
    const readers = all.filter((s) =>
      s.executor === name && s.state === "running" && s.plan.schedule.mode === "stream" &&
      s.plan.schedule.source === source
    );
    if (readers.length === 0) continue;
    if (!ex.pushSamples(source, samples)) {
      for (const r of readers) r.samplesDropped(samples.length);
    }
  }
}

/** Where {@linkcode behindOf} looks. */
export interface BehindContext {
  channels: ReadonlyMap<string, ChannelRing>;
  sensors: readonly SimSensorPlan[];
  executor(name: string): Executor | undefined;
}

/**
 * What waits for a running stream module: sensor samples handed to its executor and not taken yet (and the
 * time they span at the sensor's rate, ms), or a channel's bytes it has not read. Null for other modules.
 */
export function behindOf(s: Slot, ctx: BehindContext): ModuleStatus["behind"] {
  const schedule = s.plan.schedule;
  if (schedule.mode !== "stream" || s.state !== "running") return null;
  const channel = schedule.source.startsWith("channel:")
    ? ctx.channels.get(schedule.source.slice("channel:".length))
    : undefined;
  if (channel) return { bytes: pendingBytes(channel, s.plan.name) };
  const sensor = ctx.sensors.find((x) => `sim:${x.id}` === schedule.source);
  const samples = ctx.executor(s.executor)?.samplesInFlight(schedule.source) ?? 0;
  const rateHz = sensor?.kind === "vibration" ? sensor.rateHz : 0;
  return { samples, ms: rateHz > 0 ? Math.round((samples / rateHz) * 10_000) / 10 : 0 };
}
