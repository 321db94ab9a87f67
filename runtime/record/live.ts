/**
 * Recording a module of a running gateway (`POST /api/v1/modules/:name/record`, `kiln record --url`): the
 * runtime asks the module's executor to start recording its instance (`Executor.record`), takes what the
 * executor's recorder sends in each report (`RecordingBatch`: the memory image first, then the invocations)
 * into a {@linkcode RecordingSession}, and writes the trace to `<dir>/<module>-<time>.ktrace` when it ends: at
 * its bound (invocations, duration, disk budget), when the module stops, restarts or is replaced
 * (`module_stopped`), or when the executor could not keep up (`overflow`). One recording per module at a time.
 *
 * Main thread. The session holds at most the disk budget; the executor holds at most one report's worth.
 *
 * @module
 */
import type { LoadedModule } from "../loader.ts";
import type { FromExecutor, InstanceSpec, RecordingBatch } from "../executor/protocol.ts";
import { traceStartOf, type TraceStop } from "./format.ts";
import {
  createTraceHeader,
  DEFAULT_TRACE_MAX_BYTES,
  RecordingSession,
  type RecordingStatus,
} from "./session.ts";
import { RecordingActiveError, RecordingNotFoundError } from "./errors.ts";
import { ModuleStateError } from "../errors.ts";
import type { TraceHeader } from "./format.ts";

/**
 * The largest disk budget a live recording may ask for, in bytes (64 MiB): the trace is held on the main
 * thread until it ends, so this is also the memory one recording may take.
 */
export const MAX_LIVE_TRACE_BYTES = 64 * 1024 * 1024;
/** The traces kept per module in the trace directory: the oldest beyond this are deleted. */
export const KEEP_TRACES_PER_MODULE = 5;
/** How long a live recording waits for its executor to capture the instance's start, in milliseconds. */
const START_TIMEOUT_MS = 10_000;

/** A running module as a live recording needs it. */
export interface LiveInstance {
  loaded: LoadedModule;
  /** The instance spec its executor was given (`createTraceHeader` reads its buffers' sizes, params, data). */
  spec: InstanceSpec;
  /** The load id of its instance, which the executor's batches name. */
  loadId: number | null;
  /** Starts or stops recording in its executor (`Executor.record`). */
  record(on: boolean): void;
}

/** What {@linkcode LiveRecordings} needs of the runtime. */
export interface LiveRecordingsOptions {
  /**
   * A module's running instance, null when the module is not running; throws `ModuleUnknownError`
   * (`runtime/errors.ts`) when there is no module of that name.
   */
  instance(name: string): LiveInstance | null;
  /** The load id of the module's running instance; null when it is not running or not deployed. */
  loadIdOf(name: string): number | null;
  /** The module's state, for the error when it is not running. */
  state(name: string): string;
  /** The directory traces are written to (created on first use), or null to keep each module's last in memory. */
  dir: string | null;
  /** Kiln's own log lines. */
  log(line: string): void;
}

/** What a live recording is bounded by (the first reached ends it). */
export interface LiveRecordingRequest {
  /** Handler calls to record. */
  invocations?: number | null;
  /** How long to record, in milliseconds. */
  durationMs?: number | null;
  /** The trace's disk budget, in bytes, at most {@linkcode MAX_LIVE_TRACE_BYTES}. @default {DEFAULT_TRACE_MAX_BYTES} */
  maxBytes?: number | null;
}

/** A live recording's status (`GET /api/v1/modules/:name/record`). */
export interface LiveRecordingStatus extends RecordingStatus {
  /** Where the trace is (or will be) written; null when traces are kept in memory. */
  path: string | null;
  /** Why the recording could not start or could not be written, or null. */
  error: string | null;
}

interface Live {
  name: string;
  header: TraceHeader;
  loadId: number | null;
  instance: LiveInstance;
  session: RecordingSession | null;
  startedAtMs: number;
  timer: ReturnType<typeof setTimeout>;
  path: string | null;
  /** Set once it ended: the bytes until written (or kept when there is no directory), and the status. */
  bytes: Uint8Array | null;
  final: LiveRecordingStatus | null;
  written: Promise<void> | null;
}

/** Every live recording of a runtime: at most one under way per module, and each module's last one kept. */
export class LiveRecordings {
  readonly #options: LiveRecordingsOptions;
  readonly #live = new Map<string, Live>();
  /** Each module's last recording that ended (its trace on disk, or in memory without a directory). */
  readonly #ended = new Map<string, Live>();
  /** Modules whose recording is being set up (their header computed). */
  readonly #starting = new Set<string>();

  constructor(options: LiveRecordingsOptions) {
    this.#options = options;
  }

  /**
   * Starts recording a running module from its next handler call, bounded by `request`.
   *
   * @throws {ModuleUnknownError} when there is no such module.
   * @throws {ModuleStateError} when it is not running.
   * @throws {RecordingActiveError} when it is being recorded already.
   * @throws {RangeError} for a bound that is not a positive integer, or a disk budget over the maximum.
   */
  async start(name: string, request: LiveRecordingRequest = {}): Promise<LiveRecordingStatus> {
    const positive = (what: string, v: number | null | undefined, max = Number.MAX_SAFE_INTEGER) => {
      if (v === null || v === undefined) return null;
      if (!Number.isSafeInteger(v) || v < 1 || v > max) {
        throw new RangeError(`The recording's ${what} must be an integer from 1 to ${max}, got ${v}`);
      }
      return v;
    };
    const invocations = positive("invocations", request.invocations);
    const durationMs = positive("duration", request.durationMs, 24 * 3600_000);
    const maxBytes = positive("disk budget", request.maxBytes, MAX_LIVE_TRACE_BYTES) ??
      DEFAULT_TRACE_MAX_BYTES;
    const instance = this.#options.instance(name);
    if (instance === null) throw new ModuleStateError(name, this.#options.state(name), "record");
    if (this.#live.has(name) || this.#starting.has(name)) throw new RecordingActiveError(name);
    this.#starting.add(name);
    let header: TraceHeader;
    try {
      header = await createTraceHeader(instance.loaded, instance.spec, { invocations, durationMs, maxBytes });
    } finally {
      this.#starting.delete(name);
    }
    if (this.#options.loadIdOf(name) !== instance.loadId) {
      throw new ModuleStateError(name, this.#options.state(name), "record");
    }
    const startedAtMs = Date.now();
    const dir = this.#options.dir;
    const file = `${name.replace(/[^A-Za-z0-9_.-]/g, "_")}-${
      new Date(startedAtMs).toISOString().replace(/[:.]/g, "-")
    }`;
    const live: Live = {
      name,
      header,
      loadId: instance.loadId,
      instance,
      session: null,
      startedAtMs,
      // The duration is also checked as records come in; the timer ends a recording of a module that is idle.
      timer: setTimeout(
        () =>
          this.#end(live, live.session === null ? "overflow" : "duration", live.session ? null : "no start"),
        durationMs ?? START_TIMEOUT_MS,
      ),
      path: dir === null ? null : `${dir}/${file}.ktrace`,
      bytes: null,
      final: null,
      written: null,
    };
    Deno.unrefTimer(live.timer);
    this.#live.set(name, live);
    instance.record(true);
    return this.#status(live);
  }

  /** Takes in the recording batches of one executor report (`recordings`), and ends what must end. */
  take(batches: readonly RecordingBatch[] | undefined): void {
    for (const b of batches ?? []) {
      const live = this.#live.get(b.module);
      if (live === undefined || b.loadId !== live.loadId) continue;
      if (b.start !== null && live.session === null) {
        live.header.start = traceStartOf(b.start);
        live.session = new RecordingSession(live.header);
        if (live.header.bound.durationMs === null) clearTimeout(live.timer);
      }
      if (b.error !== null) {
        this.#end(live, "overflow", b.error);
        continue;
      }
      const session = live.session;
      if (session === null) continue;
      for (const r of b.records) if (!session.add(r)) break;
      const s = session.status();
      if (session.done && s.invocations === 0) {
        // The header alone (the instance's memory image) took the whole budget.
        const error =
          `the disk budget of ${live.header.bound.maxBytes} bytes does not hold the instance's memory image`;
        this.#end(live, s.stop ?? "budget", error);
      } else if (session.done) this.#end(live, s.stop ?? "stopped", null);
      else if (b.overflowed) {
        this.#end(live, "overflow", "the module made more calls than one report carries");
      }
    }
  }

  /**
   * Ends a module's recording with `module_stopped` when its instance is no longer the one recorded (it
   * stopped, crashed, restarted or was replaced). The runtime calls it on every transition and report.
   */
  check(): void {
    if (this.#live.size === 0) return;
    for (const live of [...this.#live.values()]) {
      if (this.#options.loadIdOf(live.name) !== live.loadId) this.#end(live, "module_stopped", null);
    }
  }

  /**
   * The module's recording under way, else its last one; null when none was started.
   */
  status(name: string): LiveRecordingStatus | null {
    const live = this.#live.get(name) ?? this.#ended.get(name);
    return live === undefined ? null : this.#status(live);
  }

  /**
   * The bytes of the module's last finished trace.
   *
   * @throws {RecordingNotFoundError} when none has finished (none started, or the one started is under way).
   * @throws {Deno.errors.NotFound} when its file was removed meanwhile.
   */
  async trace(name: string): Promise<Uint8Array> {
    const live = this.#ended.get(name);
    if (live === undefined) {
      const reason = this.#live.has(name) ? "its recording is under way" : undefined;
      throw new RecordingNotFoundError(name, reason);
    }
    await live.written;
    if (live.bytes !== null) return live.bytes;
    if (live.final?.error) throw new RecordingNotFoundError(name, live.final.error);
    return await Deno.readFile(live.path!);
  }

  /** Ends every recording under way (`stopped`); resolves once their traces are written. */
  async closeAll(): Promise<void> {
    for (const live of [...this.#live.values()]) this.#end(live, "stopped", null);
    await Promise.allSettled([...this.#ended.values()].map((l) => l.written));
  }

  #end(live: Live, stop: TraceStop, error: string | null): void {
    if (this.#live.get(live.name) !== live) return;
    this.#live.delete(live.name);
    clearTimeout(live.timer);
    live.instance.record(false);
    const bytes = live.session?.finish(stop) ?? null;
    const status = this.#status(live);
    live.final = {
      ...status,
      state: "done",
      stop: bytes === null ? null : stop,
      error: error ??
        (bytes === null
          ? `the module ${stop === "module_stopped" ? "stopped" : "ended"} before its recording started`
          : null),
    };
    this.#ended.set(live.name, live);
    if (bytes === null) {
      this.#options.log(`kiln: recording of module "${live.name}" did not start: ${live.final.error}`);
      live.path = null;
      live.final.path = null;
      return;
    }
    if (live.path === null) {
      live.bytes = bytes;
      return;
    }
    live.bytes = bytes; // until written
    const path = live.path;
    live.written = (async () => {
      try {
        await Deno.mkdir(this.#options.dir!, { recursive: true });
        await Deno.writeFile(path, bytes);
        live.bytes = null;
        await pruneTraces(this.#options.dir!, path, KEEP_TRACES_PER_MODULE);
      } catch (err) {
        live.bytes = null;
        live.final!.error = `cannot write "${path}": ${(err as Error).message}`;
        this.#options.log(`kiln: recording of module "${live.name}": ${live.final!.error}`);
      }
    })();
  }

  #status(live: Live): LiveRecordingStatus {
    if (live.final !== null) return { ...live.final };
    const s = live.session?.status();
    return {
      module: live.name,
      state: "recording",
      invocations: s?.invocations ?? 0,
      sizeBytes: s?.sizeBytes ?? 0,
      stop: null,
      startedAtMs: live.startedAtMs,
      path: live.path,
      error: null,
    };
  }
}

/** `events` whose reports also feed `recordings` (as `tracedEvents` feeds the trace store). */
export function recordedEvents<E extends { onReport(r: Report): void }>(
  events: E,
  recordings: LiveRecordings,
): E {
  const onReport = events.onReport;
  return {
    ...events,
    onReport: (r: Report) => {
      onReport(r);
      recordings.take(r.recordings);
      recordings.check();
    },
  };
}

type Report = Extract<FromExecutor, { type: "report" }>;

/**
 * Deletes the oldest traces of the module that wrote `newest` (files `<module>-<RFC 3339 time>.ktrace` in
 * `dir`, ordered by that time) beyond `keep`, so repeated recordings do not fill the disk.
 */
export async function pruneTraces(dir: string, newest: string, keep: number): Promise<void> {
  const base = newest.slice(newest.lastIndexOf("/") + 1);
  const prefix = base.replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z\.ktrace$/, "");
  const own = new RegExp(`^${prefix.replace(/[.]/g, "\\.")}-\\d{4}-\\d{2}-\\d{2}T[\\d-]+Z\\.ktrace$`);
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && own.test(entry.name)) files.push(entry.name);
  }
  files.sort(); // the times are fixed-width: lexical order is time order
  for (const name of files.slice(0, Math.max(0, files.length - keep))) {
    await Deno.remove(`${dir}/${name}`).catch(() => {}); // gone already: nothing to keep
  }
}
