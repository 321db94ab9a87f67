/**
 * Reading a registry's answers within bounds: a body refused past its size by `Content-Length` or as it
 * streams, a JSON object or a protocol error, and the error of a refused request with the registry's own
 * error code (Distribution's `{"errors":[{"code","message"}]}`). Private to `registry/`.
 *
 * @module
 */
import {
  RegistryHttpError,
  RegistryProtocolError,
  type RegistryTarget,
  RegistryTooLargeError,
  type RegistryUnavailableError,
} from "./errors.ts";

/** Makes the error of a transport failure while `operation` (e.g. "read a manifest of"). */
export type TransportError = (err: unknown, operation: string) => RegistryUnavailableError;

/** Parses `bytes` as a JSON object. @throws {RegistryProtocolError} when it is not one. */
export function parseJsonObject(bytes: Uint8Array, target: RegistryTarget): unknown {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes));
    if (value === null || typeof value !== "object") throw new SyntaxError("not an object");
    return value;
  } catch (err) {
    throw new RegistryProtocolError(target, `the answer is not a JSON object (${(err as Error).message})`);
  }
}

/**
 * Reads a body, refusing it past `maxBytes` by `Content-Length` or as it streams.
 *
 * @throws {RegistryTooLargeError} past `maxBytes`.
 * @throws {RegistryUnavailableError} (from `transportError`) when the connection fails meanwhile.
 */
export async function readBody(
  res: Response,
  target: RegistryTarget,
  what: string,
  maxBytes: number,
  transportError: TransportError,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new RegistryTooLargeError(target, what, declared, maxBytes);
  }
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > maxBytes) {
        throw new RegistryTooLargeError(target, what, null, maxBytes);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryTooLargeError) throw err;
    throw transportError(err, `read ${what} of`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The error of a refused request: its status, and the registry's error code and message when it sent them. */
export async function httpError(
  res: Response,
  target: RegistryTarget,
  operation: string,
  transportError: TransportError,
): Promise<RegistryHttpError> {
  let code: string | null = null;
  let detail = "";
  try {
    const text = new TextDecoder().decode(await readBody(res, target, "an error", 64 * 1024, transportError));
    const first = (JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] }).errors?.[0];
    if (typeof first?.code === "string") code = first.code.slice(0, 64);
    if (typeof first?.message === "string") detail = first.message.slice(0, 200);
  } catch {
    // Not a Distribution error body: the status says enough.
  }
  return new RegistryHttpError(target, operation, res.status, code, detail);
}
