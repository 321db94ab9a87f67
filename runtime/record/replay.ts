/**
 * Replays a trace offline: the module (the recorded one, or another build) is loaded, verified and
 * instrumented exactly as the gateway does (`loadModule`), instantiated in the executor's own
 * `ModuleInstance`, and driven through the recorded invocations with the recorded clock, inputs and random
 * bytes fed back at the import boundary; everything it does is compared with the recording and hashed.
 *
 * Replay does not enforce the wall-clock budget (a replay on a busy machine must not fault where the device
 * did not): each call gets at least one second. Fuel, when the module is metered, is enforced as recorded.
 *
 * @module
 */
import { NULL_SINK } from "../executor/dry_run.ts";
import { ABI_VERSION } from "../abi.ts";
import { type LoadedModule, loadModule } from "../loader.ts";
import type { ModulePlan } from "../plan.ts";
import { ModuleInstance } from "../executor/instance.ts";
import { ModuleTrap } from "../executor/traps.ts";
import { createRing } from "../executor/ring.ts";
import type { InstanceSpec } from "../executor/protocol.ts";
import { imageOf, type Trace } from "./format.ts";
import type { SnapshotImage } from "../../snapshots/mod.ts";
import { type Divergence, ReplayTap } from "./_replay_tap.ts";
import { ReplayError } from "./errors.ts";

export type { Divergence };

/** Options of {@linkcode createReplayer}. */
export interface ReplayOptions {
  /** The `.wasm` to replay; @default the path recorded in the trace's header. */
  wasm?: string;
  /** Largest difference accepted between recorded and replayed floats; @default {0} (bit for bit). */
  tolerance?: number;
}

/** One replay of a trace. */
export interface ReplayRun {
  /** sha256 (hex) of everything the module did in this run. */
  hash: string;
  /** The first divergence, or null when the run matched the recording. */
  divergence: Divergence | null;
  /** Invocations replayed (up to and including a divergent one). */
  invocations: number;
}

/** A module loaded for replaying one trace; `run()` as many times as wanted. */
export interface Replayer {
  readonly trace: Trace;
  /** sha256 of the replayed module's file, hex (differs from `trace.header.sha256` for another build). */
  readonly sha256: string;
  /** Replays every invocation once, on a fresh instance. */
  run(): ReplayRun;
}

/** The least budget a replayed call gets, in microseconds. */
const REPLAY_MIN_BUDGET_US = 1_000_000;

/**
 * Loads the module a trace is replayed against.
 *
 * @throws {ReplayError} when the trace does not start at the instance's start, or is of another ABI.
 * @throws {ModuleRejectedError} when the module does not load.
 */
export async function createReplayer(trace: Trace, options: ReplayOptions = {}): Promise<Replayer> {
  const h = trace.header;
  if (h.abiVersion !== ABI_VERSION) {
    throw new ReplayError(
      h.module,
      `it was recorded under ABI ${h.abiVersion}, this host implements ${ABI_VERSION}`,
    );
  }
  if (trace.invocations[0]?.entry !== "init") {
    throw new ReplayError(h.module, "it does not start with the instance's start (init)");
  }
  const plan: ModulePlan = {
    name: h.module,
    wasm: options.wasm ?? h.wasm,
    sha256: null,
    maxMemoryMb: h.plan.maxMemoryMb,
    budgetUs: h.plan.budgetUs,
    fuel: h.plan.fuel,
    ...(h.plan.account && { account: h.plan.account }),
    capabilities: h.plan.capabilities,
    schedule: h.plan.schedule,
    inputs: h.plan.inputs,
    actuators: h.actuators.map((a) => a.id),
    params: Object.assign(Object.create(null), h.params),
    data: [],
    restart: { policy: "never", maxRestarts: 0, backoffMs: 0, maxBackoffMs: 0 },
    persistence: null,
    enabled: true,
  };
  const loaded = await loadModule(plan);
  const tolerance = options.tolerance ?? 0;
  const spec = replaySpec(trace, loaded);
  const image = h.start === null ? null : imageOf(h.start);
  return {
    trace,
    sha256: loaded.sha256,
    run: () => replayRun(trace, loaded, spec, { tolerance, image }),
  };
}

function replaySpec(trace: Trace, loaded: LoadedModule): InstanceSpec {
  const h = trace.header;
  const s = h.plan.schedule;
  const budgetUs = Math.max(h.plan.budgetUs, REPLAY_MIN_BUDGET_US);
  const ring = (sizeBytes: number) => createRing({ sizeBytes, readers: 1, overflow: "drop-oldest" });
  return {
    name: h.module,
    mode: s.mode,
    source: s.mode === "stream" ? s.source : null,
    window: s.mode === "stream" ? s.window : 0,
    hop: s.mode === "stream" ? s.hop : 0,
    periodUs: s.mode === "periodic" ? s.periodUs : 0,
    priority: s.priority,
    budgetUs,
    initBudgetUs: 10 * budgetUs,
    fuel: h.plan.fuel,
    ...(h.plan.account && { account: h.plan.account }),
    params: Object.assign(Object.create(null), h.params),
    data: new Map(h.data.map((d) => [d.name, d.bytes])),
    channelWrites: h.channels.writes.map((c) => ({ id: c.id, buffer: ring(c.sizeBytes), wake: [] })),
    channelRead: h.channels.read &&
      { id: h.channels.read.id, buffer: ring(h.channels.read.sizeBytes), reader: 0 },
    actuators: h.actuators,
    capabilities: h.plan.capabilities,
    inputs: h.plan.inputs,
    functionNames: loaded.functionNames,
    clockOriginMs: 0,
    warmUpIterations: null,
    instantiationWrites: null,
  };
}

function replayRun(
  trace: Trace,
  loaded: LoadedModule,
  spec: InstanceSpec,
  options: { tolerance: number; image: SnapshotImage | null },
): ReplayRun {
  const tap = new ReplayTap(options.tolerance);
  const [init, ...calls] = trace.invocations;
  tap.expect(init!);
  let instance: ModuleInstance;
  let done = 1;
  try {
    instance = ModuleInstance.create({
      spec,
      module: loaded.module,
      sink: NULL_SINK,
      inputs: new Map(),
      dryRun: true,
      tap,
      // A recording started on a running instance resumes from its memory image, as from a snapshot.
      restore: options.image,
    });
  } catch (err) {
    if (!(err instanceof ModuleTrap)) throw err;
    if (err.fault.kind === "restore_failed") {
      throw new ReplayError(trace.header.module, err.message, { cause: err });
    }
    return { hash: tap.digest(), divergence: tap.divergence, invocations: done };
  }
  for (const inv of calls) {
    tap.expect(inv);
    done++;
    try {
      instance.replayCall(inv.entry, inv.input, inv.args[0]);
    } catch (err) {
      if (!(err instanceof ModuleTrap)) throw err;
    }
    // A trap ends the instance (the gateway restarts it; the recording of that instance ends there too).
    if (tap.divergence !== null || inv.fault !== null) break;
  }
  return { hash: tap.digest(), divergence: tap.divergence, invocations: done };
}
