/**
 * Executor worker entry: hosts many module instances in one isolate, started by `Executor`
 * (`runtime/executor.ts`) with Deno permissions `"none"`. This file holds the messages from the runtime
 * (load, unload, inputs, samples, events, snapshots) and the loop that delivers events and channel records,
 * runs due ticks and sleeps on the doorbell; what the instances produce is gathered for the 100 ms report in
 * `_worker_report.ts`, and the ticks' deadlines are kept in `_worker_schedule.ts`. A trap ends that instance
 * only; the worker and its other instances carry on.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { ModuleInstance, nowMs } from "./instance.ts";
import { DryRunSink } from "./dry_run.ts";
import { classifyTrap } from "./traps.ts";
import { Doorbell, yieldToEventLoop } from "./doorbell.ts";
import { decodeEvent, encodeWrites } from "./fastpath.ts";
import { RingReader, RingWriter } from "./ring.ts";
import type { FromExecutor, InputValue, PermissionStates, ToExecutor } from "./protocol.ts";
import type { SnapshotImage, SnapshotReason } from "../../snapshots/mod.ts";
import { imageBuffers } from "./memory_image.ts";
import { SimGpio } from "../../hal/sim/gpio.ts";
import { enterRealtime, NORMAL_THREAD, pinThread } from "./realtime_thread.ts";
import { type CallEntry, copyAllowedMs, handlerAllowedMs, Heartbeat, loadAllowedMs } from "./heartbeat.ts";
import { record, ReportBatch } from "./_worker_report.ts";
import { createPeriodicTask, latenessOf, type PeriodicTask, startTick } from "./_worker_schedule.ts";
import { TraceQueue } from "./trace_collector.ts";
import { InstanceRecording } from "./_worker_record.ts";
import { WorkerShadows } from "./_worker_shadow.ts";
import type { RecordingBatch } from "./protocol.ts";

const REPORT_INTERVAL_MS = 100;

const instances = new Map<string, ModuleInstance>();
const inputs = new Map<string, InputValue>();
/** The load id each instance came from: the heartbeat names it while one of its calls runs. */
const loadIds = new WeakMap<ModuleInstance, number>();
/** Each non-trial instance's recorder (inactive until a `record` message; `_worker_record.ts`). */
const recordings = new WeakMap<ModuleInstance, InstanceRecording>();
/** Recording batches of instances that stopped since the last report. */
let leftRecordings: RecordingBatch[] = [];
/** Replaced by the runtime's heartbeat in the first message, `init` (see `_watchdog.ts`). */
let heartbeat = new Heartbeat();
const OK = Symbol("ok");

/** How long `calls` handler calls of `inst` in a row may take, ms (see `handlerAllowedMs`). */
function handlerMs(inst: ModuleInstance, calls = 1): number {
  return handlerAllowedMs(inst.spec, calls, inst.stats.invocations > 0);
}

/**
 * Runs `fn`, a call into `inst` through `entry` that may take `allowedMs`, with the heartbeat naming it for
 * the watchdog; returns what it threw, or {@linkcode OK}.
 */
function call(inst: ModuleInstance, entry: CallEntry, allowedMs: number, fn: () => void): unknown {
  heartbeat.begin(loadIds.get(inst) ?? 0, entry, allowedMs);
  try {
    fn();
    return OK;
  } catch (err) {
    return err;
  } finally {
    heartbeat.end();
    shadows.after(inst, recordings.get(inst)); // a shadow candidate's calls, after the live call returned
  }
}

/** Shadow candidates beside live instances (`_worker_shadow.ts`); their calls run under the heartbeat too. */
const shadows = new WorkerShadows((slot, entry, allowedMs, fn) => {
  heartbeat.begin(slot, entry as CallEntry, allowedMs);
  try {
    fn();
    return undefined;
  } catch (err) {
    return err ?? new Error("the candidate threw nothing");
  } finally {
    heartbeat.end();
  }
}, inputs); // a candidate's own `kiln_init` (`start: "init"`) reads the executor's input image

/** What the instances produce until the next report; their sink. */
const batch = new ReportBatch();
/** The traced handler calls until the next report (`trace_collector.ts`). */
const traceQueue = new TraceQueue();

function post(msg: FromExecutor): void {
  self.postMessage(msg);
}

/** The load id of each module's latest (non-trial) instance, kept after it stops until the next load. */
const loadIdOf = record<number>();

function flush(): void {
  lastReport = nowMs();
  const stats = record<ModuleInstance["stats"]>();
  for (const [name, inst] of instances) {
    if (inst.takeWarmUpDue()) snapshot(0, name, "warm_up");
    const p = periodic.get(name);
    stats[name] = p ? { ...inst.stats, lateness: latenessOf(p) } : inst.stats;
  }
  const { traces, dropped } = traceQueue.take();
  const recorded = leftRecordings;
  leftRecordings = [];
  for (const [name, inst] of instances) {
    const b = recordings.get(inst)?.take(name, loadIds.get(inst) ?? 0);
    if (b) recorded.push(b);
  }
  const shadowed = shadows.take();
  post({
    ...batch.take(stats),
    loads: { ...loadIdOf },
    ...(traces.length > 0 && { traces }),
    ...(dropped > 0 && { tracesDropped: dropped }),
    ...(recorded.length > 0 && { recordings: recorded }),
    ...(shadowed.length > 0 && { shadows: shadowed }),
  });
}

/** Sends the actuator writes of the call that just returned, at once: actuators never wait for a report. */
function flushWrites(triggeredAt: number | null): void {
  const writes = batch.takeWrites();
  if (writes === null) return;
  const record = encodeWrites(writes, triggeredAt);
  if (
    actuatorWriter && mainBell && record.length <= actuatorWriter.maxRecordBytes &&
    actuatorWriter.write(record) === "ok"
  ) {
    Atomics.add(mainBell, 0, 1);
    Atomics.notify(mainBell, 0);
  } else {
    post({ type: "writes", writes, triggeredAt }); // the ring is full: the message path never drops
  }
}

/** Runs the events waiting on the fast path; true when there were any. */
function pollEvents(): boolean {
  if (!eventReader) return false;
  let any = false;
  for (let r = eventReader.read(); r !== null; r = eventReader.read()) {
    any = true;
    runEvent(decodeEvent(r));
  }
  return any;
}

function runEvent(e: { module: string; kind: number; payload: Uint8Array; triggeredAt: number }): void {
  const inst = instances.get(e.module);
  if (!inst) return;
  const err = call(inst, "kiln_on_event", handlerMs(inst), () => inst.event(e.kind, e.payload));
  if (err instanceof RangeError) {
    inst.stats.errors++;
    inst.stats.lastError = err.message;
  } else if (err !== OK) crash(inst, err, "kiln_on_event");
  flushWrites(e.triggeredAt);
}

/** Captures a module's image for a snapshot between two handler calls, and sends it (transferred) to the runtime. */
function snapshot(id: number, name: string, reason: SnapshotReason): void {
  const inst = instances.get(name);
  if (!inst) {
    post({ type: "snapshot", id, name, reason, image: null, error: `module "${name}" is not running` });
    return;
  }
  const captured: SnapshotImage[] = [];
  const err = call(inst, "snapshot capture", copyAllowedMs(inst.stats.memoryBytes), () => {
    captured.push(inst.capture());
  });
  const image = captured[0];
  if (err !== OK || image === undefined) {
    post({ type: "snapshot", id, name, reason, image: null, error: (err as Error).message });
    return;
  }
  self.postMessage(
    { type: "snapshot", id, name, reason, image, error: null } satisfies FromExecutor,
    imageBuffers(image),
  );
}

/** Starts (with the instance's memory image, between two handler calls) or stops recording a module. */
function setRecording(name: string, on: boolean): void {
  const inst = instances.get(name);
  const rec = inst && recordings.get(inst);
  if (!inst || !rec) {
    if (on) {
      const error = `module "${name}" is not running in this executor`;
      leftRecordings.push({
        module: name,
        loadId: loadIdOf[name] ?? 0,
        start: null,
        records: [],
        overflowed: true,
        error,
      });
    }
    return;
  }
  if (!on) {
    rec.stop();
    return;
  }
  if (rec.on) return;
  shadows.end(inst, rec, "recording_started"); // a recording takes the recorder from a shadow
  const captured: SnapshotImage[] = [];
  const err = call(inst, "snapshot capture", copyAllowedMs(inst.stats.memoryBytes), () => {
    captured.push(inst.capture());
  });
  rec.start(captured[0] ?? null, err === OK ? null : (err as Error).message);
}

function stop(name: string): void {
  const inst = instances.get(name);
  const left = inst && recordings.get(inst)?.take(name, loadIds.get(inst) ?? 0);
  if (left) leftRecordings.push(left);
  if (inst) shadows.end(inst, recordings.get(inst), "module_stopped");
  if (inst?.spec.mode === "event" && !inst.spec.channelRead) eventModules--;
  instances.delete(name);
  periodic.delete(name);
  channelReaders = channelReaders.filter((r) => r.spec.name !== name);
}

function crash(inst: ModuleInstance, err: unknown, entry: string): void {
  stop(inst.spec.name);
  flush();
  post({
    type: "crashed",
    name: inst.spec.name,
    ...(loadIds.has(inst) && { id: loadIds.get(inst)! }),
    fault: classifyTrap(err, entry, inst.spec.functionNames),
    stats: inst.stats,
  });
}

/** Sleep at most this long before looking again (the runtime rings the doorbell when it sends anything). */
const MAX_SLEEP_MS = 50;
/**
 * Yield to the event loop at least this often even with no message announced, for anything that needs it
 * (a timer); rarely, so that only a few ticks in a thousand can pay for it.
 */
const FORCE_YIELD_MS = 250;

/** Records one reader may take per turn of the loop, and the time it may spend on them. */
const POLL_RECORDS = 64;
const POLL_MS = 2;

const periodic = new Map<string, PeriodicTask>();
/** Instances fed from a channel (stream or event), highest priority first. */
let channelReaders: ModuleInstance[] = [];
/** Replaced by the runtime's own doorbell in the first message, `init`. */
let bell = new Doorbell();
/** The event fast path (see `fastpath.ts`), set up by `init`. */
let eventReader: RingReader | null = null;
let actuatorWriter: RingWriter | null = null;
let mainBell: Int32Array | null = null;
/** Spin before tick deadlines (the realtime executor), set by `init`. */
let spinTicks = true;
/** Event modules loaded: while there are any, the loop runs and polls the event ring. */
let eventModules = 0;
let loopRunning = false;
let lastYield = 0;
/** Messages received from the runtime, to compare with the number it announced on the doorbell. */
let received = 0;
let lastReport = 0;

function schedulePeriodic(inst: ModuleInstance): void {
  periodic.set(inst.spec.name, createPeriodicTask(inst, nowMs()));
  startLoop();
}

/** Starts the loop after the current message is handled (so that, e.g., `loaded` is posted first). */
function startLoop(): void {
  if (loopRunning) return;
  loopRunning = true;
  queueMicrotask(() => void runLoop());
}

function addChannelReader(inst: ModuleInstance): void {
  channelReaders = [...channelReaders.filter((r) => r.spec.name !== inst.spec.name), inst]
    .sort((a, b) => b.spec.priority - a.spec.priority);
  startLoop();
}

/** Delivers waiting channel records, highest-priority reader first; true when any was delivered. */
function pollChannels(): boolean {
  let any = false;
  for (const inst of channelReaders) {
    if (instances.get(inst.spec.name) !== inst) continue;
    const entry = inst.spec.mode === "event" ? "kiln_on_event" : "kiln_on_record";
    // Records are delivered until POLL_MS has passed, so the last call may start just before it.
    const err = call(inst, entry, POLL_MS + handlerMs(inst), () => {
      if (inst.pollChannel(POLL_RECORDS, POLL_MS) > 0) any = true;
    });
    if (err !== OK) crash(inst, err, entry);
    flushWrites(null);
  }
  return any;
}

/**
 * The executor's loop while it has periodic modules or channel readers: delivers channel records, runs due
 * ticks (highest priority first), sends the report when due, then sleeps until the next deadline or until
 * the doorbell rings (a writer wrote a record, the runtime sent an event or a message). It yields to the
 * event loop (tens of microseconds, up to milliseconds on a busy machine, during which records and events
 * wait) only while a message the runtime announced has not been received, and every FORCE_YIELD_MS. A tick
 * that starts a whole period or more late skips the missed periods and counts them as deadline misses; it
 * never runs them in a burst.
 */
async function runLoop(): Promise<void> {
  loopRunning = true;
  while (periodic.size > 0 || channelReaders.length > 0 || eventModules > 0) {
    heartbeat.beat();
    const seen = bell.rings; // before looking for work: a ring from here on ends the sleep below at once
    pollEvents();
    pollChannels();
    const t = nowMs();
    const due = [...periodic.values()].filter((p) => p.next <= t)
      .sort((a, b) => b.inst.spec.priority - a.inst.spec.priority || a.next - b.next);
    for (const p of due) runTick(p);
    if (nowMs() - lastReport >= REPORT_INTERVAL_MS) flush();
    if (bell.announced !== received || nowMs() - lastYield > FORCE_YIELD_MS) {
      await yieldToEventLoop();
      lastYield = nowMs();
      if (periodic.size === 0 && channelReaders.length === 0 && eventModules === 0) break;
      continue; // the message may have changed the schedule, and more may be waiting
    }
    if (channelReaders.some((r) => r.hasRecord) || (eventReader?.peekLength() ?? -1) >= 0) continue;
    let next = Number.POSITIVE_INFINITY;
    for (const p of periodic.values()) next = Math.min(next, p.next);
    const cap = nowMs() + MAX_SLEEP_MS;
    bell.sleepUntil(Math.min(next, cap), spinTicks && next <= cap, seen);
  }
  loopRunning = false;
}

function runTick(p: PeriodicTask): void {
  if (periodic.get(p.inst.spec.name) !== p) return;
  startTick(p, nowMs());
  const err = call(p.inst, "kiln_on_tick", handlerMs(p.inst), () => p.inst.tick(p.inst.nowUs()));
  if (err !== OK) crash(p.inst, err, "kiln_on_tick");
  flushWrites(null);
}

function handle(msg: ToExecutor): void {
  switch (msg.type) {
    case "load": {
      if (!msg.trial) {
        // What the instance it replaces still has in the batch goes out under its own load id first.
        if (loadIdOf[msg.spec.name] !== undefined) flush();
        stop(msg.spec.name);
      }
      heartbeat.begin(msg.id, "start", loadAllowedMs(msg.spec, msg.restore?.memoryBytes ?? 0));
      try {
        const t0 = performance.now();
        // A trial start is a dry run: its effects are held back, so the real start does them once.
        const recording = msg.trial ? null : new InstanceRecording();
        const inst = ModuleInstance.create({
          spec: msg.spec,
          module: msg.module,
          sink: msg.trial ? new DryRunSink(batch) : batch,
          inputs,
          restore: msg.restore,
          dryRun: msg.trial ?? false,
          traces: msg.trial ? null : traceQueue,
          tap: recording?.recorder ?? null,
        });
        if (recording) recordings.set(inst, recording);
        heartbeat.end();
        loadIds.set(inst, msg.id);
        const startMs = performance.now() - t0;
        if (msg.trial) {
          // A trial start (a deploy checking the new version): the instance is dropped, never scheduled.
          post({ type: "loaded", id: msg.id, name: msg.spec.name, startMs, restored: false });
          return;
        }
        instances.set(msg.spec.name, inst);
        loadIdOf[msg.spec.name] = msg.id;
        if (msg.spec.mode === "periodic") schedulePeriodic(inst);
        if (msg.spec.channelRead) addChannelReader(inst);
        else if (msg.spec.mode === "event") {
          eventModules++;
          startLoop();
        }
        post({ type: "loaded", id: msg.id, name: msg.spec.name, startMs, restored: inst.restored });
      } catch (err) {
        heartbeat.end();
        post({
          type: "load_failed",
          id: msg.id,
          name: msg.spec.name,
          fault: classifyTrap(err, "kiln_init", msg.spec.functionNames),
        });
      }
      return;
    }
    case "init":
      bell = new Doorbell(msg.bell);
      eventReader = new RingReader(msg.events, 0);
      actuatorWriter = new RingWriter(msg.actuators);
      mainBell = new Int32Array(msg.mainBell);
      batch.gpio = msg.gpio ? SimGpio.attach(msg.gpio) : null;
      spinTicks = msg.spinTicks;
      heartbeat = new Heartbeat(msg.heartbeat);
      heartbeat.beat();
      if (msg.fifoPriority !== null || msg.cpus !== null) {
        // Pinned first, so that a SCHED_FIFO thread never runs on a CPU it was not meant for.
        const pinned = msg.cpus === null ? {} : pinThread(msg.cpus);
        const policy = msg.fifoPriority === null ? {} : enterRealtime(msg.fifoPriority);
        post({ type: "scheduling", scheduling: { ...NORMAL_THREAD, ...pinned, ...policy } });
      }
      return;
    case "unload":
      stop(msg.name);
      post({ type: "unloaded", id: msg.id });
      return;
    case "snapshot":
      snapshot(msg.id, msg.name, msg.reason);
      return;
    case "record":
      setRecording(msg.name, msg.on);
      return;
    case "shadow": {
      const inst = instances.get(msg.name);
      const recording = inst && recordings.get(inst);
      const live = inst && recording ? { inst, loadId: loadIds.get(inst) ?? 0, recording } : null;
      shadows.handle(msg, live);
      return;
    }
    case "inputs":
      for (const [id, v] of Object.entries(msg.values)) inputs.set(id, v);
      return;
    case "outbox":
      batch.outboxFull = new Set(msg.full);
      return;
    case "event":
      pollEvents(); // keep order: events that took the fast path earlier run first
      runEvent(msg);
      return;
    case "samples": {
      for (const inst of [...instances.values()]) {
        if (inst.spec.mode !== "stream" || inst.spec.source !== msg.source) continue;
        // A batch makes at most one call per hop of samples, and one more for the samples already pending.
        const calls = Math.floor(msg.samples.length / inst.spec.hop) + 1;
        const err = call(
          inst,
          "kiln_on_samples",
          handlerMs(inst, calls),
          () => inst.pushSamples(msg.samples),
        );
        if (err !== OK) crash(inst, err, "kiln_on_samples");
      }
      flushWrites(null);
      post({ type: "consumed", source: msg.source, seq: msg.seq });
      return;
    }
  }
}

/**
 * What Deno lets this worker do, reported at start so the runtime can show (and tests can prove) it is
 * nothing: each permission's state (`"prompt"` means not granted; a worker cannot prompt, so it is refused)
 * and the outcome of actually trying to read a file.
 */
function permissionStates(): PermissionStates {
  const names = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
  const states = Object.fromEntries(
    names.map((name) => [name, Deno.permissions.querySync({ name }).state]),
  ) as Omit<PermissionStates, "readProbe">;
  let readProbe: string;
  try {
    Deno.readFileSync("/etc/hostname");
    readProbe = "read succeeded";
  } catch (err) {
    readProbe = (err as Error).name;
  }
  return { ...states, readProbe };
}

self.onmessage = (e: MessageEvent<ToExecutor>) => {
  received = (received + 1) | 0; // wraps as the doorbell's int32 count does (after 2^31 messages, weeks)
  heartbeat.beat();
  handle(e.data);
};
post({ type: "ready", permissions: permissionStates() });
// While the loop runs, it sends the reports itself (a timer would need a turn of the event loop).
setInterval(() => {
  heartbeat.beat(); // alive while idle: the loop beats only while it runs
  if (nowMs() - lastReport >= REPORT_INTERVAL_MS * 0.9) flush();
}, REPORT_INTERVAL_MS);
