/**
 * The embedded broker's credentials: a random user name and password, generated once and kept in a JSON
 * file of mode 0600 (`<data>/mqtt-embedded.json` under `kiln run`), and their comparison in constant time.
 * Private to `hal/mqtt/`.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { EmbeddedCredentialsError } from "./errors.ts";

/**
 * The file, in Kiln's data directory, where `kiln run` keeps the embedded broker's credentials. Here, not in
 * `embedded.ts`, so that a deployment plan names it without loading the broker (`runtime/plan.ts`).
 */
export const EMBEDDED_CREDENTIALS_FILE = "mqtt-embedded.json";

/** The user name and password a client of the embedded broker must present. */
export interface EmbeddedBrokerCredentials {
  readonly username: string;
  readonly password: string;
}

/** Random bytes behind each of the user name and the password. */
const USERNAME_BYTES = 16;
const PASSWORD_BYTES = 32;
/** Longest user name or password accepted from the file, characters (MQTT allows 65,535 bytes). */
const MAX_FIELD_CHARS = 1024;

/** `n` random bytes from the platform's CSPRNG, as unpadded base64url. */
function randomToken(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** New random credentials: `kiln-` and 16 random bytes for the user name, 32 random bytes for the password. */
export function generateEmbeddedCredentials(): EmbeddedBrokerCredentials {
  return { username: `kiln-${randomToken(USERNAME_BYTES)}`, password: randomToken(PASSWORD_BYTES) };
}

/**
 * The credentials kept in `path`, created there first when the file does not exist (written with mode 0600
 * and `createNew`, so an existing file or a link planted in its place is never written through). A file
 * that exists with more than owner access is narrowed to 0600.
 *
 * @throws {EmbeddedCredentialsError} when the file exists but does not hold two non-empty strings
 *   `username` and `password`.
 * @throws {Deno.errors.PermissionDenied | Deno.errors.NotFound} when the file cannot be read or written (a
 *   missing folder).
 */
export async function loadOrCreateCredentials(path: string): Promise<EmbeddedBrokerCredentials> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    const created = generateEmbeddedCredentials();
    try {
      await Deno.writeTextFile(path, `${JSON.stringify(created, null, 2)}\n`, {
        mode: 0o600,
        createNew: true,
      });
      await Deno.chmod(path, 0o600); // `mode` passes through the umask, which may only take bits away
      return created;
    } catch (writeErr) {
      if (!(writeErr instanceof Deno.errors.AlreadyExists)) throw writeErr;
      text = await Deno.readTextFile(path); // another process made it first: use theirs
    }
  }
  const credentials = parseCredentials(path, text);
  const { mode } = await Deno.stat(path);
  if (mode !== null && (mode & 0o077) !== 0) await Deno.chmod(path, 0o600);
  return credentials;
}

function parseCredentials(path: string, text: string): EmbeddedBrokerCredentials {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new EmbeddedCredentialsError(path, "it is not JSON", { cause });
  }
  const record = typeof value === "object" && value !== null && !Array.isArray(value)
    ? value as Record<string, unknown>
    : null;
  const field = (name: string): string => {
    const v = record !== null && Object.hasOwn(record, name) ? record[name] : undefined;
    if (typeof v !== "string" || v.length === 0 || v.length > MAX_FIELD_CHARS) {
      throw new EmbeddedCredentialsError(
        path,
        `"${name}" must be a string of 1 to ${MAX_FIELD_CHARS} characters`,
      );
    }
    return v;
  };
  return { username: field("username"), password: field("password") };
}

/**
 * A check of presented credentials against `expected` that takes the same time whatever they hold: both
 * sides are hashed (SHA-256) to equal lengths and compared with `timingSafeEqual`, the user name and the
 * password both, always.
 */
export function credentialsChecker(
  expected: EmbeddedBrokerCredentials,
): (username: string | undefined, password: Uint8Array | undefined) => boolean {
  const digest = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest();
  const user = digest(expected.username);
  const pass = digest(expected.password);
  return (username, password) => {
    const userOk = timingSafeEqual(digest(username ?? ""), user);
    const passOk = timingSafeEqual(digest(password ?? new Uint8Array(0)), pass);
    return username !== undefined && password !== undefined && userOk && passOk;
  };
}
