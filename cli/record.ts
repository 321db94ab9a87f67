/**
 * `kiln record <module> --manifest FILE [--for 60s | --invocations N] [--out FILE]`: records a module of a
 * deployment offline, against the manifest's simulated plant (`runtime/record/in_process.ts`), to a trace
 * file that `kiln replay` replays. With `--url URL` instead of `--manifest`, records the module of a running
 * gateway over its API (`POST /api/v1/modules/:name/record`), waits for the recording to end and downloads
 * the trace.
 *
 * @module
 */
import { loadManifest } from "../runtime/manifest/mod.ts";
import { planDeployment } from "../runtime/mod.ts";
import { DEFAULT_TRACE_MAX_BYTES, recordInProcess } from "../runtime/record/mod.ts";
import { parse, UsageError } from "./_usage.ts";
import { ApiRequestError, requestJson, tokenFor } from "./_api_client.ts";

/** Help lines of `kiln record`, for `kiln --help`. */
export const RECORD_HELP =
  `  kiln record <module> --manifest FILE [--for 60s | --invocations N] [--out FILE] [--max-bytes N]
              [--fault-at 3s] [--events FILE]
      Record every input and effect of a module to a trace (default <module>.ktrace), running it offline
      against the manifest's simulated plant (--for and --fault-at count its simulated time; the fault is a
      bearing defect or overheating). Stream modules on a simulated vibration sensor, directly or through
      one channel; periodic modules on simulated temperature probes; event modules: a channel trigger's
      records from its writer run beside it (such a stream or periodic module), other events (api, gpio,
      mqtt, or channel records without such a writer) from --events FILE, one JSON object a line:
      {"at_ms": 50000, "kind": "api", "payload": "0"} (or "payload_base64"; gpio: "value": 0 or 1).
      An event module recorded for --invocations N stops after an hour of simulated time.
  kiln record <module> --url URL [--token T] [--data DIR] [--for 60s | --invocations N] [--out FILE]
              [--max-bytes N]
      Record a module of a running gateway from its next call (operator token: --token, $KILN_TOKEN or
      DIR/admin.token), wait until the recording ends and download the trace.`;

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
      events: { type: "string" },
      url: { type: "string" },
      token: { type: "string" },
      data: { type: "string", default: "./data" },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("record takes one module name");
  if ((values.manifest === undefined) === (values.url === undefined)) {
    throw new UsageError("record needs one of --manifest FILE (offline) or --url URL (a running gateway)");
  }
  if ((values.for === undefined) === (values.invocations === undefined)) {
    throw new UsageError("record needs one of --for DURATION or --invocations N");
  }
  if (values.url !== undefined && values["fault-at"] !== undefined) {
    throw new UsageError(
      "--fault-at is for an offline recording (--manifest): inject faults through the API",
    );
  }
  if (values.url !== undefined && values.events !== undefined) {
    throw new UsageError(
      "--events is for an offline recording (--manifest): send events to a gateway through its API",
    );
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
  if (values.url !== undefined) {
    return await recordLive(values.url, name, {
      token: await tokenFor(values.token, values.data),
      invocations: integer("invocations", values.invocations),
      forS: values.for === undefined ? null : parseDuration(values.for) / 1000,
      maxBytes: integer("max-bytes", values["max-bytes"]),
      out: values.out ?? `${name}.ktrace`,
    });
  }
  const fault = values["fault-at"] === undefined ? null : parseDuration(values["fault-at"]);
  const plan = planDeployment(await loadManifest(values.manifest!));
  const { bytes, session } = await recordInProcess(plan, name, {
    ...(values.events !== undefined &&
      { eventsFile: { path: values.events, text: await Deno.readTextFile(values.events) } }),
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

/** How often `kiln record --url` asks where the recording stands, in milliseconds. */
const POLL_MS = 250;

/** Records `name` on the gateway at `url`, waits for the end, downloads the trace to `out`; 0 when written. */
async function recordLive(
  url: string,
  name: string,
  o: {
    token: string | null;
    invocations: number | null;
    forS: number | null;
    maxBytes: number | null;
    out: string;
  },
): Promise<number> {
  const base = `${url.replace(/\/$/, "")}/api/v1/modules/${encodeURIComponent(name)}/record`;
  const what = `record "${name}"`;
  await requestJson(base, {
    method: "POST",
    token: o.token,
    what,
    body: {
      ...(o.invocations !== null && { invocations: o.invocations }),
      ...(o.forS !== null && { for_s: o.forS }),
      ...(o.maxBytes !== null && { max_bytes: o.maxBytes }),
    },
  });
  let status: Record<string, unknown>;
  for (;;) {
    status = await requestJson(base, { token: o.token, what });
    if (status.state === "done") break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (status.stop === null) {
    throw new ApiRequestError(`Cannot ${what}: the recording did not start: ${status.error}`, null, null);
  }
  const res = await fetch(`${base}/trace`, {
    headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
  });
  if (!res.ok) {
    const body = await res.json().catch(() => null) as { error?: { code?: string; message?: string } } | null;
    throw new ApiRequestError(
      `Cannot download the trace of "${name}": ${body?.error?.message ?? `HTTP ${res.status}`}`,
      res.status,
      body?.error?.code ?? null,
    );
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  await Deno.writeFile(o.out, bytes);
  console.log(
    `recorded ${status.invocations} invocations of "${name}" and its start to ${o.out} (${bytes.length} bytes, ` +
      `stopped by ${status.stop})`,
  );
  return 0;
}
