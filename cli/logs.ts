/**
 * `kiln logs <module> [-f]`: a module's recent log lines from a running gateway
 * (`GET /api/v1/modules/<module>/logs`), and with `-f` the new ones as they come (the stream's
 * `logs/<module>`), until Ctrl-C. Module text is shown escaped as the gateway escapes it (`../log_text.ts`):
 * one line per log line, whatever it holds.
 *
 * @module
 */
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";
import { followStream } from "./_stream_client.ts";

/** The help lines of `kiln logs`, for `kiln --help`. */
export const LOGS_HELP =
  `  kiln logs <module> [-f] [--limit N] [--url URL] [--token T | --token-file F] [--json]
      A module's recent log lines (the gateway keeps the last ones), "TIME LEVEL TEXT" with the module's
      control characters escaped; -f follows new lines over the live stream until Ctrl-C (up to 5
      reconnects in a row, then exit 3). --json: one JSON object per line, as the API gives it.`;

/** A log line as the API gives it. */
interface LogLine {
  module: string;
  level: string;
  message: string;
  at: string;
}

/** Runs `kiln logs`; 0 on success (and on Ctrl-C with `-f`), 1 when refused, 3 when unreachable. */
export function logsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: { ...REMOTE_OPTIONS, follow: { type: "boolean", short: "f" }, limit: { type: "string" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError("logs takes one module name");
  const name = positionals[0]!;
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) {
    throw new UsageError(`--limit must be a positive integer, got "${values.limit}"`);
  }
  const base = values.url ?? DEFAULT_URL;
  const print = (l: LogLine) =>
    console.log(
      values.json
        ? safeJsonStringify(l)
        : `${l.at}  ${escapeText(l.level).padEnd(5)}  ${escapeText(l.message)}`,
    );
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    const recent = async () => {
      const body = await requestJson(apiUrl(base, `/api/v1/modules/${encodeURIComponent(name)}/logs`).href, {
        token,
        what: `read the logs of module "${name}"`,
      });
      return body.logs as LogLine[];
    };
    if (!values.follow) {
      for (const l of (await recent()).slice(-limit)) print(l);
      return 0;
    }
    // Lines have no sequence number: a line the stream delivers that the REST answer already had (the same
    // time, level and text) is not printed twice, nor is one printed again after a reconnect.
    const seen = new Set<string>();
    let newest = "";
    const key = (l: LogLine) => `${l.at}\u0000${l.level}\u0000${l.message}`;
    const show = (l: LogLine) => {
      const k = key(l);
      if (seen.has(k) || l.at < newest) return;
      seen.add(k);
      if (l.at > newest) {
        newest = l.at;
        for (const s of seen) if (s.slice(0, s.indexOf("\u0000")) < newest) seen.delete(s);
      }
      print(l);
    };
    let first = true;
    await followStream(base, {
      token,
      topics: [`logs/${name}`],
      onConnected: async () => {
        const lines = await recent();
        for (const l of first ? lines.slice(-limit) : lines) show(l);
        first = false;
      },
      onFrame: (f) => show(f.data as LogLine),
    });
    return 0;
  });
}
