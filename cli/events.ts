/**
 * `kiln events`: the messages a running gateway's modules published (`kiln.publish`: MQTT topics, through the
 * outbox when an uplink is configured), from `GET /api/v1/messages`, and with `-f` the new ones as they come
 * (the stream's `messages/<module>`). Each has the gateway's sequence number, so a reconnect fetches what it
 * missed (`?after=SEQ`) and nothing is printed twice.
 *
 * @module
 */
import { escapeText, safeJsonStringify } from "../log_text.ts";
import { parse, UsageError } from "./_usage.ts";
import { apiUrl, DEFAULT_URL, REMOTE_OPTIONS, remoteToken, requestJson, runRemote } from "./_api_client.ts";
import { followStream } from "./_stream_client.ts";

/** The help lines of `kiln events`, for `kiln --help`. */
export const EVENTS_HELP =
  `  kiln events [--module M] [-f] [--limit N] [--url URL] [--token T | --token-file F] [--json]
      The messages the gateway's modules published (kiln.publish; GET /api/v1/messages): "#SEQ TIME
      MODULE TOPIC PAYLOAD" (a payload that is not UTF-8 shown as base64:...); -f follows new ones over the
      live stream until Ctrl-C. --json: one JSON object per line, as the API gives it.`;

/** A published message as the API gives it. */
interface Message {
  seq: number;
  module: string;
  topic: string;
  payload: string;
  encoding: "utf-8" | "base64";
  at: string;
}

/** Runs `kiln events`; 0 on success (and on Ctrl-C with `-f`), 1 when refused, 3 when unreachable. */
export function eventsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    options: {
      ...REMOTE_OPTIONS,
      module: { type: "string" },
      follow: { type: "boolean", short: "f" },
      limit: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError("events takes no arguments, only options");
  const limit = limitOf(values.limit);
  const base = values.url ?? DEFAULT_URL;
  const wanted = (m: Message) => values.module === undefined || m.module === values.module;
  const print = (m: Message) =>
    console.log(
      values.json ? safeJsonStringify(m) : [
        `#${m.seq}`,
        m.at,
        escapeText(m.module),
        escapeText(m.topic),
        m.encoding === "base64" ? `base64:${m.payload}` : escapeText(m.payload),
      ].join("  "),
    );
  return runRemote(values.json, async () => {
    const token = await remoteToken(values);
    let last = 0;
    const fetchAfter = async (after: number, first: boolean) => {
      const url = apiUrl(base, "/api/v1/messages");
      url.searchParams.set("after", String(after));
      const body = await requestJson(url.href, { token, what: `read the published messages of ${base}` });
      const messages = (body.messages as Message[]).filter(wanted);
      for (const m of first ? messages.slice(-limit) : messages) show(m);
    };
    const show = (m: Message) => {
      if (m.seq <= last) return;
      last = m.seq;
      print(m);
    };
    if (!values.follow) {
      await fetchAfter(0, true);
      return 0;
    }
    let first = true;
    await followStream(base, {
      token,
      topics: [values.module === undefined ? "messages/*" : `messages/${values.module}`],
      onConnected: async () => {
        await fetchAfter(last, first);
        first = false;
      },
      onFrame: (f) => {
        const m = f.data as Message;
        if (wanted(m)) show(m);
      },
    });
    return 0;
  });
}

/**
 * `--limit`: the newest N of the history (`Infinity` without it).
 *
 * @throws {UsageError} when it is not a positive integer.
 */
export function limitOf(value: string | undefined): number {
  if (value === undefined) return Infinity;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`--limit must be a positive integer, got "${value}"`);
  }
  return n;
}
