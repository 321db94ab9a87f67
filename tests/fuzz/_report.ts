/**
 * What the fuzz worker reports for one module, the messages between the driver and the worker, and the
 * rules that judge a report: every refusal of the right class, every call within its budget plus the margin,
 * memory within its cap.
 *
 * @module
 */
import type { BinaryFacts } from "./_binary.ts";
import type { Profile, Variant } from "./_variant.ts";

/** The pipeline stages, in order (the loader's, plus the harness's edits and the calls). */
export const STAGES = [
  "idle",
  "prepare",
  "read",
  "validate",
  "footprint",
  "cap",
  "instrument",
  "reread",
  "compile",
  "instantiate",
  "call",
] as const;

/** A stage of {@linkcode STAGES}. */
export type Stage = typeof STAGES[number];

/** Heartbeat slots the worker writes and the driver's watchdog reads (a `Float64Array` on shared memory). */
export const HEARTBEAT = {
  /** Epoch ms by which the running stage must end; 0 between modules. */
  deadline: 0,
  /** The running stage's index in {@linkcode STAGES}. */
  stage: 1,
  /** The running call's index, or -1. */
  call: 2,
  /** Slots. */
  length: 3,
} as const;

/** Why the pipeline refused a module. */
export interface Refusal {
  stage: Stage;
  /** The error's class name, e.g. `"WasmUnsupportedError"`. */
  errorClass: string;
  /** A `KilnError`'s code, else null. */
  code: string | null;
  /** `WasmUnsupportedError.feature`, else null. */
  feature: string | null;
  message: string;
}

/** One call into the module: instantiation (the start function) or an exported function. */
export interface CallRecord {
  /** The export, or `"(instantiate)"`. */
  name: string;
  /** The budget the call was armed with, ms (the init budget for instantiation and the first call). */
  armedMs: number;
  /** `performance.now()` around the call, ms. */
  wallMs: number;
  /** `returned`, a trap kind (`unreachable`, `out_of_bounds`, ...), `budget_exceeded`, `fuel_exhausted`, `host_error`, `link_error`. */
  outcome: string;
  /** The largest exported memory after the call, bytes (0 when none is exported). */
  memoryBytes: number;
  /** The error's message, for the outcomes `trap` (unclassified) and `host_error`. */
  detail?: string;
}

/** Everything the worker found out about one module. */
export interface ModuleReport {
  seed: number;
  profile: Profile;
  /** Whether the hang limit was found and defused. */
  defused: boolean;
  /** The harness's own reading of the edited binary. */
  facts: BinaryFacts;
  /** `WebAssembly.validate` of the edited binary, before Kiln's pipeline. */
  v8Valid: boolean;
  /** Null when the module went through the whole pipeline. */
  refusal: Refusal | null;
  /** The memory cap after the footprint rule, bytes. */
  capBytes: number;
  instantiate: CallRecord | null;
  calls: CallRecord[];
  /** Exported functions not callable from JavaScript (a `v128` parameter or result). */
  skipped: number;
  /** Calls of the `fuzzing-support` imports that reached the host. */
  hostCalls: number;
}

/** Driver to worker. */
export type ToWorker =
  | { type: "init"; heartbeat: SharedArrayBuffer }
  | { type: "run"; variant: Variant; raw: Uint8Array }
  /** For the watchdog's own test: enter a call with a 10 ms deadline and never return. */
  | { type: "stall" };

/** Worker to driver. */
export type FromWorker =
  | { type: "prepared"; seed: number; bytes: Uint8Array }
  | { type: "report"; report: ModuleReport }
  /** The harness itself failed on this module (a bug of the fuzz, not of Kiln). */
  | { type: "error"; seed: number; message: string };

/** A rule a module broke. */
export interface Finding {
  seed: number;
  profile: Profile;
  /**
   * `escape`, `harness_error`, `over_margin`, `over_cap`, `wrong_refusal`, `unexpected_refusal`,
   * `accepted_refused`, `late_refusal` (a refused feature found only after validation), `instrumentation`.
   */
  kind: string;
  detail: string;
  /** Where the module was kept, once the driver has written it. */
  file?: string;
}

/** The features Kiln refuses, as `WasmUnsupportedError.feature` names them. */
const REFUSED_FEATURES = new Set(["threads", "multi-memory", "memory64", "gc"]);

/** Stages after validation: a refusal there (but the cap's limit) is the instrumentation's. */
const AFTER_VALIDATION = new Set<Stage>(["cap", "instrument", "reread", "compile"]);

/**
 * Judges one report: a list of the rules it broke (empty when all held).
 *
 * @param marginMs How far past its armed budget a call may end.
 */
export function judge(report: ModuleReport, marginMs: number): Finding[] {
  const findings: Finding[] = [];
  const add = (kind: string, detail: string) =>
    findings.push({ seed: report.seed, profile: report.profile, kind, detail });
  const { facts, refusal } = report;
  // What Kiln must refuse, by the harness's own reading of the binary (several may apply).
  const mustRefuse: string[] = [];
  if (facts.memories > 1) mustRefuse.push("multi-memory");
  if (facts.memory64) mustRefuse.push("memory64");
  if (facts.shared) mustRefuse.push("threads");
  if (facts.gcTypes) mustRefuse.push("gc");
  const said = refusal ? `${refusal.errorClass}${refusal.feature ? `(${refusal.feature})` : ""}` : "accepted";

  if (mustRefuse.length > 0) {
    const unsupported = refusal?.errorClass === "WasmUnsupportedError" &&
      mustRefuse.includes(refusal.feature ?? "");
    // A module V8 refuses too (binaryen 108 writes some pre-standard types) may be refused as invalid.
    const invalid = !report.v8Valid &&
      (refusal?.errorClass === "WasmFormatError" || refusal?.errorClass === "WasmInvalidError");
    if (!refusal) add("accepted_refused", `uses ${mustRefuse.join(", ")} but went through the pipeline`);
    else if (!unsupported && !invalid) {
      add(
        "wrong_refusal",
        `uses ${mustRefuse.join(", ")}: expected WasmUnsupportedError, got ${said} at ` +
          `${refusal.stage}: ${refusal.message}`,
      );
    }
  } else if (refusal) {
    const { errorClass, feature, stage, message } = refusal;
    const at = `${said} at ${stage}: ${message}`;
    if (AFTER_VALIDATION.has(stage)) {
      if (errorClass === "WasmUnsupportedError" && REFUSED_FEATURES.has(feature ?? "")) {
        // Refused all the same, but validation promises to refuse every feature Kiln does not run.
        add("late_refusal", `validateModule passed a module that uses ${feature}; ${at}`);
      } else if (!(errorClass === "LimitExceededError" && stage === "cap")) add("instrumentation", at);
    } else if (errorClass === "WasmInvalidError" || errorClass === "WasmFormatError") {
      if (report.v8Valid) add("unexpected_refusal", `V8 validates the module, Kiln says ${at}`);
    } else if (errorClass === "WasmUnsupportedError") {
      // Binaryen 108 writes typed references with reference types on: refusing them as GC is right.
      const typedRefs = report.profile === "reftypes" || report.profile === "gc";
      if (!REFUSED_FEATURES.has(feature ?? "") || !typedRefs) add("unexpected_refusal", at);
    } else if (errorClass !== "LimitExceededError" && errorClass !== "TableRule") {
      add("wrong_refusal", `not a Kiln error: ${at}`);
    }
  } else if (!report.v8Valid) {
    add("accepted_refused", "V8 refuses the module but it went through the pipeline");
  }
  for (const call of [...(report.instantiate ? [report.instantiate] : []), ...report.calls]) {
    if (call.wallMs > call.armedMs + marginMs) {
      add(
        "over_margin",
        `${call.name} ran ${call.wallMs.toFixed(1)} ms on a budget of ${call.armedMs} ms ` +
          `(margin ${marginMs} ms), ending in ${call.outcome}`,
      );
    }
    if (call.memoryBytes > report.capBytes) {
      add("over_cap", `${call.name} left ${call.memoryBytes} bytes of memory, cap ${report.capBytes}`);
    }
  }
  return findings;
}
