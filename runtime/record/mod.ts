/**
 * Recording and replay (`docs/record_replay.md`): an instance's handler calls and host calls captured at the
 * import boundary by a {@linkcode Recorder} (executor side), written by a {@linkcode RecordingSession} to a
 * compact, versioned, gzip-compressed trace file (`format.ts`), and replayed offline, bit for bit, by a
 * {@linkcode createReplayer} replayer.
 *
 * @example Replay a trace 3 times
 * ```ts ignore
 * import { createReplayer, readTrace } from "./mod.ts";
 * const trace = readTrace(await Deno.readFile("anomaly.ktrace"));
 * const replayer = await createReplayer(trace);
 * const hashes = [1, 2, 3].map(() => replayer.run().hash);
 * ```
 *
 * @module
 */
export {
  type CallTap,
  type HostCallRecord,
  IMPORT_CODECS,
  type InvocationRecord,
  Recorder,
  type RecorderOptions,
  type TraceValue,
} from "./tap.ts";
export {
  readTrace,
  showValue,
  type Trace,
  TRACE_MAGIC,
  TRACE_VERSION,
  type TraceHeader,
  type TraceStop,
  TraceWriter,
} from "./format.ts";
export {
  createTraceHeader,
  DEFAULT_TRACE_MAX_BYTES,
  type RecordingBound,
  RecordingSession,
  type RecordingStatus,
} from "./session.ts";
export {
  createReplayer,
  type Divergence,
  type Replayer,
  type ReplayOptions,
  type ReplayRun,
} from "./replay.ts";
export { type InProcessOptions, type InProcessRecording, recordInProcess } from "./in_process.ts";
export {
  type LiveRecordingRequest,
  LiveRecordings,
  type LiveRecordingsOptions,
  type LiveRecordingStatus,
  MAX_LIVE_TRACE_BYTES,
} from "./live.ts";
export {
  RecordingActiveError,
  RecordingNotFoundError,
  ReplayError,
  TraceBudgetError,
  TraceFormatError,
} from "./errors.ts";
