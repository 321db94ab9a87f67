/**
 * Calls to a running runtime's API for the CLI's remote commands (`kiln rollback`, `kiln history --url`):
 * the token from `--token`, else `$KILN_TOKEN`, else the data directory's `admin.token`; the API's error
 * body turned into one message.
 *
 * @module
 */
import { KilnError } from "../errors.ts";

/** The runtime answered with an error, or could not be reached. */
export class ApiRequestError extends KilnError {
  readonly code = "api_request_failed";
  readonly kind = "failed";
  /** @param status The HTTP status, or null when the runtime could not be reached. */
  constructor(message: string, readonly status: number | null, readonly errorCode: string | null) {
    super(message);
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
  options: { method?: string; token: string | null; body?: unknown; what: string },
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, {
      method: options.method ?? "GET",
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
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
    throw new ApiRequestError(`Cannot ${options.what}: ${why}`, res.status, code);
  }
  return body ?? {};
}
