/**
 * `kiln alerts`: the alerts a running gateway's modules raised (`GET /api/v1/alerts`), filtered by module
 * and severity, and with `-f` the new ones as they come (the stream's `alerts`). Each has the gateway's
 * sequence number, so a reconnect fetches what it missed (`?after=SEQ`) and nothing is printed twice.
 * `--ack` is not supported yet: this gateway keeps alerts in memory and has no acknowledgement.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";
import { followStream } from "./_stream_client.ts";
import { limitOf } from "./events.ts";

/** The help lines of `kiln alerts`, for `kiln --help`. */
export const ALERTS_HELP =
  `  kiln alerts [--module M] [--severity S] [-f] [--limit N] [--url URL] [--token T | --token-file F]
             [--json]
      The alerts the gateway's modules raised since it started (GET /api/v1/alerts): "#SEQ TIME
      SEVERITY MODULE MESSAGE"; --severity warning or critical; -f follows new ones over the live
      stream until Ctrl-C. --json: one JSON object per line, as the API gives it. --ack is not supported
      yet (the gateway has no acknowledgement): it exits 1 saying so.`;

/** A feature this gateway's API does not have yet. */
export class NotSupportedError extends KilnError {
  readonly code = "not_supported";
  readonly kind = "invalid";
}

/** An alert as the API gives it. */
interface Alert {
  seq: number;
  module: string;
  severity: string;
  message: string;
  at: string;
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
      ack: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("alerts takes no arguments, only options");
  if (values.ack !== undefined) {
    throw new NotSupportedError(
      `Cannot acknowledge alert "${values.ack}": this gateway keeps its alerts in memory without ` +
        `acknowledgement (not supported yet; see docs/cli.md)`,
    );
  }
  const severities = ["warning", "critical"];
  if (values.severity !== undefined && !severities.includes(values.severity)) {
    throw new UsageError(`--severity must be one of ${severities.join(", ")}, got "${values.severity}"`);
  }
  const limit = limitOf(values.limit);
  const base = values.url ?? DEFAULT_URL;
  const wanted = (a: Alert) =>
    (values.module === undefined || a.module === values.module) &&
    (values.severity === undefined || a.severity === values.severity);
  const print = (a: Alert) =>
    console.log(
      values.json
        ? safeJsonStringify(a)
        : [`#${a.seq}`, a.at, escapeText(a.severity).padEnd(8), escapeText(a.module), escapeText(a.message)]
          .join("  "),
    );
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    let last = 0;
    const show = (a: Alert) => {
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
