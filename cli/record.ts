/**
 * `kiln record <module> --manifest FILE [--for 60s | --invocations N] [--out FILE]`: records a module of a
 * deployment offline, against the manifest's simulated plant (`runtime/record/in_process.ts`), to a trace
 * file that `kiln replay` replays.
 *
 * @module
 */
import { loadManifest } from "../runtime/manifest/mod.ts";
import { planDeployment } from "../runtime/mod.ts";
import { DEFAULT_TRACE_MAX_BYTES, recordInProcess } from "../runtime/record/mod.ts";
import { parse, UsageError } from "./_usage.ts";

/** Help lines of `kiln record`, for `kiln --help`. */
export const RECORD_HELP =
  `  kiln record <module> --manifest FILE [--for 60s | --invocations N] [--out FILE] [--max-bytes N]
              [--fault-at 3s]
      Record every input and effect of a module to a trace (default <module>.ktrace), running it offline
      against the manifest's simulated plant (--for and --fault-at count its simulated time; the fault is a
      bearing defect or overheating). Stream modules on a simulated vibration sensor, directly or through
      one channel, and periodic modules on simulated temperature probes.`;

/** Parses `60s`, `500ms`, `2m` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!m) throw new UsageError(`--for must be a duration like 60s, 500ms or 2m, got "${text}"`);
  return Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000);
}

/** Runs `kiln record`; 0 when the trace was written. */
export async function recordCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      manifest: { type: "string" },
      for: { type: "string" },
      invocations: { type: "string" },
      out: { type: "string" },
      "max-bytes": { type: "string" },
      "fault-at": { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("record takes one module name");
  if (!values.manifest) {
    throw new UsageError("record needs --manifest FILE (recording a running gateway is not available yet)");
  }
  if ((values.for === undefined) === (values.invocations === undefined)) {
    throw new UsageError("record needs one of --for DURATION or --invocations N");
  }
  const integer = (flag: string, text: string | undefined): number | null => {
    if (text === undefined) return null;
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`--${flag} must be a positive integer, got "${text}"`);
    }
    return n;
  };
  const name = positionals[0]!;
  const fault = values["fault-at"] === undefined ? null : parseDuration(values["fault-at"]);
  const plan = planDeployment(await loadManifest(values.manifest));
  const { bytes, session } = await recordInProcess(plan, name, {
    invocations: integer("invocations", values.invocations),
    simulatedMs: values.for === undefined ? null : parseDuration(values.for),
    maxBytes: integer("max-bytes", values["max-bytes"]) ?? DEFAULT_TRACE_MAX_BYTES,
    ...(fault !== null && { faultAtMs: fault }),
  });
  const out = values.out ?? `${name}.ktrace`;
  await Deno.writeFile(out, bytes);
  const s = session.status();
  console.log(
    `recorded ${
      s.invocations - 1
    } invocations of "${name}" and its start to ${out} (${bytes.length} bytes, stopped by ${s.stop})`,
  );
  return 0;
}
