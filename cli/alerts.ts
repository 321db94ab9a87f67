/**
 * `kiln alerts`: the alerts a running gateway's modules raised (`GET /api/v1/alerts`), filtered by module
 * and severity, and with `-f` the new ones as they come (the stream's `alerts`). Each has the gateway's
 * sequence number, kept across the gateway's restarts, so a reconnect fetches what it missed (`?after=SEQ`)
 * and nothing is printed twice. `--ack SEQ` acknowledges one (`POST /api/v1/alerts/:seq/ack`, operator).
 *
 * @module
 */
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";
import { followStream } from "./_stream_client.ts";
import { limitOf } from "./events.ts";

/** The help lines of `kiln alerts`, for `kiln --help`. */
export const ALERTS_HELP = `  kiln alerts [--module M] [--severity S] [--unacked] [-f] [--limit N] [--url URL]
             [--token T | --token-file F] [--json]
  kiln alerts --ack SEQ [--url URL] [--token T | --token-file F] [--json]
      The alerts the gateway's modules and the gateway itself (a crash, a failure, a rollback) raised,
      kept across restarts (GET /api/v1/alerts): "#SEQ TIME SEVERITY MODULE ACKED MESSAGE", ACKED "-"
      or "acked by NAME"; --severity warning or critical; --unacked only the unacknowledged ones; -f
      follows new ones (and acknowledgements) over the live stream until Ctrl-C. --ack SEQ acknowledges
      alert SEQ as the token's name (operator role; audited; idempotent), exit 1 when there is no such
      alert. --json: one JSON object per line, as the API gives it.`;

/** An alert as the API gives it. */
interface Alert {
  seq: number;
  module: string;
  severity: string;
  message: string;
  at: string;
  acked_at?: string | null;
  acked_by?: string | null;
  /** On the stream: `alert` for a new one, `alert_ack` for an acknowledgement. */
  event?: string;
}

/** Runs `kiln alerts`; 0 on success (and on Ctrl-C with `-f`), 1 when refused, 3 when unreachable. */
export function alertsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      ...REMOTE_OPTIONS,
      module: { type: "string" },
      severity: { type: "string" },
      follow: { type: "boolean", short: "f" },
      limit: { type: "string" },
      unacked: { type: "boolean" },
      ack: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("alerts takes no arguments, only options");
  if (values.ack !== undefined) return ackCommand(values.ack, values);
  const severities = ["warning", "critical"];
  if (values.severity !== undefined && !severities.includes(values.severity)) {
    throw new UsageError(`--severity must be one of ${severities.join(", ")}, got "${values.severity}"`);
  }
  const limit = limitOf(values.limit);
  const base = values.url ?? DEFAULT_URL;
  const wanted = (a: Alert) =>
    (values.module === undefined || a.module === values.module) &&
    (values.severity === undefined || a.severity === values.severity) &&
    (!values.unacked || !a.acked_at);
  const print = (a: Alert) => console.log(values.json ? safeJsonStringify(a) : alertLine(a));
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    let last = 0;
    const show = (a: Alert) => {
      // An acknowledgement of an alert already shown: printed as it comes (not with --unacked).
      if (a.event === "alert_ack") {
        if (wanted({ ...a, acked_at: null }) && !values.unacked) print(a);
        return;
      }
      if (a.seq <= last) return;
      last = a.seq;
      if (wanted(a)) print(a);
    };
    const fetchAfter = async (after: number, first: boolean) => {
      const url = apiUrl(base, "/api/v1/alerts");
      url.searchParams.set("after", String(after));
      const body = await requestJson(url.href, { token, what: `read the alerts of ${base}` });
      const alerts = body.alerts as Alert[];
      if (first) {
        const shown = alerts.filter(wanted).slice(-limit);
        for (const a of shown) print(a);
        last = Math.max(last, ...alerts.map((a) => a.seq));
      } else for (const a of alerts) show(a);
    };
    if (!values.follow) {
      await fetchAfter(0, true);
      return 0;
    }
    let first = true;
    await followStream(base, {
      token,
      topics: ["alerts"],
      onConnected: async () => {
        await fetchAfter(last, first);
        first = false;
      },
      onFrame: (f) => show(f.data as Alert),
    });
    return 0;
  });
}

/** One alert as a line: "#SEQ TIME SEVERITY MODULE ACKED MESSAGE", module text escaped. */
function alertLine(a: Alert): string {
  const acked = a.acked_by ? `acked by ${escapeText(a.acked_by)}` : "-";
  return [
    `#${a.seq}`,
    a.at,
    escapeText(a.severity).padEnd(8),
    escapeText(a.module),
    acked,
    escapeText(a.message),
  ]
    .join("  ");
}

/** `kiln alerts --ack SEQ`: acknowledges one alert; 0 when acknowledged (now or before), 1 when refused. */
function ackCommand(
  raw: string,
  values: Parameters<typeof remoteToken>[0] & { url?: string | undefined; json?: boolean | undefined },
): Promise<number> {
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1) {
    throw new UsageError(
      `--ack takes an alert's sequence number (a positive integer, as "#SEQ" shows), got "${raw}"`,
    );
  }
  const base = values.url ?? DEFAULT_URL;
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    const body = await requestJson(apiUrl(base, `/api/v1/alerts/${raw}/ack`).href, {
      method: "POST",
      token,
      what: `acknowledge alert #${raw} on ${base}`,
    });
    const alert = body.alert as Alert;
    console.log(
      values.json
        ? safeJsonStringify(alert)
        : `Alert #${alert.seq} acknowledged by ${escapeText(alert.acked_by ?? "?")} at ${alert.acked_at}: ${
          alertLine(alert)
        }`,
    );
    return 0;
  });
}
