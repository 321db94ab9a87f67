/**
 * Executor worker entry: hosts many module instances in one isolate, started by {@linkcode Executor} with
 * Deno permissions `"none"`. It feeds stream windows, runs periodic ticks, and reports results in batches.
 * A trap ends that instance only; the worker and its other instances carry on.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { classifyTrap, type InstanceSink, ModuleInstance, nowMs } from "./instance.ts";
import type {
  ActuatorWrite,
  AlertEvent,
  DenialEvent,
  FromExecutor,
  InputValue,
  LogEvent,
  OutboundMessage,
  PermissionStates,
  ToExecutor,
} from "./_protocol.ts";

const REPORT_INTERVAL_MS = 100;
const MAX_QUEUED_EVENTS = 1000;

const instances = new Map<string, ModuleInstance>();
const inputs = new Map<string, InputValue>();
const timers = new Map<string, ReturnType<typeof setTimeout>>();

let outputs: Record<string, Record<string, number>> = {};
let arrays: Record<string, Record<string, Float32Array>> = {};
let alerts: AlertEvent[] = [];
let logs: LogEvent[] = [];
/** Denials of this report period, keyed by module, capability and call, so a flood becomes one counted event. */
let denials = new Map<string, DenialEvent>();
let uses: Record<string, Record<string, number>> = {};
let writes: ActuatorWrite[] = [];
let messages: OutboundMessage[] = [];

const sink: InstanceSink = {
  output(module, key, value) {
    (outputs[module] ??= {})[key] = value;
  },
  outputArray(module, key, values) {
    (arrays[module] ??= {})[key] = values;
  },
  alert(event) {
    if (alerts.length < MAX_QUEUED_EVENTS) alerts.push(event);
  },
  log(event) {
    if (logs.length < MAX_QUEUED_EVENTS) logs.push(event);
  },
  denied(module, capability, detail) {
    const key = `${module}\u0000${capability}\u0000${detail}`;
    const d = denials.get(key);
    if (d) d.count++;
    else if (denials.size < MAX_QUEUED_EVENTS) denials.set(key, { module, capability, detail, count: 1 });
  },
  used(module, capability) {
    const m = uses[module] ??= {};
    m[capability] = (m[capability] ?? 0) + 1;
  },
  write(w) {
    if (writes.length < MAX_QUEUED_EVENTS) writes.push(w);
  },
  publish(m) {
    if (messages.length < MAX_QUEUED_EVENTS) messages.push(m);
  },
};

function post(msg: FromExecutor): void {
  self.postMessage(msg);
}

function flush(): void {
  const stats: Record<string, ModuleInstance["stats"]> = {};
  for (const [name, inst] of instances) stats[name] = inst.stats;
  post({
    type: "report",
    stats,
    outputs,
    arrays,
    alerts,
    logs,
    denials: [...denials.values()],
    uses,
    writes,
    messages,
  });
  outputs = {};
  arrays = {};
  alerts = [];
  logs = [];
  denials = new Map();
  uses = {};
  writes = [];
  messages = [];
}

function stop(name: string): void {
  instances.delete(name);
  const timer = timers.get(name);
  if (timer !== undefined) clearTimeout(timer);
  timers.delete(name);
}

function crash(inst: ModuleInstance, err: unknown, entry: string): void {
  stop(inst.spec.name);
  flush();
  post({
    type: "crashed",
    name: inst.spec.name,
    fault: classifyTrap(err, entry, inst.spec.functionNames),
    stats: inst.stats,
  });
}

/** Runs `kiln_on_tick` every period; missed periods are skipped and counted, never run in a burst. */
function schedulePeriodic(inst: ModuleInstance): void {
  const periodMs = inst.spec.periodUs / 1000;
  let next = nowMs() + periodMs;
  const run = () => {
    if (instances.get(inst.spec.name) !== inst) return;
    const late = nowMs() - next;
    if (late >= periodMs) {
      const missed = Math.floor(late / periodMs);
      inst.stats.deadlineMisses += missed;
      next += missed * periodMs;
    }
    try {
      inst.tick(inst.nowUs());
    } catch (err) {
      crash(inst, err, "kiln_on_tick");
      return;
    }
    next += periodMs;
    timers.set(inst.spec.name, setTimeout(run, Math.max(0, next - nowMs())));
  };
  timers.set(inst.spec.name, setTimeout(run, periodMs));
}

function handle(msg: ToExecutor): void {
  switch (msg.type) {
    case "load": {
      stop(msg.spec.name);
      try {
        const inst = ModuleInstance.create({ spec: msg.spec, module: msg.module, sink, inputs });
        instances.set(msg.spec.name, inst);
        if (msg.spec.mode === "periodic") schedulePeriodic(inst);
        post({ type: "loaded", id: msg.id, name: msg.spec.name });
      } catch (err) {
        post({
          type: "load_failed",
          id: msg.id,
          name: msg.spec.name,
          fault: classifyTrap(err, "kiln_init", msg.spec.functionNames),
        });
      }
      return;
    }
    case "unload":
      stop(msg.name);
      return;
    case "inputs":
      for (const [id, v] of Object.entries(msg.values)) inputs.set(id, v);
      return;
    case "samples": {
      for (const inst of [...instances.values()]) {
        if (inst.spec.mode !== "stream" || inst.spec.source !== msg.source) continue;
        try {
          inst.pushSamples(msg.samples);
        } catch (err) {
          crash(inst, err, "kiln_on_samples");
        }
      }
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

self.onmessage = (e: MessageEvent<ToExecutor>) => handle(e.data);
post({ type: "ready", permissions: permissionStates() });
setInterval(flush, REPORT_INTERVAL_MS);
