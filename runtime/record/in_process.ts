/**
 * Records a module of a deployment without a gateway: the module, and the module upstream of it when it
 * reads a channel (or is triggered by one), run in the executor's own `ModuleInstance` on the deployment's
 * simulated sensors (`_feeds.ts`, `_event_feed.ts`), with channels as real rings and the instance spec the
 * runtime would give it (`instance_spec.ts`). `kiln record --manifest` and the tests and benchmark use it.
 *
 * Offline recording covers stream modules fed by a `sim:` vibration sensor, directly or through one channel
 * from another such stream module (the demo's `fft` → `anomaly`), periodic modules whose inputs are `sim:`
 * temperature probes (`temperature`, `aggregator`), and event modules (`_event_feed.ts`): a `channel:`
 * trigger's records from its writer when that is such a stream or periodic module (the demo's `temperature`
 * → `safety`), other events (API, GPIO, MQTT) from a user's events file. As replay, it applies no
 * wall-clock budget (each call gets at least 1 s); fuel applies as configured. A trap ends the recording.
 *
 * @module
 */
import { NULL_SINK } from "../executor/dry_run.ts";
import { type LoadedModule, loadModule } from "../loader.ts";
import type { DeploymentPlan } from "../plan.ts";
import { type ChannelRing, instanceSpec } from "../instance_spec.ts";
import { createRing } from "../executor/ring.ts";
import { ModuleInstance } from "../executor/instance.ts";
import type { InstanceSink } from "../executor/host_kiln.ts";
import type { InputValue, InstanceSpec } from "../executor/protocol.ts";
import { ModuleTrap } from "../executor/traps.ts";
import { type InvocationRecord, Recorder } from "./tap.ts";
import { createTraceHeader, type RecordingBound, RecordingSession } from "./session.ts";
import { ReplayError } from "./errors.ts";
import { type Feed, periodicFeed, streamFeed, upstreamOf } from "./_feeds.ts";
import { channelWriterOf, eventFeed, parseEventsFile } from "./_event_feed.ts";

/** Options of {@linkcode recordInProcess}. */
export interface InProcessOptions extends RecordingBound {
  /** Handler calls of the recorded module to record (it stops earlier at the disk budget). */
  invocations?: number | null;
  /** Milliseconds of the simulated plant's time to record (`kiln record --for`). */
  simulatedMs?: number | null;
  /**
   * From this simulated time on (ms), the sensors feeding the module simulate a fault: a bearing defect on a
   * vibration sensor, overheating on a temperature probe. @default never
   */
  faultAtMs?: number;
  /** Receives what the recorded module does (outputs, alerts, logs), as the gateway would; @default none. */
  sink?: InstanceSink;
  /**
   * An events file for an event module (`kiln record --events`; its format: `parseEventsFile` in
   * `_event_feed.ts`): events in simulated time, besides the records its channel's writer brings when that
   * runs offline. `path` names it in errors. @default none
   */
  eventsFile?: { path: string; text: string };
  /** False runs the same path without a recorder (the benchmark's baseline); @default {true} */
  record?: boolean;
  /**
   * Handler calls the module makes before the recording starts, as when an operator starts recording a
   * running module: the trace then starts from the instance's memory image. @default {0} (from `kiln_init`)
   */
  startAfter?: number;
}

/** A finished offline recording. */
export interface InProcessRecording {
  bytes: Uint8Array;
  session: RecordingSession;
  /** The recorded module as loaded (for a replay against the same build). */
  loaded: LoadedModule;
  /**
   * Sensor samples fed (input reads, for a periodic module); the wall time the instances took for them (the
   * executor's share, recorder included), and the time encoding and compressing the trace took (the main
   * thread's share), in ms.
   */
  samples: number;
  driveMs: number;
  writeMs: number;
  /** The recorded module's handler calls, and their mean duration in microseconds. */
  invocations: number;
  meanHandlerUs: number;
}

/**
 * How long an event module's recording bounded by invocations alone may run in simulated time before it
 * stops (`duration`), in ms: one hour, so that a trigger that never fires cannot keep it going for ever.
 */
export const MAX_EVENT_SIMULATED_MS = 3_600_000;

/** The least budget a call gets offline, in microseconds: as in replay, no wall-clock deadline applies. */
const OFFLINE_MIN_BUDGET_US = 1_000_000;

/** `spec` without its wall-clock deadline (offline, a busy machine must not interrupt a call). */
function offline(spec: InstanceSpec): InstanceSpec {
  const budgetUs = Math.max(spec.budgetUs, OFFLINE_MIN_BUDGET_US);
  return { ...spec, budgetUs, initBudgetUs: Math.max(spec.initBudgetUs, 10 * budgetUs) };
}

/**
 * Records `name` of `deployment` for `options.invocations` handler calls.
 *
 * @throws {ReplayError} when the module is not one offline recording covers (an event module whose trigger
 *   has no source offline and no events file, an events file for a module that is not an event module).
 * @throws {EventsFileError} (`_event_feed.ts`) when `eventsFile` is malformed or names an event the
 *   module's trigger does not bring.
 * @throws {RangeError} when neither `invocations` nor `simulatedMs` is given.
 * @throws {ModuleRejectedError} when a module does not load.
 */
export async function recordInProcess(
  deployment: DeploymentPlan,
  name: string,
  options: InProcessOptions,
): Promise<InProcessRecording> {
  const target = deployment.modules.find((m) => m.name === name);
  if (!target) throw new ReplayError(name, "the manifest has no such module");
  if (target.schedule.mode !== "event" && options.eventsFile !== undefined) {
    throw new ReplayError(name, `an events file is for event modules, not a ${target.schedule.mode} module`);
  }
  const events = options.eventsFile === undefined
    ? []
    : parseEventsFile(options.eventsFile.text, options.eventsFile.path);
  const upstream = target.schedule.mode === "event"
    ? channelWriterOf(deployment, target)
    : upstreamOf(deployment, target);
  const channels = new Map<string, ChannelRing>();
  for (const plan of deployment.channels) {
    const buffer = createRing({
      sizeBytes: plan.sizeBytes,
      readers: plan.readers.length,
      overflow: plan.overflow,
      ...(plan.blockTimeoutUs !== null && { blockTimeoutUs: plan.blockTimeoutUs }),
    });
    channels.set(plan.id, { plan, buffer });
  }
  const bell = new SharedArrayBuffer(64);
  const ctx = {
    deployment,
    channels,
    bellOf: () => bell,
    clockOriginMs: performance.timeOrigin + performance.now(),
    warmUpIterations: null,
  };
  const loaded = await loadModule(target);
  const spec = offline(instanceSpec(target, loaded, ctx));
  const startAfter = options.startAfter ?? 0;
  // As in an executor, the recorder only hands records over; the session encodes them between batches.
  const pending: InvocationRecord[] = [];
  const recorder = options.record === false
    ? null
    : new Recorder({ emit: (r) => void pending.push(r), active: startAfter === 0 });
  let session = startAfter === 0
    ? new RecordingSession(await createTraceHeader(loaded, spec, options))
    : null;
  const inputs = new Map<string, InputValue>();
  const recorded = ModuleInstance.create({
    spec,
    module: loaded.module,
    sink: options.sink ?? NULL_SINK,
    inputs,
    tap: recorder,
  });
  let feed: Feed;
  if (target.schedule.mode === "periodic") feed = periodicFeed(deployment, target, recorded, inputs);
  else if (target.schedule.mode === "event") {
    const writer = upstream === null ? null : await (async () => {
      const up = await loadModule(upstream);
      const upInputs = new Map<string, InputValue>();
      const instance = ModuleInstance.create({
        spec: offline(instanceSpec(upstream, up, ctx)),
        module: up.module,
        sink: NULL_SINK,
        inputs: upInputs,
      });
      const feed = upstream.schedule.mode === "periodic"
        ? periodicFeed(deployment, upstream, instance, upInputs)
        : streamFeed(deployment, upstream, instance, null);
      return { plan: upstream, feed };
    })();
    feed = eventFeed(target, recorded, {
      writer,
      events,
      eventsPath: options.eventsFile?.path ?? "",
      channels,
    });
  } else {
    const writer = upstream === null ? null : await (async () => {
      const up = await loadModule(upstream);
      const instance = ModuleInstance.create({
        spec: offline(instanceSpec(upstream, up, ctx)),
        module: up.module,
        sink: NULL_SINK,
        inputs: new Map(),
      });
      return { plan: upstream, instance };
    })();
    feed = streamFeed(deployment, target, recorded, writer);
  }
  const maxCalls = options.invocations ?? Number.POSITIVE_INFINITY;
  if (maxCalls === Number.POSITIVE_INFINITY && options.simulatedMs == null) {
    throw new RangeError("An offline recording needs a bound: invocations or simulatedMs");
  }
  const maxMs = options.simulatedMs ??
    (target.schedule.mode === "event" ? MAX_EVENT_SIMULATED_MS : Number.POSITIVE_INFINITY);
  const t0 = performance.now();
  let writeMs = 0;
  let startedAt = startAfter === 0 ? 0 : Number.POSITIVE_INFINITY;
  let trapped = false;
  while (
    !trapped && !session?.done && !feed.done && recorded.stats.invocations - startedAt < maxCalls &&
    feed.simulatedMs < maxMs
  ) {
    if (options.faultAtMs !== undefined && feed.simulatedMs >= options.faultAtMs) feed.fault();
    try {
      feed.step();
    } catch (err) {
      if (!(err instanceof ModuleTrap)) throw err;
      // The recorded module's trap is in its last record; the upstream module's ends the feed. Either way
      // the gateway would restart it: a new instance, a new recording.
      trapped = true;
    }
    const w0 = performance.now();
    if (session === null && recorded.stats.invocations >= startAfter) {
      // Between two handler calls: the image and the start record come from the same point.
      const image = recorded.capture();
      session = new RecordingSession(await createTraceHeader(loaded, spec, options, image));
      recorder?.activate();
      startedAt = recorded.stats.invocations;
    }
    for (const r of pending) session?.add(r);
    pending.length = 0;
    writeMs += performance.now() - w0;
  }
  const driveMs = performance.now() - t0 - writeMs;
  const { totalUs } = recorded.stats;
  const invocations = recorded.stats.invocations - startedAt;
  session ??= new RecordingSession(await createTraceHeader(loaded, spec, options, recorded.capture()));
  return {
    bytes: session.finish(trapped ? "module_stopped" : invocations >= maxCalls ? "invocations" : "duration"),
    session,
    loaded,
    samples: feed.samples,
    driveMs,
    writeMs,
    invocations,
    meanHandlerUs: recorded.stats.invocations === 0 ? 0 : totalUs / recorded.stats.invocations,
  };
}
