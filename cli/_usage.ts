/**
 * Command-line usage errors, and argument parsing that turns `node:util` errors into them.
 *
 * @module
 */
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
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ""));
  }
}
