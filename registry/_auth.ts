/**
 * Registry authentication challenges (`WWW-Authenticate`, RFC 7235) and the Distribution token flow
 * (distribution `docs/spec/auth/token.md`): a 401 names a `Basic` realm, or a `Bearer` realm (a token
 * server URL) with `service` and `scope`; the client asks the realm for a token, with HTTP Basic
 * credentials when it has them, and retries with `Authorization: Bearer <token>`.
 *
 * @module
 */

/** One parsed challenge: its scheme (lowercase) and parameters (null-prototype: the server controls names). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` header's first challenge, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
 * Registries send one challenge per header; null when there is none.
 */
export function parseChallenge(header: string | null): Challenge | null {
  const m = header ? /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*(.*)$/s.exec(header) : null;
  if (!m) return null;
  const params: Record<string, string> = Object.create(null);
  for (const p of m[2]!.matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3] ?? "";
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** `Authorization: Basic` value for `username`/`password` (UTF-8, RFC 7617). */
export function basicAuthorization(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}
