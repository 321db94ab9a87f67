/**
 * The launcher's shortcut. `kiln run` starts twice: a launcher with the permissions it was given loads the
 * manifest, computes the narrowest grants (`sandbox.ts`) and execs into them (`_exec.ts`), and the narrowed
 * process loads everything again. Most of the launcher's time (its command graph: zod, yaml, the manifest's
 * schema, then the parse) went into a result that does not change from one start to the next, so it keeps
 * that result in `<data>/launch.json`, keyed by everything it was computed from, and `main.ts` tries this
 * module first: on a hit the launcher execs after reading two small files, before loading the CLI.
 *
 * What the key covers: the command line and working directory, the manifest's path and a SHA-256 of its
 * bytes, Deno's version and path, and the size and modification time of the main module and of the files
 * that compute grants (`run.ts`, `sandbox.ts`, `_exec.ts`, the manifest's schema). A change the key misses
 * (another source file edited in a checkout) is caught by the narrowed process, which computes the grants
 * again from the manifest it loads anyway and compares ({@linkcode sameGrants}): on a difference it
 * marks the cache stale (`launch.stale`) and exits with {@linkcode STALE_EXIT_CODE}; the next start takes the
 * long way and writes a fresh entry.
 *
 * The shortcut loads no `node:` module (Node's compatibility layer alone costs ~20 ms to start): Web Crypto
 * hashes, and the command line is scanned for the two options it needs.
 *
 * Trust: only a launcher (full permissions) writes `launch.json`; the narrowed process is started with
 * `--deny-write` on it, so nothing running under the sandbox (a module that escaped into JavaScript
 * included) can widen its next start. It can write the stale marker, which only turns the shortcut off.
 *
 * @module
 */
import { type DenoGrants, execRelaunch, SANDBOXED_ENV } from "./_exec.ts";
import { mark } from "../runtime/_startup_marks.ts";

/** The cache's file name in the data directory. */
export const LAUNCH_CACHE_FILE = "launch.json";
/** The marker a narrowed process leaves when its cached grants were not the ones its manifest needs. */
export const LAUNCH_STALE_FILE = "launch.stale";
/** The exit code of a narrowed process that found its cached grants stale (sysexits' EX_TEMPFAIL). */
export const STALE_EXIT_CODE = 75;

/** One entry: the key, the manifest the key's arguments name, the grants. */
interface LaunchEntry {
  key: string;
  manifest: string;
  grants: DenoGrants;
}

/** The files whose code decides the grants; their size and modification time are part of the key. */
const CODE_FILES = import.meta.url.endsWith(".ts")
  ? [
    import.meta.url,
    new URL("./_exec.ts", import.meta.url).href,
    new URL("./run.ts", import.meta.url).href,
    new URL("./sandbox.ts", import.meta.url).href,
    new URL("../runtime/manifest/schema.ts", import.meta.url).href,
  ]
  // Bundled (scripts/bundle.ts), this file is in both the launcher's bundle and the CLI's: the key must name
  // the same files from either, and the CLI's holds all of the code above.
  : ["./kiln.js", "./kiln_cli.js"].map((file) => new URL(file, import.meta.url).href);

/** Options of `kiln run` that take a value (`cli/run.ts`). */
const VALUE_OPTIONS = new Set(["--config", "-c", "--data", "--listen", "--fault", "--log-format"]);

/**
 * The data directory (`--data`, `./data` by default) and manifest a `kiln run` command line names, or null
 * for one the shortcut does not read (`--help`, a typo: the CLI says what is wrong). A misreading costs only
 * the shortcut: the entry was keyed with the manifest the CLI's own parser found.
 */
function namedIn(args: readonly string[]): { data: string; manifest: string | null } | null {
  const values = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_OPTIONS.has(name)) return null;
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) return null;
    values.set(name === "-c" ? "--config" : name, value);
  }
  if (positionals.length > 1) return null;
  return {
    data: values.get("--data") ?? "./data",
    manifest: values.get("--config") ?? positionals[0] ?? null,
  };
}

/** `path` made absolute against the working directory (the same way when saving and when looking up). */
function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

async function sha256(bytes: Uint8Array<ArrayBuffer> | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function stamp(url: string): string {
  if (!url.startsWith("file:")) return `${url}:remote`;
  try {
    const s = Deno.statSync(new URL(url));
    return `${url}:${s.size}:${s.mtime?.getTime() ?? 0}`;
  } catch {
    return `${url}:missing`;
  }
}

/**
 * The key of a launch: everything the grants were computed from.
 *
 * @param args `kiln run`'s arguments (after `run`).
 * @param manifestPath the manifest those arguments name (or the demo's).
 * @throws when the manifest cannot be read (the caller then takes the long way, which says why).
 */
export async function launchKey(args: readonly string[], manifestPath: string): Promise<string> {
  return await sha256(JSON.stringify([
    args,
    Deno.cwd(),
    absolute(manifestPath),
    await sha256(Deno.readFileSync(manifestPath)),
    Deno.version.deno,
    Deno.execPath(),
    [Deno.mainModule, ...CODE_FILES].map(stamp),
  ]));
}

/** The cache file of a data directory. */
export function launchCachePath(dataDir: string): string {
  return `${absolute(dataDir)}/${LAUNCH_CACHE_FILE}`;
}

/**
 * Keeps the grants a launcher computed, for the next start with the same key; drops a stale marker. Called
 * by the launcher only (full permissions), right before it execs. A failure to write is not an error: the
 * next start takes the long way again.
 */
export async function saveLaunch(
  args: readonly string[],
  manifestPath: string,
  dataDir: string,
  grants: DenoGrants,
): Promise<void> {
  try {
    const entry: LaunchEntry = {
      key: await launchKey(args, manifestPath),
      manifest: absolute(manifestPath),
      grants,
    };
    const path = launchCachePath(dataDir);
    Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(entry));
    Deno.renameSync(`${path}.tmp`, path);
    Deno.removeSync(`${absolute(dataDir)}/${LAUNCH_STALE_FILE}`);
  } catch { /* no marker to remove, or a read-only data directory: no shortcut */ }
}

/**
 * The shortcut: when this is a launcher (not the narrowed process) whose `kiln run` arguments match the
 * cached entry of their data directory, execs into the cached grants and never returns. Returns (having done
 * nothing but read) otherwise: the CLI then takes the long way.
 *
 * @param args `kiln run`'s arguments (after `run`).
 */
export async function launchFromCache(args: readonly string[]): Promise<void> {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: SANDBOXED_ENV }).state !== "granted") return;
    if (Deno.env.get(SANDBOXED_ENV) !== undefined) return;
    const named = namedIn(args);
    if (named === null) return;
    const path = launchCachePath(named.data);
    try {
      Deno.statSync(`${absolute(named.data)}/${LAUNCH_STALE_FILE}`);
      return; // the last narrowed process found the entry stale
    } catch { /* no marker */ }
    const entry = JSON.parse(Deno.readTextFileSync(path)) as LaunchEntry;
    if (await launchKey(args, named.manifest ?? entry.manifest) !== entry.key) return;
    mark("relaunch_cached");
    execRelaunch(["run", ...args], { ...entry.grants, cached: true }); // returns only when it could not exec
  } catch {
    // No entry, an unreadable one, a manifest that moved: the long way reports what matters.
  }
}

/**
 * In the narrowed process started from the cache: whether its grants are the ones its manifest needs now
 * (`expected`, computed by `sandbox.ts` as the launcher would). When they are not, the caller leaves the
 * stale marker ({@linkcode markLaunchStale}) and exits with {@linkcode STALE_EXIT_CODE}.
 */
export function sameGrants(grants: DenoGrants, expected: DenoGrants): boolean {
  const canonical = (g: DenoGrants) => {
    const { cached: _c, lifeline: _l, ...rest } = g;
    return JSON.stringify(
      Object.entries(rest).map(([k, v]) => [k, Array.isArray(v) ? [...v].sort() : v]).sort(),
    );
  };
  return canonical(grants) === canonical(expected);
}

/** Leaves the marker that turns the shortcut off until a launcher writes a fresh entry. */
export function markLaunchStale(dataDir: string): void {
  try {
    Deno.writeTextFileSync(`${absolute(dataDir)}/${LAUNCH_STALE_FILE}`, `${new Date().toISOString()}\n`);
  } catch { /* the exit code still says it */ }
}
