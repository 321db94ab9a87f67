/**
 * One runtime per data directory: `kiln run` holds an exclusive advisory lock (`flock`) on `<data>/kiln.lock`
 * for as long as it runs, and writes its process id into the file for the message another start shows. The
 * kernel drops the lock when the process ends however it ends (SIGKILL and power loss included), so a stale
 * file never blocks a start: only a live holder does.
 *
 * With the sandbox (`sandbox.ts`), the relaunched child, the process that opens the store and runs the
 * modules, holds the lock: a SIGKILL of the launcher leaves that child running, and a new `kiln run` must
 * still be refused while it lives. The launcher only checks that the directory is free before it relaunches,
 * so a second start fails at once with the holder's pid rather than after its child loaded everything.
 *
 * @module
 */
import { resolve } from "node:path";
import { KilnError } from "../errors.ts";

/** The lock file's name in the data directory. */
export const LOCK_FILE = "kiln.lock";

/** Another `kiln run` holds the data directory. */
export class DataDirLockedError extends KilnError {
  readonly code = "data_dir_locked";
  readonly kind = "conflict";
  /**
   * @param dataDir The data directory, absolute.
   * @param pid The holder's process id, as it wrote it, or null when it could not be read.
   */
  constructor(readonly dataDir: string, readonly pid: number | null) {
    super(
      `The data directory "${dataDir}" is in use by another kiln run` +
        (pid === null ? "" : ` (pid ${pid})`) +
        `: one runtime per data directory; stop it first, or pass another --data`,
    );
  }
}

/** A held lock on a data directory; released on dispose (and by the kernel when the process ends). */
export interface DataDirLock extends Disposable {
  /** The lock file's path. */
  readonly path: string;
}

/**
 * Takes the data directory's lock without waiting and writes this process's id into it.
 *
 * @throws {DataDirLockedError} when another process holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = resolve(dataDir, LOCK_FILE);
  // Not truncated on open: the holder's pid stays readable for the message.
  const file = Deno.openSync(path, { read: true, write: true, create: true });
  if (!file.tryLockSync(true)) {
    file.close();
    throw new DataDirLockedError(resolve(dataDir), holderOf(path));
  }
  try {
    file.truncateSync(0);
    file.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (err) {
    file.close();
    throw err;
  }
  return {
    path,
    [Symbol.dispose]() {
      file.close(); // closing the descriptor releases the lock
    },
  };
}

/**
 * Checks that no process holds the data directory's lock, without keeping it (the launcher, before it
 * relaunches the process that takes it).
 *
 * @throws {DataDirLockedError} when another process holds it.
 */
export function assertDataDirFree(dataDir: string): void {
  const path = resolve(dataDir, LOCK_FILE);
  using file = Deno.openSync(path, { read: true, write: true, create: true });
  if (!file.tryLockSync(true)) throw new DataDirLockedError(resolve(dataDir), holderOf(path));
  file.unlockSync();
}

/** The pid the holder wrote, or null when the file holds none (it is being written, or unreadable). */
function holderOf(path: string): number | null {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null; // the message says without the pid
  }
}
