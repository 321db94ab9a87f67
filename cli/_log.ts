/**
 * The process log of `kiln run` (its standard output): Kiln's own lines and the lines modules cause (their
 * logs, alerts and refused calls), in `text` or `json` format (see `../log_text.ts` for both formats and
 * the escaping that keeps one module's line one line, and its own).
 *
 * @module
 */
import { formatLogLine, LOG_FORMATS, type LogEntry, type LogFormat } from "../log_text.ts";
import { UsageError } from "./_usage.ts";

/** The environment variable that chooses the log format when `--log-format` is not given. */
export const LOG_FORMAT_ENV = "KILN_LOG_FORMAT";

/** The process log. */
export interface ProcessLog {
  readonly format: LogFormat;
  /** Writes one entry from the runtime: its own line (escaped), or a module's record. */
  log(entry: LogEntry): void;
  /**
   * Writes a message of the CLI's own, written by Kiln with no module text in it: as it is in `text` (a
   * banner may span lines), one `json` object per line otherwise.
   */
  say(message: string): void;
}

/**
 * A process log writing lines to `write`.
 *
 * @param options.write where each line goes, without its newline. @default console.log
 */
export function createProcessLog(
  options: { format: LogFormat; write?: (line: string) => void },
): ProcessLog {
  const { format } = options;
  const write = options.write ?? ((line: string) => console.log(line));
  return {
    format,
    log: (entry) => write(formatLogLine(entry, { format })),
    say(message) {
      if (format === "text") write(message);
      else for (const line of message.split("\n")) write(formatLogLine(line, { format }));
    },
  };
}

/**
 * The log format: `--log-format` when given, else `$KILN_LOG_FORMAT` when it is set and readable, else
 * `text`.
 *
 * @throws {UsageError} when either names a format other than `text` or `json`.
 */
export function logFormatOf(flag: string | undefined): LogFormat {
  let value = flag;
  let from = "--log-format";
  // Queried first: reading a variable outside a narrowed --allow-env would prompt on a terminal. The
  // relaunched `kiln run` is granted it (sandbox.ts), so a launcher without it still passes it on.
  if (
    value === undefined &&
    Deno.permissions.querySync({ name: "env", variable: LOG_FORMAT_ENV }).state === "granted"
  ) {
    value = Deno.env.get(LOG_FORMAT_ENV) || undefined;
    from = LOG_FORMAT_ENV;
  }
  if (value === undefined) return "text";
  if (!(LOG_FORMATS as readonly string[]).includes(value)) {
    throw new UsageError(`${from} must be one of ${LOG_FORMATS.join(", ")}, got "${value}"`);
  }
  return value as LogFormat;
}
