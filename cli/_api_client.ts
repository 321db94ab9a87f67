/**
 * Calls to a running runtime's API for the CLI's remote commands (`kiln status`, `logs`, `deploy`, `events`,
 * `alerts`, `rollback`, `history --url`, ...): the token from `--token` (or `--token-file`), else
 * `$KILN_TOKEN`, else the data directory's `admin.token`; the API's error body turned into one message, and
 * ({@linkcode runRemote}) into the exit codes docs/cli.md documents: 1 refused, 3 unreachable.
 *
 * @module
 */
import { KilnError } from "../errors.ts";
import { escapeText, safeJsonStringify } from "../log_text.ts";

/** One problem of a refused request, as the API lists it under `error.issues`. */
export interface ApiIssue {
  path: string;
  line: number | null;
  message: string;
}

/** The runtime answered with an error, or could not be reached. */
export class ApiRequestError extends KilnError {
  readonly code = "api_request_failed";
  readonly kind = "failed";
  /**
   * @param status The HTTP status, or null when the runtime could not be reached.
   * @param body The API's error body (`{ "error": { "code", "message", "issues"? } }`), or null.
   */
  constructor(
    message: string,
    readonly status: number | null,
    readonly errorCode: string | null,
    readonly body: Record<string, unknown> | null = null,
  ) {
    super(message);
  }

  /** The problems the API listed (`error.issues`: an invalid manifest entry's path, line and message). */
  get issues(): ApiIssue[] {
    const issues = (this.body?.error as { issues?: unknown } | undefined)?.issues;
    return Array.isArray(issues) ? issues as ApiIssue[] : [];
  }
}

/** The token to send: `given`, else `$KILN_TOKEN`, else `<dataDir>/admin.token`, else null. */
export async function tokenFor(given: string | undefined, dataDir: string): Promise<string | null> {
  if (given !== undefined) return given;
  try {
    const env = Deno.env.get("KILN_TOKEN");
    if (env) return env;
  } catch { /* not allowed to read it: as if unset */ }
  try {
    return (await Deno.readTextFile(`${dataDir}/admin.token`)).trim();
  } catch {
    return null; // the runtime answers 401, which says what to send
  }
}

/**
 * Sends a request and returns its JSON body.
 *
 * @param what What the request does, for the message: `roll back "fft"`.
 * @throws {ApiRequestError} when the runtime cannot be reached or answers with an error.
 */
export async function requestJson(
  url: string,
  options: { method?: string; token: string | null; body?: unknown; form?: FormData; what: string },
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  // A multipart body (a deploy): fetch writes its content-type with the boundary.
  let res: Response;
  try {
    res = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      ...(options.form !== undefined && { body: options.form }),
    });
  } catch (err) {
    throw new ApiRequestError(
      `Cannot ${options.what}: the runtime at ${new URL(url).origin} cannot be reached: ${
        (err as Error).message
      }`,
      null,
      null,
    );
  }
  const body = await res.json().catch(() => null) as Record<string, unknown> | null;
  if (!res.ok) {
    // The API's error body: { "error": { "code", "message" } }.
    const error = body?.error as { code?: unknown; message?: unknown } | undefined;
    const code = typeof error?.code === "string" ? error.code : null;
    const why = typeof error?.message === "string" ? `${error.message} (${code})` : `HTTP ${res.status}`;
    const hint = res.status === 401 ? `: ${TOKEN_HINT}` : "";
    throw new ApiRequestError(`Cannot ${options.what}: ${why}${hint}`, res.status, code, body);
  }
  return body ?? {};
}

/** What to do about a 401: where the token comes from. */
export const TOKEN_HINT =
  "pass --token TOKEN or --token-file FILE, or set $KILN_TOKEN (the gateway's first " +
  "start wrote an admin token to DATA/admin.token: pass --data DATA to use it; kiln token create makes others)";

/** Exit code of a remote command: success. */
export const EXIT_OK = 0;
/** Exit code of a remote command: the gateway refused the request (or the command's input is invalid). */
export const EXIT_REFUSED = 1;
/** Exit code of a remote command: the command line is wrong (a {@linkcode UsageError}). */
export const EXIT_USAGE = 2;
/** Exit code of a remote command: the gateway cannot be reached (or a followed stream was lost for good). */
export const EXIT_UNREACHABLE = 3;

/** The options every remote command takes: `--url`, `--token`, `--token-file`, `--data`, `--json`. */
export const REMOTE_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
  data: { type: "string", default: "./data" },
  json: { type: "boolean" },
} as const;

/** The gateway's address when `--url` is not given: the manifest's default `api.listen`. */
export const DEFAULT_URL = "http://127.0.0.1:8080";

/**
 * The token a remote command sends: `--token`, else the first line of `--token-file`, else `$KILN_TOKEN`, else
 * `<data>/admin.token` (see {@linkcode tokenFor}), else null.
 *
 * @throws {Deno.errors.NotFound} when `--token-file` does not exist.
 */
export async function remoteToken(
  values: { token?: string | undefined; "token-file"?: string | undefined; data: string },
): Promise<string | null> {
  if (values.token === undefined && values["token-file"] !== undefined) {
    const text = await Deno.readTextFile(values["token-file"]);
    return text.split("\n")[0]!.trim();
  }
  return await tokenFor(values.token, values.data);
}

/** `path` (which starts with `/`) on the gateway at `base` (`http://host:port`, a trailing `/` or not). */
export function apiUrl(base: string, path: string): URL {
  return new URL(path.replace(/^\//, ""), base.replace(/\/?$/, "/"));
}

/**
 * Runs a remote command and turns its failures into the documented exit codes: an {@linkcode ApiRequestError}
 * with no status (the gateway cannot be reached) is 3, one with a status (the gateway refused) is 1, its
 * message and the API's `issues` (path, line, message) on stderr, and with `json` the API's error body on
 * stdout. Other errors (a {@linkcode UsageError}, a missing file) go on to `kiln`'s handler.
 */
export async function runRemote(json: boolean | undefined, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof ApiRequestError)) throw err;
    // A refusal that lists its problems says them one a line below its first line (which names the code).
    const lines = err.message.split("\n");
    const issues = err.issues;
    if (issues.length > 0) {
      console.error(`kiln: ${escapeText(lines[0]!.replace(/:$/, ""))} (${err.errorCode})`);
    } else console.error(lines.map((l, i) => (i === 0 ? "kiln: " : "") + escapeText(l)).join("\n"));
    for (const i of issues) {
      console.error(
        `  ${escapeText(i.path || "(entry)")}: ${escapeText(i.message)}${
          typeof i.line === "number" ? ` (line ${i.line})` : ""
        }`,
      );
    }
    if (json) {
      console.log(safeJsonStringify(err.body ?? { error: { code: "unreachable", message: err.message } }, 2));
    }
    return err.status === null ? EXIT_UNREACHABLE : EXIT_REFUSED;
  }
}
