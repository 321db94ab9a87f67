/**
 * Command-line usage errors, and argument parsing that turns `node:util` errors into them.
 *
 * @module
 */
import { closest } from "../runtime/_near.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";

/** The command line itself is wrong (unknown flag, missing argument): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** `parseArgs` that throws {@linkcode UsageError} instead of Node's error codes. */
export function parse<T extends ParseArgsConfig>(args: string[], config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs({ ...config, args }) as ReturnType<typeof parseArgs<T>>;
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify.*$/s, "");
    // "Unknown option '--jsn'": name the nearest option the command has.
    const unknown = /^Unknown option '(--?[^']+)'/.exec(message)?.[1];
    const near = unknown === undefined
      ? null
      : closest(unknown, Object.keys(config.options ?? {}).map((o) => `--${o}`));
    throw new UsageError(near === null ? message : `${message}; did you mean '${near}'?`);
  }
}

/**
 * Whether a command's arguments ask for its help: `--help` or `-h` anywhere before a `--` (after it,
 * everything is an argument). Every command answers it the same way, before it parses anything else.
 */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "--help" || a === "-h") return true;
  }
  return false;
}

/**
 * A command's part of `kiln --help`: the lines from its first `  kiln <command>` line to the next line of
 * another command, or null when the text has none.
 */
export function commandSection(helpText: string, command: string): string | null {
  const lines = helpText.split("\n");
  const own = (l: string) => l.startsWith(`  kiln ${command} `) || l === `  kiln ${command}`;
  const start = lines.findIndex(own);
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length) {
    const l = lines[end]!;
    if (l.startsWith("  kiln ") && !own(l)) break;
    if (l === "" || /^\S/.test(l)) break;
    end++;
  }
  return lines.slice(start, end).join("\n");
}
